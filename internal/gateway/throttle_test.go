package gateway

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// clock is a settable Now for throttling tests: time moves only when a test
// says so, so no test sleeps or depends on the machine's speed.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestThrottlingAnswers429OnceTheBurstIsSpent walks one route's bucket: the
// burst passes, the next request is 429, and the rate refills it.
func TestThrottlingAnswers429OnceTheBurstIsSpent(t *testing.T) {
	clk := newClock()
	var h recorder
	g := mustNew(t, Config{
		Now:        clk.Now,
		Throttling: &Throttling{Default: Limit{Rate: 2, Burst: 3}},
		Routes:     []Route{{Method: "GET", Path: "/me", Handler: h.handler(ok)}},
	})
	get := func() int { return serve(g, newRequest("GET", "/me", "")).Code }

	for i := range 3 {
		if code := get(); code != http.StatusOK {
			t.Fatalf("request %d of the burst: status %d, want 200", i+1, code)
		}
	}
	rec := serve(g, newRequest("GET", "/me", ""))
	wantMessage(t, rec, http.StatusTooManyRequests, "Too Many Requests")
	if n := h.callCount(); n != 3 {
		t.Errorf("handler ran %d times, want 3: a throttled request must not reach it", n)
	}

	clk.advance(400 * time.Millisecond) // 0.8 of a token at 2/s
	if code := get(); code != http.StatusTooManyRequests {
		t.Errorf("after 400ms (less than one token): status %d, want 429", code)
	}
	clk.advance(100 * time.Millisecond) // now a whole token
	if code := get(); code != http.StatusOK {
		t.Errorf("after 500ms (one token): status %d, want 200", code)
	}
	if code := get(); code != http.StatusTooManyRequests {
		t.Errorf("the refilled token was spent: status %d, want 429", code)
	}

	clk.advance(time.Hour) // refills only up to the burst
	for i := range 3 {
		if code := get(); code != http.StatusOK {
			t.Fatalf("after an hour, request %d: status %d, want 200", i+1, code)
		}
	}
	if code := get(); code != http.StatusTooManyRequests {
		t.Errorf("an idle hour must not bank more than the burst: status %d, want 429", code)
	}
}

// TestThrottlingIsPerRoute checks that each route has its own bucket, that
// a route override replaces the default, and that the throttle comes before
// the authorizer.
func TestThrottlingIsPerRoute(t *testing.T) {
	clk := newClock()
	var login, me, auth recorder
	g := mustNew(t, Config{
		Now: clk.Now,
		Throttling: &Throttling{
			Default: Limit{Rate: 1, Burst: 2},
			Routes:  map[string]Limit{"POST /auth/login": {Rate: 1, Burst: 1}},
		},
		Authorizer:      auth.authorizer(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true}),
		IdentityHeaders: []string{"Authorization"},
		Routes: []Route{
			{Method: "POST", Path: "/auth/login", Handler: login.handler(ok)},
			{Method: "GET", Path: "/me", Handler: me.handler(ok), Protected: true},
		},
	})
	post := func() int { return serve(g, newRequest("POST", "/auth/login", "{}")).Code }
	getMe := func() int {
		req := newRequest("GET", "/me", "")
		req.Header.Set("Authorization", "Bearer x")
		return serve(g, req).Code
	}

	tests := []struct {
		name string
		send func() int
		want int
	}{
		{"the login route's one-request burst passes", post, 200},
		{"the login route's second request is throttled by its override", post, 429},
		{"another route still has its own default bucket", getMe, 200},
		{"the default burst of two lets a second request through", getMe, 200},
		{"the third request to the protected route is throttled", getMe, 429},
	}
	for _, tc := range tests {
		if got := tc.send(); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	if n := auth.callCount(); n != 2 {
		t.Errorf("authorizer ran %d times, want 2: a throttled request must not invoke it", n)
	}
}

// TestThrottlingThatNamesNoRouteIsRefused guards against a typo in a route
// override silently leaving the route on the default limit.
func TestThrottlingThatNamesNoRouteIsRefused(t *testing.T) {
	tests := []struct {
		name       string
		throttling Throttling
		wantErr    string
	}{
		{"an override for an unknown route key", Throttling{Routes: map[string]Limit{"POST /auth/logn": {Rate: 1, Burst: 1}}}, "does not have"},
		{"a negative burst", Throttling{Default: Limit{Rate: 1, Burst: -1}}, "invalid limit"},
		{"a negative rate", Throttling{Routes: map[string]Limit{"GET /me": {Rate: -1, Burst: 1}}}, "invalid limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th := tc.throttling
			_, err := New(Config{
				Logger:     discard,
				Throttling: &th,
				Routes:     []Route{{Method: "GET", Path: "/me", Handler: echoRouteKey}},
			})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestNoThrottlingByDefault keeps the zero Config unthrottled: a Config without
// Throttling must never answer 429.
func TestNoThrottlingByDefault(t *testing.T) {
	g := mustNew(t, Config{Now: newClock().Now, Routes: []Route{{Method: "GET", Path: "/me", Handler: echoRouteKey}}})
	for i := range 1000 {
		if code := serve(g, newRequest("GET", "/me", "")).Code; code != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, code)
		}
	}
}
