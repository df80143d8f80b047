package authz_test

// Integration tests of the authorizer against DynamoDB Local, through the wired App.
// (authz_bench_test.go measures CPU with a stubbed store; decide_test.go unit-tests
// Decide.)

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

func TestMain(m *testing.M) { testddb.Main(m) }

func setup(t *testing.T, env map[string]string) (*testenv.Harness, testenv.User, testenv.Tokens) {
	t.Helper()
	h := testenv.New(t, testenv.Options{Env: env})
	u := h.CreateUser(t, "alice", "", "read write")
	return h, u, h.Login(t, u.Name, u.Password)
}

func TestTheAuthorizerAllowsALiveSessionWithItsContext(t *testing.T) {
	t.Parallel()
	h, u, tok := setup(t, nil)
	for name, header := range map[string]string{
		"Bearer":                    "Bearer " + tok.AccessToken,
		"lower-case bearer":         "bearer " + tok.AccessToken,
		"extra spaces around token": "Bearer   " + tok.AccessToken + " ",
	} {
		t.Run("a "+name+" header is allowed", func(t *testing.T) {
			resp := h.AuthorizeHeader(t, header)
			if !resp.IsAuthorized {
				t.Fatal("denied")
			}
			want := map[string]any{"sub": u.ID, "sid": tok.SessionID, "scope": "read write",
				"auth_time": int64(testenv.Claims(t, tok.AccessToken)["auth_time"].(float64))}
			if len(resp.Context) != len(want) {
				t.Errorf("context %v, want exactly %v", resp.Context, want)
			}
			for k, v := range want {
				if resp.Context[k] != v {
					t.Errorf("context %s = %v, want %v", k, resp.Context[k], v)
				}
			}
		})
	}
	t.Run("an access token stays good across refreshes until it expires", func(t *testing.T) {
		h.Clock.Advance(time.Minute)
		next := h.MustRefresh(t, tok.RefreshToken)
		if !h.Allowed(t, tok.AccessToken) || !h.Allowed(t, next.AccessToken) {
			t.Error("a rotation ended the earlier access token of a live session")
		}
	})
}

// forge re-signs nothing: it swaps the payload of a real token, so the signature no
// longer matches.
func forge(t *testing.T, at string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(at, ".")
	c := testenv.Claims(t, at)
	edit(c)
	b, _ := json.Marshal(c)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

func TestTheAuthorizerDenies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// prepare changes the world and returns the Authorization header to send.
		prepare func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string
		reason  string // the deny's logged reason starts with this
	}{
		{"a request without an Authorization header", func(*testing.T, *testenv.Harness, testenv.User, testenv.Tokens) string {
			return ""
		}, "no bearer token"},
		{"a header that is not Bearer", func(_ *testing.T, _ *testenv.Harness, u testenv.User, _ testenv.Tokens) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+u.Password))
		}, "no bearer token"},
		{"Bearer with no token", func(*testing.T, *testenv.Harness, testenv.User, testenv.Tokens) string {
			return "Bearer "
		}, "no bearer token"},
		{"a garbage token", func(*testing.T, *testenv.Harness, testenv.User, testenv.Tokens) string {
			return "Bearer not.a.jwt"
		}, "token: invalid"},
		{"the refresh token used as an access token", func(_ *testing.T, _ *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			return "Bearer " + tok.RefreshToken
		}, "token: invalid"},
		{"a token whose claims were edited", func(t *testing.T, _ *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			return "Bearer " + forge(t, tok.AccessToken, func(c map[string]any) { c["ver"] = 2.0 })
		}, "token: invalid"},
		{"a token signed by another key", func(t *testing.T, _ *testenv.Harness, u testenv.User, _ testenv.Tokens) string {
			other := testenv.New(t, testenv.Options{})
			o := other.CreateUser(t, "alice", u.Password, "")
			return "Bearer " + other.Login(t, o.Name, o.Password).AccessToken
		}, "token: invalid"},
		{"a session that logged out", func(t *testing.T, h *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			h.Logout(t, tok.RefreshToken, "")
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"a session revoked for refresh-token reuse", func(t *testing.T, h *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			h.MustRefresh(t, tok.RefreshToken)
			h.Clock.Advance(11 * time.Second)
			h.Refresh(t, tok.RefreshToken)
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"an expired access token", func(t *testing.T, h *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			h.Clock.Advance(15*time.Minute + 6*time.Second) // past exp and the 5 s leeway
			return "Bearer " + tok.AccessToken
		}, "token: invalid"},
		{"a token of a session past its absolute end (inside the JWT leeway)", func(t *testing.T, h *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			rt := tok.RefreshToken
			var at string
			for _, step := range []time.Duration{50 * time.Minute, 50 * time.Minute, 19 * time.Minute} {
				h.Clock.Advance(step)
				next := h.MustRefresh(t, rt) // the last one's exp is capped at the absolute end
				rt, at = next.RefreshToken, next.AccessToken
			}
			h.Clock.Advance(time.Minute + 2*time.Second)
			h.StillStored(t, "s#"+tok.SessionID) // the deny must come from the deadline, not a missing item
			return "Bearer " + at
		}, "session expired"},
		{"a token of a session past its idle deadline (inside the JWT leeway)", func(t *testing.T, h *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			h.Clock.Advance(time.Hour + 2*time.Second) // access TTL = idle TTL = 1h here
			h.StillStored(t, "s#"+tok.SessionID)       // the deny must come from the deadline, not a missing item
			return "Bearer " + tok.AccessToken
		}, "session expired"},
		{"a token on an old version (logout everywhere)", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			other := h.Login(t, u.Name, u.Password)
			h.Logout(t, other.RefreshToken, "all")
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"a token minted before a password change in its own session", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			if resp := h.ChangePassword(t, tok.AccessToken, u.Password, "a brand new passphrase"); resp.StatusCode != 200 {
				t.Fatalf("change password: %d %s", resp.StatusCode, resp.Body)
			}
			return "Bearer " + tok.AccessToken
		}, "token version is not current"},
		{"a session whose password was changed in another session", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			other := h.Login(t, u.Name, u.Password)
			if resp := h.ChangePassword(t, other.AccessToken, u.Password, "a brand new passphrase"); resp.StatusCode != 200 {
				t.Fatalf("change password: %d %s", resp.StatusCode, resp.Body)
			}
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"a session another session logged out (others)", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			other := h.Login(t, u.Name, u.Password)
			h.Logout(t, other.RefreshToken, "others")
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"a session signed out from another session's device list", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			other := h.Login(t, u.Name, u.Password)
			if code := h.SignOut(t, other.AccessToken, tok.SessionID); code != 204 {
				t.Fatalf("sign out: %d", code)
			}
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"a session the session limit ended", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			h.Login(t, u.Name, u.Password) // the limit is 1 here
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"a disabled user", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			if _, err := h.App.Service.SetDisabled(testenv.Ctx(t), u.ID, true); err != nil {
				t.Fatal(err)
			}
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"an administrator's revoke", func(t *testing.T, h *testenv.Harness, u testenv.User, tok testenv.Tokens) string {
			if _, err := h.App.Service.RevokeUser(testenv.Ctx(t), u.ID, "", "admin_revoke"); err != nil {
				t.Fatal(err)
			}
			return "Bearer " + tok.AccessToken
		}, "session revoked"},
		{"a session whose item is gone", func(t *testing.T, h *testenv.Harness, _ testenv.User, tok testenv.Tokens) string {
			deleteItem(t, h, "s#"+tok.SessionID)
			return "Bearer " + tok.AccessToken
		}, "session not found"},
	}
	env := map[string]string{"ACCESS_TOKEN_TTL": "15m", "REFRESH_TOKEN_TTL": "1h", "SESSION_MAX_AGE": "2h"}
	for _, tc := range cases {
		t.Run(tc.name+" is denied", func(t *testing.T) {
			t.Parallel()
			e := env
			switch {
			case strings.Contains(tc.name, "idle deadline"):
				e = map[string]string{"ACCESS_TOKEN_TTL": "1h", "REFRESH_TOKEN_TTL": "1h", "SESSION_MAX_AGE": "2h"}
			case strings.Contains(tc.name, "session limit"):
				e = map[string]string{"MAX_SESSIONS_PER_USER": "1"}
			}
			h, u, tok := setup(t, e)
			if !h.Allowed(t, tok.AccessToken) {
				t.Fatal("setup: the fresh token is denied")
			}
			header := tc.prepare(t, h, u, tok)
			h.Logs.Reset()
			resp := h.AuthorizeHeader(t, header)
			if resp.IsAuthorized {
				t.Fatal("allowed")
			}
			if len(resp.Context) != 0 {
				t.Errorf("a deny carries context %v", resp.Context)
			}
			if want := `"decision":"deny","reason":"` + tc.reason; !strings.Contains(h.Logs.String(), want) {
				t.Errorf("the deny was not logged with %s:\n%s", want, h.Logs.String())
			}
		})
	}
}

func TestTheAuthorizerCostsOneRoundTripAndNoWrite(t *testing.T) {
	t.Parallel()
	h, _, tok := setup(t, nil)
	for range 3 {
		use := h.Usage(func() {
			if !h.Allowed(t, tok.AccessToken) {
				t.Fatal("denied")
			}
		})
		t.Logf("authorizer: %s", use)
		if use.RoundTrips != 1 || use.Ops[0] != "GetItem" || use.Writes != 0 || use.RCU != 1 {
			t.Fatalf("%s, want one strongly consistent GetItem of 1 RCU and no write", use)
		}
	}
	// A token refused by its signature costs nothing at all.
	use := h.Usage(func() { h.AuthorizeHeader(t, "Bearer "+tok.AccessToken+"A") })
	if use.RoundTrips != 0 {
		t.Errorf("a bad signature cost %s", use)
	}
}

func TestTheAuthorizerFailsClosed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		fault    func() testenv.Fault
		attempts int
	}{
		{"throttling", testenv.Throttle, 3},
		{"HTTP 500", testenv.ServerError, 3},
		{"connection reset", testenv.Reset, 3},
		{"a timeout", testenv.Hang, 1},
	} {
		t.Run(tc.name+" is a deny", func(t *testing.T) {
			t.Parallel()
			h, _, tok := setup(t, nil)
			if !h.Allowed(t, tok.AccessToken) {
				t.Fatal("setup: denied")
			}
			op := "GetItem"
			clear := h.Net.Inject(op, -1, tc.fault())
			start := time.Now()
			var allowed bool
			if tc.name == "a timeout" {
				allowed = authorizeWithin(t, h, tok.AccessToken, time.Second)
			} else {
				allowed = h.Allowed(t, tok.AccessToken)
			}
			hits := clear()
			if allowed {
				t.Fatal("allowed while DynamoDB failed")
			}
			if hits != tc.attempts {
				t.Errorf("%s sent %d times, want %d", op, hits, tc.attempts)
			}
			took := time.Since(start)
			if took > 5*time.Second {
				t.Errorf("the deny took %v", took)
			}
			// The deny must come before the Lambda's deadline: a function timeout
			// is a 500 from API Gateway, not the 403 of a deny.
			if tc.name == "a timeout" && took > 900*time.Millisecond {
				t.Errorf("the deny took %v of a 1 s Lambda deadline", took)
			}
			if !strings.Contains(h.Logs.String(), `"level":"ERROR","msg":"authorizer denied"`) {
				t.Error("a deny on a storage fault is not logged at ERROR")
			}
			if !h.Allowed(t, tok.AccessToken) {
				t.Error("still denied once the fault cleared")
			}
		})
	}
}

func deleteItem(t *testing.T, h *testenv.Harness, pk string) {
	t.Helper()
	_, err := h.Raw.DeleteItem(testenv.Ctx(t), &dynamodb.DeleteItemInput{
		TableName: aws.String(h.Table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// authorizeWithin runs the authorizer under a Lambda deadline of d.
func authorizeWithin(t *testing.T, h *testenv.Harness, at string, d time.Duration) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	resp, err := h.App.Authorizer.Handle(ctx, events.APIGatewayV2CustomAuthorizerV2Request{
		Type: "REQUEST", IdentitySource: []string{"Bearer " + at},
	})
	if err != nil {
		t.Fatalf("the authorizer returned an error instead of a deny: %v", err)
	}
	return resp.IsAuthorized
}
