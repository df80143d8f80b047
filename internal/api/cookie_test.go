package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/testenv"
)

// setCookie is a parsed Set-Cookie value.
type setCookie struct {
	name, value string
	attrs       map[string]string // lower-cased names; flags map to ""
}

// parseSetCookie returns the one Set-Cookie of a response other than the device
// cookie a login sets beside it (see device_test.go): the refresh cookie.
func parseSetCookie(t *testing.T, resp events.APIGatewayV2HTTPResponse) setCookie {
	t.Helper()
	all := parseSetCookies(t, resp)
	delete(all, api.DeviceCookieName)
	if len(all) != 1 {
		t.Fatalf("want exactly one Set-Cookie besides the device cookie, got %q (headers %v)", resp.Cookies, resp.Headers)
	}
	for _, c := range all {
		return c
	}
	panic("unreachable")
}

// parseSetCookies parses every Set-Cookie of a response, by name; a name set twice
// fails the test.
func parseSetCookies(t *testing.T, resp events.APIGatewayV2HTTPResponse) map[string]setCookie {
	t.Helper()
	out := map[string]setCookie{}
	for _, raw := range resp.Cookies {
		parts := strings.Split(raw, ";")
		name, value, ok := strings.Cut(strings.TrimSpace(parts[0]), "=")
		if !ok {
			t.Fatalf("Set-Cookie %q", raw)
		}
		c := setCookie{name: name, value: value, attrs: map[string]string{}}
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			c.attrs[strings.ToLower(k)] = v
		}
		if _, dup := out[name]; dup {
			t.Fatalf("cookie %s set twice: %q", name, resp.Cookies)
		}
		out[name] = c
	}
	return out
}

// wantRefreshCookie checks the cookie of a login or refresh in cookie mode and
// returns the refresh token it carries.
func wantRefreshCookie(t *testing.T, resp events.APIGatewayV2HTTPResponse, maxAge time.Duration) string {
	t.Helper()
	c := parseSetCookie(t, resp)
	if c.name != api.CookieName || c.value == "" {
		t.Fatalf("cookie %s=%q", c.name, c.value)
	}
	for attr, want := range map[string]string{
		"httponly": "", "secure": "", "samesite": "Strict", "path": "/auth",
		"max-age": strconv.Itoa(int(maxAge / time.Second)),
	} {
		got, ok := c.attrs[attr]
		if !ok || got != want {
			t.Errorf("cookie attribute %s = %q (present %v), want %q", attr, got, ok, want)
		}
	}
	if _, ok := c.attrs["domain"]; ok {
		t.Error("cookie has a Domain attribute (it would reach subdomains)")
	}
	var tok testenv.Tokens
	testenv.Decode(t, resp, &tok)
	if tok.RefreshToken != "" || strings.Contains(resp.Body, c.value) {
		t.Error("cookie mode: the refresh token is in the body too")
	}
	if tok.AccessToken == "" {
		t.Error("cookie mode: no access token in the body")
	}
	return c.value
}

const cookieHeader = api.TransportHeader

func cookieReq(path, rt string, withHeader bool, body string) events.APIGatewayV2HTTPRequest {
	var hdrs []string
	if withHeader {
		hdrs = append(hdrs, cookieHeader, "cookie")
	}
	if rt != "" {
		hdrs = append(hdrs, "cookie", api.CookieName+"="+rt)
	}
	var b any
	if body != "" {
		b = body
	}
	return testenv.Post(path, b, hdrs...)
}

func TestCookieTransport(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, map[string]string{"REFRESH_TOKEN_TTL": "48h"})
	login := func(t *testing.T) string {
		t.Helper()
		resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password, cookieHeader, "cookie"))
		wantStatus(t, "login in cookie mode", resp, http.StatusOK)
		return wantRefreshCookie(t, resp, 48*time.Hour)
	}

	t.Run("login sets the refresh token only as a cookie", func(t *testing.T) {
		rt := login(t)
		if !strings.Contains(rt, ".") {
			t.Errorf("cookie value %q is not a refresh token", rt)
		}
	})
	t.Run("refresh reads the cookie and rotates it", func(t *testing.T) {
		rt := login(t)
		h.Clock.Advance(time.Hour)
		resp := testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", rt, true, ""))
		wantStatus(t, "refresh in cookie mode", resp, http.StatusOK)
		wantHeader(t, resp, "Cache-Control", "no-store")
		next := wantRefreshCookie(t, resp, 48*time.Hour)
		if next == rt {
			t.Error("cookie not rotated")
		}
		// The rotated cookie is the session's current token.
		wantStatus(t, "refresh with the rotated cookie", testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", next, true, "")), http.StatusOK)
	})
	t.Run("refresh with the cookie but without the header is refused as CSRF", func(t *testing.T) {
		rt := login(t)
		for _, body := range []string{"", `{}`} {
			resp := testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", rt, false, body))
			wantError(t, resp, http.StatusForbidden, "csrf_header_required")
		}
		sid, _, _ := strings.Cut(rt, ".")
		if testenv.N(h.SessionItem(t, sid), "gen") != 0 {
			t.Error("a refused cross-site refresh rotated the token")
		}
	})
	t.Run("logout with the cookie but without the header is refused as CSRF", func(t *testing.T) {
		rt := login(t)
		resp := testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, false, ""))
		wantError(t, resp, http.StatusForbidden, "csrf_header_required")
		sid, _, _ := strings.Cut(rt, ".")
		if h.Revoked(t, sid) {
			t.Error("a cross-site logout went through")
		}
	})
	t.Run("the header without a cookie is a 401", func(t *testing.T) {
		wantError(t, testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", "", true, "")), http.StatusUnauthorized, "invalid_grant")
	})
	t.Run("a cookie and a body token together are a 400", func(t *testing.T) {
		rt := login(t)
		resp := testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", rt, true, `{"refresh_token":"`+rt+`"}`))
		wantError(t, resp, http.StatusBadRequest, "invalid_request")
		resp = testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, `{"refresh_token":"`+rt+`"}`))
		wantError(t, resp, http.StatusBadRequest, "invalid_request")
	})
	t.Run("an unknown transport is a 400", func(t *testing.T) {
		resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password, cookieHeader, "localStorage"))
		wantError(t, resp, http.StatusBadRequest, "invalid_request")
	})
	t.Run("two different refresh cookies are trusted neither", func(t *testing.T) {
		a, b := login(t), login(t)
		req := cookieReq("/auth/refresh", a, true, "")
		req.Cookies = append(req.Cookies, api.CookieName+"="+b)
		resp := testenv.Call(t, h.App.API.Refresh, req)
		if resp.StatusCode == http.StatusOK {
			t.Fatal("a request with two different refresh cookies was served")
		}
	})
	t.Run("logout reads the cookie, revokes the session and clears the cookie", func(t *testing.T) {
		rt := login(t)
		resp := testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, ""))
		wantStatus(t, "logout in cookie mode", resp, http.StatusNoContent)
		c := parseSetCookie(t, resp)
		if c.name != api.CookieName || c.value != "" || c.attrs["max-age"] != "0" || c.attrs["path"] != "/auth" {
			t.Errorf("logout cookie %q does not clear the refresh cookie", resp.Cookies[0])
		}
		sid, _, _ := strings.Cut(rt, ".")
		if !h.Revoked(t, sid) {
			t.Error("session not revoked")
		}
		// Logging out again (or with a stale cookie) is still a 204 that clears it.
		resp = testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, ""))
		wantStatus(t, "second logout", resp, http.StatusNoContent)
	})
	t.Run("logout everywhere in cookie mode", func(t *testing.T) {
		rt := login(t)
		other := h.Login(t, u.Name, u.Password)
		resp := testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, `{"scope":"all"}`))
		wantStatus(t, "logout all in cookie mode", resp, http.StatusNoContent)
		if !h.Revoked(t, other.SessionID) || h.Allowed(t, other.AccessToken) {
			t.Error("logout all in cookie mode left another session alive")
		}
	})
	t.Run("logout of the other sessions in cookie mode keeps this session's cookie", func(t *testing.T) {
		rt := login(t)
		other := h.Login(t, u.Name, u.Password)
		resp := testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, `{"scope":"others"}`))
		wantStatus(t, "logout others in cookie mode", resp, http.StatusNoContent)
		if len(resp.Cookies) != 0 {
			t.Errorf("logout others cleared cookies: %q", resp.Cookies)
		}
		if !h.Revoked(t, other.SessionID) || h.Allowed(t, other.AccessToken) {
			t.Error("logout others in cookie mode left the other session alive")
		}
		h.Clock.Advance(time.Minute)
		wantStatus(t, "refresh with the kept cookie", testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", rt, true, "")), http.StatusOK)
	})
	t.Run("signing out the own session with the cookie transport clears the cookie; another's does not", func(t *testing.T) {
		tok := h.Login(t, u.Name, u.Password)
		other := h.Login(t, u.Name, u.Password)
		withHeader := func(sid string) events.APIGatewayV2HTTPResponse {
			req := testenv.Request(http.MethodDelete, "/auth/sessions/"+sid, nil, "authorization", "Bearer "+tok.AccessToken, "x-session-transport", "cookie")
			req.RouteKey = "DELETE /auth/sessions/{id}"
			req.PathParameters = map[string]string{"id": sid}
			az := h.Authorize(t, tok.AccessToken)
			req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: az.Context}
			return testenv.Call(t, h.App.API.Account, req)
		}
		if resp := withHeader(other.SessionID); resp.StatusCode != http.StatusNoContent || len(resp.Cookies) != 0 {
			t.Errorf("signing out another session: %d, cookies %q", resp.StatusCode, resp.Cookies)
		}
		resp := withHeader(tok.SessionID)
		wantStatus(t, "sign out own", resp, http.StatusNoContent)
		if c := parseSetCookie(t, resp); c.value != "" || c.attrs["max-age"] != "0" {
			t.Errorf("cookie after signing out the own session: %q", resp.Cookies)
		}
	})
	t.Run("a refused cookie refresh clears the cookie", func(t *testing.T) {
		rt := login(t)
		testenv.Call(t, h.App.API.Logout, cookieReq("/auth/logout", rt, true, ""))
		resp := testenv.Call(t, h.App.API.Refresh, cookieReq("/auth/refresh", rt, true, ""))
		wantError(t, resp, http.StatusUnauthorized, "invalid_grant")
		if c := parseSetCookie(t, resp); c.value != "" || c.attrs["max-age"] != "0" {
			t.Errorf("cookie after a refused refresh: %q", resp.Cookies[0])
		}
	})
	t.Run("body transport never sets a cookie", func(t *testing.T) {
		tok := h.Login(t, u.Name, u.Password)
		for _, resp := range []events.APIGatewayV2HTTPResponse{
			testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(tok.RefreshToken)),
			testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(tok.RefreshToken, "")),
		} {
			if len(resp.Cookies) != 0 {
				t.Errorf("body transport answered with cookies %q", resp.Cookies)
			}
		}
	})
}
