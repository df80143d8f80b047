package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/testenv"
)

// Cookie-only mode (ACCESS_TOKEN_COOKIE=on): with the cookie transport the access
// token travels only as the __Host-access_token cookie, never in a body a page script
// could read; the body transport is what it always was.

var cookieOnly = map[string]string{"ACCESS_TOKEN_COOKIE": "on"}

// wantAccessCookie checks the access-token cookie of an answer in cookie-only mode
// (exact attributes, Max-Age = the body's expires_in) and that no body member holds
// an access token; it returns the cookie's token.
func wantAccessCookie(t *testing.T, resp events.APIGatewayV2HTTPResponse, ttl time.Duration) string {
	t.Helper()
	c, ok := parseSetCookies(t, resp)[api.AccessCookieName]
	if !ok || c.value == "" {
		t.Fatalf("no %s cookie among %q", api.AccessCookieName, resp.Cookies)
	}
	want := map[string]string{"path": "/", "max-age": strconv.Itoa(int(ttl / time.Second)), "httponly": "", "secure": "", "samesite": "Strict"}
	for attr, v := range want {
		if got, ok := c.attrs[attr]; !ok || got != v {
			t.Errorf("%s attribute %s = %q (present %v), want %q", api.AccessCookieName, attr, got, ok, v)
		}
	}
	if len(c.attrs) != len(want) {
		t.Errorf("%s has attributes %v, want exactly %v (a Domain would make browsers refuse a __Host- cookie)", api.AccessCookieName, c.attrs, want)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"access_token", "token_type", "refresh_token"} {
		if _, ok := body[m]; ok {
			t.Errorf("the body has %s: %s", m, resp.Body)
		}
	}
	if body["expires_in"] != float64(ttl/time.Second) {
		t.Errorf("expires_in %v, want %d (the cookie's Max-Age)", body["expires_in"], int(ttl/time.Second))
	}
	if testenv.Claims(t, c.value)["sid"] == nil {
		t.Errorf("the cookie holds no access token")
	}
	return c.value
}

// wantCleared checks that an answer clears exactly the refresh and access cookies.
func wantCleared(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	all := parseSetCookies(t, resp)
	for name, path := range map[string]string{api.CookieName: "/auth", api.AccessCookieName: "/"} {
		c, ok := all[name]
		if !ok || c.value != "" || c.attrs["max-age"] != "0" || c.attrs["path"] != path {
			t.Errorf("%s is not cleared at Path=%s: %q", name, path, resp.Cookies)
		}
	}
	if len(all) != 2 {
		t.Errorf("Set-Cookie %q, want the two clearing cookies only", resp.Cookies)
	}
}

// authorizeCookie runs the authorizer as API Gateway does in cookie-only mode (no
// identity source): on the request's headers and cookies.
func authorizeCookie(t *testing.T, h *testenv.Harness, at string, transport bool) events.APIGatewayV2CustomAuthorizerSimpleResponse {
	t.Helper()
	ev := events.APIGatewayV2CustomAuthorizerV2Request{Type: "REQUEST", Headers: map[string]string{}, Cookies: []string{api.AccessCookieName + "=" + at}}
	if transport {
		ev.Headers[api.TransportHeader] = "cookie"
	}
	resp, err := h.App.Authorizer.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// cookieAccount calls an account route as a browser in cookie-only mode does: the
// access cookie and the transport header, the authorizer's context from that cookie.
func cookieAccount(t *testing.T, h *testenv.Harness, at, routeKey, path string, body any) events.APIGatewayV2HTTPResponse {
	t.Helper()
	az := authorizeCookie(t, h, at, true)
	if !az.IsAuthorized {
		t.Fatalf("the authorizer denied the access cookie")
	}
	method, _, _ := strings.Cut(routeKey, " ")
	req := testenv.Request(method, path, body, api.TransportHeader, "cookie", "cookie", api.AccessCookieName+"="+at)
	return testenv.Call(t, h.App.API.Account, withContext(t, req, routeKey, az))
}

// withContext hands a route request the authorizer's context, through JSON as API
// Gateway does.
func withContext(t *testing.T, req events.APIGatewayV2HTTPRequest, routeKey string, az events.APIGatewayV2CustomAuthorizerSimpleResponse) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := json.Marshal(az.Context)
	if err != nil {
		t.Fatal(err)
	}
	var lambda map[string]any
	if err := json.Unmarshal(raw, &lambda); err != nil {
		t.Fatal(err)
	}
	req.RouteKey = routeKey
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: lambda}
	return req
}

func TestCookieOnlyMode(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, cookieOnly)
	const ttl = 15 * time.Minute // ACCESS_TOKEN_TTL's default; the harness clock stands still
	login := func(t *testing.T) (rt, at string) {
		t.Helper()
		resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password, cookieHeader, "cookie"))
		wantStatus(t, "cookie login", resp, http.StatusOK)
		at = wantAccessCookie(t, resp, ttl)
		rt = parseSetCookies(t, resp)[api.CookieName].value
		if rt == "" {
			t.Fatalf("no refresh cookie among %q", resp.Cookies)
		}
		return rt, at
	}

	t.Run("a cookie login sets the access token as an HttpOnly __Host- cookie and leaves it out of the body", func(t *testing.T) {
		_, at := login(t)
		if !authorizeCookie(t, h, at, true).IsAuthorized {
			t.Error("the authorizer does not accept the cookie it set")
		}
	})
	t.Run("the authorizer refuses the same cookie without the transport header", func(t *testing.T) {
		_, at := login(t)
		if authorizeCookie(t, h, at, false).IsAuthorized {
			t.Error("the cookie alone, as a cross-site form sends it, was allowed")
		}
	})
	t.Run("a cookie refresh rotates the access cookie too", func(t *testing.T) {
		rt, at := login(t)
		h.Clock.Advance(time.Minute)
		resp := testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", rt, true, ""))
		wantStatus(t, "cookie refresh", resp, http.StatusOK)
		if next := wantAccessCookie(t, resp, ttl); next == at {
			t.Error("the access cookie was not renewed")
		}
	})
	t.Run("the body transport is unchanged: tokens in the body, no cookie", func(t *testing.T) {
		tok := h.Login(t, u.Name, u.Password)
		if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.RefreshToken == "" {
			t.Fatalf("body login %+v", tok)
		}
		resp := testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(tok.RefreshToken))
		if resp.StatusCode != http.StatusOK || len(resp.Cookies) != 0 {
			t.Fatalf("body refresh: %d, cookies %q", resp.StatusCode, resp.Cookies)
		}
	})
	t.Run("logout clears the access cookie with the refresh cookie", func(t *testing.T) {
		rt, _ := login(t)
		resp := testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, ""))
		wantStatus(t, "cookie logout", resp, http.StatusNoContent)
		wantCleared(t, resp)
	})
	t.Run("a refused cookie refresh clears both cookies", func(t *testing.T) {
		rt, _ := login(t)
		testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, ""))
		resp := testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", rt, true, ""))
		wantError(t, resp, http.StatusUnauthorized, "invalid_grant")
		wantCleared(t, resp)
	})
	t.Run("logging the other sessions out keeps this browser's cookies", func(t *testing.T) {
		rt, _ := login(t)
		resp := testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, `{"scope":"others"}`))
		wantStatus(t, "logout others", resp, http.StatusNoContent)
		if len(resp.Cookies) != 0 {
			t.Errorf("Set-Cookie %q on a logout that keeps this session", resp.Cookies)
		}
	})
	t.Run("reauthenticating answers with a new access cookie, not a body token", func(t *testing.T) {
		_, at := login(t)
		h.Clock.Advance(time.Minute)
		resp := cookieAccount(t, h, at, api.RouteReauthenticate, "/auth/reauthenticate", map[string]string{"password": u.Password})
		wantStatus(t, "reauthenticate", resp, http.StatusOK)
		next := wantAccessCookie(t, resp, ttl)
		if next == at || !authorizeCookie(t, h, next, true).IsAuthorized {
			t.Error("the reauthenticated access cookie is not a new working token")
		}
	})
	t.Run("an account call with a bad transport header is refused before it changes anything", func(t *testing.T) {
		_, at := login(t)
		// The authorizer lets a bad header through only with an Authorization header
		// (it takes precedence over the cookie); the route must refuse it itself.
		req := testenv.Request(http.MethodPost, "/auth/password",
			map[string]string{"current_password": u.Password, "new_password": "a brand new passphrase"},
			"authorization", "Bearer "+at, api.TransportHeader, "localStorage")
		req = withContext(t, req, api.RouteChangePassword, h.Authorize(t, at))
		wantError(t, testenv.Call(t, h.App.API.Account, req), http.StatusBadRequest, "invalid_request")
		h.Login(t, u.Name, u.Password) // the old password still works
	})
	t.Run("an account call with an Authorization header and no transport header answers in the body", func(t *testing.T) {
		tok := h.Login(t, u.Name, u.Password)
		resp := h.Protected(t, h.App.API.Account, tok.AccessToken, api.RouteReauthenticate, "/auth/reauthenticate", map[string]string{"password": u.Password})
		wantStatus(t, "reauthenticate with a bearer token", resp, http.StatusOK)
		var body map[string]any
		_ = json.Unmarshal([]byte(resp.Body), &body)
		if body["access_token"] == nil || len(resp.Cookies) != 0 {
			t.Errorf("body %s, cookies %q: want the token in the body and no cookie", resp.Body, resp.Cookies)
		}
	})
}

// With cookie-only mode off (the default), the cookie transport hands out the access
// token in the body, as it always has, and sets no access cookie.
func TestNoAccessCookieUnlessCookieOnlyModeIsOn(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password, cookieHeader, "cookie"))
	wantStatus(t, "cookie login", resp, http.StatusOK)
	if _, ok := parseSetCookies(t, resp)[api.AccessCookieName]; ok {
		t.Errorf("an access cookie with cookie-only mode off: %q", resp.Cookies)
	}
	var tok testenv.Tokens
	testenv.Decode(t, resp, &tok)
	if tok.AccessToken == "" || tok.TokenType != "Bearer" {
		t.Errorf("body %s: want the access token in it", resp.Body)
	}
	rt := parseSetCookies(t, resp)[api.CookieName].value
	out := testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, ""))
	if c := parseSetCookies(t, out); len(c) != 1 {
		t.Errorf("logout with cookie-only mode off sets %q, want the refresh cookie's clearing only", out.Cookies)
	}
}
