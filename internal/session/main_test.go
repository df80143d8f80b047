package session_test

import (
	"bytes"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

// The tests of this package drive the session service through the wired App (HTTP
// handlers, authorizer) against DynamoDB Local, and read the table directly to check
// what it holds.
func TestMain(m *testing.M) { testddb.Main(m) }

// loggedIn is a user with one fresh session.
type loggedIn struct {
	h    *testenv.Harness
	user testenv.User
	tok  testenv.Tokens
}

func login(t *testing.T, env map[string]string) loggedIn {
	t.Helper()
	h := testenv.New(t, testenv.Options{Env: env})
	u := h.CreateUser(t, "alice", "", "")
	return loggedIn{h: h, user: u, tok: h.Login(t, u.Name, u.Password)}
}

// wantStatus fails the test unless got is want.
func wantStatus(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// wantDenied fails the test if the authorizer allows any of the access tokens.
func wantDenied(t *testing.T, h *testenv.Harness, ats ...string) {
	t.Helper()
	for i, at := range ats {
		if h.Allowed(t, at) {
			t.Errorf("access token %d is still allowed by the authorizer", i)
		}
	}
}

func wantAllowed(t *testing.T, h *testenv.Harness, ats ...string) {
	t.Helper()
	for i, at := range ats {
		if !h.Allowed(t, at) {
			t.Errorf("access token %d is denied by the authorizer", i)
		}
	}
}

// unix is the epoch-seconds form the table stores.
func unix(t time.Time) int64 { return t.Unix() }

func sameBytes(a, b []byte) bool { return bytes.Equal(a, b) }

// untilAnswered retries a request that answered 503, as a client told Retry-After does
// (at most 5 times, without waiting: the tests' clock does not move), and returns the
// last answer. Races under load may time out a storage call, which is the service's
// documented answer; what the race tests check is the state once every request has
// been answered.
func untilAnswered(call func() events.APIGatewayV2HTTPResponse) events.APIGatewayV2HTTPResponse {
	resp := call()
	for i := 0; i < 5 && resp.StatusCode == http.StatusServiceUnavailable; i++ {
		resp = call()
	}
	return resp
}

// untilDone is untilAnswered for a service call: it retries ErrUnavailable.
func untilDone(call func() error) error {
	err := call()
	for i := 0; i < 5 && errors.Is(err, session.ErrUnavailable); i++ {
		err = call()
	}
	return err
}
