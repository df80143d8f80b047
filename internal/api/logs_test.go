package api_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/testenv"
)

func TestLogsNeverCarrySecrets(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	secrets := map[string]string{"password": u.Password}
	var toks []testenv.Tokens
	keep := func(tok testenv.Tokens) testenv.Tokens { toks = append(toks, tok); return tok }

	// A full flow, with every kind of failure the service logs.
	first := keep(h.Login(t, u.Name, u.Password))
	testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, "a wrong password"))
	testenv.Call(t, h.App.API.Login, testenv.LoginReq("mallory", "mallory's guess"))
	secrets["wrong password"], secrets["unknown user's password"] = "a wrong password", "mallory's guess"
	for range 6 {
		testenv.Call(t, h.App.API.Login, testenv.LoginReq("eve", "eve's guess"))
	}
	secrets["throttled password"] = "eve's guess"
	h.Clock.Advance(time.Minute)
	second := keep(h.MustRefresh(t, first.RefreshToken))
	keep(h.MustRefresh(t, first.RefreshToken)) // replay inside the grace window
	h.Clock.Advance(time.Minute)
	if code, _ := h.Refresh(t, first.RefreshToken); code != http.StatusUnauthorized { // theft
		t.Fatalf("theft answered %d", code)
	}
	h.Allowed(t, second.AccessToken) // denied: revoked
	cookie := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password, api.TransportHeader, "cookie"))
	cookieRT := parseSetCookie(t, cookie).value
	var cookieTok testenv.Tokens
	testenv.Decode(t, cookie, &cookieTok)
	keep(testenv.Tokens{AccessToken: cookieTok.AccessToken, RefreshToken: cookieRT, SessionID: cookieTok.SessionID})
	third := keep(h.Login(t, u.Name, u.Password))
	h.Allowed(t, third.AccessToken)
	// Device tokens: the cookie's and the body's, presented once validly and once forged.
	cookieDev := parseSetCookies(t, cookie)[api.DeviceCookieName].value
	secrets["device token (cookie)"], secrets["device token (body)"] = cookieDev, third.DeviceToken
	secrets["device token MAC"] = cookieDev[strings.LastIndexByte(cookieDev, '.')+1:]
	devLogin := func(tok string) {
		testenv.Call(t, h.App.API.Login, testenv.Post("/auth/login", map[string]string{"username": u.Name, "password": u.Password, "device_token": tok}))
	}
	devLogin(third.DeviceToken)
	devLogin(third.DeviceToken + "x")
	clear := h.Net.Inject("UpdateItem", -1, testenv.Throttle())
	testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(third.RefreshToken)) // 503, logged with the error
	clear()
	h.AuthorizeHeader(t, "Bearer "+third.AccessToken+"x") // bad signature
	h.AuthorizeHeader(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:"+u.Password)))
	wantStatus(t, "logout all", testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(third.RefreshToken, "all")), http.StatusNoContent)
	h.Allowed(t, third.AccessToken)
	newHash, _ := password.Hash("the next passphrase", testenv.CheapPassword)
	secrets["new password"] = "the next passphrase"
	if _, err := h.App.Service.RevokeUser(testenv.Ctx(t), u.ID, newHash, "password_change"); err != nil {
		t.Fatal(err)
	}

	// What the logs must never hold.
	for i, tok := range toks {
		parts := strings.Split(tok.AccessToken, ".")
		secrets["access token "+string(rune('0'+i))] = tok.AccessToken
		secrets["access token signature "+string(rune('0'+i))] = parts[2]
		secrets["refresh token "+string(rune('0'+i))] = tok.RefreshToken
		if _, s, ok := strings.Cut(tok.RefreshToken, "."); ok {
			secrets["refresh secret "+string(rune('0'+i))] = s
		}
	}
	for _, it := range h.Scan(t) {
		if hash := testenv.S(it, "pwhash"); hash != "" {
			secrets["password hash"] = hash
			f := strings.Split(hash, "$")
			secrets["password hash's key"], secrets["password hash's salt"] = f[len(f)-1], f[len(f)-2]
		}
		for _, attr := range []string{"cur", "prev"} {
			if b := testenv.B(it, attr); b != nil {
				pk := testenv.S(it, "pk")
				secrets[pk+" "+attr+" hex"] = hex.EncodeToString(b)
				secrets[pk+" "+attr+" base64"] = base64.StdEncoding.EncodeToString(b)
				secrets[pk+" "+attr+" base64url"] = base64.RawURLEncoding.EncodeToString(b)
			}
		}
	}
	secrets["signing key"] = strings.Split(h.PEM, "\n")[1]

	logs := h.Logs.String()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("test setup: %s is empty", what)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the logs contain %s", what)
		}
	}
	// The logs do say what happened, so the check above is not vacuous.
	for _, msg := range []string{"login succeeded", "login failed", "login throttled", "refresh token reuse",
		"refresh replay answered", "authorizer denied", "storage unavailable", "logged out", "revoked all sessions",
		"device token ignored"} {
		if !strings.Contains(logs, msg) {
			t.Errorf("no %q line in the logs", msg)
		}
	}
	t.Logf("%d log lines checked against %d secrets", strings.Count(logs, "\n"), len(secrets))
}
