// Package ddb owns every DynamoDB call of the service, behind domain methods.
//
// One table holds three kinds of item, told apart by the prefix of the key pk:
//
//	s#<sid>   a session: refresh-token hashes, deadlines, revocation
//	u#<uid>   a user's token record: token version, disabled flag (read by the authorizer)
//	n#<name>  a login record keyed by normalised username: password hash, uid, a copy
//	          of the token version, failed-login counters
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
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client satisfies it.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// UserIndex is the GSI that lists a user's sessions (keys only).
const UserIndex = "user-sessions"

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound: the item does not exist (or, for conditional updates, does not match).
	ErrNotFound = errors.New("ddb: not found")
	// ErrExists: a create found the key taken.
	ErrExists = errors.New("ddb: already exists")
	// ErrStale: the item changed since it was read (a concurrent write won).
	ErrStale = errors.New("ddb: changed since read")
	// ErrUnavailable: DynamoDB throttled, failed or timed out after the SDK's retries.
	// Callers answer 503 (or deny, in the authorizer) and must not treat it as "no".
	ErrUnavailable = errors.New("ddb: unavailable")
)

// Session is a session item.
type Session struct {
	ID           string
	UserID       string
	Ver          int64
	Scope        string
	Cur, Prev    []byte // SHA-256 of the current and previous refresh token
	RotatedAt    time.Time
	Gen          int64 // number of rotations so far
	IdleExp      time.Time
	AbsExp       time.Time
	CreatedAt    time.Time
	LastUsed     time.Time
	UserAgent    string
	IP           string
	RevokedAt    time.Time // zero unless revoked
	RevokeReason string
}

// Revoked reports whether the session was revoked.
func (s *Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// Live reports whether the session is unrevoked and inside both deadlines at now.
// Every reader calls it: DynamoDB deletes expired items late and DynamoDB Local never.
func (s *Session) Live(now time.Time) bool {
	return !s.Revoked() && now.Before(s.IdleExp) && now.Before(s.AbsExp)
}

// User is a user's token record.
type User struct {
	ID       string
	Name     string
	Ver      int64
	Disabled bool
}

// Login is a login record. A record with an empty UID is a stub that only counts
// failed attempts for a name that has no account.
type Login struct {
	Name     string
	UID      string
	PwHash   string
	Ver      int64
	Scope    string
	Disabled bool
	Fails    int64
	LastFail time.Time
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

func getN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
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
		return fmt.Errorf("ddb %s: %w", op, ErrNotFound)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ValidationException", "ResourceNotFoundException", "SerializationException",
			"AccessDeniedException", "UnrecognizedClientException", "ItemCollectionSizeLimitExceededException":
			return fmt.Errorf("ddb %s: %w", op, err)
		}
	}
	return fmt.Errorf("ddb %s: %w: %w", op, ErrUnavailable, err)
}

var total = types.ReturnConsumedCapacityTotal
