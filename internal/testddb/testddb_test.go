package testddb_test

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

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
	var gsi *types.GlobalSecondaryIndexDescription
	for i := range desc.Table.GlobalSecondaryIndexes {
		if aws.ToString(desc.Table.GlobalSecondaryIndexes[i].IndexName) == "user-sessions" {
			gsi = &desc.Table.GlobalSecondaryIndexes[i]
		}
	}
	if gsi == nil {
		t.Fatalf("no user-sessions index: %+v", desc.Table.GlobalSecondaryIndexes)
	}
	if gsi.Projection.ProjectionType != types.ProjectionTypeKeysOnly || len(gsi.KeySchema) != 2 ||
		aws.ToString(gsi.KeySchema[0].AttributeName) != "user_id" || aws.ToString(gsi.KeySchema[1].AttributeName) != "created_at" {
		t.Fatalf("user-sessions = %+v", gsi)
	}

	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || aws.ToString(d.AttributeName) != "ttl" || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Fatalf("TTL = %+v", ttl.TimeToLiveDescription)
	}

	// Sessions carry user_id and show up in the index, newest last; other items do not.
	now := time.Now().Unix()
	put := func(pk string, extra map[string]types.AttributeValue) {
		item := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
		for k, v := range extra {
			item[k] = v
		}
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatalf("PutItem %s: %v", pk, err)
		}
	}
	for i, sid := range []string{"s#b", "s#a"} {
		put(sid, map[string]types.AttributeValue{
			"user_id":    &types.AttributeValueMemberS{Value: "u1"},
			"created_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(now+int64(i), 10)},
			"scope":      &types.AttributeValueMemberS{Value: "read"},
		})
	}
	put("u#u1", map[string]types.AttributeValue{"ver": &types.AttributeValueMemberN{Value: "1"}})

	q, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String("user-sessions"),
		KeyConditionExpression:    aws.String("user_id = :u"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: "u1"}},
	})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if len(q.Items) != 2 {
		t.Fatalf("index holds %d items, want 2: %v", len(q.Items), q.Items)
	}
	for i, want := range []string{"s#b", "s#a"} {
		pk, _ := q.Items[i]["pk"].(*types.AttributeValueMemberS)
		if pk == nil || pk.Value != want {
			t.Errorf("item %d pk = %v, want %s", i, q.Items[i]["pk"], want)
		}
		if _, ok := q.Items[i]["scope"]; ok {
			t.Errorf("KEYS_ONLY index projected scope: %v", q.Items[i])
		}
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
