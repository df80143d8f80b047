package session_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// The reason a logout everywhere gives its own session says how it proved itself: the
// current or previous token is a logout; an older one is theft, revoked as such and
// logged as a warning (someone else has been refreshing).
func TestLogoutEverywhereNamesHowTheSessionEnded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		idx    int
		reason string
		theft  bool
	}{
		{"its current token is a logout", 2, session.ReasonLogout, false},
		{"its previous token is a logout", 1, session.ReasonLogout, false},
		{"a token two rotations old is theft", 0, session.ReasonReuse, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			u := h.CreateUser(t, "alice", "", "")
			other := h.Login(t, u.Name, u.Password)
			chain := []testenv.Tokens{h.Login(t, u.Name, u.Password)}
			for range 2 {
				h.Clock.Advance(time.Second) // inside the grace window: no theft by the refreshes
				chain = append(chain, h.MustRefresh(t, chain[len(chain)-1].RefreshToken))
			}
			h.Logs.Reset()
			wantStatus(t, "logout all", h.Logout(t, chain[tc.idx].RefreshToken, "all"), http.StatusNoContent)
			if r := testenv.S(h.SessionItem(t, chain[0].SessionID), "revoke_reason"); r != tc.reason {
				t.Errorf("own session: revoke_reason %q, want %q", r, tc.reason)
			}
			if r := testenv.S(h.SessionItem(t, other.SessionID), "revoke_reason"); r != session.ReasonLogoutAll {
				t.Errorf("other session: revoke_reason %q, want %q", r, session.ReasonLogoutAll)
			}
			if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 2 {
				t.Errorf("version %d, want 2", v)
			}
			warned := strings.Contains(h.Logs.String(), `"level":"WARN","msg":"refresh token reuse: revoking session"`)
			if warned != tc.theft {
				t.Errorf("theft warning logged: %v, want %v", warned, tc.theft)
			}
		})
	}
}

func TestRevocationsFailLoudlyWhenStorageFails(t *testing.T) {
	t.Parallel()
	t.Run("a logout while storage is down answers 503 and revokes nothing", func(t *testing.T) {
		t.Parallel()
		s := login(t, nil)
		clear := s.h.Net.Inject("UpdateItem", -1, testenv.ServerError())
		resp := testenv.Call(t, s.h.App.API.Logout, testenv.LogoutReq(s.tok.RefreshToken, ""))
		clear()
		wantStatus(t, "logout", resp.StatusCode, http.StatusServiceUnavailable)
		if s.h.Revoked(t, s.tok.SessionID) {
			t.Fatal("revoked")
		}
	})
	// Reading the listed sessions fails before anything is written: the caller hears
	// it, and everything is as it was (one write does all of it or nothing).
	for name, call := range map[string]func(h *testenv.Harness, u testenv.User, tok testenv.Tokens) error{
		"logout everywhere": func(h *testenv.Harness, _ testenv.User, tok testenv.Tokens) error {
			return h.App.Service.Logout(testenv.Ctx(t), tok.RefreshToken, session.ScopeAll)
		},
		"RevokeUser": func(h *testenv.Harness, u testenv.User, _ testenv.Tokens) error {
			_, err := h.App.Service.RevokeUser(testenv.Ctx(t), u.ID, "", session.ReasonAdminRevoke)
			return err
		},
		"SetDisabled": func(h *testenv.Harness, u testenv.User, _ testenv.Tokens) error {
			_, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, true)
			return err
		},
	} {
		t.Run(name+" whose read of the listed sessions fails is ErrUnavailable, with nothing changed", func(t *testing.T) {
			t.Parallel()
			s := login(t, nil)
			other := s.h.Login(t, s.user.Name, s.user.Password)
			clear := s.h.Net.Inject("BatchGetItem", -1, testenv.ServerError())
			err := call(s.h, s.user, s.tok)
			clear()
			if !errors.Is(err, session.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if v := testenv.N(s.h.Item(t, "u#"+s.user.ID), "ver"); v != 1 {
				t.Errorf("version %d, want nothing written", v)
			}
			wantAllowed(t, s.h, s.tok.AccessToken)
			wantAllowed(t, s.h, other.AccessToken)
		})
	}
}

// A transaction cancelled by a concurrent one (TransactionConflict, which the SDK does
// not retry) is tried again, six times in all (session's conflictAttempts); and a
// condition that keeps failing under a logout everywhere ends in 503 after six reads
// and writes (maxEndings), not a loop.
func TestCancelledVersionWritesAreRetriedABoundedNumberOfTimes(t *testing.T) {
	t.Parallel()
	writes := map[string]func(h *testenv.Harness, u testenv.User, tok testenv.Tokens) error{
		"logout everywhere": func(h *testenv.Harness, _ testenv.User, tok testenv.Tokens) error {
			return h.App.Service.Logout(testenv.Ctx(t), tok.RefreshToken, session.ScopeAll)
		},
		"RevokeUser": func(h *testenv.Harness, u testenv.User, _ testenv.Tokens) error {
			_, err := h.App.Service.RevokeUser(testenv.Ctx(t), u.ID, "", session.ReasonAdminRevoke)
			return err
		},
		"SetDisabled": func(h *testenv.Harness, u testenv.User, _ testenv.Tokens) error {
			_, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, true)
			return err
		},
	}
	// Each is one transaction of the login record, the token record and the session.
	conflict := func(string) testenv.Fault { return testenv.Cancelled("None", "None", "TransactionConflict") }
	for name, write := range writes {
		t.Run(name+" cancelled five times by a conflict succeeds on the sixth attempt", func(t *testing.T) {
			t.Parallel()
			s := login(t, nil)
			clear := s.h.Net.Inject("TransactWriteItems", 5, conflict(name))
			err := write(s.h, s.user, s.tok)
			if hits := clear(); hits != 5 {
				t.Fatalf("the fault hit %d times, want 5", hits)
			}
			if err != nil {
				t.Fatal(err)
			}
			if v := testenv.N(s.h.Item(t, "u#"+s.user.ID), "ver"); v != 2 {
				t.Errorf("version %d, want exactly one bump", v)
			}
		})
		t.Run(name+" cancelled by conflicts every time gives up after six attempts with ErrConflict", func(t *testing.T) {
			t.Parallel()
			s := login(t, nil)
			clear := s.h.Net.Inject("TransactWriteItems", -1, conflict(name))
			err := write(s.h, s.user, s.tok)
			if hits := clear(); hits != 6 {
				t.Errorf("%d attempts, want 6", hits)
			}
			if !errors.Is(err, session.ErrConflict) || !errors.Is(err, session.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrConflict (an ErrUnavailable)", err)
			}
			if v := testenv.N(s.h.Item(t, "u#"+s.user.ID), "ver"); v != 1 {
				t.Errorf("version %d after only failed attempts", v)
			}
		})
	}
	t.Run("logout everywhere whose session condition keeps failing answers 503 and bumps nothing", func(t *testing.T) {
		t.Parallel()
		s := login(t, nil)
		clear := s.h.Net.Inject("TransactWriteItems", -1, testenv.Cancelled("None", "None", "ConditionalCheckFailed"))
		resp := testenv.Call(t, s.h.App.API.Logout, testenv.LogoutReq(s.tok.RefreshToken, "all"))
		if hits := clear(); hits != 6 {
			t.Errorf("%d attempts, want 6 (read and write again, at most six times in all)", hits)
		}
		wantStatus(t, "logout all", resp.StatusCode, http.StatusServiceUnavailable)
		if v := testenv.N(s.h.Item(t, "u#"+s.user.ID), "ver"); v != 1 || s.h.Revoked(t, s.tok.SessionID) {
			t.Errorf("version %d, revoked %v: something was written", v, s.h.Revoked(t, s.tok.SessionID))
		}
	})
}
