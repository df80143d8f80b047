package session_test

import (
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// A login whose session write reaches DynamoDB only after a "log out everywhere" bumped
// the account's version decides once more on the record as it now is: the password is
// still right and the account enabled, so it opens a session on the new version, one
// that works. (Refusing it would lock the owner out of the login that came last.)
func TestALoginThatStraddlesAVersionBumpOpensASessionOnTheNewVersion(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	ver := testenv.N(h.Item(t, "u#"+u.ID), "ver")
	held, release := holdFirst(h, "TransactWriteItems") // the login's CreateSession
	answer := make(chan events.APIGatewayV2HTTPResponse, 1)
	go func() { answer <- testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password)) }()
	select {
	case <-held:
	case resp := <-answer:
		t.Fatalf("the login answered %d %s before its CreateSession", resp.StatusCode, resp.Body)
	}
	if _, err := h.App.Service.RevokeUser(testenv.Ctx(t), u.ID, "", session.ReasonLogoutAll); err != nil {
		close(release)
		t.Fatal(err)
	}
	close(release)
	resp := <-answer
	wantStatus(t, "the login that straddled the version bump", resp.StatusCode, http.StatusOK)
	var tok testenv.Tokens
	testenv.Decode(t, resp, &tok)
	wantAllowed(t, h, tok.AccessToken)
	if got := testenv.N(h.Item(t, "u#"+u.ID), "ver"); got != ver+1 {
		t.Errorf("user version %d, want %d (one bump)", got, ver+1)
	}
}
