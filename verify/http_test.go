package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/verify"
)

// refusal is what a refused request must get.
type refusal struct {
	status    int
	code      string
	challenge string // WWW-Authenticate; "" for none
}

var (
	noToken     = refusal{http.StatusUnauthorized, "unauthorized", "Bearer"}
	badToken    = refusal{http.StatusUnauthorized, "invalid_token", `Bearer error="invalid_token"`}
	unavailable = refusal{http.StatusServiceUnavailable, "temporarily_unavailable", ""}
)

// refusedRequests are the requests both the middleware and the Lambda helper refuse:
// each gives its Authorization values (nil: none) and may break the service first.
func refusedRequests(t *testing.T, s *service) []struct {
	name   string
	values []string
	want   refusal
} {
	at := s.mint(t)
	o := otherKey(t, keys.EdDSA)
	expired := func() string {
		now := s.clock.Now()
		tok, err := s.minter.Mint(now.Add(-accessTTL-time.Minute), "user-1", "session-1", 3, "read", now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()
	return []struct {
		name   string
		values []string
		want   refusal
	}{
		{"a request without an Authorization header", nil, noToken},
		{"Basic credentials", []string{"Basic YWxpY2U6cGFzc3dvcmQ="}, noToken},
		{"Bearer without a token", []string{"Bearer "}, noToken},
		{"two Authorization headers, both good", []string{"Bearer " + at, "Bearer " + at}, noToken},
		{"a garbage token", []string{"Bearer not.a.jwt"}, badToken},
		{"an expired token", []string{"Bearer " + expired}, badToken},
		{"a token of another deployment", []string{"Bearer " + sign(t, o, header(o), s.claims())}, badToken},
		{"an edited token", []string{"Bearer " + at[:len(at)-4] + "AAAA"}, badToken},
	}
}

// checkRefusal asserts a refused request's answer: status, RFC 6750 challenge, the
// service's error shape, no caching, and nothing of the request repeated.
func checkRefusal(t *testing.T, status int, hdr http.Header, body string, want refusal, sent []string) {
	t.Helper()
	if status != want.status {
		t.Errorf("status %d, want %d", status, want.status)
	}
	if got := hdr.Get("WWW-Authenticate"); got != want.challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, want.challenge)
	}
	if want.status == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q, want 30 (the refetch interval)", hdr.Get("Retry-After"))
	}
	if hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Content-Type %q, Cache-Control %q", hdr.Get("Content-Type"), hdr.Get("Cache-Control"))
	}
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil || len(e) != 2 || e["error"] != want.code || e["message"] == "" {
		t.Errorf("body %s, want {\"error\":%q,\"message\":…}", body, want.code)
	}
	for _, v := range sent {
		_, tok, _ := strings.Cut(v, " ")
		noEcho(t, body+fmt.Sprint(hdr), tok)
	}
}

func TestTheMiddlewarePassesTheClaimsOn(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	var got *verify.Claims
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = verify.ClaimsFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+s.mint(t))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || got == nil || got.Subject != "user-1" || got.Session != "session-1" || got.Scope != "read write" {
		t.Fatalf("status %d, claims %+v", rec.Code, got)
	}
}

func TestTheMiddlewareRefuses(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	log, logs := syncLog()
	v := s.verifier(t, func(c *verify.Config) { c.Log = log })
	mustVerify(t, v, s.mint(t))
	serve := func(t *testing.T, v *verify.Verifier, values []string) *httptest.ResponseRecorder {
		t.Helper()
		called := false
		h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		for _, val := range values {
			req.Header.Add("Authorization", val)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if called {
			t.Error("the protected handler ran")
		}
		return rec
	}
	for _, tc := range refusedRequests(t, s) {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			logs.Reset()
			rec := serve(t, v, tc.values)
			checkRefusal(t, rec.Code, rec.Header(), rec.Body.String(), tc.want, tc.values)
			if !strings.Contains(logs.String(), `"msg":"verify: request refused","reason":"`) {
				t.Errorf("the refusal is not logged with its reason:\n%s", logs)
			}
			for _, val := range tc.values {
				_, tok, _ := strings.Cut(val, " ")
				noEcho(t, logs.String(), tok)
			}
		})
	}
	t.Run("a good token while no key set can be fetched is 503, not 401", func(t *testing.T) {
		s2 := newService(t, keys.EdDSA)
		s2.inject(http.NotFound)
		v2 := s2.verifier(t)
		values := []string{"Bearer " + s2.mint(t)}
		rec := serve(t, v2, values)
		checkRefusal(t, rec.Code, rec.Header(), rec.Body.String(), unavailable, values)
	})
}

func TestTheLambdaHelperVerifiesAnHTTPAPIRequest(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	at := s.mint(t)
	next := func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		c, ok := verify.ClaimsFrom(ctx)
		if !ok {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusInternalServerError}, nil
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Body: c.Subject + " " + c.Scope}, nil
	}
	handler := v.Lambda(next)
	for _, name := range []string{"authorization", "Authorization"} {
		t.Run("a token under "+name+" reaches the handler with its claims", func(t *testing.T) {
			resp, err := handler(context.Background(), events.APIGatewayV2HTTPRequest{Headers: map[string]string{name: "Bearer " + at}})
			if err != nil || resp.StatusCode != http.StatusOK || resp.Body != "user-1 read write" {
				t.Fatalf("%+v, %v", resp, err)
			}
		})
	}
	t.Run("VerifyRequest returns the claims", func(t *testing.T) {
		c, err := v.VerifyRequest(context.Background(), events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "Bearer " + at}})
		if err != nil || c.Subject != "user-1" {
			t.Fatalf("%+v, %v", c, err)
		}
	})
	// Two values go under two spellings of the name, as a map can hold them.
	for _, tc := range refusedRequests(t, s) {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{}}
			for i, val := range tc.values {
				req.Headers[[]string{"authorization", "Authorization"}[i%2]] = val
			}
			resp, err := handler(context.Background(), req)
			if err != nil {
				t.Fatalf("the helper returned an error instead of an answer: %v", err)
			}
			hdr := http.Header{}
			for k, val := range resp.Headers {
				hdr.Set(k, val)
			}
			checkRefusal(t, resp.StatusCode, hdr, resp.Body, tc.want, tc.values)
		})
	}
}
