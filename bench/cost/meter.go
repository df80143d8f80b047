package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/ddb"
)

// countingTransport counts the HTTP requests that really leave the client: one per
// attempt, so the SDK's retries show up.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
}

// indexDef is a global secondary index as the table declares it.
type indexDef struct {
	name       string
	keys       []string // the index's hash and range attributes
	projection types.ProjectionType
	nonKey     []string
}

// meter is an Initialize-step middleware on the measured client. For each API call
// it records the HTTP attempts, the ConsumedCapacity DynamoDB (Local) reported, and
// the capacity DynamoDB's documented rules charge for it, computed from the sizes of
// the items involved. For writes it reads the items before and after the call with a
// separate, unmetered client (the oracle), since a write's charge depends on both.
type meter struct {
	oracle    *dynamodb.Client
	table     string
	tableKeys []string
	indexes   []indexDef
	wire      *countingTransport

	mu    sync.Mutex
	calls []results.Call
}

func (m *meter) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("bench.Meter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			keys := m.writeKeys(in.Parameters)
			before := m.snapshot(ctx, keys)
			a0 := m.wire.n.Load()
			out, md, err := next.HandleInitialize(ctx, in)
			attempts := int(m.wire.n.Load() - a0)
			after := m.snapshot(ctx, keys)
			m.record(in.Parameters, out.Result, err, before, after, attempts)
			return out, md, err
		}), middleware.Before)
}

// mark returns the position to pass to since.
func (m *meter) mark() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

// since returns the calls recorded after mark.
func (m *meter) since(mark int) []results.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]results.Call(nil), m.calls[mark:]...)
}

// keyOf is the item's primary key as a string ("" if it has none).
func (m *meter) keyOf(item map[string]types.AttributeValue) string {
	var b strings.Builder
	for _, k := range m.tableKeys {
		v, ok := item[k]
		if !ok {
			return ""
		}
		fmt.Fprintf(&b, "%s=%v;", k, avString(v))
	}
	return b.String()
}

func avString(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return "S:" + v.Value
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberB:
		return fmt.Sprintf("B:%x", v.Value)
	}
	return fmt.Sprintf("%T", v)
}

// writeKeys lists the keys a write call touches.
func (m *meter) writeKeys(params any) []map[string]types.AttributeValue {
	switch p := params.(type) {
	case *dynamodb.PutItemInput:
		return []map[string]types.AttributeValue{m.keyPart(p.Item)}
	case *dynamodb.UpdateItemInput:
		return []map[string]types.AttributeValue{p.Key}
	case *dynamodb.DeleteItemInput:
		return []map[string]types.AttributeValue{p.Key}
	case *dynamodb.TransactWriteItemsInput:
		var keys []map[string]types.AttributeValue
		for _, a := range p.TransactItems {
			switch {
			case a.Put != nil:
				keys = append(keys, m.keyPart(a.Put.Item))
			case a.Update != nil:
				keys = append(keys, a.Update.Key)
			case a.Delete != nil:
				keys = append(keys, a.Delete.Key)
			case a.ConditionCheck != nil:
				keys = append(keys, a.ConditionCheck.Key)
			}
		}
		return keys
	}
	return nil
}

func (m *meter) keyPart(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	k := map[string]types.AttributeValue{}
	for _, name := range m.tableKeys {
		if v, ok := item[name]; ok {
			k[name] = v
		}
	}
	return k
}

// snapshot reads the items at keys, strongly consistent, through the oracle.
func (m *meter) snapshot(ctx context.Context, keys []map[string]types.AttributeValue) map[string]map[string]types.AttributeValue {
	if len(keys) == 0 {
		return nil
	}
	snap := map[string]map[string]types.AttributeValue{}
	for _, k := range keys {
		out, err := m.oracle.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(m.table), Key: k, ConsistentRead: aws.Bool(true)})
		if err == nil && len(out.Item) > 0 {
			snap[m.keyOf(k)] = out.Item
		}
	}
	return snap
}

func opName(params any) string {
	return strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", params), "*dynamodb."), "Input")
}

func readFactor(consistent *bool) (float64, string) {
	if aws.ToBool(consistent) {
		return 1, "strongly consistent"
	}
	return 0.5, "eventually consistent"
}

func (m *meter) record(params, result any, err error, before, after map[string]map[string]types.AttributeValue, attempts int) {
	c := results.Call{Op: opName(params), Attempts: attempts}
	if err != nil {
		c.Error = errorCode(err)
	}
	m.measured(&c, result)

	var ccf *types.ConditionalCheckFailedException
	failedCondition := errors.As(err, &ccf)
	var tce *types.TransactionCanceledException
	cancelled := errors.As(err, &tce)

	switch p := params.(type) {
	case *dynamodb.GetItemInput:
		size := 0
		if r, ok := result.(*dynamodb.GetItemOutput); ok {
			size = itemSize(r.Item)
		}
		f, how := readFactor(p.ConsistentRead)
		c.ExpectedRCU = units(size, 4096) * f
		c.Rule = fmt.Sprintf("%s read, item %d B: ceil(size/4 KB) × %g", how, size, f)
	case *dynamodb.BatchGetItemInput:
		var parts []string
		out, _ := result.(*dynamodb.BatchGetItemOutput)
		for table, ka := range p.RequestItems {
			f, how := readFactor(ka.ConsistentRead)
			for _, k := range ka.Keys {
				size := 0
				if out != nil {
					for _, item := range out.Responses[table] {
						if m.keyOf(item) == m.keyOf(k) {
							size = itemSize(item)
						}
					}
				}
				c.ExpectedRCU += units(size, 4096) * f
				parts = append(parts, fmt.Sprintf("%d B", size))
			}
			c.Rule = fmt.Sprintf("%s, each item rounded up on its own (%s): Σ ceil(size/4 KB) × %g", how, strings.Join(parts, " + "), f)
		}
	case *dynamodb.QueryInput:
		size, n := 0, 0
		if r, ok := result.(*dynamodb.QueryOutput); ok {
			for _, item := range r.Items {
				size += itemSize(item)
			}
			n = len(r.Items)
		}
		f, how := readFactor(p.ConsistentRead)
		c.ExpectedRCU = units(size, 4096) * f
		where := "table"
		if p.IndexName != nil {
			where = "index " + *p.IndexName
		}
		c.Rule = fmt.Sprintf("%s query of %s, %d entries, %d B together: ceil(Σ size/4 KB) × %g", how, where, n, size, f)
	case *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput:
		k := m.keyOf(m.writeKeys(params)[0])
		b, a := before[k], after[k]
		switch {
		case err == nil:
			size := max(itemSize(b), itemSize(a))
			c.ExpectedWCU = units(size, 1024)
			c.ExpectedGSI = m.indexWrites(b, a)
			c.ExpectedWCU += c.ExpectedGSI
			c.Rule = fmt.Sprintf("larger of item before (%d B) and after (%d B): ceil/1 KB", itemSize(b), itemSize(a))
			if c.ExpectedGSI > 0 {
				c.Rule += fmt.Sprintf(" + %g index write(s)", c.ExpectedGSI)
			}
		case failedCondition:
			c.ExpectedWCU = units(itemSize(b), 1024)
			c.Rule = fmt.Sprintf("condition failed: still charged for the existing item (%d B), at least 1", itemSize(b))
		default:
			c.Rule = "error: nothing charged"
		}
	case *dynamodb.TransactWriteItemsInput:
		var parts []string
		for _, key := range m.writeKeys(params) {
			k := m.keyOf(key)
			b, a := before[k], after[k]
			size := max(itemSize(b), itemSize(a))
			c.ExpectedWCU += 2 * units(size, 1024)
			parts = append(parts, fmt.Sprintf("%d B", size))
			if err == nil {
				c.ExpectedGSI += m.indexWrites(b, a)
			}
		}
		c.ExpectedWCU += c.ExpectedGSI
		c.Rule = fmt.Sprintf("transactional: 2 × ceil(size/1 KB) per item (%s)", strings.Join(parts, ", "))
		if c.ExpectedGSI > 0 {
			c.Rule += fmt.Sprintf(" + %g index write(s), counted as standard writes", c.ExpectedGSI)
		}
		if cancelled {
			c.Rule += "; cancelled: charged as if prepared (assumption)"
		}
	}
	m.mu.Lock()
	m.calls = append(m.calls, c)
	m.mu.Unlock()
}

// measured fills in the ConsumedCapacity the answer carried.
func (m *meter) measured(c *results.Call, result any) {
	used := ddb.ConsumedCapacity(c.Op, result)
	var raw []string
	for _, cc := range used.Raw {
		raw = append(raw, fmt.Sprintf("{%s: units %g, read %g, write %g}", aws.ToString(cc.TableName), aws.ToFloat64(cc.CapacityUnits), aws.ToFloat64(cc.ReadCapacityUnits), aws.ToFloat64(cc.WriteCapacityUnits)))
	}
	c.Reported = used.Reported
	c.MeasuredRCU += used.Read
	c.MeasuredWCU += used.Write
	c.Raw = strings.Join(raw, " ")
}

// indexWrites is the index write units one item change costs: an entry appears (1
// write), disappears (1), or changes its keys (2: delete and put); each rounded up
// per 1 KB of the entry (keys, projected attributes and 100 bytes of overhead). A
// change to attributes the index does not hold costs nothing.
func (m *meter) indexWrites(before, after map[string]types.AttributeValue) float64 {
	total := 0.0
	for _, ix := range m.indexes {
		eb, ea := m.entry(ix, before), m.entry(ix, after)
		sz := func(e map[string]types.AttributeValue) float64 { return units(itemSize(e)+100, 1024) }
		switch {
		case eb == nil && ea == nil:
		case eb == nil:
			total += sz(ea)
		case ea == nil:
			total += sz(eb)
		case reflect.DeepEqual(eb, ea):
		case m.sameIndexKeys(ix, eb, ea):
			total += math.Max(sz(eb), sz(ea))
		default:
			total += sz(eb) + sz(ea)
		}
	}
	return total
}

func (m *meter) sameIndexKeys(ix indexDef, a, b map[string]types.AttributeValue) bool {
	for _, k := range ix.keys {
		if avString(a[k]) != avString(b[k]) {
			return false
		}
	}
	return true
}

// entry is the index entry an item makes, or nil if it lacks an index key (sparse).
func (m *meter) entry(ix indexDef, item map[string]types.AttributeValue) map[string]types.AttributeValue {
	if item == nil {
		return nil
	}
	e := map[string]types.AttributeValue{}
	for _, k := range ix.keys {
		v, ok := item[k]
		if !ok {
			return nil
		}
		e[k] = v
	}
	for _, k := range m.tableKeys {
		e[k] = item[k]
	}
	switch ix.projection {
	case types.ProjectionTypeAll:
		for k, v := range item {
			e[k] = v
		}
	case types.ProjectionTypeInclude:
		for _, k := range ix.nonKey {
			if v, ok := item[k]; ok {
				e[k] = v
			}
		}
	}
	return e
}

func errorCode(err error) string {
	var ccf *types.ConditionalCheckFailedException
	var tce *types.TransactionCanceledException
	switch {
	case errors.As(err, &ccf):
		return "ConditionalCheckFailedException"
	case errors.As(err, &tce):
		return "TransactionCanceledException"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
