package session_test

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

func TestLogoutEndsTheSessionAtOnce(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	h.Clock.Advance(time.Minute)
	cur := h.MustRefresh(t, s.tok.RefreshToken)
	wantAllowed(t, h, s.tok.AccessToken, cur.AccessToken)

	wantStatus(t, "logout", h.Logout(t, cur.RefreshToken, ""), http.StatusNoContent)

	// No clock movement: the very next authorizer call denies both access tokens.
	wantDenied(t, h, s.tok.AccessToken, cur.AccessToken)
	code, _ := h.Refresh(t, cur.RefreshToken)
	wantStatus(t, "refresh after logout", code, http.StatusUnauthorized)
	code, _ = h.Refresh(t, s.tok.RefreshToken)
	wantStatus(t, "refresh with the previous token after logout", code, http.StatusUnauthorized)
	it := h.SessionItem(t, s.tok.SessionID)
	if testenv.S(it, "revoke_reason") != "logout" || testenv.N(it, "revoked_at") != h.Clock.Now().Unix() {
		t.Errorf("item after logout: revoke_reason=%q revoked_at=%d", testenv.S(it, "revoke_reason"), testenv.N(it, "revoked_at"))
	}
}

func TestLogoutIsIdempotent(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	for _, tc := range []struct{ name, token string }{
		{"the first logout answers 204", s.tok.RefreshToken},
		{"logging out again answers 204", s.tok.RefreshToken},
		{"an unknown but well-formed token answers 204", "c0QJ3SynIs_ZMtCsSzUWiQ.vCk_SPhKnIM2Wk_rNU9s0X4lvWFYj_tI8b7CDrYogxg"},
		{"a forged secret for the real session answers 204", s.tok.SessionID + ".vCk_SPhKnIM2Wk_rNU9s0X4lvWFYj_tI8b7CDrYogxg"},
		{"a malformed token answers 204", "garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, "logout", h.Logout(t, tc.token, ""), http.StatusNoContent)
		})
	}
	it := h.SessionItem(t, s.tok.SessionID)
	if testenv.S(it, "revoke_reason") != "logout" {
		t.Errorf("revoke_reason = %q", testenv.S(it, "revoke_reason"))
	}
}

func TestLogoutWithAForgedSecretDoesNotEndTheSession(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	forged := s.tok.SessionID + ".vCk_SPhKnIM2Wk_rNU9s0X4lvWFYj_tI8b7CDrYogxg"
	for _, scope := range []string{"", "all"} {
		wantStatus(t, "logout with a forged secret", s.h.Logout(t, forged, scope), http.StatusNoContent)
	}
	if s.h.Revoked(t, s.tok.SessionID) {
		t.Fatal("a logout without the session's secret revoked it")
	}
	wantAllowed(t, s.h, s.tok.AccessToken)
}

func TestLogoutEverywhereRevokesEverySessionOfTheUserOnly(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	alice := h.CreateUser(t, "alice", "", "")
	bob := h.CreateUser(t, "bob", "", "")
	var mine []testenv.Tokens
	for range 3 {
		mine = append(mine, h.Login(t, alice.Name, alice.Password))
		h.Clock.Advance(time.Second)
	}
	// One of them has rotated, so the token used for logout-all is not the first.
	mine[1] = h.MustRefresh(t, mine[1].RefreshToken)
	other := h.Login(t, bob.Name, bob.Password)

	wantStatus(t, "logout all", h.Logout(t, mine[1].RefreshToken, "all"), http.StatusNoContent)

	for i, tok := range mine {
		wantDenied(t, h, tok.AccessToken)
		code, _ := h.Refresh(t, tok.RefreshToken)
		if code != http.StatusUnauthorized {
			t.Errorf("session %d: refresh after logout-all answered %d", i, code)
		}
		if !h.Revoked(t, tok.SessionID) {
			t.Errorf("session %d not revoked", i)
		}
	}
	if u := h.Item(t, "u#"+alice.ID); testenv.N(u, "ver") != 2 {
		t.Errorf("alice's token version = %d, want 2", testenv.N(u, "ver"))
	}
	if l := h.Item(t, "n#alice"); testenv.N(l, "ver") != 2 {
		t.Errorf("alice's login record carries version %d, want 2", testenv.N(l, "ver"))
	}

	// Bob is untouched.
	wantAllowed(t, h, other.AccessToken)
	h.MustRefresh(t, other.RefreshToken)
	if u := h.Item(t, "u#"+bob.ID); testenv.N(u, "ver") != 1 {
		t.Errorf("bob's token version changed to %d", testenv.N(u, "ver"))
	}

	// Alice can log in again, and that session works.
	again := h.Login(t, alice.Name, alice.Password)
	wantAllowed(t, h, again.AccessToken)
	if testenv.Claims(t, again.AccessToken)["ver"] != float64(2) {
		t.Error("a new login does not carry the new token version")
	}
}

func TestLogoutEverywhereRacingALoginLeavesNoLiveSessionOnAnOldVersion(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	const rounds, logins = 12, 3
	var wg sync.WaitGroup
	users := make([]testenv.User, rounds)
	for r := range rounds {
		users[r] = h.CreateUser(t, "racer"+strconv.Itoa(r), "", "")
	}
	// Random pauses before each request shuffle the interleavings, so that logins
	// do land between the bump and their own write.
	h.Net.Inject("", -1, testenv.Jitter(15*time.Millisecond))
	for r := range rounds {
		wg.Go(func() {
			u := users[r]
			first := h.Login(t, u.Name, u.Password)
			start := make(chan struct{})
			var inner sync.WaitGroup
			inner.Go(func() {
				<-start
				resp := untilAnswered(func() events.APIGatewayV2HTTPResponse {
					return testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(first.RefreshToken, "all"))
				})
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("%s: logout all answered %d", u.Name, resp.StatusCode)
				}
			})
			for range logins {
				inner.Go(func() {
					<-start
					resp := untilAnswered(func() events.APIGatewayV2HTTPResponse {
						return testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
					})
					// One version bump can fail a login's write at most once, and
					// the login then decides again on the new version and succeeds.
					// (A login retried after 503s under load may meet the throttle:
					// its timed-out attempts stay counted. It opens nothing.)
					if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusTooManyRequests {
						t.Errorf("%s: racing login answered %d %s", u.Name, resp.StatusCode, resp.Body)
					}
				})
			}
			close(start)
			inner.Wait()
		})
	}
	wg.Wait()

	vers := map[string]int64{}
	for _, u := range users {
		vers[u.ID] = testenv.N(h.Item(t, "u#"+u.ID), "ver")
		if vers[u.ID] != 2 {
			t.Errorf("%s: version %d after one logout-all", u.Name, vers[u.ID])
		}
	}
	live := 0
	for _, it := range h.Sessions(t) {
		uid := testenv.S(it, "user_id")
		if testenv.Has(it, "revoked_at") {
			continue
		}
		live++
		if testenv.N(it, "ver") != vers[uid] {
			t.Errorf("session %s of %s is live on version %d while the user is on %d",
				testenv.S(it, "pk"), uid, testenv.N(it, "ver"), vers[uid])
		}
	}
	t.Logf("%d rounds: %d sessions survive on the current version", rounds, live)
}

func TestAPasswordChangeEndsEverySession(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	second := h.Login(t, s.user.Name, s.user.Password)
	newPw := "a brand new passphrase"
	hash, err := password.Hash(newPw, testenv.CheapPassword)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := h.App.Service.RevokeUser(testenv.Ctx(t), s.user.ID, hash, "password_change"); err != nil {
		t.Fatalf("RevokeUser: %v", err)
	}

	for _, tok := range []testenv.Tokens{s.tok, second} {
		code, _ := h.Refresh(t, tok.RefreshToken)
		wantStatus(t, "refresh after a password change", code, http.StatusUnauthorized)
		wantDenied(t, h, tok.AccessToken)
		if r := testenv.S(h.SessionItem(t, tok.SessionID), "revoke_reason"); r != "password_change" {
			t.Errorf("revoke_reason = %q", r)
		}
	}
	resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(s.user.Name, s.user.Password))
	wantStatus(t, "login with the old password", resp.StatusCode, http.StatusUnauthorized)
	fresh := h.Login(t, s.user.Name, newPw)
	wantAllowed(t, h, fresh.AccessToken)
}

func TestRevokeUserFailsWithoutHalfDoingItWhenStorageIsDown(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	clear := h.Net.Inject("TransactWriteItems", -1, testenv.ServerError())
	_, err := h.App.Service.RevokeUser(testenv.Ctx(t), s.user.ID, "", "admin")
	clear()
	if !errors.Is(err, session.ErrUnavailable) {
		t.Fatalf("RevokeUser with DynamoDB failing: %v, want ErrUnavailable", err)
	}
	if v := testenv.N(h.Item(t, "u#"+s.user.ID), "ver"); v != 1 {
		t.Errorf("version %d after a failed bump", v)
	}
	// Once storage is back, it works.
	if _, err := h.App.Service.RevokeUser(testenv.Ctx(t), s.user.ID, "", "admin"); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, h, s.tok.AccessToken)
}

// Logout of a session whose refresh token rotated accepts the previous token too
// (a tab that lost the race still holds it).
func TestLogoutWithThePreviousRefreshTokenEndsTheSession(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	cur := h.MustRefresh(t, s.tok.RefreshToken)
	wantStatus(t, "logout with the previous token", h.Logout(t, s.tok.RefreshToken, ""), http.StatusNoContent)
	wantDenied(t, h, cur.AccessToken)
	code, _ := h.Refresh(t, cur.RefreshToken)
	wantStatus(t, "refresh after logout", code, http.StatusUnauthorized)
}

// A logout with a token that has been rotated twice since means someone else holds the
// newer ones: like a refresh with it, the logout ends the session (RFC 9700 §4.14.2).
func TestLogoutWithAnOlderRefreshTokenEndsTheSessionAsTheft(t *testing.T) {
	t.Parallel()
	for _, scope := range []string{"", "all"} {
		t.Run("scope "+strconv.Quote(scope), func(t *testing.T) {
			s := login(t, nil)
			h := s.h
			h.Clock.Advance(time.Minute)
			child := h.MustRefresh(t, s.tok.RefreshToken)
			h.Clock.Advance(time.Minute)
			grandchild := h.MustRefresh(t, child.RefreshToken) // the "attacker" holds this one

			wantStatus(t, "logout with the grandparent", h.Logout(t, s.tok.RefreshToken, scope), http.StatusNoContent)
			if !h.Revoked(t, s.tok.SessionID) {
				t.Fatal("the session survived a logout with one of its older tokens")
			}
			wantDenied(t, h, grandchild.AccessToken)
			if code, _ := h.Refresh(t, grandchild.RefreshToken); code != http.StatusUnauthorized {
				t.Fatalf("the newest refresh token still works: %d", code)
			}
		})
	}
}
