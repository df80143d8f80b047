package history

import (
	"net/http"
	"testing"
	"time"

	"github.com/example/sessions/internal/testenv"
)

// The violations the history check found, each reproduced directly: they failed
// before their fixes and are regression tests now (each comment tells what the service
// did before its fix). A new violation gets a test here
// and, until it is fixed, a Deviation in known (history_test.go), so the main check
// still finds any other.
func repro(t *testing.T) *testenv.Harness {
	t.Helper()
	return testenv.New(t, testenv.Options{Env: env})
}

// Found by TestConcurrentHistoriesAreLinearizable (seed 1, 240 operations): the
// contract is 204 for every logout (README, "POST /auth/logout"), and scope "session"
// and "all" keep it for a token two or more rotations old (theft, which they end).
// Scope "others" returns revokeForReuse's ErrInvalidGrant instead (service.go,
// logoutMany), so the client is told 401 invalid_grant. The session does end.
func TestFixedLogoutOthersWithAnOlderTokenAnswers204(t *testing.T) {
	h := repro(t)
	u := h.CreateUser(t, "alice", "", "")
	first := h.Login(t, u.Name, u.Password)
	h.MustRefresh(t, h.MustRefresh(t, first.RefreshToken).RefreshToken)
	if got := h.Logout(t, first.RefreshToken, "others"); got != http.StatusNoContent {
		t.Errorf("logout of the others with a token two rotations old: %d, want 204", got)
	}
	if !h.Revoked(t, first.SessionID) {
		t.Error("the session whose old token came back is still live")
	}
}

// Found by TestConcurrentHistoriesAreLinearizable (seed 12, 1,500 operations, faults
// 0.15): DELETE /auth/sessions/{id} is one conditional UpdateItem (the session is the
// user's and live). When its answer is lost the SDK sends it again, and the retry's
// condition fails on the first attempt's own write: the route answers 404 "no such
// session" for the session it has just signed out.
func TestFixedSignOutWithALostAnswerAnswers204(t *testing.T) {
	h := repro(t)
	u := h.CreateUser(t, "alice", "", "")
	caller := h.Login(t, u.Name, u.Password)
	other := h.Login(t, u.Name, u.Password)
	clear := h.Net.Inject("UpdateItem", 1, testenv.LoseResponse())
	got := h.SignOut(t, caller.AccessToken, other.SessionID)
	if hits := clear(); hits != 1 {
		t.Fatalf("the lost answer hit %d requests, want 1", hits)
	}
	if got != http.StatusNoContent {
		t.Errorf("sign-out whose first answer was lost: %d, want 204", got)
	}
	if !h.Revoked(t, other.SessionID) {
		t.Error("the signed-out session is still live")
	}
}

// Found by TestConcurrentHistoriesAreLinearizable (seeds 23 and 24, 1,500 operations,
// faults 0.2): the password change's transaction commits and its answer is lost; the
// SDK sends it again and that attempt is cancelled by a TransactionConflict, which the
// service retries itself (retryConflict) as a new transaction. Its condition (the
// password hash as read) fails on the first attempt's own write, the change is
// decided again on the record as it now is, and the current password no longer
// matches: 401 invalid_credentials, while the password has been changed and every
// other session ended.
func TestFixedPasswordChangeWithALostAnswerAnswers200(t *testing.T) {
	h := repro(t)
	u := h.CreateUser(t, "alice", "", "")
	caller := h.Login(t, u.Name, u.Password)
	const next = "a new password of alice's"
	// The change's transaction: the login record, the token record, the kept session.
	lost := h.Net.Inject("TransactWriteItems", 1, testenv.LoseResponse())
	conflict := h.Net.Inject("TransactWriteItems", 1, testenv.Cancelled("None", "None", "TransactionConflict"))
	resp := h.ChangePassword(t, caller.AccessToken, u.Password, next)
	if lost() != 1 || conflict() != 1 {
		t.Fatal("the faults did not hit the change's transaction")
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("password change whose committed answer was lost: %d %s, want 200", resp.StatusCode, resp.Body)
	}
	if got := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, next)).StatusCode; got != http.StatusOK {
		t.Fatalf("login with the new password: %d; the change did not happen, so this is not the violation", got)
	}
}

// Found by TestConcurrentHistoriesAreLinearizable (seed 26, 1,500 operations, faults
// 0.2; the workload refuses a 500), with the faults of the password change above: a
// login's session transaction commits and
// its answer is lost; the SDK's second attempt is cancelled by a TransactionConflict;
// the service writes again (retryConflict), and that new transaction's Put finds its
// own session already there: "session id taken" (ErrExists), which no handler maps,
// so 500 internal_error, for a login whose session exists (and counts for the cap).
func TestFixedLoginWithALostAnswerAnswers200(t *testing.T) {
	h := repro(t)
	u := h.CreateUser(t, "alice", "", "")
	// The login's transaction: the session's Put and the login record's Update.
	lost := h.Net.Inject("TransactWriteItems", 1, testenv.LoseResponse())
	conflict := h.Net.Inject("TransactWriteItems", 1, testenv.Cancelled("None", "TransactionConflict"))
	resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
	if lost() != 1 || conflict() != 1 {
		t.Fatal("the faults did not hit the login's transaction")
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("login whose committed answer was lost: %d %s, want 200", resp.StatusCode, resp.Body)
	}
	if n := len(h.Sessions(t)); n != 1 {
		t.Fatalf("%d sessions stored, want the one the login opened", n)
	}
}

// Found by TestConcurrentHistoriesAreLinearizable (seed 22, 1,500 operations, faults
// 0.2; in its first rounds, no fault involved): a login at the session cap reads the
// listed sessions and decides to end the least recently used; before its transaction
// lands, another of the sessions is signed out (or logged out: one UpdateItem on the
// session, which leaves the login record's list and its change counter as they were).
// The login's conditions (the list unchanged, the evicted session unrotated and not
// revoked) all still hold, so it ends the least recently used session although the
// sign-out had made room: one device more is signed out than the cap requires.
func TestFixedALoginAtTheCapDoesNotEvictWhenASignOutMadeRoom(t *testing.T) {
	h := repro(t)
	u := h.CreateUser(t, "alice", "", "")
	lru := h.Login(t, u.Name, u.Password)
	h.Clock.Advance(time.Second)
	gone := h.Login(t, u.Name, u.Password)
	h.Clock.Advance(time.Second)
	h.Login(t, u.Name, u.Password) // the cap, 3
	h.Clock.Advance(time.Second)
	// The sign-out lands between the login's read of the sessions and its write.
	h.Net.Inject("TransactWriteItems", 1, func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		if err := h.App.Service.SignOut(req.Context(), u.ID, gone.SessionID); err != nil {
			t.Errorf("sign-out: %v", err)
		}
		return next(req)
	})
	h.Login(t, u.Name, u.Password)
	if !h.Revoked(t, gone.SessionID) {
		t.Fatal("the sign-out did not land")
	}
	if h.Revoked(t, lru.SessionID) {
		t.Error("the least recently used session was ended though, when the login landed, the user had room for one more session")
	}
}
