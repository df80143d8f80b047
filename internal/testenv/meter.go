package testenv

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/example/sessions/internal/ddb"
)

// Meter is a client middleware that records every DynamoDB operation the code under
// test calls and sums the ConsumedCapacity DynamoDB returns with it (the store asks
// for ReturnConsumedCapacity=TOTAL on every call). Round trips on the wire, retries
// included, are counted by Net.
type Meter struct {
	mu  sync.Mutex
	ops []Op
}

// Op is one operation call, after the SDK's retries.
type Op struct {
	Name      string
	Capacity  float64 // CapacityUnits, summed over the tables and indexes it reports
	Read      float64 // ReadCapacityUnits, or CapacityUnits of a read operation
	Write     float64 // WriteCapacityUnits, or CapacityUnits of a write operation
	Reported  bool    // the output carried ConsumedCapacity
	Err       error
	Responses int // items returned (GetItem: 0/1, BatchGetItem, Query)
}

// Usage sums the operations of a stretch of test.
type Usage struct {
	Calls      int      // operations called
	RoundTrips int      // HTTP requests sent (Net), retries included
	RCU, WCU   float64  // consumed capacity as DynamoDB (Local) reported it
	Ops        []string // operation names, in order
	Writes     int      // write operations called
}

func (u Usage) String() string {
	return fmt.Sprintf("%d round trip(s) [%s], %.1f RCU, %.1f WCU", u.RoundTrips, strings.Join(u.Ops, ", "), u.RCU, u.WCU)
}

// Middleware adds the meter to a client's stack (dynamodb.Options.APIOptions).
func (m *Meter) Middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("testenv.Meter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			m.record(in.Parameters, out.Result, err)
			return out, md, err
		}), middleware.Before)
}

func isRead(name string) bool {
	switch name {
	case "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems":
		return true
	}
	return false
}

func (m *Meter) record(params, result any, err error) {
	name := strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", params), "*dynamodb."), "Input")
	op := Op{Name: name, Err: err}
	switch r := result.(type) {
	case *dynamodb.GetItemOutput:
		if len(r.Item) > 0 {
			op.Responses = 1
		}
	case *dynamodb.BatchGetItemOutput:
		for _, items := range r.Responses {
			op.Responses += len(items)
		}
	case *dynamodb.QueryOutput:
		op.Responses = len(r.Items)
	}
	c := ddb.ConsumedCapacity(name, result)
	op.Reported, op.Capacity, op.Read, op.Write = c.Reported, c.Units, c.Read, c.Write
	m.mu.Lock()
	m.ops = append(m.ops, op)
	m.mu.Unlock()
}

// Ops returns the operations recorded since the last Reset.
func (m *Meter) Ops() []Op {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Op(nil), m.ops...)
}

// Reset forgets what was recorded.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops = nil
}
