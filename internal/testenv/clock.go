// Package testenv is the shared test harness of the service's integration tests: the
// whole App wired against a fresh table in DynamoDB Local (internal/testddb), a
// settable clock, a fault injector at the SDK's HTTP layer and a meter that counts
// round trips and consumed capacity. It is imported only by _test.go files.
package testenv

import (
	"sync"
	"time"
)

// Epoch is where every harness clock starts: a fixed instant, whole seconds, far
// enough ahead that nothing in the tests is accidentally "in the past".
var Epoch = time.Date(2031, time.March, 14, 9, 26, 53, 0, time.UTC)

// Clock is a settable clock, safe for concurrent use. The App, the token verifier and
// the authorizer all read it, so tests move deadlines by moving it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time. It does not move by itself.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}
