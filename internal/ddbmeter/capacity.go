package ddbmeter

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Capacity is the consumed capacity one DynamoDB call reported, split into reads and
// writes. DynamoDB sometimes reports only CapacityUnits; those count as reads for a
// read operation and as writes otherwise.
type Capacity struct {
	Reported    bool // the output carried ConsumedCapacity
	Units       float64
	Read, Write float64
	Raw         []types.ConsumedCapacity
}

// ConsumedCapacity reads the capacity an operation's output reports (every call of
// the store asks for it), for the Meter.
func ConsumedCapacity(op string, output any) Capacity {
	var ccs []types.ConsumedCapacity
	one := func(cc *types.ConsumedCapacity) {
		if cc != nil {
			ccs = append(ccs, *cc)
		}
	}
	switch r := output.(type) {
	case *dynamodb.GetItemOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		one(r.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		ccs = r.ConsumedCapacity
	case *dynamodb.BatchWriteItemOutput:
		ccs = r.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		ccs = r.ConsumedCapacity
	case *dynamodb.TransactGetItemsOutput:
		ccs = r.ConsumedCapacity
	}
	read := IsRead(op)
	c := Capacity{Raw: ccs, Reported: len(ccs) > 0}
	for _, cc := range ccs {
		units := deref(cc.CapacityUnits)
		r, w := deref(cc.ReadCapacityUnits), deref(cc.WriteCapacityUnits)
		if r == 0 && w == 0 {
			if read {
				r = units
			} else {
				w = units
			}
		}
		c.Units += units
		c.Read += r
		c.Write += w
	}
	return c
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
