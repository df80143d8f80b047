package testenv

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// StillStored fails the test unless the item pk is in the table and its ttl attribute
// (if it has one) lies in the real future, so DynamoDB Local's TTL sweeper cannot
// remove it while the test runs, and returns it.
//
// DynamoDB Local deletes items whose ttl has passed in real time within seconds, as
// DynamoDB does some time after it. A test of an item past its deadlines on the
// service's clock but still stored (which real DynamoDB produces for up to days) must
// therefore keep the ttl ahead of the wall clock (the harness clock starts at Epoch,
// years ahead) and check that the item is really there when the refusal is made: a
// refusal because the item is gone proves nothing about the service's own checks.
func (h *Harness) StillStored(tb testing.TB, pk string) map[string]types.AttributeValue {
	tb.Helper()
	it := h.Item(tb, pk)
	if it == nil {
		tb.Fatalf("%s is no longer stored; the test needs the expired item present", pk)
	}
	if Has(it, "ttl") && N(it, "ttl") <= time.Now().Unix() {
		tb.Fatalf("%s has ttl %d, in the real past: DynamoDB Local may delete it at any moment", pk, N(it, "ttl"))
	}
	return it
}
