package session_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// wantErrorCode fails unless resp is status with the JSON error code.
func wantErrorCode(t *testing.T, what string, resp events.APIGatewayV2HTTPResponse, status int, code string) {
	t.Helper()
	var body struct{ Error string }
	_ = json.Unmarshal([]byte(resp.Body), &body)
	if resp.StatusCode != status || body.Error != code {
		// Not the body: a 200 would print live tokens into the test log.
		t.Errorf("%s: %d with error %q, want %d with error %q", what, resp.StatusCode, body.Error, status, code)
	}
}

func TestDisablingAUserEndsEverySessionAndEnablingRevivesNothing(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	bob := h.CreateUser(t, "bob", "", "")
	first := h.Login(t, u.Name, u.Password)
	h.Clock.Advance(time.Minute)
	rotated := h.MustRefresh(t, first.RefreshToken)
	second := h.Login(t, u.Name, u.Password)
	bobs := h.Login(t, bob.Name, bob.Password)
	mine := []testenv.Tokens{rotated, second}

	ended := func(t *testing.T) {
		t.Helper()
		for i, tok := range mine {
			resp := testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(tok.RefreshToken))
			wantErrorCode(t, "refresh of session "+strconv.Itoa(i), resp, http.StatusUnauthorized, "invalid_grant")
			if r := testenv.S(h.SessionItem(t, tok.SessionID), "revoke_reason"); r != session.ReasonUserDisabled {
				t.Errorf("session %d: revoke_reason %q, want %q", i, r, session.ReasonUserDisabled)
			}
		}
		wantDenied(t, h, first.AccessToken, rotated.AccessToken, second.AccessToken)
	}

	n, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, true)
	if err != nil || n != 2 {
		t.Fatalf("SetDisabled = %d, %v; want the 2 live sessions ended", n, err)
	}
	t.Run("once disabled, refresh answers 401 invalid_grant and access tokens are denied", ended)
	t.Run("once disabled, the right password answers as a wrong one", func(t *testing.T) {
		resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
		wantErrorCode(t, "login", resp, http.StatusUnauthorized, "invalid_credentials")
	})
	if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 2 {
		t.Errorf("token version %d after disabling, want 2", v)
	}

	if n, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, false); err != nil || n != 0 {
		t.Fatalf("enable = %d, %v", n, err)
	}
	t.Run("once enabled again, every refresh token and access token from before stays dead", ended)
	t.Run("once enabled again, enabling moved no version", func(t *testing.T) {
		if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 2 {
			t.Errorf("token version %d after enabling, want still 2", v)
		}
	})
	t.Run("once enabled again, the user logs in and that session works", func(t *testing.T) {
		fresh := h.Login(t, u.Name, u.Password)
		wantAllowed(t, h, fresh.AccessToken)
		h.MustRefresh(t, fresh.RefreshToken)
	})
	t.Run("another user is untouched throughout", func(t *testing.T) {
		wantAllowed(t, h, bobs.AccessToken)
		h.MustRefresh(t, bobs.RefreshToken)
	})
	t.Run("disabling again ends the new session and counts only it", func(t *testing.T) {
		if n, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, true); err != nil || n != 1 {
			t.Fatalf("SetDisabled = %d, %v; want 1", n, err)
		}
	})
}

// A disabled user's login must not tell an attacker that the password was right: the
// same status, headers and body as a wrong password, and the same calls to storage.
func TestALoginOfADisabledUserAnswersAndCostsExactlyAsAWrongPassword(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	// One account per attempt, so every attempt starts from the same failure count.
	names := []string{"dora", "erin", "fred"}
	users := map[string]testenv.User{}
	for _, n := range names {
		users[n] = h.CreateUser(t, n, "", "")
	}
	for _, n := range []string{"dora", "erin"} {
		if _, err := h.App.Service.SetDisabled(testenv.Ctx(t), users[n].ID, true); err != nil {
			t.Fatal(err)
		}
	}
	type attempt struct {
		resp events.APIGatewayV2HTTPResponse
		use  testenv.Usage
	}
	try := func(name, pw string) attempt {
		var a attempt
		a.use = h.Usage(func() { a.resp = testenv.Call(t, h.App.API.Login, testenv.LoginReq(name, pw)) })
		return a
	}
	wrong := try("fred", "not the password at all")
	wantErrorCode(t, "a wrong password", wrong.resp, http.StatusUnauthorized, "invalid_credentials")
	for name, a := range map[string]attempt{
		"a disabled user with the right password": try("dora", users["dora"].Password),
		"a disabled user with a wrong password":   try("erin", "not the password at all"),
	} {
		t.Run(name+" answers as a wrong password does", func(t *testing.T) {
			if a.resp.StatusCode != wrong.resp.StatusCode || a.resp.Body != wrong.resp.Body ||
				!reflect.DeepEqual(a.resp.Headers, wrong.resp.Headers) || !reflect.DeepEqual(a.resp.Cookies, wrong.resp.Cookies) {
				t.Errorf("answer %d %v %s\nwrong password: %d %v %s", a.resp.StatusCode, a.resp.Headers, a.resp.Body,
					wrong.resp.StatusCode, wrong.resp.Headers, wrong.resp.Body)
			}
		})
		t.Run(name+" costs what a wrong password costs", func(t *testing.T) {
			if !slices.Equal(a.use.Ops, wrong.use.Ops) || a.use.Writes != wrong.use.Writes {
				t.Errorf("%s\nwrong password: %s", a.use, wrong.use)
			}
		})
	}
	for _, n := range names {
		if l := h.Item(t, "n#"+n); testenv.N(l, "fails") != 1 {
			t.Errorf("%s: %d failures recorded, want 1", n, testenv.N(l, "fails"))
		}
	}
	if n := len(h.Sessions(t)); n != 0 {
		t.Errorf("%d sessions after failed logins", n)
	}
}

// Disabling races logins of the same user, released together: a login either comes
// before the disable (and its session is ended with the others) or after it (and is
// refused as a wrong password); none leaves a session that works.
func TestDisablingRacingLoginsLeavesNoSessionThatWorks(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	const rounds, logins = 10, 3
	users := make([]testenv.User, rounds)
	for r := range rounds {
		users[r] = h.CreateUser(t, "racer"+strconv.Itoa(r), "", "")
	}
	h.Net.Inject("", -1, testenv.Jitter(15*time.Millisecond))
	var mu sync.Mutex
	var granted []testenv.Tokens
	refused := 0
	var wg sync.WaitGroup
	for r := range rounds {
		wg.Go(func() {
			u := users[r]
			start := make(chan struct{})
			var inner sync.WaitGroup
			inner.Go(func() {
				<-start
				if err := untilDone(func() error {
					_, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, true)
					return err
				}); err != nil {
					t.Errorf("%s: SetDisabled: %v", u.Name, err)
				}
			})
			for range logins {
				inner.Go(func() {
					<-start
					resp := untilAnswered(func() events.APIGatewayV2HTTPResponse {
						return testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
					})
					mu.Lock()
					defer mu.Unlock()
					switch resp.StatusCode {
					case http.StatusOK:
						var tok testenv.Tokens
						testenv.Decode(t, resp, &tok)
						granted = append(granted, tok)
					case http.StatusUnauthorized:
						refused++
						wantErrorCode(t, u.Name+": racing login", resp, http.StatusUnauthorized, "invalid_credentials")
					case http.StatusTooManyRequests:
						// Retried after 503s, the racing logins' counted attempts can
						// reach the throttle; refused all the same.
						refused++
					default:
						t.Errorf("%s: racing login answered %d %s", u.Name, resp.StatusCode, resp.Body)
					}
				})
			}
			close(start)
			inner.Wait()
		})
	}
	wg.Wait()
	h.Net.ClearFaults()
	t.Logf("%d logins before the disable, %d refused after it", len(granted), refused)
	if len(granted)+refused != rounds*logins {
		t.Fatalf("%d answers, want %d", len(granted)+refused, rounds*logins)
	}
	for _, tok := range granted {
		wantDenied(t, h, tok.AccessToken)
		resp := testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(tok.RefreshToken))
		wantErrorCode(t, "refresh of a session opened in the race", resp, http.StatusUnauthorized, "invalid_grant")
	}
	for _, it := range h.Sessions(t) {
		if !testenv.Has(it, "revoked_at") {
			t.Errorf("session %s survived the disable unrevoked", testenv.S(it, "pk"))
		}
	}
}

// Concurrent "log out everywhere" of one user, released together, all succeed: each
// bumps the version once, and each live session is counted by exactly one of them.
func TestConcurrentRevokeUserCallsAllSucceedAndCountEachSessionOnce(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	const sessions, n = 5, 6
	for range sessions {
		h.Login(t, u.Name, u.Password)
	}
	counts := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			counts[i], errs[i] = h.App.Service.RevokeUser(testenv.Ctx(t), u.ID, "", session.ReasonAdminRevoke)
		})
	}
	close(start)
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("RevokeUser %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	if total != sessions {
		t.Errorf("the concurrent calls counted %v live sessions, %d in all; want each of the %d counted once", counts, total, sessions)
	}
	if v := testenv.N(h.Item(t, "u#"+u.ID), "ver"); v != 1+n {
		t.Errorf("version %d after %d concurrent bumps, want %d", v, n, 1+n)
	}
	if l := h.Item(t, "n#alice"); testenv.N(l, "ver") != 1+n {
		t.Errorf("login record's version %d, want %d", testenv.N(l, "ver"), 1+n)
	}
}

// holdFirst holds the first request for op until release is closed, then sends it on;
// held is closed when that request has arrived.
func holdFirst(h *testenv.Harness, op string) (held, release chan struct{}) {
	held, release = make(chan struct{}), make(chan struct{})
	h.Net.Inject(op, 1, func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		close(held)
		<-release
		return next(req)
	})
	return held, release
}

// The race window itself, made to happen: a login has read the login record and
// checked the password, and its CreateSession reaches DynamoDB only after the disable
// has returned. The version the disable bumped fails its condition; the login reads
// again, sees the account disabled and answers as a wrong password.
func TestALoginThatReadTheRecordBeforeADisableOpensNoSession(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	held, release := holdFirst(h, "TransactWriteItems") // the login's CreateSession
	answer := make(chan events.APIGatewayV2HTTPResponse, 1)
	go func() { answer <- testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password)) }()
	select {
	case <-held:
	case resp := <-answer:
		// A login that never reaches its write must fail the test, not hang it.
		t.Fatalf("the login answered %d %s before its CreateSession", resp.StatusCode, resp.Body)
	}
	if _, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, true); err != nil {
		t.Fatal(err)
	}
	close(release)
	wantErrorCode(t, "the login that straddled the disable", <-answer, http.StatusUnauthorized, "invalid_credentials")
	if n := len(h.Sessions(t)); n != 0 {
		t.Errorf("%d sessions for a disabled user", n)
	}
}
