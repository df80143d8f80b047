package awsstub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/example/sessions/internal/awsstub"
	"github.com/example/sessions/internal/testddb"
)

func TestMain(m *testing.M) { testddb.Main(m) }

var scope = awsstub.Scope{Partition: "aws", Region: "us-east-1", AccountID: "123456789012"}

const (
	roleARN  = "arn:aws:sts::123456789012:assumed-role/fn-role/fn"
	paramARN = "arn:aws:ssm:us-east-1:123456789012:parameter/app/key"
)

// fixture is the endpoint with one principal ("fn", access key AKFN) whose policy
// allows GetItem and PutItem on the table and GetParameter on /app/*, and the real SDK
// clients that principal uses, as a function would (AWS_ENDPOINT_URL).
type fixture struct {
	stub  *awsstub.Server
	table string
	ddb   *dynamodb.Client
	ssm   *ssm.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	table := testddb.NewTable(t)
	stub, err := awsstub.Start(awsstub.Config{Scope: scope, DynamoDB: testddb.Endpoint(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stub.Close() })
	stub.AddPrincipal("AKFN", awsstub.Principal{Name: "fn", ARN: roleARN, Policy: awsstub.Policy{
		{Effect: "Allow", Actions: []string{"dynamodb:GetItem", "dynamodb:PutItem"}, Resources: []string{scope.TableARN(table)}},
		{Effect: "Allow", Actions: []string{"ssm:GetParameter"}, Resources: []string{"arn:aws:ssm:us-east-1:123456789012:parameter/app/*"}},
	}})
	stub.SetParameter("/app/key", awsstub.Parameter{Type: "SecureString", Value: "the secret"})
	return &fixture{stub: stub, table: table, ddb: dynamoClient(stub, "AKFN"), ssm: ssmClient(stub, "AKFN")}
}

func awsConfig(stub *awsstub.Server, key string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(key, "secret", "token"),
		BaseEndpoint: aws.String(stub.URL()),
		// One attempt: a refusal must come back as it was answered.
		RetryMaxAttempts: 1,
	}
}

func dynamoClient(stub *awsstub.Server, key string) *dynamodb.Client {
	return dynamodb.NewFromConfig(awsConfig(stub, key))
}

func ssmClient(stub *awsstub.Server, key string) *ssm.Client {
	return ssm.NewFromConfig(awsConfig(stub, key))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantAPIError checks that err is the service error code with exactly message.
func wantAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	if ae.ErrorCode() != code || ae.ErrorMessage() != message {
		t.Errorf("error code %q message %q\nwant %q message %q", ae.ErrorCode(), ae.ErrorMessage(), code, message)
	}
}

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
}

func TestAllowedDynamoDBCallsReachDynamoDBLocal(t *testing.T) {
	f := newFixture(t)
	if _, err := f.ddb.PutItem(ctx(t), &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: key("a")}); err != nil {
		t.Fatal(err)
	}
	out, err := f.ddb.GetItem(ctx(t), &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: key("a"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		t.Fatal("GetItem found nothing: the PutItem did not reach DynamoDB Local")
	}
	calls := f.stub.Calls()
	if len(calls) != 2 || calls[0].Action != "dynamodb:PutItem" || calls[1].Action != "dynamodb:GetItem" ||
		!calls[0].Allowed || calls[0].Status != 200 || len(calls[0].Grants) != 1 {
		t.Errorf("calls %+v, want PutItem and GetItem, allowed and answered 200 with their grant", calls)
	}
}

func TestDeniedDynamoDBCallsAreAnsweredAsAWSAnswers(t *testing.T) {
	f := newFixture(t)
	_, err := f.ddb.UpdateItem(ctx(t), &dynamodb.UpdateItemInput{TableName: aws.String(f.table), Key: key("a"),
		UpdateExpression: aws.String("SET x = :x"), ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberN{Value: "1"}}})
	wantAPIError(t, err, "AccessDeniedException", awsstub.DeniedMessage(roleARN, "dynamodb:UpdateItem", scope.TableARN(f.table), false))

	t.Run("a transaction with one item outside the policy is refused whole", func(t *testing.T) {
		_, err := f.ddb.TransactWriteItems(ctx(t), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(f.table), Item: key("t")}},
			{ConditionCheck: &types.ConditionCheck{TableName: aws.String(f.table), Key: key("a"), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		}})
		wantAPIError(t, err, "AccessDeniedException", awsstub.DeniedMessage(roleARN, "dynamodb:ConditionCheckItem", scope.TableARN(f.table), false))
		out, err := testddb.Client(t).GetItem(ctx(t), &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: key("t"), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Item) != 0 {
			t.Error("the allowed Put of a refused transaction was written")
		}
	})

	var denied []awsstub.Call
	for _, c := range f.stub.Calls() {
		if !c.Allowed {
			denied = append(denied, c)
		}
		if c.Grants != nil {
			t.Errorf("call %+v of a refused request counts grants", c)
		}
	}
	if len(denied) != 2 || denied[0].Action != "dynamodb:UpdateItem" || denied[1].Action != "dynamodb:ConditionCheckItem" ||
		denied[0].Error != "AccessDeniedException" || denied[0].Principal != "fn" {
		t.Errorf("denied calls %+v, want UpdateItem and ConditionCheckItem by fn, answered AccessDeniedException", denied)
	}
}

func TestSSMParameters(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name      string
		in        ssm.GetParameterInput
		value     string
		code, msg string
	}{
		{"an allowed parameter is served decrypted", ssm.GetParameterInput{Name: aws.String("/app/key"), WithDecryption: aws.Bool(true)}, "the secret", "", ""},
		{"a version selector reaches the same parameter", ssm.GetParameterInput{Name: aws.String("/app/key:1"), WithDecryption: aws.Bool(true)}, "the secret", "", ""},
		{"an unknown version is not found", ssm.GetParameterInput{Name: aws.String("/app/key:2")}, "", "ParameterVersionNotFound", ""},
		{"an allowed but missing parameter is not found", ssm.GetParameterInput{Name: aws.String("/app/other")}, "", "ParameterNotFound", ""},
		{"a parameter outside the policy is denied", ssm.GetParameterInput{Name: aws.String("/other/key:1")}, "", "AccessDeniedException",
			awsstub.DeniedMessage(roleARN, "ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/other/key", false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.ssm.GetParameter(ctx(t), &tt.in)
			if tt.code != "" {
				if tt.code == "ParameterNotFound" {
					var nf *ssmtypes.ParameterNotFound
					if !errors.As(err, &nf) {
						t.Fatalf("error %v, want *types.ParameterNotFound", err)
					}
				}
				wantAPIError(t, err, tt.code, tt.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.Parameter.Value) != tt.value || aws.ToString(out.Parameter.ARN) != paramARN || out.Parameter.Type != ssmtypes.ParameterTypeSecureString {
				t.Errorf("parameter %+v, want value %q, ARN %s, SecureString", out.Parameter, tt.value, paramARN)
			}
		})
	}
	t.Run("a SecureString without decryption is not the value", func(t *testing.T) {
		out, err := f.ssm.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/app/key")})
		if err != nil {
			t.Fatal(err)
		}
		if v := aws.ToString(out.Parameter.Value); v == "" || v == "the secret" {
			t.Errorf("value %q, want ciphertext", v)
		}
	})
}

func TestUnknownCallersAndOperationsAreRefusedAndRecorded(t *testing.T) {
	f := newFixture(t)
	_, err := ssmClient(f.stub, "AKUNKNOWN").GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/app/key")})
	wantAPIError(t, err, "UnrecognizedClientException", "The security token included in the request is invalid.")
	_, err = f.ddb.ExecuteStatement(ctx(t), &dynamodb.ExecuteStatementInput{Statement: aws.String("SELECT * FROM x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Errorf("ExecuteStatement: %v, want UnknownOperationException", err)
	}
	calls := f.stub.Calls()
	if len(calls) != 2 || calls[0].Principal != "" || calls[0].AccessKeyID != "AKUNKNOWN" ||
		calls[1].Principal != "fn" || calls[1].Action != "" || calls[1].Operation != "DynamoDB.ExecuteStatement" {
		t.Errorf("calls %+v, want the unknown caller and the unsupported operation, both without an action", calls)
	}
}
