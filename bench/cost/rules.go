// Package cost measures what each operation of the service costs in DynamoDB requests
// and capacity units, against DynamoDB Local, for `make bench` (see BENCHMARKS.md):
//
//	go test ./bench/cost -run '^TestCost$' -count=1 -args -out "$PWD/bench/results/cost.json"
//
// (the test runs in bench/cost, so a relative -out would land there).
//
// The operations run through the test harness (internal/testenv): the wired App, the
// service's own user creation, and the harness's DynamoDB client with the meter the
// tests use (internal/ddbmeter), which records each call's HTTP attempts and the
// ConsumedCapacity DynamoDB Local reports. rules adds the capacity DynamoDB's
// documented rules charge, from the measured sizes of the items involved.
package cost

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/ddbmeter"
)

// indexDef is a global secondary index as the table declares it.
type indexDef struct {
	name       string
	keys       []string // the index's hash and range attributes
	projection types.ProjectionType
	nonKey     []string
}

// rules extends the shared meter (ddbmeter) with the capacity DynamoDB's documented
// rules charge for each call, computed from the sizes of the items involved. The
// meter records the call, its HTTP attempts and the ConsumedCapacity DynamoDB
// (Local) reported; for writes, rules reads the items before and after the call
// (Meter.Around) with a separate, unmetered client (the oracle), since a write's
// charge depends on both.
type rules struct {
	*ddbmeter.Meter
	oracle    *dynamodb.Client
	table     string
	tableKeys []string
	indexes   []indexDef
}

// snapshots are the items a write touched, by key, before and after it.
type snapshots struct {
	before, after map[string]map[string]types.AttributeValue
}

// newRules extends m, the meter on the measured client; oracle is an unmetered client
// of the same table, in is how the table was made.
func newRules(m *ddbmeter.Meter, oracle *dynamodb.Client, table string, in *dynamodb.CreateTableInput) *rules {
	r := &rules{Meter: m, oracle: oracle, table: table}
	for _, k := range in.KeySchema {
		r.tableKeys = append(r.tableKeys, aws.ToString(k.AttributeName))
	}
	for _, g := range in.GlobalSecondaryIndexes {
		ix := indexDef{name: aws.ToString(g.IndexName), projection: g.Projection.ProjectionType, nonKey: g.Projection.NonKeyAttributes}
		for _, k := range g.KeySchema {
			ix.keys = append(ix.keys, aws.ToString(k.AttributeName))
		}
		r.indexes = append(r.indexes, ix)
	}
	r.Around = func(ctx context.Context, input any) func() any {
		keys := r.writeKeys(input)
		before := r.snapshot(ctx, keys)
		return func() any { return snapshots{before, r.snapshot(ctx, keys)} }
	}
	return r
}

// charged returns the calls the meter recorded after mark (Meter.Mark), each with its
// documented-rules charge.
func (r *rules) charged(mark int) []results.Call {
	var calls []results.Call
	for _, c := range r.Since(mark) {
		calls = append(calls, r.charge(c))
	}
	return calls
}

// keyOf is the item's primary key as a string ("" if it has none).
func (r *rules) keyOf(item map[string]types.AttributeValue) string {
	var b strings.Builder
	for _, k := range r.tableKeys {
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
func (r *rules) writeKeys(params any) []map[string]types.AttributeValue {
	switch p := params.(type) {
	case *dynamodb.PutItemInput:
		return []map[string]types.AttributeValue{r.keyPart(p.Item)}
	case *dynamodb.UpdateItemInput:
		return []map[string]types.AttributeValue{p.Key}
	case *dynamodb.DeleteItemInput:
		return []map[string]types.AttributeValue{p.Key}
	case *dynamodb.TransactWriteItemsInput:
		var keys []map[string]types.AttributeValue
		for _, a := range p.TransactItems {
			switch {
			case a.Put != nil:
				keys = append(keys, r.keyPart(a.Put.Item))
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

func (r *rules) keyPart(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	k := map[string]types.AttributeValue{}
	for _, name := range r.tableKeys {
		if v, ok := item[name]; ok {
			k[name] = v
		}
	}
	return k
}

// snapshot reads the items at keys, strongly consistent, through the oracle.
func (r *rules) snapshot(ctx context.Context, keys []map[string]types.AttributeValue) map[string]map[string]types.AttributeValue {
	if len(keys) == 0 {
		return nil
	}
	snap := map[string]map[string]types.AttributeValue{}
	for _, k := range keys {
		out, err := r.oracle.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: k, ConsistentRead: aws.Bool(true)})
		if err == nil && len(out.Item) > 0 {
			snap[r.keyOf(k)] = out.Item
		}
	}
	return snap
}

func readFactor(consistent *bool) (float64, string) {
	if aws.ToBool(consistent) {
		return 1, "strongly consistent"
	}
	return 0.5, "eventually consistent"
}

// charge is one recorded call as the results carry it: what was measured, and what
// the documented rules charge for it.
func (r *rules) charge(call ddbmeter.Call) results.Call {
	params, result, err := call.Input, call.Output, call.Err
	snap, _ := call.Extra.(snapshots)
	before, after := snap.before, snap.after
	c := results.Call{Op: call.Op, Attempts: call.Attempts}
	if err != nil {
		c.Error = errorCode(err)
	}
	measured(&c, call)

	var ccf *types.ConditionalCheckFailedException
	failedCondition := errors.As(err, &ccf)
	var tce *types.TransactionCanceledException
	cancelled := errors.As(err, &tce)

	switch p := params.(type) {
	case *dynamodb.GetItemInput:
		size := 0
		if o, ok := result.(*dynamodb.GetItemOutput); ok {
			size = ddbmeter.ItemSize(o.Item)
		}
		f, how := readFactor(p.ConsistentRead)
		c.ExpectedRCU = units(size, 4096) * f
		c.Rule = fmt.Sprintf("%s read, item %d B: ceil(size/4 KB) × %g", how, size, f)
	case *dynamodb.BatchGetItemInput:
		var parts []int
		out, _ := result.(*dynamodb.BatchGetItemOutput)
		for table, ka := range p.RequestItems {
			f, how := readFactor(ka.ConsistentRead)
			for _, k := range ka.Keys {
				size := 0
				if out != nil {
					for _, item := range out.Responses[table] {
						if r.keyOf(item) == r.keyOf(k) {
							size = ddbmeter.ItemSize(item)
						}
					}
				}
				c.ExpectedRCU += units(size, 4096) * f
				parts = append(parts, size)
			}
			c.Rule = fmt.Sprintf("%s, each item rounded up on its own (%s): Σ ceil(size/4 KB) × %g", how, sizeList(parts, " + "), f)
		}
	case *dynamodb.QueryInput:
		size, n := 0, 0
		if o, ok := result.(*dynamodb.QueryOutput); ok {
			for _, item := range o.Items {
				size += ddbmeter.ItemSize(item)
			}
			n = len(o.Items)
		}
		f, how := readFactor(p.ConsistentRead)
		c.ExpectedRCU = units(size, 4096) * f
		where := "table"
		if p.IndexName != nil {
			where = "index " + *p.IndexName
		}
		c.Rule = fmt.Sprintf("%s query of %s, %d entries, %d B together: ceil(Σ size/4 KB) × %g", how, where, n, size, f)
	case *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput:
		k := r.keyOf(r.writeKeys(params)[0])
		b, a := before[k], after[k]
		switch {
		case err == nil:
			size := max(ddbmeter.ItemSize(b), ddbmeter.ItemSize(a))
			c.ExpectedWCU = units(size, 1024)
			c.ExpectedGSI = r.indexWrites(b, a)
			c.ExpectedWCU += c.ExpectedGSI
			c.Rule = fmt.Sprintf("larger of item before (%d B) and after (%d B): ceil/1 KB", ddbmeter.ItemSize(b), ddbmeter.ItemSize(a))
			if c.ExpectedGSI > 0 {
				c.Rule += fmt.Sprintf(" + %g index write(s)", c.ExpectedGSI)
			}
		case failedCondition:
			c.ExpectedWCU = units(ddbmeter.ItemSize(b), 1024)
			c.Rule = fmt.Sprintf("condition failed: still charged for the existing item (%d B), at least 1", ddbmeter.ItemSize(b))
		default:
			c.Rule = "error: nothing charged"
		}
	case *dynamodb.TransactWriteItemsInput:
		var parts []int
		for _, key := range r.writeKeys(params) {
			k := r.keyOf(key)
			b, a := before[k], after[k]
			size := max(ddbmeter.ItemSize(b), ddbmeter.ItemSize(a))
			c.ExpectedWCU += 2 * units(size, 1024)
			parts = append(parts, size)
			if err == nil {
				c.ExpectedGSI += r.indexWrites(b, a)
			}
		}
		c.ExpectedWCU += c.ExpectedGSI
		c.Rule = fmt.Sprintf("transactional: 2 × ceil(size/1 KB) per item (%s)", sizeList(parts, ", "))
		if c.ExpectedGSI > 0 {
			c.Rule += fmt.Sprintf(" + %g index write(s), counted as standard writes", c.ExpectedGSI)
		}
		if cancelled {
			c.Rule += "; cancelled: charged as if prepared (assumption)"
		}
	}
	return c
}

// sizeList lists item sizes in bytes, a run of equal ones once with its count (a
// batch of ten sessions reads "330 B × 10").
func sizeList(sizes []int, sep string) string {
	var out []string
	for i := 0; i < len(sizes); {
		j := i
		for j < len(sizes) && sizes[j] == sizes[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%d B × %d", sizes[i], j-i))
		} else {
			out = append(out, fmt.Sprintf("%d B", sizes[i]))
		}
		i = j
	}
	return strings.Join(out, sep)
}

// measured fills in the ConsumedCapacity the answer carried, as the meter read it.
func measured(c *results.Call, call ddbmeter.Call) {
	used := call.Capacity
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
func (r *rules) indexWrites(before, after map[string]types.AttributeValue) float64 {
	total := 0.0
	for _, ix := range r.indexes {
		eb, ea := r.entry(ix, before), r.entry(ix, after)
		sz := func(e map[string]types.AttributeValue) float64 { return units(ddbmeter.ItemSize(e)+100, 1024) }
		switch {
		case eb == nil && ea == nil:
		case eb == nil:
			total += sz(ea)
		case ea == nil:
			total += sz(eb)
		case reflect.DeepEqual(eb, ea):
		case sameIndexKeys(ix, eb, ea):
			total += math.Max(sz(eb), sz(ea))
		default:
			total += sz(eb) + sz(ea)
		}
	}
	return total
}

func sameIndexKeys(ix indexDef, a, b map[string]types.AttributeValue) bool {
	for _, k := range ix.keys {
		if avString(a[k]) != avString(b[k]) {
			return false
		}
	}
	return true
}

// entry is the index entry an item makes, or nil if it lacks an index key (sparse).
func (r *rules) entry(ix indexDef, item map[string]types.AttributeValue) map[string]types.AttributeValue {
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
	for _, k := range r.tableKeys {
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
