package cost

import (
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/testenv"
)

// probes sends small requests whose charge the documented rules fix, and records what
// DynamoDB Local reports for each: the evidence for where its ConsumedCapacity can
// and cannot stand in for the service's.
func (r *runner) probes() {
	ctx, c, t, table := testenv.Ctx(r.t), r.h.Raw, aws.String(r.h.Table), r.h.Table
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	id := randHex(4)
	plainItem := func(i int) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": s(fmt.Sprintf("probe#%s#%d", id, i)), "v": s("x")}
	}
	puts := func(items ...map[string]types.AttributeValue) []types.TransactWriteItem {
		var tw []types.TransactWriteItem
		for _, it := range items {
			tw = append(tw, types.TransactWriteItem{Put: &types.Put{TableName: t, Item: it}})
		}
		return tw
	}
	add := func(name string, cc []types.ConsumedCapacity, err error, rules float64, note string) {
		p := results.Probe{Case: name, Local: -1, Rules: rules, Note: note}
		if err != nil {
			p.Detail = "error: " + errorCode(err)
		}
		for _, x := range cc {
			if p.Local < 0 {
				p.Local = 0
			}
			p.Local += deref(x.CapacityUnits)
			gsi := 0.0
			for _, g := range x.GlobalSecondaryIndexes {
				gsi += deref(g.CapacityUnits)
			}
			table := deref(x.CapacityUnits) - gsi
			if x.Table != nil {
				table = deref(x.Table.CapacityUnits)
			}
			p.Detail = fmt.Sprintf("table %g, index %g", table, gsi)
		}
		if p.Local < 0 && p.Detail == "" {
			p.Detail = "no ConsumedCapacity in the answer"
		}
		r.res.Probes = append(r.res.Probes, p)
		fmt.Fprintf(os.Stderr, "cost: probe %-62s local %5g  rules %g  (%s)\n", name, p.Local, rules, p.Detail)
	}
	tx := func(name string, rules float64, note string, items []types.TransactWriteItem) {
		out, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items, ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes})
		var cc []types.ConsumedCapacity
		if out != nil {
			cc = out.ConsumedCapacity
		}
		add(name, cc, err, rules, note)
	}
	updates := func(from, to int) []types.TransactWriteItem {
		var tw []types.TransactWriteItem
		for i := from; i <= to; i++ {
			tw = append(tw, types.TransactWriteItem{Update: &types.Update{TableName: t, Key: map[string]types.AttributeValue{"pk": plainItem(i)["pk"]},
				UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("y")}}})
		}
		return tw
	}
	tx("TransactWriteItems: 1 new item (≤ 1 KB)", 2, "2 × 1 WCU", puts(plainItem(1)))
	tx("TransactWriteItems: 2 new items", 4, "2 × 1 WCU each", puts(plainItem(2), plainItem(3)))
	tx("TransactWriteItems: 3 new items", 6, "2 × 1 WCU each", puts(plainItem(4), plainItem(5), plainItem(6)))
	tx("TransactWriteItems: 1 new item + 1 update (login's shape)", 4, "2 × 1 WCU each", append(puts(plainItem(7)), updates(1, 1)...))
	tx("TransactWriteItems: 7 updates (logout everywhere's shape, 5 sessions)", 14, "2 × 1 WCU each", updates(1, 7))

	var keys []map[string]types.AttributeValue
	for i := 1; i <= 5; i++ {
		keys = append(keys, map[string]types.AttributeValue{"pk": plainItem(i)["pk"]})
	}
	b5, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes,
		RequestItems: map[string]types.KeysAndAttributes{table: {ConsistentRead: aws.Bool(true), Keys: keys}}})
	var b5cc []types.ConsumedCapacity
	if b5 != nil {
		b5cc = b5.ConsumedCapacity
	}
	add("BatchGetItem (strongly consistent): 5 present items (the session list's shape)", b5cc, err, 5, "each item rounded up to 4 KB on its own: 1 RCU each")

	missing := map[string]types.AttributeValue{"pk": s("probe#" + id + "#missing")}
	g, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: t, Key: missing, ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes})
	add("GetItem (eventually consistent) of a missing item", ccOf(g, err), err, 0.5, "the minimum read is charged")
	b, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes,
		RequestItems: map[string]types.KeysAndAttributes{table: {ConsistentRead: aws.Bool(true), Keys: []map[string]types.AttributeValue{{"pk": plainItem(1)["pk"]}, missing}}}})
	var bcc []types.ConsumedCapacity
	if b != nil {
		bcc = b.ConsumedCapacity
	}
	add("BatchGetItem (strongly consistent): 1 present + 1 missing item", bcc, err, 2, "1 per key if a missing key costs the minimum, as for GetItem (not stated for BatchGetItem: assumed)")

	u, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: t, Key: map[string]types.AttributeValue{"pk": plainItem(1)["pk"]},
		UpdateExpression: aws.String("SET v = :v"), ConditionExpression: aws.String("v = :other"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": s("y"), ":other": s("z")},
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityIndexes})
	add("UpdateItem whose condition fails", ccOf(u, err), err, 1, "a failed condition is charged for the existing item; the error answer carries no ConsumedCapacity")
}

func ccOf[T any](out *T, err error) []types.ConsumedCapacity {
	if err != nil || out == nil {
		return nil
	}
	var cc *types.ConsumedCapacity
	switch o := any(out).(type) {
	case *dynamodb.PutItemOutput:
		cc = o.ConsumedCapacity
	case *dynamodb.GetItemOutput:
		cc = o.ConsumedCapacity
	case *dynamodb.UpdateItemOutput:
		cc = o.ConsumedCapacity
	}
	return one(cc)
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
