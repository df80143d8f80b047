package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/testenv"
)

// faultCase is one way DynamoDB can fail, injected under the SDK at the HTTP layer.
type faultCase struct {
	name  string
	fault func() testenv.Fault
	// attempts is how many requests one operation sends: the production retryer
	// tries 3 times, except that nothing is retried once the deadline has passed.
	attempts int
	// deadline is the Lambda's remaining time given to the handler; the handler
	// keeps 500 ms of it to answer.
	deadline time.Duration
}

var faultCases = []faultCase{
	{"throttling (400 ProvisionedThroughputExceededException)", testenv.Throttle, 3, 20 * time.Second},
	{"HTTP 500", testenv.ServerError, 3, 20 * time.Second},
	{"connection reset", testenv.Reset, 3, 20 * time.Second},
	{"a DynamoDB that never answers", testenv.Hang, 1, 1500 * time.Millisecond},
}

// want503 checks the answer to a request that met a storage fault: 503, Retry-After,
// and a generic body that says nothing about AWS.
func want503(t *testing.T, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	wantError(t, resp, http.StatusServiceUnavailable, "temporarily_unavailable")
	if ra := headerOf(resp, "Retry-After"); ra == "" || strings.Trim(ra, "0123456789") != "" {
		t.Errorf("Retry-After = %q, want seconds", ra)
	}
	for _, leak := range []string{"FAULTINJECTED", "RequestID", "request id", "ProvisionedThroughput", "Internal", "dynamodb", "DynamoDB", "ddb", "connection", "deadline", "context", "reset"} {
		if strings.Contains(resp.Body, leak) {
			t.Errorf("503 body leaks %q: %s", leak, resp.Body)
		}
	}
}

func TestLoginAnswers503AndWritesNothingWhenDynamoDBFails(t *testing.T) {
	t.Parallel()
	for _, fc := range faultCases {
		for _, op := range []string{"UpdateItem", "TransactWriteItems"} {
			t.Run(fc.name+" on "+op, func(t *testing.T) {
				t.Parallel()
				h, u := newUser(t, nil)
				before := h.Scan(t)

				clear := h.Net.Inject(op, -1, fc.fault())
				start := time.Now()
				resp := testenv.CallTimeout(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password), fc.deadline)
				took := time.Since(start)
				hits := clear()

				want503(t, resp)
				if hits != fc.attempts {
					t.Errorf("%s sent %d times, want %d (bounded retries)", op, hits, fc.attempts)
				}
				if took >= fc.deadline {
					t.Errorf("answered after %v, past the %v deadline", took, fc.deadline)
				}
				// No session, no half-written state: the table is as it was.
				after := h.Scan(t)
				if len(after) != len(before) {
					t.Errorf("%d items after a failed login, %d before", len(after), len(before))
				}
				if n := len(h.Sessions(t)); n != 0 {
					t.Errorf("%d sessions after a failed login", n)
				}
				// The attempt counts once it is reserved, before the password check:
				// a fault on the reservation counts nothing, a fault after it leaves
				// the one attempt counted.
				wantFails := int64(0)
				if op == "TransactWriteItems" {
					wantFails = 1
				}
				if got := testenv.N(h.Item(t, "n#alice"), "fails"); got != wantFails {
					t.Errorf("fails = %d after a fault on %s, want %d", got, op, wantFails)
				}
				// Once the fault clears, the same login works.
				h.Login(t, u.Name, u.Password)
			})
		}
	}
}

func TestRefreshAnswers503AndLeavesTheTokenUsableWhenDynamoDBFails(t *testing.T) {
	t.Parallel()
	for _, fc := range faultCases {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			h, u := newUser(t, nil)
			tok := h.Login(t, u.Name, u.Password)
			h.Clock.Advance(time.Minute)
			before := h.SessionItem(t, tok.SessionID)

			clear := h.Net.Inject("UpdateItem", -1, fc.fault())
			resp := testenv.CallTimeout(t, h.App.API.Refresh, testenv.RefreshReq(tok.RefreshToken), fc.deadline)
			hits := clear()

			want503(t, resp)
			if hits != fc.attempts {
				t.Errorf("UpdateItem sent %d times, want %d", hits, fc.attempts)
			}
			after := h.SessionItem(t, tok.SessionID)
			if !bytes.Equal(testenv.B(after, "cur"), testenv.B(before, "cur")) || testenv.N(after, "gen") != 0 || testenv.Has(after, "revoked_at") {
				t.Error("a failed refresh changed the session")
			}
			// Any time later, the same token works: nothing was rotated behind the
			// client's back.
			h.Clock.Advance(time.Hour)
			next := h.MustRefresh(t, tok.RefreshToken)
			if !h.Allowed(t, next.AccessToken) {
				t.Error("the access token after recovery is denied")
			}
		})
	}
}

func TestLogoutAnswers503WhenDynamoDBFailsAndNeverClaimsSuccess(t *testing.T) {
	t.Parallel()
	for _, fc := range faultCases[:2] {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			h, u := newUser(t, nil)
			tok := h.Login(t, u.Name, u.Password)
			clear := h.Net.Inject("UpdateItem", -1, fc.fault())
			resp := testenv.CallTimeout(t, h.App.API.Logout, testenv.LogoutReq(tok.RefreshToken, ""), fc.deadline)
			clear()
			// A 204 here would tell the user they are logged out while the session
			// lives on.
			want503(t, resp)
			if !h.Allowed(t, tok.AccessToken) {
				t.Error("the session died although logout failed")
			}
			wantStatus(t, "logout after recovery", testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(tok.RefreshToken, "")), http.StatusNoContent)
			if h.Allowed(t, tok.AccessToken) {
				t.Error("logout after recovery did not end the session")
			}
		})
	}
}

// The SDK retries a TransactWriteItems whose response was lost with the same
// ClientRequestToken, so DynamoDB treats it as the same transaction: the login
// succeeds once, with one session.
func TestLoginSucceedsWhenTheSessionWriteResponseIsLost(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	clear := h.Net.Inject("TransactWriteItems", 1, testenv.LoseResponse())
	resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
	if clear() != 1 {
		t.Fatal("fault never fired")
	}
	wantStatus(t, "login with a lost response", resp, http.StatusOK)
	var tok testenv.Tokens
	testenv.Decode(t, resp, &tok)
	if n := len(h.Sessions(t)); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	h.MustRefresh(t, tok.RefreshToken)
}

// A login whose attempt cannot be counted is not checked at all: the password check
// comes only after the count, so the answer is 503 for the right password and a wrong
// one alike and tells nothing about either.
func TestALoginWhoseAttemptCannotBeCountedAnswers503WhateverThePassword(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	var answers []events.APIGatewayV2HTTPResponse
	for _, pw := range []string{u.Password, "wrong password"} {
		clear := h.Net.Inject("UpdateItem", -1, testenv.ServerError())
		answers = append(answers, testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, pw)))
		clear()
	}
	want503(t, answers[0])
	sameAnswer(t, "the right and a wrong password's answers", answers[0], answers[1])
	if logs := h.Logs.String(); strings.Contains(logs, "login failed") || strings.Contains(logs, "login succeeded") {
		t.Error("a login whose attempt was not counted reached the password check")
	}
	if n := len(h.Sessions(t)); n != 0 {
		t.Errorf("%d sessions", n)
	}
}

// A rotation whose answer is delayed past the handler's storage time has happened;
// the client is told 503, Retry-After. Following that advice it retries the same
// token, which is now the previous one: it must get the rotated token and keep its
// session, not be taken for a thief.
func TestAClientThatRetriesAfterA503AsToldKeepsItsSession(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	tok := h.Login(t, u.Name, u.Password)
	h.Clock.Advance(time.Minute)

	clear := h.Net.Inject("UpdateItem", 1, testenv.CommitThenHang())
	start := time.Now()
	// The refresh function's Lambda timeout (template.yaml, Globals).
	resp := testenv.CallTimeout(t, h.App.API.Refresh, testenv.RefreshReq(tok.RefreshToken), 10*time.Second)
	took := time.Since(start)
	clear()
	want503(t, resp)
	if resp.Headers["Retry-After"] != "1" {
		t.Fatalf("Retry-After %q, want 1", resp.Headers["Retry-After"])
	}
	if gen := testenv.N(h.SessionItem(t, tok.SessionID), "gen"); gen != 1 {
		t.Fatalf("gen %d: the delayed rotation did not happen, so this test shows nothing", gen)
	}

	// The client waits as told; the service's clock moves as far as the real one did.
	h.Clock.Advance(took + time.Second)
	code, next := h.Refresh(t, tok.RefreshToken)
	if code != 200 {
		t.Fatalf("the retry after %s got %d, want 200 with the rotated token", took+time.Second, code)
	}
	if h.Revoked(t, tok.SessionID) {
		t.Fatal("the retry revoked the session as theft")
	}
	if !h.Allowed(t, next.AccessToken) {
		t.Fatal("the retry's access token is denied")
	}
	// It holds the child the delayed rotation stored, so it refreshes on.
	if _, again := h.Refresh(t, next.RefreshToken); again.RefreshToken == "" {
		t.Fatal("the token the retry got does not refresh")
	}
}
