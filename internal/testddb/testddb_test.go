package testddb_test

import (
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/testddb"
)

func TestMain(m *testing.M) { testddb.Main(m) }

func TestEndpointSetsEnv(t *testing.T) {
	e := testddb.Endpoint(t)
	if e == "" || os.Getenv(testddb.EndpointEnv) != e {
		t.Fatalf("Endpoint() = %q, %s = %q", e, testddb.EndpointEnv, os.Getenv(testddb.EndpointEnv))
	}
}

func TestPutGet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	table := testddb.NewTable(t)
	c := testddb.Client(t)

	_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"pk":   &types.AttributeValueMemberS{Value: "u#42"},
			"name": &types.AttributeValueMemberS{Value: "alice"},
			"ver":  &types.AttributeValueMemberN{Value: "3"},
		},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "u#42"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	name, _ := out.Item["name"].(*types.AttributeValueMemberS)
	ver, _ := out.Item["ver"].(*types.AttributeValueMemberN)
	if name == nil || name.Value != "alice" || ver == nil || ver.Value != "3" {
		t.Fatalf("GetItem = %v", out.Item)
	}
}

// The table has the schema of template.yaml: the sparse KEYS_ONLY index and TTL.
func TestSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	table := testddb.NewTable(t)
	c := testddb.Client(t)

	desc, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(desc.Table.GlobalSecondaryIndexes); n != 0 || len(desc.Table.KeySchema) != 1 ||
		aws.ToString(desc.Table.KeySchema[0].AttributeName) != "pk" {
		t.Fatalf("key schema %+v with %d indexes, want pk alone and none", desc.Table.KeySchema, n)
	}

	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "ttl" || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Fatalf("TTL = %+v", ttl.TimeToLiveDescription)
	}
}

// Each call gives a distinct table, and cleanup deletes it.
func TestNewTableIsolation(t *testing.T) {
	t.Parallel()
	c := testddb.Client(t)
	var first string
	t.Run("a", func(t *testing.T) { first = testddb.NewTable(t) })
	second := testddb.NewTable(t)
	if first == second {
		t.Fatalf("two tables named %s", first)
	}
	_, err := c.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(first)})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("table %s after its test's cleanup: err = %v, want ResourceNotFoundException", first, err)
	}
}
