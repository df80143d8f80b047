package authz_test

// Invoke, the raw-payload handler Lambda runs, against the typed handler it replaced
// (lambda.NewHandler(Handle), as aws-lambda-go wraps it), both on one wired App against
// DynamoDB Local, for every event under testdata/events and, with cookie-only mode on,
// testdata/events-cookie-mode. A fixture's name says what both must do with it:
// allow-, deny- or error- (refused as malformed, which Lambda reports as a function
// error and API Gateway answers 500). $ACCESS_TOKEN in a fixture is replaced by a live
// access token.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/example/sessions/internal/authz"
	"github.com/example/sessions/internal/testenv"
)

// Lambda runs the Authorizer itself.
var _ lambda.Handler = (*authz.Authorizer)(nil)

func TestInvokeAnswersAsTheTypedHandler(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct{ dir, name, cookie string }{
		{"events", "by default", ""},
		{"events-cookie-mode", "in cookie-only mode", "on"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			h, u, tok := setup(t, map[string]string{"ACCESS_TOKEN_COOKIE": mode.cookie})
			answerAlike(t, h, u, tok, mode.dir)
		})
	}
}

// answerAlike runs every event under testdata/<dir> through both handlers.
func answerAlike(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens, dir string) {
	typed := lambda.NewHandler(h.App.Authorizer.Handle)
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata/%s: %v", dir, err)
	}
	verbs := map[string]string{"allow": "allow it", "deny": "deny it", "error": "refuse it as malformed"}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		outcome, words, _ := strings.Cut(name, "-")
		t.Run(strings.ReplaceAll(words, "-", " ")+": both handlers "+verbs[outcome], func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			payload := bytes.ReplaceAll(raw, []byte("$ACCESS_TOKEN"), []byte(tok.AccessToken))
			want, wantErr := typed.Invoke(testenv.Ctx(t), payload)
			got, err := h.App.Authorizer.Invoke(testenv.Ctx(t), payload)
			var answer events.APIGatewayV2CustomAuthorizerSimpleResponse
			if wantErr == nil {
				if err := json.Unmarshal(want, &answer); err != nil {
					t.Fatal(err)
				}
			}
			switch {
			case (wantErr != nil) != (outcome == "error"),
				outcome == "allow" && (!answer.IsAuthorized || answer.Context["sub"] != u.ID || answer.Context["sid"] != tok.SessionID),
				outcome == "deny" && string(want) != `{"isAuthorized":false}`:
				t.Fatalf("the typed handler answered %s, %v: the fixture is not a case of %s", want, wantErr, outcome)
			}
			if !bytes.Equal(got, want) || (err != nil) != (wantErr != nil) {
				t.Fatalf("Invoke answered %s, %v\nthe typed handler %s, %v", got, err, want, wantErr)
			}
			if err != nil && !errors.Is(err, authz.ErrMalformedEvent) {
				t.Errorf("Invoke's error %v does not wrap ErrMalformedEvent", err)
			}
			if err != nil && strings.Contains(err.Error(), tok.AccessToken[:20]) {
				t.Errorf("Invoke's error %q quotes the payload", err)
			}
		})
	}
}

// The one difference from the typed handler, by design: a field Handle never reads
// with a type the event struct does not allow. encoding/json refuses the event; Invoke
// decides on the credential, which is all the decision ever depended on.
func TestInvokeDecidesDespiteAMistypedFieldItDoesNotRead(t *testing.T) {
	t.Parallel()
	h, _, tok := setup(t, nil)
	payload := []byte(`{"version":2,"identitySource":["Bearer ` + tok.AccessToken + `"]}`)
	_, err := lambda.NewHandler(h.App.Authorizer.Handle).Invoke(testenv.Ctx(t), payload)
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "version" {
		t.Fatalf("the typed handler answered %v, want a type error on version", err)
	}
	got, err := h.App.Authorizer.Invoke(testenv.Ctx(t), payload)
	if err != nil || !bytes.HasPrefix(got, []byte(`{"isAuthorized":true,`)) {
		t.Fatalf("Invoke answered %s, %v; want it to allow the live token", got, err)
	}
	bad := []byte(`{"version":2,"identitySource":["Bearer ` + tok.AccessToken + `x"]}`)
	if got, err := h.App.Authorizer.Invoke(testenv.Ctx(t), bad); err != nil || string(got) != `{"isAuthorized":false}` {
		t.Fatalf("Invoke answered %s, %v for a bad token; want a deny", got, err)
	}
}
