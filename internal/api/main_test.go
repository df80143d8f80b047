package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

// The tests of this package call the HTTP handlers with API Gateway payload 2.0
// events, against the App wired to DynamoDB Local.
func TestMain(m *testing.M) { testddb.Main(m) }

func newUser(t *testing.T, env map[string]string) (*testenv.Harness, testenv.User) {
	t.Helper()
	h := testenv.New(t, testenv.Options{Env: env})
	return h, h.CreateUser(t, "alice", "", "")
}

// wantError checks an error answer: status, the {"error","message"} body with the
// given code, JSON content type and no caching.
func wantError(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int, code string) testenv.ErrorBody {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d (%s), want %d", resp.StatusCode, resp.Body, status)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", resp.Body, err)
	}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"error", "message"}) {
		t.Errorf("error body has members %v, want exactly error and message", keys)
	}
	if body["error"] != code {
		t.Errorf("error = %v, want %q", body["error"], code)
	}
	if m, _ := body["message"].(string); m == "" {
		t.Error("empty message")
	}
	wantHeader(t, resp, "Content-Type", "application/json")
	wantHeader(t, resp, "Cache-Control", "no-store")
	return testenv.ErrorBody{Error: body["error"].(string), Message: body["message"].(string)}
}

func wantHeader(t *testing.T, resp events.APIGatewayV2HTTPResponse, name, want string) {
	t.Helper()
	if got := headerOf(resp, name); got != want {
		t.Errorf("header %s = %q, want %q", name, got, want)
	}
}

func headerOf(resp events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func wantStatus(t *testing.T, what string, resp events.APIGatewayV2HTTPResponse, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d (%s), want %d", what, resp.StatusCode, resp.Body, want)
	}
}
