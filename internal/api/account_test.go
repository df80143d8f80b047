package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/testenv"
)

// The account routes refuse bad input with the {"error","message"} shape and never
// repeat what the client sent.
func TestTheAccountRoutesRefuseBadInput(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	tok := h.Login(t, u.Name, u.Password)
	const probe = "<script>probe-value</script>"
	for _, tc := range []struct {
		name     string
		routeKey string
		path     string
		body     any
		params   []string
		status   int
		code     string
	}{
		{"a password change without the new password", "POST /auth/password", "/auth/password",
			map[string]string{"current_password": u.Password}, nil, http.StatusBadRequest, "invalid_request"},
		{"a password change with an unknown member", "POST /auth/password", "/auth/password",
			map[string]string{"current_password": u.Password, "new_password": "a long enough passphrase", probe: "x"}, nil, http.StatusBadRequest, "invalid_request"},
		{"a password change that is not JSON", "POST /auth/password", "/auth/password", probe, nil, http.StatusBadRequest, "invalid_request"},
		{"a reauthentication without a password", "POST /auth/reauthenticate", "/auth/reauthenticate",
			map[string]string{}, nil, http.StatusBadRequest, "invalid_request"},
		{"a reauthentication with a password over the limit", "POST /auth/reauthenticate", "/auth/reauthenticate",
			map[string]string{"password": strings.Repeat("p", 200)}, nil, http.StatusBadRequest, "invalid_request"},
		{"signing out an unknown session", "DELETE /auth/sessions/{id}", "/auth/sessions/" + probe, nil,
			[]string{"id", probe}, http.StatusNotFound, "not_found"},
		{"signing out an ID longer than any session's", "DELETE /auth/sessions/{id}", "/auth/sessions/x", nil,
			[]string{"id", strings.Repeat("x", 100)}, http.StatusNotFound, "not_found"},
	} {
		t.Run(tc.name+" is "+tc.code, func(t *testing.T) {
			resp := h.Protected(t, h.App.API.Account, tok.AccessToken, tc.routeKey, tc.path, tc.body, tc.params...)
			wantError(t, resp, tc.status, tc.code)
			if strings.Contains(resp.Body, "probe-value") {
				t.Errorf("the answer repeats client input: %s", resp.Body)
			}
		})
	}
	t.Run("a request without the authorizer's context is 401", func(t *testing.T) {
		resp := testenv.Call(t, h.App.API.Account, testenv.Request(http.MethodGet, "/auth/sessions", nil))
		wantError(t, resp, http.StatusUnauthorized, "unauthorized")
	})
	t.Run("the device list marks the caller's session and lists no one else's", func(t *testing.T) {
		bob := h.CreateUser(t, "bob", "", "")
		h.Login(t, bob.Name, bob.Password)
		h.Clock.Advance(time.Second)
		other := h.Login(t, u.Name, u.Password)
		list := h.ListSessions(t, tok.AccessToken)
		if len(list) != 2 {
			t.Fatalf("%d sessions listed, want alice's 2: %+v", len(list), list)
		}
		for _, v := range list {
			if (v.ID == tok.SessionID) != v.Current || (v.ID != tok.SessionID && v.ID != other.SessionID) {
				t.Errorf("listed %+v", v)
			}
			if v.UserAgent != "testenv/1.0" || v.IP != "203.0.113.7" || v.CreatedAt == "" || v.ExpiresAt == "" {
				t.Errorf("listed %+v without its fields", v)
			}
		}
		if list[0].ID != other.SessionID {
			t.Errorf("first listed %s, want the most recently used %s", list[0].ID, other.SessionID)
		}
	})
	t.Run("signing out the caller's own session is a logout", func(t *testing.T) {
		if code := h.SignOut(t, tok.AccessToken, tok.SessionID); code != http.StatusNoContent {
			t.Fatalf("sign out: %d", code)
		}
		if h.Allowed(t, tok.AccessToken) {
			t.Error("still allowed")
		}
		if code, _ := h.Refresh(t, tok.RefreshToken); code != http.StatusUnauthorized {
			t.Errorf("refresh after signing out: %d", code)
		}
	})
}
