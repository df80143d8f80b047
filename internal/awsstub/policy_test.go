package awsstub

import (
	"errors"
	"reflect"
	"testing"
)

var testScope = Scope{Partition: "aws", Region: "us-east-1", AccountID: "123456789012"}

const (
	table = "arn:aws:dynamodb:us-east-1:123456789012:table/sessions"
	param = "arn:aws:ssm:us-east-1:123456789012:parameter/sessions/signing-key"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name       string
		pattern, s string
		fold       bool
		want       bool
	}{
		{"an exact action matches", "dynamodb:GetItem", "dynamodb:GetItem", true, true},
		{"actions match in any case", "DynamoDB:getitem", "dynamodb:GetItem", true, true},
		{"resources are case-sensitive", "arn:aws:dynamodb:us-east-1:123456789012:table/Sessions", table, false, false},
		{"a star matches a suffix", "dynamodb:Get*", "dynamodb:GetItem", true, true},
		{"a star matches nothing", "dynamodb:GetItem*", "dynamodb:GetItem", true, true},
		{"a star in the middle matches a run", "ssm:Get*Parameter", "ssm:GetParameter", true, true},
		{"a star in the middle needs both ends", "ssm:Get*Parameter", "ssm:GetParameters", true, false},
		{"a lone star matches everything", "*", "dynamodb:DeleteTable", true, true},
		{"a question mark matches one character", "dynamodb:?etItem", "dynamodb:GetItem", true, true},
		{"a question mark needs a character", "dynamodb:GetItem?", "dynamodb:GetItem", true, false},
		{"a star spans slashes in an ARN", "arn:aws:dynamodb:*:*:table/sessions*", table + "/index/user-sessions", false, true},
		{"a table ARN does not cover its index", table, table + "/index/user-sessions", false, false},
		{"backtracking finds the later match", "a*b*c", "aXbYbZc", false, true},
		{"a prefix alone is no match", "dynamodb:Get", "dynamodb:GetItem", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.pattern, tt.s, tt.fold); got != tt.want {
				t.Errorf("Match(%q, %q, %v) = %v, want %v", tt.pattern, tt.s, tt.fold, got, tt.want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	policy := Policy{
		{Effect: "Allow", Actions: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, Resources: []string{table}},
		{Effect: "Allow", Actions: []string{"dynamodb:Query"}, Resources: []string{table + "/index/user-sessions"}},
		{Effect: "Allow", Actions: []string{"ssm:Get*"}, Resources: []string{"arn:aws:ssm:us-east-1:123456789012:parameter/sessions/*"}},
		{Effect: "Deny", Actions: []string{"ssm:GetParametersByPath"}, Resources: []string{"*"}},
		{Effect: "Allow", Actions: []string{"dynamodb:*"}, Resources: []string{"arn:aws:dynamodb:us-east-1:123456789012:table/other"}},
	}
	tests := []struct {
		name             string
		action, resource string
		want             Decision
	}{
		{"a listed action on its resource is allowed", "dynamodb:GetItem", table,
			Decision{Allowed: true, Grants: []Grant{{0, "dynamodb:GetItem"}}}},
		{"a listed action on another table is denied", "dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/x",
			Decision{}},
		{"an action not listed is denied", "dynamodb:PutItem", table, Decision{}},
		{"a query on the index is allowed by the index grant", "dynamodb:Query", table + "/index/user-sessions",
			Decision{Allowed: true, Grants: []Grant{{1, "dynamodb:Query"}}}},
		{"a query on the table is not allowed by the index grant", "dynamodb:Query", table, Decision{}},
		{"an action wildcard allows what it covers", "ssm:GetParameter", param,
			Decision{Allowed: true, Grants: []Grant{{2, "ssm:Get*"}}}},
		{"an explicit deny wins over an allow", "ssm:GetParametersByPath", "arn:aws:ssm:us-east-1:123456789012:parameter/sessions/",
			Decision{ExplicitDeny: true, Grants: []Grant{{2, "ssm:Get*"}}}},
		{"a service wildcard allows any action of the service", "dynamodb:DeleteTable", "arn:aws:dynamodb:us-east-1:123456789012:table/other",
			Decision{Allowed: true, Grants: []Grant{{4, "dynamodb:*"}}}},
		{"actions are matched without regard to case", "DynamoDB:getitem", table,
			Decision{Allowed: true, Grants: []Grant{{0, "dynamodb:GetItem"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.Evaluate(tt.action, tt.resource); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Evaluate(%s, %s) = %+v, want %+v", tt.action, tt.resource, got, tt.want)
			}
		})
	}
	t.Run("no policy allows nothing", func(t *testing.T) {
		if d := Policy(nil).Evaluate("ssm:GetParameter", param); d.Allowed || d.ExplicitDeny || d.Grants != nil {
			t.Errorf("Evaluate on no policy = %+v, want the implicit deny", d)
		}
	})
	t.Run("grants list every action of every Allow statement", func(t *testing.T) {
		want := []Grant{{0, "dynamodb:GetItem"}, {0, "dynamodb:UpdateItem"}, {1, "dynamodb:Query"}, {2, "ssm:Get*"}, {4, "dynamodb:*"}}
		if got := policy.Grants(); !reflect.DeepEqual(got, want) {
			t.Errorf("Grants() = %v, want %v", got, want)
		}
	})
}

func TestDeniedMessage(t *testing.T) {
	const who = "arn:aws:sts::123456789012:assumed-role/sessions-MeFunctionRole-X/sessions-MeFunction-X"
	tests := []struct {
		name     string
		explicit bool
		want     string
	}{
		{"an implicit deny names the action twice", false, "User: " + who + " is not authorized to perform: ssm:GetParameter on resource: " + param +
			" because no identity-based policy allows the ssm:GetParameter action"},
		{"an explicit deny says so", true, "User: " + who + " is not authorized to perform: ssm:GetParameter on resource: " + param +
			" with an explicit deny in an identity-based policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DeniedMessage(who, "ssm:GetParameter", param, tt.explicit); got != tt.want {
				t.Errorf("DeniedMessage:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDynamoDBAuthorizations(t *testing.T) {
	tests := []struct {
		name string
		op   string
		body string
		want []Authorization
	}{
		{"a single-item call is its action on the table", "GetItem", `{"TableName":"sessions","Key":{}}`,
			[]Authorization{{"dynamodb:GetItem", table}}},
		{"a table named by its ARN stays that ARN", "UpdateItem", `{"TableName":"` + table + `"}`,
			[]Authorization{{"dynamodb:UpdateItem", table}}},
		{"a query on an index is authorised on the index ARN", "Query", `{"TableName":"sessions","IndexName":"user-sessions"}`,
			[]Authorization{{"dynamodb:Query", table + "/index/user-sessions"}}},
		{"a scan on an index is authorised on the index ARN", "Scan", `{"TableName":"sessions","IndexName":"by-x"}`,
			[]Authorization{{"dynamodb:Scan", table + "/index/by-x"}}},
		{"a query without an index is on the table", "Query", `{"TableName":"sessions"}`,
			[]Authorization{{"dynamodb:Query", table}}},
		{"a batch get is authorised on each table", "BatchGetItem", `{"RequestItems":{"sessions":{},"a":{}}}`,
			[]Authorization{{"dynamodb:BatchGetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/a"}, {"dynamodb:BatchGetItem", table}}},
		{"a transaction authorises each item's own action", "TransactWriteItems",
			`{"TransactItems":[{"Put":{"TableName":"sessions"}},{"Update":{"TableName":"sessions"}},{"Delete":{"TableName":"a"}},{"ConditionCheck":{"TableName":"sessions"}}]}`,
			[]Authorization{
				{"dynamodb:PutItem", table}, {"dynamodb:UpdateItem", table},
				{"dynamodb:DeleteItem", "arn:aws:dynamodb:us-east-1:123456789012:table/a"}, {"dynamodb:ConditionCheckItem", table},
			}},
		{"a read transaction is GetItem on each item's table", "TransactGetItems", `{"TransactItems":[{"Get":{"TableName":"sessions"}}]}`,
			[]Authorization{{"dynamodb:GetItem", table}}},
		{"listing tables is on every resource", "ListTables", `{}`, []Authorization{{"dynamodb:ListTables", "*"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testScope.DynamoDBAuthorizations(tt.op, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}

	refusals := []struct {
		name, op, body string
		unsupported    bool
	}{
		{"an unknown operation is unsupported, not allowed", "ExecuteStatement", `{"Statement":"SELECT * FROM sessions"}`, true},
		{"a call without a table is refused", "GetItem", `{}`, false},
		{"a transaction item without a table is refused", "TransactWriteItems", `{"TransactItems":[{"Put":{}}]}`, false},
		{"a Get inside a write transaction is refused", "TransactWriteItems", `{"TransactItems":[{"Get":{"TableName":"sessions"}}]}`, false},
		{"a malformed body is refused", "GetItem", `{`, false},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testScope.DynamoDBAuthorizations(tt.op, []byte(tt.body))
			if err == nil {
				t.Fatalf("got %v, want an error", got)
			}
			if errors.Is(err, ErrUnsupported) != tt.unsupported {
				t.Errorf("error %v: ErrUnsupported is %v, want %v", err, errors.Is(err, ErrUnsupported), tt.unsupported)
			}
		})
	}
}

func TestParameterARN(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"a fully qualified name follows parameter directly", "/sessions/signing-key", param},
		{"a version selector is stripped", "/sessions/signing-key:3", param},
		{"a label selector is stripped", "/sessions/signing-key:current", param},
		{"a plain name gets a slash", "signing-key", "arn:aws:ssm:us-east-1:123456789012:parameter/signing-key"},
		{"an ARN is kept", param, param},
		{"an ARN loses its selector", param + ":2", param},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testScope.ParameterARN(tt.in); got != tt.want {
				t.Errorf("ParameterARN(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestSSMAuthorizations(t *testing.T) {
	got, err := testScope.SSMAuthorizations("GetParameter", []byte(`{"Name":"/sessions/signing-key:1","WithDecryption":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Authorization{{"ssm:GetParameter", param}}; !reflect.DeepEqual(got, want) {
		t.Errorf("GetParameter: got %v, want %v", got, want)
	}
	got, err = testScope.SSMAuthorizations("GetParameters", []byte(`{"Names":["/sessions/signing-key","/b"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Authorization{{"ssm:GetParameters", param}, {"ssm:GetParameters", "arn:aws:ssm:us-east-1:123456789012:parameter/b"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("GetParameters: got %v, want %v", got, want)
	}
	if _, err := testScope.SSMAuthorizations("PutParameter", []byte(`{"Name":"/x"}`)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("PutParameter: %v, want ErrUnsupported", err)
	}
}
