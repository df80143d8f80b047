package session_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/example/sessions/internal/testenv"
)

// A refresh token of a session that is no longer live (revoked as theft, logged out,
// past a deadline) must not log the user out everywhere: the thief whose theft was
// detected still holds such tokens, and could otherwise end every new session of the
// victim again and again for as long as the item exists.
func TestLogoutEverywhereWithATokenOfADeadSessionChangesNothing(t *testing.T) {
	t.Parallel()
	env := map[string]string{"ACCESS_TOKEN_TTL": "15m", "REFRESH_TOKEN_TTL": "1h", "SESSION_MAX_AGE": "2h"}
	for _, tc := range []struct {
		name string
		// kill ends the session whose tokens are given, oldest first.
		kill       func(t *testing.T, h *testenv.Harness, chain []testenv.Tokens)
		reason     string // the session's revoke_reason afterwards; "" = not revoked by kill
		stillThere bool   // the test must see the expired item still stored
	}{
		{"a session revoked for refresh-token reuse", func(t *testing.T, h *testenv.Harness, chain []testenv.Tokens) {
			h.Clock.Advance(time.Minute) // past the grace window of the last rotation
			code, _ := h.Refresh(t, chain[0].RefreshToken)
			wantStatus(t, "theft: replay of the grandparent", code, http.StatusUnauthorized)
		}, "refresh_token_reuse", false},
		{"a session that logged out", func(t *testing.T, h *testenv.Harness, chain []testenv.Tokens) {
			wantStatus(t, "logout", h.Logout(t, chain[2].RefreshToken, ""), http.StatusNoContent)
		}, "logout", false},
		{"a session that logged out everywhere", func(t *testing.T, h *testenv.Harness, chain []testenv.Tokens) {
			wantStatus(t, "logout all", h.Logout(t, chain[2].RefreshToken, "all"), http.StatusNoContent)
		}, "logout", false},
		{"a session past its absolute deadline", func(t *testing.T, h *testenv.Harness, chain []testenv.Tokens) {
			h.Clock.Set(testenv.Epoch.Add(2*time.Hour + time.Second))
		}, "", true},
		{"a session past its idle deadline", func(t *testing.T, h *testenv.Harness, chain []testenv.Tokens) {
			h.Clock.Advance(time.Hour + time.Second)
		}, "", true},
	} {
		for _, which := range []struct {
			name string
			idx  int
		}{{"its current token", 2}, {"its previous token", 1}, {"a token two rotations old", 0}} {
			t.Run(tc.name+": logout everywhere with "+which.name+" answers 204 and bumps nothing", func(t *testing.T) {
				t.Parallel()
				h := testenv.New(t, testenv.Options{Env: env})
				u := h.CreateUser(t, "alice", "", "")
				chain := []testenv.Tokens{h.Login(t, u.Name, u.Password)}
				for range 2 {
					h.Clock.Advance(20 * time.Minute)
					chain = append(chain, h.MustRefresh(t, chain[len(chain)-1].RefreshToken))
				}
				sid := chain[0].SessionID
				tc.kill(t, h, chain)
				before := testenv.N(h.Item(t, "u#"+u.ID), "ver")

				// The victim signs in again: this is the session a thief would end.
				fresh := h.Login(t, u.Name, u.Password)
				if tc.stillThere {
					h.StillStored(t, "s#"+sid)
				}

				wantStatus(t, "logout all with a dead session's token", h.Logout(t, chain[which.idx].RefreshToken, "all"), http.StatusNoContent)

				if tc.stillThere {
					h.StillStored(t, "s#"+sid)
				}
				if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != before {
					t.Errorf("token version moved from %d to %d", before, v)
				}
				if l := h.Item(t, "n#alice"); testenv.N(l, "ver") != before {
					t.Errorf("login record's version moved from %d to %d", before, testenv.N(l, "ver"))
				}
				if h.Revoked(t, fresh.SessionID) {
					t.Error("the victim's new session was revoked")
				}
				wantAllowed(t, h, fresh.AccessToken)
				h.MustRefresh(t, fresh.RefreshToken)
				if tc.reason != "" {
					if r := testenv.S(h.SessionItem(t, sid), "revoke_reason"); r != tc.reason {
						t.Errorf("the dead session's revoke_reason became %q, want it kept as %q", r, tc.reason)
					}
				}
			})
		}
	}
}

// What a dead session's token does not do, a live one still does: logout everywhere
// with the current token, and with a token two rotations old (theft detected by the
// logout itself), ends every session and bumps the version once.
func TestLogoutEverywhereWithATokenOfALiveSessionBumpsTheVersionOnce(t *testing.T) {
	t.Parallel()
	for _, which := range []struct {
		name string
		idx  int
	}{{"its current token", 2}, {"a token two rotations old", 0}} {
		t.Run("with "+which.name, func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			u := h.CreateUser(t, "alice", "", "")
			other := h.Login(t, u.Name, u.Password)
			chain := []testenv.Tokens{h.Login(t, u.Name, u.Password)}
			for range 2 {
				h.Clock.Advance(time.Minute)
				chain = append(chain, h.MustRefresh(t, chain[len(chain)-1].RefreshToken))
			}
			wantStatus(t, "logout all", h.Logout(t, chain[which.idx].RefreshToken, "all"), http.StatusNoContent)
			if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 2 {
				t.Errorf("token version %d, want 2", v)
			}
			if !h.Revoked(t, chain[0].SessionID) || !h.Revoked(t, other.SessionID) {
				t.Error("a session survived logout everywhere")
			}
			wantDenied(t, h, other.AccessToken, chain[2].AccessToken)
			// Repeating it with the same token is now a dead session's token.
			wantStatus(t, "logout all again", h.Logout(t, chain[which.idx].RefreshToken, "all"), http.StatusNoContent)
			if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 2 {
				t.Errorf("a repeated logout all moved the version to %d", v)
			}
		})
	}
}

// The session is revoked (theft detected) after logout everywhere has read it and
// before its write: the write's condition decides, so the version does not move, and
// the logout answers 204 on the session as it now is.
func TestLogoutEverywhereRacingATheftDetectionBumpsNothing(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	tok := h.Login(t, u.Name, u.Password)
	fresh := h.Login(t, u.Name, u.Password)
	h.Net.Inject("TransactWriteItems", 1, func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		// The concurrent theft detection, landing between the read and the write.
		if _, err := h.Store.RevokeSession(req.Context(), tok.SessionID, nil, "refresh_token_reuse", h.Clock.Now()); err != nil {
			t.Errorf("revoking in between: %v", err)
		}
		return next(req)
	})
	wantStatus(t, "logout all", h.Logout(t, tok.RefreshToken, "all"), http.StatusNoContent)
	if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 1 {
		t.Errorf("version %d: a session revoked before the write still logged everyone out", v)
	}
	if r := testenv.S(h.SessionItem(t, tok.SessionID), "revoke_reason"); r != "refresh_token_reuse" {
		t.Errorf("revoke_reason %q, want the theft's", r)
	}
	wantAllowed(t, h, fresh.AccessToken)
	h.MustRefresh(t, fresh.RefreshToken)
}

// A logout everywhere that storage fails answers 503 and leaves the session live, so
// the client's retry does all of it: the bump and the own session's revocation are one
// write, never "revoked, but the rest not done", which the retry would then take for
// a dead session's logout.
func TestAFailedLogoutEverywhereIsDoneWholeByTheRetry(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	tok := h.Login(t, u.Name, u.Password)
	other := h.Login(t, u.Name, u.Password)
	clear := h.Net.Inject("TransactWriteItems", -1, testenv.ServerError())
	resp := testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(tok.RefreshToken, "all"))
	clear()
	wantStatus(t, "logout all while storage fails", resp.StatusCode, http.StatusServiceUnavailable)
	if h.Revoked(t, tok.SessionID) {
		t.Fatal("the failed logout left its own session revoked: the retry would take it for a dead session")
	}
	if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 1 {
		t.Fatalf("version %d after a failed logout", v)
	}
	wantStatus(t, "the retry", h.Logout(t, tok.RefreshToken, "all"), http.StatusNoContent)
	if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 2 {
		t.Errorf("version %d after the retry, want 2", v)
	}
	if !h.Revoked(t, tok.SessionID) || !h.Revoked(t, other.SessionID) {
		t.Error("a session survived the retried logout everywhere")
	}
	wantDenied(t, h, tok.AccessToken, other.AccessToken)
}
