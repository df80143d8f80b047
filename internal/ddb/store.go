// Package ddb owns every DynamoDB call of the service, behind domain methods, and maps
// items to the domain types of internal/session (Session, User, Login) and its sentinel
// errors.
//
// One table holds three kinds of item, told apart by the prefix of the key pk:
//
//	s#<sid>   a session: refresh-token hashes, deadlines, revocation, token version
//	          (the one item the authorizer reads)
//	u#<uid>   a user's token record: the username, copies of the version and disabled flag
//	n#<name>  a login record keyed by normalised username: password hash, uid, token
//	          version, failed-login counters, trusted devices, the list of sessions
//
// Writes that must not race are conditional writes or transactions; a failed condition
// comes back as a sentinel error, never as a (nil, nil).
package ddb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/example/sessions/internal/session"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client satisfies it.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store runs the domain operations against one table.
type Store struct {
	api   API
	table *string
}

// New returns a store for the named table.
func New(api API, table string) *Store { return &Store{api: api, table: aws.String(table)} }

func sessionKey(sid string) map[string]types.AttributeValue { return key("s#" + sid) }
func userKey(uid string) map[string]types.AttributeValue    { return key("u#" + uid) }
func loginKey(name string) map[string]types.AttributeValue  { return key("n#" + name) }
func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk)}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func bin(v []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(item map[string]types.AttributeValue, name string) int64 { return numOf(item[name]) }

func numOf(v types.AttributeValue) int64 {
	if v, ok := v.(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func getB(item map[string]types.AttributeValue, name string) []byte {
	if v, ok := item[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

func getBool(item map[string]types.AttributeValue, name string) bool {
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

func unix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// classify turns an SDK error into one of the sentinels where one applies. Anything
// that is not a request the service refused as invalid counts as unavailable: the
// SDK has already retried it, and the caller must fail closed.
func classify(op string, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("ddb %s: %w", op, session.ErrNotFound)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "TransactionConflictException":
			// A single-item write to an item a transaction is writing; the SDK does
			// not retry it, the service does (an ErrConflict is an ErrUnavailable).
			return fmt.Errorf("ddb %s: %w: %w", op, session.ErrConflict, err)
		case "ValidationException", "ResourceNotFoundException", "SerializationException",
			"AccessDeniedException", "UnrecognizedClientException", "ItemCollectionSizeLimitExceededException":
			return fmt.Errorf("ddb %s: %w", op, err)
		}
	}
	return fmt.Errorf("ddb %s: %w: %w", op, session.ErrUnavailable, err)
}

// classifyTx turns a failed TransactWriteItems into the sentinel its cancellation
// reasons call for. checkFailed names what a failed condition on item i (in
// TransactItems order, with the item as it was when the item asked for ALL_OLD on a
// failed condition) means, since only the caller knows which condition encodes
// "exists", "stale" or "not found". A failed condition wins over the other reasons: it
// is a definite answer about the data, they are transient. Errors that are not a
// cancellation go through classify.
func classifyTx(op string, err error, checkFailed func(i int, item map[string]types.AttributeValue) error) error {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return classify(op, err)
	}
	for i, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			return fmt.Errorf("ddb %s: %w", op, checkFailed(i, r.Item))
		}
	}
	for _, r := range tce.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "TransactionConflict":
			return fmt.Errorf("ddb %s: %w: %w", op, session.ErrConflict, err)
		case "ValidationError", "ItemCollectionSizeLimitExceeded":
			// The request itself is wrong; retrying cannot help.
			return fmt.Errorf("ddb %s: %w", op, err)
		}
	}
	// ThrottlingError, ProvisionedThroughputExceeded, or a reason this code does not
	// know: fail closed.
	return fmt.Errorf("ddb %s: %w: %w", op, session.ErrUnavailable, err)
}

var total = types.ReturnConsumedCapacityTotal
