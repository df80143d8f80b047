package testenv

import (
	"fmt"
	"slices"
	"strings"

	"github.com/example/sessions/internal/ddbmeter"
)

// Meter records every DynamoDB call the code under test makes through the
// harness's client: its items, the ConsumedCapacity DynamoDB returned (the store asks
// for ReturnConsumedCapacity=TOTAL on every call) and its HTTP attempts, retries
// included. It is the meter bench/cost reads too.
type Meter = ddbmeter.Meter

// Usage sums the operations of a stretch of test.
type Usage struct {
	Calls      int      // operations called
	RoundTrips int      // HTTP requests sent, retries included
	RCU, WCU   float64  // consumed capacity as DynamoDB (Local) reported it
	Ops        []string // operation names, one per round trip, in order
	Writes     int      // write operations called
}

func (u Usage) String() string {
	return fmt.Sprintf("%d round trip(s) [%s], %.1f RCU, %.1f WCU", u.RoundTrips, strings.Join(u.Ops, ", "), u.RCU, u.WCU)
}

// Usage runs fn and returns what it cost at the wire: the operations it called, the
// HTTP round trips (retries included) and the capacity DynamoDB reported. Not for use
// while other goroutines use the same harness.
func (h *Harness) Usage(fn func()) Usage {
	mark := h.Meter.Mark()
	fn()
	var u Usage
	for _, c := range h.Meter.Since(mark) {
		u.Calls++
		u.RCU += c.Capacity.Read
		u.WCU += c.Capacity.Write
		if !ddbmeter.IsRead(c.Op) {
			u.Writes++
		}
		u.RoundTrips += c.Attempts
		u.Ops = append(u.Ops, slices.Repeat([]string{c.Op}, c.Attempts)...)
	}
	return u
}
