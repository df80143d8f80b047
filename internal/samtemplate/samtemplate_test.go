package samtemplate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func loadReal(t *testing.T) *Template {
	t.Helper()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestFindRoot(t *testing.T) {
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "module github.com/example/sessions\n") {
		t.Fatalf("FindRoot() = %s, whose go.mod is not this module's", root)
	}
}

// The routes table of docs/design.md, as deployed.
func TestRoutes(t *testing.T) {
	got := loadReal(t).Routes()
	want := []Route{
		{Method: "GET", Path: "/.well-known/jwks.json", Function: "JwksFunction", CodeURI: "functions/jwks"},
		{Method: "POST", Path: "/auth/login", Function: "LoginFunction", CodeURI: "functions/login"},
		{Method: "POST", Path: "/auth/logout", Function: "LogoutFunction", CodeURI: "functions/logout"},
		{Method: "POST", Path: "/auth/password", Function: "AccountFunction", CodeURI: "functions/account", Protected: true},
		{Method: "POST", Path: "/auth/reauthenticate", Function: "AccountFunction", CodeURI: "functions/account", Protected: true},
		{Method: "POST", Path: "/auth/refresh", Function: "RefreshFunction", CodeURI: "functions/refresh"},
		{Method: "GET", Path: "/auth/sessions", Function: "AccountFunction", CodeURI: "functions/account", Protected: true},
		{Method: "DELETE", Path: "/auth/sessions/{id}", Function: "AccountFunction", CodeURI: "functions/account", Protected: true},
		{Method: "GET", Path: "/me", Function: "MeFunction", CodeURI: "functions/me", Protected: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Routes():\n got %+v\nwant %+v", got, want)
	}
}

// The configuration table of docs/design.md: names and defaults, per function.
func TestFunctionEnv(t *testing.T) {
	tpl := loadReal(t)
	if got := tpl.Env(); len(got) != 0 {
		t.Fatalf("Globals declare %v; each function declares its own variables", got)
	}
	tests := []struct {
		function string
		want     map[string]string
	}{
		{"login", map[string]string{
			"TABLE_NAME": "", // a !Ref to the table: known only once deployed
			"ISSUER":     "https://sessions.example.com", "AUDIENCE": "my-app",
			"ACCESS_TOKEN_TTL": "15m", "REFRESH_TOKEN_TTL": "336h", "SESSION_MAX_AGE": "720h", "MAX_SESSIONS_PER_USER": "10",
			"ACCESS_TOKEN_COOKIE":   "off",
			"SIGNING_KEY_PARAMETER": "/sessions/signing-key", "SIGNING_KEY": "", "AWS_ENDPOINT_URL_DYNAMODB": "",
			"METRICS_NAMESPACE": "Sessions",
		}},
		{"logout", map[string]string{
			"TABLE_NAME": "", "REFRESH_KEY_PARAMETER": "/sessions/refresh-key", "REFRESH_KEY": "", "AWS_ENDPOINT_URL_DYNAMODB": "",
			"METRICS_NAMESPACE":   "Sessions",
			"ACCESS_TOKEN_COOKIE": "off",
		}},
		{"account", map[string]string{
			"TABLE_NAME": "", "ISSUER": "https://sessions.example.com", "AUDIENCE": "my-app", "ACCESS_TOKEN_TTL": "15m",
			"ACCESS_TOKEN_COOKIE":   "off",
			"SIGNING_KEY_PARAMETER": "/sessions/signing-key", "SIGNING_KEY": "", "AWS_ENDPOINT_URL_DYNAMODB": "",
			"METRICS_NAMESPACE": "Sessions",
		}},
		{"jwks", map[string]string{"PUBLIC_KEYS_PARAMETER": "/sessions/public-keys", "PUBLIC_KEYS": ""}},
		{"me", map[string]string{}},
		{"authorizer", map[string]string{
			"TABLE_NAME": "", "ISSUER": "https://sessions.example.com", "AUDIENCE": "my-app", "ACCESS_TOKEN_COOKIE": "off",
			"PUBLIC_KEYS_PARAMETER": "/sessions/public-keys", "PUBLIC_KEYS": "", "AWS_ENDPOINT_URL_DYNAMODB": "",
			"METRICS_NAMESPACE": "Sessions",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.function, func(t *testing.T) {
			if got := tpl.FunctionEnv(tc.function); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("FunctionEnv(%q):\n got %v\nwant %v", tc.function, got, tc.want)
			}
		})
	}
	if got := tpl.FunctionEnv("nope"); got != nil {
		t.Fatalf("FunctionEnv of an unknown function = %v, want nil", got)
	}
}

// The table section of docs/design.md.
func TestCreateTableInput(t *testing.T) {
	tpl := loadReal(t)
	in, err := tpl.CreateTableInput("t1")
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.TableName) != "t1" {
		t.Errorf("TableName = %q", aws.ToString(in.TableName))
	}
	if in.BillingMode != types.BillingModePayPerRequest || in.ProvisionedThroughput != nil {
		t.Errorf("BillingMode = %q, ProvisionedThroughput = %v", in.BillingMode, in.ProvisionedThroughput)
	}
	attrs := map[string]types.ScalarAttributeType{}
	for _, d := range in.AttributeDefinitions {
		attrs[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	wantAttrs := map[string]types.ScalarAttributeType{"pk": "S"}
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("AttributeDefinitions = %v, want %v", attrs, wantAttrs)
	}
	if got := keys(in.KeySchema); got != "pk HASH" {
		t.Errorf("KeySchema = %s", got)
	}
	if len(in.GlobalSecondaryIndexes) != 0 {
		t.Errorf("GlobalSecondaryIndexes = %v, want none: a user's sessions are listed on the login record", in.GlobalSecondaryIndexes)
	}
	if len(in.LocalSecondaryIndexes) != 0 {
		t.Errorf("LocalSecondaryIndexes = %v", in.LocalSecondaryIndexes)
	}
	if got := tpl.TTLAttribute(); got != "ttl" {
		t.Errorf("TTLAttribute() = %q, want ttl", got)
	}
}

func keys(ks []types.KeySchemaElement) string {
	var parts []string
	for _, k := range ks {
		parts = append(parts, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return strings.Join(parts, ", ")
}

// Properties the deployed stack relies on that no Go code reads otherwise.
func TestDeployContract(t *testing.T) {
	tpl := loadReal(t)
	fns := 0
	for id, r := range tpl.resources() {
		if get(r, "Type") != "AWS::Serverless::Function" {
			continue
		}
		fns++
		if get(r, "Metadata", "BuildMethod") != "go1.x" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want go1.x", id, get(r, "Metadata", "BuildMethod"))
		}
		if uri, _ := str(get(r, "Properties", "CodeUri")); !strings.HasPrefix(uri, "functions/") {
			t.Errorf("%s: CodeUri = %q", id, uri)
		}
	}
	if fns != len(functionFolders(t)) {
		t.Errorf("%d functions, want one per folder of functions/ (%d)", fns, len(functionFolders(t)))
	}
	g := get(tpl.root, "Globals", "Function")
	if get(g, "Runtime") != "provided.al2023" || get(g, "Handler") != "bootstrap" ||
		!reflect.DeepEqual(get(g, "Architectures"), []any{"arm64"}) {
		t.Errorf("Globals.Function runtime settings = %v %v %v", get(g, "Runtime"), get(g, "Handler"), get(g, "Architectures"))
	}
	auth := get(tpl.resources()["HttpApi"], "Properties", "Auth")
	name, _ := str(get(auth, "DefaultAuthorizer"))
	a := get(auth, "Authorizers", name)
	if fn, ok := get(a, "FunctionArn").(*intrinsic); !ok || fn.name != "Fn::GetAtt" ||
		!reflect.DeepEqual(fn.arg, []any{"AuthorizerFunction", "Arn"}) {
		t.Errorf("authorizer FunctionArn = %v", get(a, "FunctionArn"))
	}
	// The identity source and cache of each mode: TestTheAuthorizersIdentityFollowsTheMode.
	if auths, err := tpl.Authorizers(Deployment{Parameters: map[string]string{"AuthorizerCacheTtl": "30"}}); err != nil ||
		len(auths) != 1 || auths[0].CacheTTL != 30 {
		t.Errorf("Authorizers with AuthorizerCacheTtl 30 = %+v, %v; want the parameter as the cache TTL", auths, err)
	}
	if d, _ := tpl.parameterDefault("AuthorizerCacheTtl"); d != "0" {
		t.Errorf("AuthorizerCacheTtl default = %q, want 0 (immediate revocation)", d)
	}
	// The me function answers from the authorizer's context only.
	if p := get(tpl.resources()["MeFunction"], "Properties", "Policies"); p != nil {
		t.Errorf("MeFunction has policies: %v", p)
	}
}

func TestShortAndLongForms(t *testing.T) {
	tpl, err := parse([]byte(`
Parameters:
  P: {Type: String, Default: dflt}
  N: {Type: Number, Default: 7}
Globals:
  Function:
    CodeUri: ./src/
    Environment:
      Variables:
        A: !Ref P
        B: {Ref: N}
        C: !Sub "${P}-x"
        D: literal
        E: 3
        F: !Ref Res
        G: !If [Cond, !Ref P, !Ref AWS::NoValue]
Resources:
  Res:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Implicit: {Type: HttpApi}
        Other: {Type: Schedule}
        Explicit:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: /x}
        Open:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: post, Path: /y, Auth: {Authorizer: NONE}}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth: {DefaultAuthorizer: Z}
  Arn:
    Type: Custom
    Properties:
      X: !GetAtt Res.Arn
      Y: !Join ["", [a, !GetAtt [Res, Arn]]]
`))
	if err != nil {
		t.Fatal(err)
	}
	env := tpl.Env()
	want := map[string]string{"A": "dflt", "B": "7", "C": "", "D": "literal", "E": "3", "F": "", "G": ""}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("Env() = %v, want %v", env, want)
	}
	routes := tpl.Routes()
	wantRoutes := []Route{
		{Method: "ANY", Path: "$default", Function: "Res", CodeURI: "src"},
		{Method: "GET", Path: "/x", Function: "Res", CodeURI: "src", Protected: true},
		{Method: "POST", Path: "/y", Function: "Res", CodeURI: "src"},
	}
	if !reflect.DeepEqual(routes, wantRoutes) {
		t.Errorf("Routes() = %+v, want %+v", routes, wantRoutes)
	}
	x := get(tpl.resources()["Arn"], "Properties", "X").(*intrinsic)
	if x.name != "Fn::GetAtt" || !reflect.DeepEqual(x.arg, []any{"Res", "Arn"}) {
		t.Errorf("!GetAtt Res.Arn = %v", x)
	}
	y := get(tpl.resources()["Arn"], "Properties", "Y").(*intrinsic)
	inner := y.arg.([]any)[1].([]any)[1].(*intrinsic)
	if y.name != "Fn::Join" || inner.name != "Fn::GetAtt" || !reflect.DeepEqual(inner.arg, []any{"Res", "Arn"}) {
		t.Errorf("!Join = %v", y)
	}
}

func TestCreateTableInputErrors(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"missing table": {`Resources: {X: {Type: AWS::SNS::Topic}}`, "no resource SessionsTable"},
		"wrong type":    {`Resources: {SessionsTable: {Type: AWS::Serverless::SimpleTable}}`, "has Type"},
		"intrinsic key": {`
Resources:
  SessionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: !Ref P, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]`, "want a literal string"},
		"no key schema": {`
Resources:
  SessionsTable:
    Type: AWS::DynamoDB::Table
    Properties: {BillingMode: PAY_PER_REQUEST}`, "KeySchema: missing"},
		"provisioned without throughput": {`
Resources:
  SessionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]`, "ProvisionedThroughput: missing"},
	} {
		t.Run(name, func(t *testing.T) {
			tpl, err := parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tpl.CreateTableInput("x")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if tpl.TTLAttribute() != "" {
				t.Errorf("TTLAttribute() = %q, want empty", tpl.TTLAttribute())
			}
		})
	}
}

func TestProvisionedTable(t *testing.T) {
	tpl, err := parse([]byte(`
Resources:
  SessionsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}, {AttributeName: sk, AttributeType: N}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: "2"}
      LocalSecondaryIndexes:
        - IndexName: l
          KeySchema: [{AttributeName: pk, KeyType: HASH}, {AttributeName: sk, KeyType: RANGE}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [a, b]}
      TimeToLiveSpecification: {AttributeName: exp, Enabled: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	in, err := tpl.CreateTableInput("p")
	if err != nil {
		t.Fatal(err)
	}
	if in.BillingMode != types.BillingModeProvisioned || aws.ToInt64(in.ProvisionedThroughput.ReadCapacityUnits) != 5 ||
		aws.ToInt64(in.ProvisionedThroughput.WriteCapacityUnits) != 2 {
		t.Errorf("throughput = %v %+v", in.BillingMode, in.ProvisionedThroughput)
	}
	if len(in.LocalSecondaryIndexes) != 1 || !reflect.DeepEqual(in.LocalSecondaryIndexes[0].Projection.NonKeyAttributes, []string{"a", "b"}) {
		t.Errorf("LSIs = %+v", in.LocalSecondaryIndexes)
	}
	if tpl.TTLAttribute() != "" {
		t.Errorf("TTLAttribute() with Enabled false = %q", tpl.TTLAttribute())
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	for _, src := range []string{"- a\n- b\n", "Parameters: {}\n", "a: [\n"} {
		if _, err := parse([]byte(src)); err == nil {
			t.Errorf("parse(%q) succeeded", src)
		}
	}
}

// sam local overrides only variables the template declares; a name in local/env.json
// that the template lacks would be dropped without a word.
func TestLocalEnvJSONNamesOnlyDeclaredVariables(t *testing.T) {
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "local", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Parameters map[string]string }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	tpl := loadReal(t)
	declared := map[string]string{}
	fs, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		for name, v := range tpl.FunctionEnv(strings.TrimPrefix(f.CodeURI, "functions/")) {
			declared[name] = v
		}
	}
	if len(doc.Parameters) == 0 {
		t.Fatal("local/env.json has no Parameters")
	}
	for name := range doc.Parameters {
		if _, ok := declared[name]; !ok {
			t.Errorf("local/env.json sets %s, which template.yaml does not declare", name)
		}
	}
	for _, k := range []string{"SIGNING_KEY", "PUBLIC_KEYS", "REFRESH_KEY"} {
		if doc.Parameters[k] != "" {
			t.Errorf("local/env.json holds %s; key material is never committed", k)
		}
	}
}

// functionFolders lists the folders of functions/.
func functionFolders(t *testing.T) []string {
	t.Helper()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
