package gateway

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Limit is an API Gateway throttling limit: a token bucket that holds at most
// Burst requests and refills at Rate requests per second. A bucket starts
// full, so Burst requests pass at once and then Rate per second.
type Limit struct {
	// Rate is the steady-state rate, in requests per second
	// (ThrottlingRateLimit).
	Rate float64
	// Burst is the bucket's capacity, in requests (ThrottlingBurstLimit). A
	// limit with Burst 0 throttles every request, as on AWS.
	Burst int
}

// Throttling is the HTTP API stage's route throttling: DefaultRouteSettings
// and RouteSettings. Each route has a bucket of its own, as on AWS (the
// account-level limit across APIs is not emulated).
type Throttling struct {
	// Default applies to every route that Routes does not name.
	Default Limit
	// Routes override Default by route key ("POST /auth/login"). A key that
	// names no route is an error in New, so a typo cannot silently leave a
	// route on the default limit.
	Routes map[string]Limit
}

// tooManyRequests is API Gateway's message for a throttled request (429).
const tooManyRequests = "Too Many Requests"

// limiter is the token buckets of every route.
type limiter struct {
	buckets map[string]*bucket // by route key
}

// newLimiter checks th against the API's route keys and gives every route a
// full bucket at time now.
func newLimiter(th *Throttling, routeKeys []string, now time.Time) (*limiter, error) {
	known := make(map[string]bool, len(routeKeys))
	for _, k := range routeKeys {
		known[k] = true
	}
	check := func(what string, l Limit) error {
		if l.Burst < 0 || l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) {
			return fmt.Errorf("gateway: throttling %s: invalid limit %+v", what, l)
		}
		return nil
	}
	if err := check("default", th.Default); err != nil {
		return nil, err
	}
	for k, l := range th.Routes {
		if !known[k] {
			return nil, fmt.Errorf("gateway: throttling names route %q, which the API does not have", k)
		}
		if err := check(fmt.Sprintf("route %q", k), l); err != nil {
			return nil, err
		}
	}
	lim := &limiter{buckets: make(map[string]*bucket, len(routeKeys))}
	for _, k := range routeKeys {
		l, ok := th.Routes[k]
		if !ok {
			l = th.Default
		}
		lim.buckets[k] = &bucket{limit: l, tokens: float64(l.Burst), last: now}
	}
	return lim, nil
}

// allow takes a token from the route's bucket at time now and reports
// whether there was one.
func (l *limiter) allow(routeKey string, now time.Time) bool {
	b := l.buckets[routeKey]
	if b == nil {
		return true
	}
	return b.take(now)
}

// bucket is one route's token bucket.
type bucket struct {
	mu     sync.Mutex
	limit  Limit
	tokens float64
	last   time.Time
}

// take refills the bucket for the time since the last request, then takes
// one token if there is a whole one.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(b.limit.Burst), b.tokens+elapsed.Seconds()*b.limit.Rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
