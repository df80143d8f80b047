package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/testenv"
)

func TestLoginAnswersTheDocumentedShape(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
	wantStatus(t, "login", resp, http.StatusOK)
	wantHeader(t, resp, "Content-Type", "application/json")
	wantHeader(t, resp, "Cache-Control", "no-store")
	if len(resp.Cookies) != 0 {
		t.Errorf("body transport set cookies: %v", resp.Cookies)
	}

	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "session_id", "session_expires_at", "device_token"} {
		if _, ok := body[k]; !ok {
			t.Errorf("member %q missing", k)
		}
	}
	if len(body) != 8 {
		t.Errorf("%d members, want 8: %v", len(body), body)
	}
	var tok testenv.Tokens
	testenv.Decode(t, resp, &tok)
	now := h.Clock.Now()
	if tok.TokenType != "Bearer" {
		t.Errorf("token_type = %q", tok.TokenType)
	}
	if tok.ExpiresIn != 900 {
		t.Errorf("expires_in = %d, want ACCESS_TOKEN_TTL = 900", tok.ExpiresIn)
	}
	if tok.RefreshExpiresIn != 336*3600 {
		t.Errorf("refresh_expires_in = %d, want REFRESH_TOKEN_TTL = %d", tok.RefreshExpiresIn, 336*3600)
	}
	end, err := time.Parse(time.RFC3339, tok.SessionExpiresAt)
	if err != nil {
		t.Fatalf("session_expires_at %q is not RFC 3339: %v", tok.SessionExpiresAt, err)
	}
	if !end.Equal(now.Add(720 * time.Hour)) {
		t.Errorf("session_expires_at = %s, want the absolute end %s", end, now.Add(720*time.Hour))
	}
	if !strings.HasPrefix(tok.RefreshToken, tok.SessionID+".") || len(tok.RefreshToken) != 22+1+43 {
		t.Errorf("refresh token %q is not <22-char sid>.<43-char secret> of session %q", tok.RefreshToken, tok.SessionID)
	}

	// The access token: header and claims as the contract lists them.
	parts := strings.Split(tok.AccessToken, ".")
	hdrJSON, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]any
	_ = json.Unmarshal(hdrJSON, &hdr)
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "EdDSA" || hdr["kid"] == "" || hdr["kid"] == nil {
		t.Errorf("JWT header %v", hdr)
	}
	c := testenv.Claims(t, tok.AccessToken)
	want := map[string]any{
		"iss": testenv.Issuer, "aud": []any{testenv.Audience}, "sub": u.ID, "sid": tok.SessionID,
		"ver": float64(1), "iat": float64(now.Unix()), "exp": float64(now.Add(15 * time.Minute).Unix()),
	}
	for k, v := range want {
		if !reflect.DeepEqual(c[k], v) {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q", c["jti"])
	}
	if strings.Contains(tok.AccessToken, "alice") {
		t.Error("the access token carries the username")
	}
	if !h.Allowed(t, tok.AccessToken) {
		t.Error("the authorizer denies a fresh access token")
	}
}

// sameAnswer fails unless two responses are identical in status, headers, cookies
// and body.
func sameAnswer(t *testing.T, what string, a, b events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if a.StatusCode != b.StatusCode || a.Body != b.Body || !reflect.DeepEqual(a.Headers, b.Headers) ||
		!reflect.DeepEqual(a.Cookies, b.Cookies) || !reflect.DeepEqual(a.MultiValueHeaders, b.MultiValueHeaders) {
		t.Errorf("%s differ:\n  %d %v %s\n  %d %v %s", what, a.StatusCode, a.Headers, a.Body, b.StatusCode, b.Headers, b.Body)
	}
}

func TestEveryFailedLoginLooksTheSame(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	disabled := h.CreateUser(t, "dora", "", "")
	if _, err := h.App.Service.SetDisabled(testenv.Ctx(t), disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	cases := map[string]events.APIGatewayV2HTTPRequest{
		"a wrong password":                        testenv.LoginReq(u.Name, "not the password at all"),
		"an unknown user":                         testenv.LoginReq("mallory", u.Password),
		"a disabled user with the right password": testenv.LoginReq(disabled.Name, disabled.Password),
	}
	first := testenv.Call(t, h.App.API.Login, cases["a wrong password"])
	wantError(t, first, http.StatusUnauthorized, "invalid_credentials")
	for name, req := range cases {
		resp := testenv.Call(t, h.App.API.Login, req)
		sameAnswer(t, name+" and a wrong password", resp, first)
	}
	if n := len(h.Sessions(t)); n != 0 {
		t.Errorf("%d sessions after failed logins", n)
	}
}

func TestRepeatedFailuresThrottleTheUsername(t *testing.T) {
	t.Parallel()
	for _, known := range []bool{true, false} {
		name := "a known username"
		if !known {
			name = "an unknown username"
		}
		t.Run(name+" cools down 60 s after five failures, doubling to 15 min, and a success resets it", func(t *testing.T) {
			t.Parallel()
			h, u := newUser(t, nil)
			user := u.Name
			if !known {
				user = "nobody"
			}
			fail := func(t *testing.T, want int) events.APIGatewayV2HTTPResponse {
				t.Helper()
				resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(user, "wrong password"))
				if resp.StatusCode != want {
					t.Fatalf("status %d (%s), want %d", resp.StatusCode, resp.Body, want)
				}
				return resp
			}
			for range 5 {
				fail(t, http.StatusUnauthorized)
				h.Clock.Advance(time.Second)
			}
			// The cool-down counts from the last failure, one second ago.
			schedule := []int{60, 120, 240, 480, 900, 900}
			for i, cool := range schedule {
				resp := fail(t, http.StatusTooManyRequests)
				wantError(t, resp, http.StatusTooManyRequests, "too_many_attempts")
				wantRetryAfter := cool
				if i == 0 {
					wantRetryAfter = cool - 1
				}
				if got := headerOf(resp, "Retry-After"); got != strconv.Itoa(wantRetryAfter) {
					t.Fatalf("cool-down %d: Retry-After %q, want %d", i, got, wantRetryAfter)
				}
				// Even the right password is refused while cooling down.
				if known {
					resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
					wantError(t, resp, http.StatusTooManyRequests, "too_many_attempts")
				}
				h.Clock.Advance(time.Duration(wantRetryAfter)*time.Second - time.Millisecond)
				fail(t, http.StatusTooManyRequests)
				h.Clock.Advance(time.Millisecond)
				fail(t, http.StatusUnauthorized) // one more failure after the cool-down
			}
			fail(t, http.StatusTooManyRequests)
			if !known {
				return
			}
			h.Clock.Advance(900 * time.Second)
			h.Login(t, u.Name, u.Password)
			for range 4 {
				fail(t, http.StatusUnauthorized)
			}
			h.Login(t, u.Name, u.Password) // four failures after a reset do not throttle
		})
	}
	t.Run("the throttle answer of a known and an unknown username is the same", func(t *testing.T) {
		t.Parallel()
		h, u := newUser(t, nil)
		var answers []events.APIGatewayV2HTTPResponse
		for _, name := range []string{u.Name, "nobody"} {
			var resp events.APIGatewayV2HTTPResponse
			for range 6 {
				resp = testenv.Call(t, h.App.API.Login, testenv.LoginReq(name, "wrong password"))
			}
			answers = append(answers, resp)
		}
		wantError(t, answers[0], http.StatusTooManyRequests, "too_many_attempts")
		sameAnswer(t, "throttle answers", answers[0], answers[1])
	})
	t.Run("failures are forgotten after a day", func(t *testing.T) {
		t.Parallel()
		h, u := newUser(t, nil)
		for range 4 {
			testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, "wrong password"))
		}
		h.Clock.Advance(24*time.Hour + time.Second)
		for range 4 {
			wantError(t, testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, "wrong password")), http.StatusUnauthorized, "invalid_credentials")
		}
		h.Login(t, u.Name, u.Password)
	})
}

func TestOverlongPasswordsAreRefusedBeforeHashing(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	for _, tc := range []struct {
		name     string
		password string
		status   int
	}{
		{"a 1 KiB password is refused with 400", strings.Repeat("a", 1024), http.StatusBadRequest},
		{"129 characters are refused with 400", strings.Repeat("a", 129), http.StatusBadRequest},
		{"128 characters are checked (wrong, 401)", strings.Repeat("a", 128), http.StatusUnauthorized},
		{"128 two-byte characters are checked (wrong, 401)", strings.Repeat("é", 128), http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp events.APIGatewayV2HTTPResponse
			use := h.Usage(func() { resp = testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, tc.password)) })
			if tc.status == http.StatusBadRequest {
				wantError(t, resp, http.StatusBadRequest, "invalid_request")
				// Hashing comes after reading the login record; refused before that,
				// the password was never hashed and no failure was counted.
				if use.RoundTrips != 0 {
					t.Errorf("an overlong password cost %s; want it refused before any work", use)
				}
				return
			}
			wantError(t, resp, tc.status, "invalid_credentials")
		})
	}
	h.Login(t, u.Name, u.Password) // two failures counted, not five: no throttle
}

func TestALoginRecordWithACorruptHashAnswersAGeneric500(t *testing.T) {
	t.Parallel()
	h, _ := newUser(t, nil)
	_, err := h.Raw.PutItem(testenv.Ctx(t), &dynamodb.PutItemInput{
		TableName: aws.String(h.Table),
		Item: map[string]types.AttributeValue{
			"pk":     &types.AttributeValueMemberS{Value: "n#broken"},
			"uid":    &types.AttributeValueMemberS{Value: "usr_broken"},
			"pwhash": &types.AttributeValueMemberS{Value: "$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
			"ver":    &types.AttributeValueMemberN{Value: "1"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq("broken", "whatever password"))
	e := wantError(t, resp, http.StatusInternalServerError, "internal_error")
	if e.Message != "internal error" {
		t.Errorf("500 message %q, want the generic one", e.Message)
	}
	if strings.Contains(resp.Body, "argon2") || strings.Contains(resp.Body, "hash") {
		t.Errorf("500 body leaks detail: %s", resp.Body)
	}
}

// An answer's time must not tell which names exist. Timing it on a shared 2-core machine
// flakes, so this compares the work instead, which the machine's load cannot change:
// the DynamoDB calls (the same operations, round trips and writes) and the password
// hashing, measured as the bytes allocated, which argon2id's memory cost (16 MiB here)
// dominates. Skipping the hash for unknown names, or a cheaper dummy hash, shows at once.
func TestAnUnknownUserCostsAsMuchAsAWrongPassword(t *testing.T) {
	const tries = 5
	slow := password.Params{Memory: 16 << 10, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := testenv.New(t, testenv.Options{Password: slow})
	// One account per try: five failures on one name would start the throttle.
	users := make([]testenv.User, tries)
	for i := range users {
		users[i] = h.CreateUser(t, "alice"+strconv.Itoa(i), "", "")
	}
	h.Login(t, users[0].Name, users[0].Password) // the first login of a container makes the dummy hash

	type work struct {
		bytes uint64
		usage testenv.Usage
	}
	attempt := func(name string, i int) work {
		var w work
		var m0, m1 runtime.MemStats
		w.usage = h.Usage(func() {
			runtime.ReadMemStats(&m0)
			resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(name, "wrong password "+strconv.Itoa(i)))
			runtime.ReadMemStats(&m1)
			wantError(t, resp, http.StatusUnauthorized, "invalid_credentials")
		})
		w.bytes = m1.TotalAlloc - m0.TotalAlloc
		return w
	}
	var known, unknown []work
	for i := range tries {
		known = append(known, attempt(users[i].Name, i))
		unknown = append(unknown, attempt("nobody"+strconv.Itoa(i), i))
	}
	median := func(ws []work) uint64 {
		b := make([]uint64, len(ws))
		for i, w := range ws {
			b[i] = w.bytes
		}
		slices.Sort(b)
		return b[len(b)/2]
	}
	k, u := median(known), median(unknown)
	t.Logf("median bytes allocated per 401: wrong password %d, unknown user %d", k, u)
	if k < uint64(slow.Memory)<<10 {
		t.Fatalf("a wrong password allocates %d bytes, less than argon2id's %d KiB: the measure shows no hashing", k, slow.Memory)
	}
	if diff := max(u, k) - min(u, k); diff > k/10 {
		t.Errorf("an unknown user allocates %d bytes, a wrong password %d (%.0f%% apart, bound 10%%): one of them skips or cheapens the hash",
			u, k, 100*float64(diff)/float64(k))
	}
	for i := range tries {
		kw, uw := known[i].usage, unknown[i].usage
		if kw.RoundTrips != uw.RoundTrips || kw.Writes != uw.Writes || !slices.Equal(kw.Ops, uw.Ops) {
			t.Errorf("try %d: a wrong password costs %v, an unknown user %v: the storage work differs", i, kw, uw)
		}
	}
}
