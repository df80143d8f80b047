package awsstub

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Authorization is one action on one resource that IAM checks for a request. Most
// requests need one; a batch or a transaction needs one per table or item.
type Authorization struct {
	Action   string
	Resource string
}

// ErrUnsupported is returned for a request this package cannot authorise or serve; the
// test must extend the stub rather than have the call pass unchecked.
var ErrUnsupported = errors.New("awsstub: unsupported operation")

// Target prefixes of the JSON protocols (the X-Amz-Target header).
const (
	dynamoDBTarget = "DynamoDB_20120810."
	ssmTarget      = "AmazonSSM."
)

// Scope is where ARNs are built: partition, region and account.
type Scope struct {
	Partition string
	Region    string
	AccountID string
}

func (s Scope) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", s.Partition, service, s.Region, s.AccountID, resource)
}

// TableARN is the ARN of a DynamoDB table (a name that already is an ARN is kept).
func (s Scope) TableARN(table string) string {
	if strings.HasPrefix(table, "arn:") {
		return table
	}
	return s.arn("dynamodb", "table/"+table)
}

// ParameterARN is the ARN of an SSM parameter as IAM sees it: the name without a
// ":version" or ":label" selector, behind "parameter" for a fully qualified name
// ("/a/b") and "parameter/" otherwise. A name that is already an ARN is kept, less its
// selector.
func (s Scope) ParameterARN(name string) string {
	if strings.HasPrefix(name, "arn:") {
		// arn:aws:ssm:region:account:parameter/name[:selector]: the resource is the
		// sixth colon-separated field, and a seventh is the selector.
		if parts := strings.SplitN(name, ":", 7); len(parts) == 7 {
			return strings.Join(parts[:6], ":")
		}
		return name
	}
	name = ParameterName(name)
	if strings.HasPrefix(name, "/") {
		return s.arn("ssm", "parameter"+name)
	}
	return s.arn("ssm", "parameter/"+name)
}

// ParameterName strips a ":version" or ":label" selector from a parameter name (names
// cannot contain a colon, so the first one starts the selector).
func ParameterName(name string) string {
	n, _, _ := strings.Cut(name, ":")
	return n
}

// DynamoDBAuthorizations returns what IAM checks for a DynamoDB request: the
// operation's action on its table, on the index ARN for a Query or Scan with
// IndexName, on each table of a batch, and for a transaction each item's own action
// (Put is dynamodb:PutItem, Update dynamodb:UpdateItem, Delete dynamodb:DeleteItem,
// ConditionCheck dynamodb:ConditionCheckItem, Get dynamodb:GetItem) on its table:
// IAM has no action for the transaction itself.
func (s Scope) DynamoDBAuthorizations(op string, body []byte) ([]Authorization, error) {
	var req struct {
		TableName     string
		IndexName     string
		RequestItems  map[string]json.RawMessage
		TransactItems []map[string]struct{ TableName string }
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, fmt.Errorf("awsstub: DynamoDB %s: malformed body: %w", op, err)
		}
	}
	action := "dynamodb:" + op
	switch op {
	case "ListTables", "DescribeLimits", "DescribeEndpoints":
		return []Authorization{{action, "*"}}, nil
	case "BatchGetItem", "BatchWriteItem":
		if len(req.RequestItems) == 0 {
			return nil, fmt.Errorf("awsstub: DynamoDB %s: no RequestItems", op)
		}
		var out []Authorization
		for _, table := range slices.Sorted(maps.Keys(req.RequestItems)) {
			out = append(out, Authorization{action, s.TableARN(table)})
		}
		return out, nil
	case "TransactWriteItems", "TransactGetItems":
		itemActions := map[string]string{
			"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
			"ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem",
		}
		if len(req.TransactItems) == 0 {
			return nil, fmt.Errorf("awsstub: DynamoDB %s: no TransactItems", op)
		}
		var out []Authorization
		for i, item := range req.TransactItems {
			if len(item) != 1 {
				return nil, fmt.Errorf("awsstub: DynamoDB %s: item %d has %d actions, want 1", op, i, len(item))
			}
			for kind, v := range item {
				a, ok := itemActions[kind]
				if !ok || (op == "TransactGetItems") != (kind == "Get") {
					return nil, fmt.Errorf("awsstub: DynamoDB %s: item %d: unknown kind %q", op, i, kind)
				}
				if v.TableName == "" {
					return nil, fmt.Errorf("awsstub: DynamoDB %s: item %d: no TableName", op, i)
				}
				out = append(out, Authorization{a, s.TableARN(v.TableName)})
			}
		}
		return out, nil
	case "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
		"DescribeTable", "CreateTable", "DeleteTable", "UpdateTable",
		"DescribeTimeToLive", "UpdateTimeToLive", "DescribeContinuousBackups":
		if req.TableName == "" {
			return nil, fmt.Errorf("awsstub: DynamoDB %s: no TableName", op)
		}
		res := s.TableARN(req.TableName)
		if req.IndexName != "" && (op == "Query" || op == "Scan") {
			res += "/index/" + req.IndexName
		}
		return []Authorization{{action, res}}, nil
	default:
		return nil, fmt.Errorf("%w: DynamoDB %s", ErrUnsupported, op)
	}
}

// SSMAuthorizations returns what IAM checks for an SSM request: the operation's action
// on each parameter's ARN, selectors stripped.
func (s Scope) SSMAuthorizations(op string, body []byte) ([]Authorization, error) {
	var req struct {
		Name  string
		Names []string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("awsstub: SSM %s: malformed body: %w", op, err)
	}
	action := "ssm:" + op
	switch op {
	case "GetParameter":
		if req.Name == "" {
			return nil, fmt.Errorf("awsstub: SSM %s: no Name", op)
		}
		return []Authorization{{action, s.ParameterARN(req.Name)}}, nil
	case "GetParameters":
		if len(req.Names) == 0 {
			return nil, fmt.Errorf("awsstub: SSM %s: no Names", op)
		}
		var out []Authorization
		for _, n := range req.Names {
			out = append(out, Authorization{action, s.ParameterARN(n)})
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: SSM %s", ErrUnsupported, op)
	}
}
