package session_test

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// liveSessions lists the user's live sessions through the service (exact: the login
// record's list, each session's own item).
func liveSessions(t *testing.T, h *testenv.Harness, uid string) []string {
	t.Helper()
	list, err := h.App.Service.ListSessions(testenv.Ctx(t), uid)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

// However many logins run at once, no more than the limit are ever live together,
// and every login that answered 200 either is one of them or was ended by a later one.
func TestTwentyConcurrentLoginsAgainstALimitOfThreeLeaveExactlyThree(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{Env: map[string]string{"MAX_SESSIONS_PER_USER": "3"}})
	u := h.CreateUser(t, "alice", "", "")
	const n = 20
	codes := make([]int, n)
	toks := make([]testenv.Tokens, n)
	testenv.Together(n, func(i int) {
		resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
		codes[i] = resp.StatusCode
		if resp.StatusCode == http.StatusOK {
			testenv.Decode(t, resp, &toks[i])
		}
	})
	// The failed-login throttle counts every attempt before its password is checked,
	// so a burst this size on one username also meets it: the first five always pass
	// it, later ones pass once a success has reset the count.
	ok, throttled := 0, 0
	for i, c := range codes {
		switch c {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			throttled++
		case http.StatusServiceUnavailable:
			t.Logf("login %d answered 503 (gave up on a contended record)", i)
		default:
			t.Fatalf("login %d answered %d", i, c)
		}
	}
	t.Logf("%d logins answered 200, %d were throttled", ok, throttled)
	live := liveSessions(t, h, u.ID)
	if len(live) != 3 {
		t.Fatalf("%d live sessions after %d concurrent logins (%d answered 200), want exactly 3", len(live), n, ok)
	}
	if ok <= 3 {
		t.Fatalf("only %d logins succeeded: the limit was never needed", ok)
	}
	// Every live one came from a successful login; every other successful login's
	// session was ended by the limit, and its access token is refused.
	allowed := 0
	for _, tok := range toks {
		if tok.SessionID == "" {
			continue
		}
		isLive := slices.Contains(live, tok.SessionID)
		if h.Allowed(t, tok.AccessToken) != isLive {
			t.Errorf("session %s: allowed %v, live %v", tok.SessionID, !isLive, isLive)
		}
		if isLive {
			allowed++
			continue
		}
		if r := testenv.S(h.SessionItem(t, tok.SessionID), "revoke_reason"); r != session.ReasonEvicted {
			t.Errorf("session %s ended as %q, want %s", tok.SessionID, r, session.ReasonEvicted)
		}
	}
	if allowed != 3 {
		t.Errorf("%d access tokens allowed, want 3", allowed)
	}
}

// The limit ends the least recently used session, not the oldest one.
func TestTheLimitEndsTheLeastRecentlyUsedSession(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{Env: map[string]string{"MAX_SESSIONS_PER_USER": "2"}})
	u := h.CreateUser(t, "alice", "", "")
	first := h.Login(t, u.Name, u.Password)
	h.Clock.Advance(time.Minute)
	second := h.Login(t, u.Name, u.Password)
	h.Clock.Advance(time.Minute)
	first = h.MustRefresh(t, first.RefreshToken) // the oldest is now the most recently used
	h.Clock.Advance(time.Minute)
	third := h.Login(t, u.Name, u.Password)
	wantDenied(t, h, second.AccessToken)
	wantAllowed(t, h, first.AccessToken, third.AccessToken)
	if got := liveSessions(t, h, u.ID); !slices.Equal(got, []string{third.SessionID, first.SessionID}) {
		t.Errorf("live %v, want the third then the first (most recently used first)", got)
	}
	t.Run("a limit of 0 is no limit", func(t *testing.T) {
		h := testenv.New(t, testenv.Options{Env: map[string]string{"MAX_SESSIONS_PER_USER": "0"}})
		u := h.CreateUser(t, "bob", "", "")
		for range 12 {
			h.Login(t, u.Name, u.Password)
		}
		if n := len(liveSessions(t, h, u.ID)); n != 12 {
			t.Errorf("%d live, want 12", n)
		}
	})
}

// Logout "others" racing a refresh of another session: whichever reaches DynamoDB
// first, once both have returned the other session is dead and stays dead, and the
// caller's session is live.
func TestLogoutOthersRacingARefreshOfAnotherSessionLeavesItDead(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	var refreshed, refused int
	for round := 0; round < 40 && (refreshed < 2 || refused < 2); round++ {
		keep := h.Login(t, u.Name, u.Password)
		other := h.Login(t, u.Name, u.Password)
		var code, logoutCode int
		var next testenv.Tokens
		clear := h.Net.Inject("", -1, testenv.Jitter(10*time.Millisecond))
		testenv.Together(2, func(i int) {
			if i == 0 {
				// logout others makes three reads before its write: start the
				// refresh at a random point of that, so both orders happen.
				time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
				code, next = h.Refresh(t, other.RefreshToken)
			} else {
				logoutCode = h.Logout(t, keep.RefreshToken, "others")
			}
		})
		clear()
		wantStatus(t, "logout others", logoutCode, http.StatusNoContent)
		switch code {
		case http.StatusOK:
			refreshed++
			wantDenied(t, h, next.AccessToken)
			if c, _ := h.Refresh(t, next.RefreshToken); c != http.StatusUnauthorized {
				t.Fatalf("round %d: the rotated token of an ended session refreshes (%d)", round, c)
			}
		case http.StatusUnauthorized:
			refused++
		default:
			t.Fatalf("round %d: refresh answered %d", round, code)
		}
		wantDenied(t, h, other.AccessToken)
		wantAllowed(t, h, keep.AccessToken)
		if r := testenv.S(h.SessionItem(t, other.SessionID), "revoke_reason"); r != session.ReasonLogoutOthers {
			t.Fatalf("round %d: other session ended as %q", round, r)
		}
	}
	t.Logf("refresh first %d times, logout first %d times", refreshed, refused)
	if refreshed == 0 || refused == 0 {
		t.Fatalf("saw refresh first %d and logout first %d times: both orders are needed", refreshed, refused)
	}
}

// A password change racing a login with the old password: once both have returned,
// no session but the changer's can be used, whoever won, and the new password works.
func TestAPasswordChangeRacingALoginLeavesOnlyTheChangersSession(t *testing.T) {
	t.Parallel()
	for round := range 4 {
		h := testenv.New(t, testenv.Options{})
		u := h.CreateUser(t, "alice", "", "")
		mine := h.Login(t, u.Name, u.Password)
		const next = "an entirely new passphrase"
		var changed, login = testenv.Tokens{}, testenv.Tokens{}
		var changeCode, loginCode int
		testenv.Together(2, func(i int) {
			if i == 0 {
				resp := h.ChangePassword(t, mine.AccessToken, u.Password, next)
				changeCode = resp.StatusCode
				if changeCode == http.StatusOK {
					testenv.Decode(t, resp, &changed)
				}
			} else {
				resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
				loginCode = resp.StatusCode
				if loginCode == http.StatusOK {
					testenv.Decode(t, resp, &login)
				}
			}
		})
		wantStatus(t, "password change", changeCode, http.StatusOK)
		if loginCode != http.StatusOK && loginCode != http.StatusUnauthorized {
			t.Fatalf("round %d: the racing login answered %d", round, loginCode)
		}
		if login.AccessToken != "" {
			wantDenied(t, h, login.AccessToken)
			if c, _ := h.Refresh(t, login.RefreshToken); c != http.StatusUnauthorized {
				t.Fatalf("round %d: the old password's session refreshes (%d)", round, c)
			}
		}
		wantDenied(t, h, mine.AccessToken) // minted before the change
		wantAllowed(t, h, changed.AccessToken)
		if got := liveSessions(t, h, u.ID); !slices.Equal(got, []string{mine.SessionID}) {
			t.Fatalf("round %d: live %v, want only the changer's %s", round, got, mine.SessionID)
		}
		h.Login(t, u.Name, next)
	}
}

// Signing out another user's session is refused as not found, exactly like an unknown
// ID, and changes nothing.
func TestSigningOutAnotherUsersSessionIsNotFoundAndChangesNothing(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	alice := h.CreateUser(t, "alice", "", "")
	bob := h.CreateUser(t, "bob", "", "")
	a := h.Login(t, alice.Name, alice.Password)
	b := h.Login(t, bob.Name, bob.Password)
	before := h.SessionItem(t, b.SessionID)
	err := h.App.Service.SignOut(testenv.Ctx(t), alice.ID, b.SessionID)
	if !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	unknown := h.App.Service.SignOut(testenv.Ctx(t), alice.ID, "azcSrzXcFdcnvklY-E2ZTQ")
	if !errors.Is(unknown, session.ErrNotFound) || unknown.Error() != err.Error() {
		t.Errorf("an unknown ID: %v; another user's: %v; want the same answer", unknown, err)
	}
	if after := h.SessionItem(t, b.SessionID); !reflect.DeepEqual(before, after) {
		t.Errorf("bob's session changed: %v -> %v", before, after)
	}
	wantAllowed(t, h, a.AccessToken, b.AccessToken)
}

// A reauthentication gives a fresh auth_time that survives refreshes; a wrong password
// is invalid credentials and counted by the login throttle.
func TestReauthenticationFreshensAuthTime(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	tok := h.Login(t, u.Name, u.Password)
	at0 := testenv.Claims(t, tok.AccessToken)["auth_time"].(float64)
	if amr := testenv.Claims(t, tok.AccessToken)["amr"]; !reflect.DeepEqual(amr, []any{"pwd"}) {
		t.Errorf("amr %v, want [pwd]", amr)
	}
	h.Clock.Advance(10 * time.Minute)
	next := h.MustRefresh(t, tok.RefreshToken)
	if got := testenv.Claims(t, next.AccessToken)["auth_time"].(float64); got != at0 {
		t.Errorf("a refresh moved auth_time from %v to %v", at0, got)
	}
	resp := h.Reauthenticate(t, next.AccessToken, "not the password")
	wantStatus(t, "wrong password", resp.StatusCode, http.StatusUnauthorized)
	var e testenv.ErrorBody
	testenv.Decode(t, resp, &e)
	if e.Error != "invalid_credentials" {
		t.Errorf("error %q", e.Error)
	}
	if f := testenv.N(h.Item(t, "n#alice"), "fails"); f != 1 {
		t.Errorf("fails = %d, want the wrong password counted", f)
	}
	resp = h.Reauthenticate(t, next.AccessToken, u.Password)
	wantStatus(t, "reauthenticate", resp.StatusCode, http.StatusOK)
	var fresh testenv.Tokens
	testenv.Decode(t, resp, &fresh)
	at1 := testenv.Claims(t, fresh.AccessToken)["auth_time"].(float64)
	if at1 != float64(h.Clock.Now().Unix()) || at1 <= at0 {
		t.Errorf("auth_time %v, want now (%d)", at1, h.Clock.Now().Unix())
	}
	if testenv.Has(h.Item(t, "n#alice"), "fails") {
		t.Error("a successful reauthentication left the failure count")
	}
	h.Clock.Advance(time.Minute)
	if got := testenv.Claims(t, h.MustRefresh(t, next.RefreshToken).AccessToken)["auth_time"].(float64); got != at1 {
		t.Errorf("after a refresh auth_time is %v, want the reauthentication's %v", got, at1)
	}
	if c := h.Authorize(t, fresh.AccessToken).Context["auth_time"]; c != int64(at1) {
		t.Errorf("authorizer context auth_time %v, want %v", c, int64(at1))
	}
}

// A password change's wrong current password is counted by the login throttle, and a
// new password the policy refuses is refused before anything is counted.
func TestAPasswordChangeIsThrottledAndChecked(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	tok := h.Login(t, u.Name, u.Password)
	for _, tc := range []struct {
		name, current, next string
		status              int
		code                string
		fails               int64
	}{
		{"a new password the policy refuses is a 400 and counts nothing", u.Password, "short", http.StatusBadRequest, "weak_password", 0},
		{"a wrong current password is invalid credentials, counted", "wrong wrong wrong", "a long enough passphrase", http.StatusUnauthorized, "invalid_credentials", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.ChangePassword(t, tok.AccessToken, tc.current, tc.next)
			wantStatus(t, tc.name, resp.StatusCode, tc.status)
			var e testenv.ErrorBody
			testenv.Decode(t, resp, &e)
			if e.Error != tc.code {
				t.Errorf("error %q, want %q", e.Error, tc.code)
			}
			if f := testenv.N(h.Item(t, "n#alice"), "fails"); f != tc.fails {
				t.Errorf("fails = %d, want %d", f, tc.fails)
			}
			wantAllowed(t, h, tok.AccessToken)
		})
	}
	t.Run("a throttled username refuses a password change with the right password", func(t *testing.T) {
		for range 5 {
			h.ChangePassword(t, tok.AccessToken, "wrong wrong wrong", "a long enough passphrase")
		}
		resp := h.ChangePassword(t, tok.AccessToken, u.Password, "a long enough passphrase")
		wantStatus(t, "throttled", resp.StatusCode, http.StatusTooManyRequests)
		wantAllowed(t, h, tok.AccessToken)
	})
}

// The device list holds only live sessions: not one logged out, signed out, or past
// its idle deadline while its item is still stored.
func TestTheDeviceListHoldsOnlyLiveSessions(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{Env: map[string]string{"REFRESH_TOKEN_TTL": "1h", "ACCESS_TOKEN_TTL": "15m"}})
	u := h.CreateUser(t, "alice", "", "")
	idle := h.Login(t, u.Name, u.Password) // never refreshed: idle after an hour
	h.Clock.Advance(50 * time.Minute)
	loggedOut := h.Login(t, u.Name, u.Password)
	signedOut := h.Login(t, u.Name, u.Password)
	live := h.Login(t, u.Name, u.Password)
	h.Logout(t, loggedOut.RefreshToken, "")
	if code := h.SignOut(t, live.AccessToken, signedOut.SessionID); code != http.StatusNoContent {
		t.Fatalf("sign out: %d", code)
	}
	h.Clock.Advance(11 * time.Minute)
	live = h.MustRefresh(t, live.RefreshToken)
	h.StillStored(t, "s#"+idle.SessionID) // expired by the clock, still in the table
	if got := liveSessions(t, h, u.ID); !slices.Equal(got, []string{live.SessionID}) {
		t.Fatalf("listed %v, want only %s", got, live.SessionID)
	}
	if got := h.ListSessions(t, live.AccessToken); len(got) != 1 || got[0].ID != live.SessionID || !got[0].Current {
		t.Fatalf("GET /auth/sessions = %+v", got)
	}
}

// A logout everywhere whose transaction committed but whose answer was lost: once the
// call (or the client's retry after a 503) has returned, every session is dead.
func TestALogoutEverywhereWhoseAnswerIsLostIsDoneWhenItReturns(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	a := h.Login(t, u.Name, u.Password)
	b := h.Login(t, u.Name, u.Password)
	clear := h.Net.Inject("TransactWriteItems", 1, testenv.CommitThenHang())
	resp := testenv.CallTimeout(t, h.App.API.Logout, testenv.LogoutReq(a.RefreshToken, "all"), 2*time.Second)
	clear()
	switch resp.StatusCode {
	case http.StatusNoContent:
	case http.StatusServiceUnavailable:
		// The client retries as told; the session is already ended, so the retry
		// changes nothing more and answers 204.
		wantStatus(t, "retry", h.Logout(t, a.RefreshToken, "all"), http.StatusNoContent)
	default:
		t.Fatalf("logout all answered %d", resp.StatusCode)
	}
	wantDenied(t, h, a.AccessToken, b.AccessToken)
	for _, rt := range []string{a.RefreshToken, b.RefreshToken} {
		if code, _ := h.Refresh(t, rt); code != http.StatusUnauthorized {
			t.Errorf("a refresh token still works after logout everywhere: %d", code)
		}
	}
	if n := len(liveSessions(t, h, u.ID)); n != 0 {
		t.Errorf("%d live sessions", n)
	}
}

// A write whose first attempt committed but whose answer was lost, and whose SDK retry
// then met a TransactionConflict, is sent again by the service with the same
// idempotency token: it is answered as the success it was, not re-run against the
// state it created (found by the history checker: a login answered 500, a password
// change 401).
func TestAWriteCommittedBeforeAConflictIsNotRunTwice(t *testing.T) {
	t.Parallel()
	lostThenConflict := func(h *testenv.Harness) func() int {
		a := h.Net.Inject("TransactWriteItems", 1, testenv.LoseResponse())
		b := h.Net.Inject("TransactWriteItems", 1, testenv.Cancelled("TransactionConflict", "None", "None", "None"))
		return func() int { return a() + b() }
	}
	t.Run("a login", func(t *testing.T) {
		t.Parallel()
		h := testenv.New(t, testenv.Options{})
		u := h.CreateUser(t, "alice", "", "")
		clear := lostThenConflict(h)
		resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
		if n := clear(); n != 2 {
			t.Fatalf("%d faults fired, want 2", n)
		}
		wantStatus(t, "login", resp.StatusCode, http.StatusOK)
		var tok testenv.Tokens
		testenv.Decode(t, resp, &tok)
		wantAllowed(t, h, tok.AccessToken)
		if got := liveSessions(t, h, u.ID); !slices.Equal(got, []string{tok.SessionID}) {
			t.Errorf("live %v, want the one session the answer names", got)
		}
	})
	t.Run("a password change", func(t *testing.T) {
		t.Parallel()
		h := testenv.New(t, testenv.Options{})
		u := h.CreateUser(t, "alice", "", "")
		mine := h.Login(t, u.Name, u.Password)
		other := h.Login(t, u.Name, u.Password)
		clear := lostThenConflict(h)
		resp := h.ChangePassword(t, mine.AccessToken, u.Password, "an entirely new passphrase")
		if n := clear(); n != 2 {
			t.Fatalf("%d faults fired, want 2", n)
		}
		wantStatus(t, "password change", resp.StatusCode, http.StatusOK)
		var fresh testenv.Tokens
		testenv.Decode(t, resp, &fresh)
		wantAllowed(t, h, fresh.AccessToken)
		wantDenied(t, h, mine.AccessToken, other.AccessToken)
		h.Login(t, u.Name, "an entirely new passphrase")
	})
}

// Signing out a session twice answers 204 both times, and only the call that ended it
// is an audit event.
func TestSigningOutTwiceIsOneAuditEvent(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	a := h.Login(t, u.Name, u.Password)
	b := h.Login(t, u.Name, u.Password)
	for range 2 {
		if code := h.SignOut(t, a.AccessToken, b.SessionID); code != http.StatusNoContent {
			t.Fatalf("sign out: %d", code)
		}
		// A second sign-out in the same second with the same reason cannot be told
		// from a retry of the first (ddb.Store.SignOut).
		h.Clock.Advance(time.Second)
	}
	if n := strings.Count(h.Logs.String(), `"msg":"session signed out"`); n != 1 {
		t.Errorf("%d sign-out audit lines, want 1", n)
	}
}
