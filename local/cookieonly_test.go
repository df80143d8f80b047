package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/gateway"
)

// The local gateway's identity sources are the template's for the same
// ACCESS_TOKEN_COOKIE, and it applies them as API Gateway does: with Authorization as
// the identity source a request without it is 401 before the authorizer runs (a
// cookie-only browser request included, which is why cookie-only mode has none); with
// none, the authorizer decides every request.
func TestLocalIdentitySourcesAreTheTemplates(t *testing.T) {
	tmpl := realTemplate(t)
	tests := []struct {
		name     string
		env      map[string]string
		identity []string
		// what a protected request with only the access cookie and the transport header
		// gets from a gateway whose authorizer allows everything, and whether the
		// authorizer ran
		status  int
		invoked bool
	}{
		{"the default: Authorization, so a cookie request is API Gateway's 401", nil, []string{"Authorization"}, http.StatusUnauthorized, false},
		{"off, said explicitly, is the default", map[string]string{"ACCESS_TOKEN_COOKIE": "off"}, []string{"Authorization"}, http.StatusUnauthorized, false},
		{"cookie-only mode: no identity source, the authorizer decides", map[string]string{"ACCESS_TOKEN_COOKIE": "on"}, nil, http.StatusOK, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			identity, err := identityOf(tmpl, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(identity, tc.identity) {
				t.Fatalf("identityOf = %q, want %q", identity, tc.identity)
			}
			var calls atomic.Int32
			authorizer := func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
				calls.Add(1)
				return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true}, nil
			}
			gw, err := gateway.New(gateway.Config{
				Routes:          []gateway.Route{{Method: "GET", Path: "/me", Handler: answer200, Protected: true}},
				Authorizer:      authorizer,
				IdentityHeaders: identity,
				Logger:          discardLog,
			})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/me", nil)
			req.Header.Set("Cookie", api.AccessCookieName+"=x")
			req.Header.Set("X-Session-Transport", "cookie")
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, req)
			if rec.Code != tc.status || (calls.Load() > 0) != tc.invoked {
				t.Fatalf("status %d, authorizer invoked %d times; want %d, invoked %v", rec.Code, calls.Load(), tc.status, tc.invoked)
			}
		})
	}
	t.Run("a value CloudFormation would refuse stops the start", func(t *testing.T) {
		_, err := identityOf(tmpl, envOf(map[string]string{"ACCESS_TOKEN_COOKIE": "yes"}))
		if err == nil || !strings.Contains(err.Error(), "ACCESS_TOKEN_COOKIE") || !strings.Contains(err.Error(), "AllowedValues") {
			t.Fatalf("err = %v, want ACCESS_TOKEN_COOKIE's AllowedValues named", err)
		}
	})
}

// accessCookieOf returns the access-token cookie of a response, or nil.
func accessCookieOf(r response) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == api.AccessCookieName {
			return c
		}
	}
	return nil
}

// TestEndToEndCookieOnlyMode runs the local server with ACCESS_TOKEN_COOKIE=on and
// plays a browser that never sees a token: the access token arrives as an HttpOnly
// __Host- cookie, protected routes take it with the transport header, and a request
// that rides on the cookie without that header (a cross-site form) is refused by the
// authorizer before any function runs. As in TestEndToEndCookieTransport, the test
// keeps the cookies itself (Go's cookie jar sends no Secure cookie over http).
func TestEndToEndCookieOnlyMode(t *testing.T) {
	s := startServer(t, map[string]string{"ACCESS_TOKEN_COOKIE": "on"}, runOptions{}, "--user", "erin:"+alicePassword)
	transport := map[string]string{"X-Session-Transport": "cookie"}
	with := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	cookies := func(cs ...*http.Cookie) map[string]string {
		var parts []string
		for _, c := range cs {
			parts = append(parts, c.Name+"="+c.Value)
		}
		return map[string]string{"Cookie": strings.Join(parts, "; ")}
	}

	login := do(t, "POST", s.URL+"/auth/login", with(transport, jsonCT), loginJSON("erin", alicePassword))
	wantStatus(t, "cookie login", login, 200)
	grant := login.json(t)
	if _, ok := grant["access_token"]; ok {
		t.Fatalf("cookie-only login put the access token in the body: %s", login.body)
	}
	ac, rc := accessCookieOf(login), cookieOf(login)
	if ac == nil || rc == nil {
		t.Fatalf("Set-Cookie %v: want the access and refresh cookies", login.header["Set-Cookie"])
	}
	if ac.Value == "" || ac.Path != "/" || ac.Domain != "" || !ac.Secure || !ac.HttpOnly || ac.SameSite != http.SameSiteStrictMode ||
		strconv.Itoa(ac.MaxAge) != strconv.FormatFloat(grant["expires_in"].(float64), 'f', -1, 64) {
		t.Fatalf("access cookie %q: want a value, Path=/, no Domain, Secure, HttpOnly, SameSite=Strict, Max-Age = expires_in", ac.Raw)
	}
	if !strings.Contains(s.stdout.String(), "cookie-only:    on") || !strings.Contains(s.stdout.String(), "[Lambda authorizer on every request") {
		t.Errorf("the banner does not say cookie-only mode is on:\n%s", s.stdout)
	}

	me := do(t, "GET", s.URL+"/me", with(transport, cookies(ac)), "")
	wantStatus(t, "/me with the access cookie and the header", me, 200)
	if me.json(t)["sid"] != grant["session_id"] {
		t.Fatalf("/me = %s, want the login's session", me.body)
	}

	// A page on a sibling subdomain is same-site, so SameSite=Strict does not keep the
	// cookie from its form; the missing header does. The authorizer refuses the POST
	// before the account function runs: the password is unchanged.
	form := url.Values{"current_password": {alicePassword}, "new_password": {"attacker chosen passphrase"}}.Encode()
	csrf := do(t, "POST", s.URL+"/auth/password", with(cookies(ac, rc), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example.com",
		"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate",
	}), form)
	wantGatewayMessage(t, "a cross-site form POST riding on the cookie", csrf, 403, "Forbidden")
	if !strings.Contains(s.stderr.String(), `reason="access-token cookie without x-session-transport: cookie`) {
		t.Errorf("the authorizer logged no CSRF reason:\n%s", s.stderr)
	}
	wantStatus(t, "login with the old password after the refused form", do(t, "POST", s.URL+"/auth/login", jsonCT, loginJSON("erin", alicePassword)), 200)
	wantGatewayMessage(t, "a GET riding on the cookie without the header", do(t, "GET", s.URL+"/me", cookies(ac), ""), 403, "Forbidden")
	// No identity source: a request without any credential reaches the authorizer,
	// whose deny is 403 (not API Gateway's 401).
	wantGatewayMessage(t, "/me with nothing", do(t, "GET", s.URL+"/me", nil, ""), 403, "Forbidden")

	// Apps keep the body transport and the Authorization header.
	body := do(t, "POST", s.URL+"/auth/login", jsonCT, loginJSON("erin", alicePassword))
	wantStatus(t, "body login", body, 200)
	if len(body.cookies) != 0 {
		t.Fatalf("body login set cookies %v", body.header["Set-Cookie"])
	}
	wantStatus(t, "/me with a bearer token", do(t, "GET", s.URL+"/me", bearer(str(t, body.json(t), "access_token")), ""), 200)

	ref := do(t, "POST", s.URL+"/auth/refresh", with(transport, cookies(rc)), "")
	wantStatus(t, "cookie refresh", ref, 200)
	ac2, rc2 := accessCookieOf(ref), cookieOf(ref)
	if ac2 == nil || rc2 == nil || ac2.Value == ac.Value {
		t.Fatalf("refresh did not renew the access cookie: %v", ref.header["Set-Cookie"])
	}
	if _, ok := ref.json(t)["access_token"]; ok {
		t.Fatalf("cookie-only refresh put the access token in the body: %s", ref.body)
	}
	wantStatus(t, "/me with the renewed cookie", do(t, "GET", s.URL+"/me", with(transport, cookies(ac2)), ""), 200)

	// The demo page here uses the module's cookie-only transport: with the cookie
	// transport it would get no access token to send.
	page := do(t, "GET", s.URL+"/", nil, "")
	wantStatus(t, "GET /", page, 200)
	if !strings.Contains(string(page.body), `<meta charset="utf-8">`+"\n"+`<meta name="sessions-transport" content="cookie-only">`) {
		t.Errorf("the demo page does not pick the cookie-only transport:\n%s", page.body)
	}

	out := do(t, "POST", s.URL+"/auth/logout", with(transport, cookies(rc2)), "")
	wantStatus(t, "cookie logout", out, 204)
	if c := accessCookieOf(out); c == nil || c.Value != "" || c.MaxAge >= 0 || c.Path != "/" {
		t.Fatalf("logout did not clear the access cookie: %v", out.header["Set-Cookie"])
	}
	wantGatewayMessage(t, "/me with the access cookie after logout", do(t, "GET", s.URL+"/me", with(transport, cookies(ac2)), ""), 403, "Forbidden")
}
