// Package ddbmeter records what each DynamoDB call of a client cost: the operation,
// its error, the items it returned, the capacity DynamoDB reported and the HTTP
// attempts it took on the wire, SDK retries included. The tests (testenv.Harness)
// and the cost benchmark (bench/cost) read the same records, so a figure in a test
// and the same figure in BENCHMARKS.md come from one place.
package ddbmeter

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// Call is one operation as the code called it: after the SDK's retries.
type Call struct {
	Op       string   // operation name, "GetItem"
	Err      error    // what the call returned
	Items    int      // items returned (GetItem 0 or 1, BatchGetItem, Query, Scan)
	Capacity Capacity // ConsumedCapacity the answer carried (none on an error)
	Attempts int      // HTTP requests sent for it, retries included
	// Input and Output are the SDK's parameters and result (Output nil on most
	// errors), for an extension that derives more from a call than the meter does.
	Input, Output any
	// Extra is what the after function Meter.Around gave for this call returned.
	Extra any
}

// IsRead says whether op is a read operation, whose capacity is read capacity.
func IsRead(op string) bool {
	switch op {
	case "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems":
		return true
	}
	return false
}

// Meter records every call of the clients it is installed on (Install). It is safe
// for concurrent calls: each HTTP attempt is counted against the call whose context
// it carries, not by comparing a shared counter before and after.
type Meter struct {
	// Around, if set, runs before each call with the call's context and input; the
	// function it returns runs after the call, and its value is kept as the call's
	// Extra. It lets an extension look at the table on both sides of a call (bench/cost
	// reads the items a write touches) through a client of its own, unmetered.
	Around func(ctx context.Context, input any) (after func() any)

	mu    sync.Mutex
	calls []Call
}

// HTTPClient is the interface of dynamodb.Options.HTTPClient.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// Install puts the meter on a client's options: the middleware that records each
// call, and a counting HTTP client around the one configured (whatever sits below
// it, fault injection included, is counted as sent). Use it as a client option:
// dynamodb.NewFromConfig(cfg, m.Install).
func (m *Meter) Install(o *dynamodb.Options) {
	inner := o.HTTPClient
	if inner == nil {
		inner = awshttp.NewBuildableClient()
	}
	o.HTTPClient = counting{inner}
	o.APIOptions = append(append([]func(*middleware.Stack) error(nil), o.APIOptions...), m.middleware)
}

// attemptsKey carries a call's attempt counter from the middleware to the HTTP client.
type attemptsKey struct{}

// counting counts each request against the call in its context.
type counting struct{ inner HTTPClient }

func (c counting) Do(req *http.Request) (*http.Response, error) {
	if n, ok := req.Context().Value(attemptsKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
	return c.inner.Do(req)
}

func (m *Meter) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("ddbmeter.Meter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			var after func() any
			if m.Around != nil {
				after = m.Around(ctx, in.Parameters)
			}
			attempts := new(atomic.Int64)
			out, md, err := next.HandleInitialize(context.WithValue(ctx, attemptsKey{}, attempts), in)
			c := newCall(in.Parameters, out.Result, err)
			c.Attempts = int(attempts.Load())
			if after != nil {
				c.Extra = after()
			}
			m.mu.Lock()
			m.calls = append(m.calls, c)
			m.mu.Unlock()
			return out, md, err
		}), middleware.Before)
}

func newCall(input, output any, err error) Call {
	c := Call{Op: opName(input), Err: err, Input: input, Output: output}
	switch r := output.(type) {
	case *dynamodb.GetItemOutput:
		if len(r.Item) > 0 {
			c.Items = 1
		}
	case *dynamodb.BatchGetItemOutput:
		for _, items := range r.Responses {
			c.Items += len(items)
		}
	case *dynamodb.QueryOutput:
		c.Items = len(r.Items)
	case *dynamodb.ScanOutput:
		c.Items = len(r.Items)
	}
	c.Capacity = ConsumedCapacity(c.Op, output)
	return c
}

// opName is the operation of an input: *dynamodb.GetItemInput is "GetItem".
func opName(input any) string {
	return strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", input), "*dynamodb."), "Input")
}

// Mark returns the position to pass to Since.
func (m *Meter) Mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

// Since returns the calls recorded after mark (Mark), in the order they ended.
func (m *Meter) Since(mark int) []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Call(nil), m.calls[min(mark, len(m.calls)):]...)
}

// Calls returns the calls recorded since the last Reset.
func (m *Meter) Calls() []Call { return m.Since(0) }

// Reset forgets what was recorded.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = nil
}
