package samtemplate

import (
	"reflect"
	"strings"
	"testing"
)

func loadTestdata(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load("testdata/deploy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

var testDeployment = Deployment{
	Partition: "aws", Region: "us-east-1", AccountID: "123456789012", StackName: "stk",
	Names: map[string]string{"Table": "tbl", "Custom": "custom-fn", "Plain": "plain-fn"},
}

func TestFunctionsApplyGlobals(t *testing.T) {
	fns, err := loadTestdata(t).Functions()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Function{}
	var ids []string
	for _, f := range fns {
		byID[f.ID] = f
		ids = append(ids, f.ID)
	}
	if want := []string{"Conditional", "Custom", "ManagedPolicy", "NeedsRequired", "Plain", "PolicyTemplate"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("function IDs %v, want %v", ids, want)
	}
	tests := []struct {
		name string
		got  Function
		want Function
	}{
		{"a function that sets nothing takes the globals and Lambda's defaults", byID["Plain"], Function{
			ID: "Plain", CodeURI: "functions/plain", Runtime: "provided.al2023", Handler: "bootstrap",
			Architectures: []string{"x86_64"}, MemorySize: 128, Timeout: 10, LogFormat: "JSON",
		}},
		{"a function's own properties win and LoggingConfig merges", byID["Custom"], Function{
			ID: "Custom", CodeURI: "functions/custom", Runtime: "provided.al2023", Handler: "bootstrap",
			Architectures: []string{"arm64"}, MemorySize: 512, Timeout: 3, LogFormat: "JSON", ApplicationLogLevel: "DEBUG",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", tt.got, tt.want)
			}
		})
	}
}

func TestFunctionEnvironment(t *testing.T) {
	tpl := loadTestdata(t)
	tests := []struct {
		name string
		id   string
		d    Deployment
		want map[string]string
	}{
		{"globals merge with the function's own variables, which win", "Custom", testDeployment, map[string]string{
			"TABLE":   "tbl",
			"STAGE":   "dev",
			"SHARED":  "own",
			"EMPTY":   "",
			"ARN":     "arn:aws:dynamodb:us-east-1:123456789012:table/tbl",
			"SUBBED":  "stk-dev-tbl-${Literal}",
			"SUBVARS": "x=/app/key",
			"JOINED":  "a/dev/us-east-1",
			"SELF":    "arn:aws:lambda:us-east-1:123456789012:function:custom-fn",
		}},
		{"a deployment's parameter value replaces the default", "Plain", func() Deployment {
			d := testDeployment
			d.Parameters = map[string]string{"Stage": "prod"}
			return d
		}(), map[string]string{"TABLE": "tbl", "STAGE": "prod", "SHARED": "global", "EMPTY": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tpl.FunctionEnvironment(tt.id, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}

	refusals := []struct {
		name, id string
		d        Deployment
		why      string
	}{
		{"a parameter without a default that the deployment does not set", "NeedsRequired", testDeployment, "parameter Required has no Default"},
		{"a resource the deployment does not name", "Plain", Deployment{Partition: "aws", Region: "r", AccountID: "1"}, "names no physical resource for Table"},
		{"a function that is not in the template", "Nope", testDeployment, "no resource Nope"},
	}
	for _, tt := range refusals {
		t.Run(tt.name+" is an error", func(t *testing.T) {
			_, err := tpl.FunctionEnvironment(tt.id, tt.d)
			if err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %v, want one saying %q", err, tt.why)
			}
		})
	}
}

func TestFunctionPolicy(t *testing.T) {
	tpl := loadTestdata(t)
	t.Run("inline statements come back resolved", func(t *testing.T) {
		got, err := tpl.FunctionPolicy("Custom", testDeployment)
		if err != nil {
			t.Fatal(err)
		}
		want := []Statement{
			{Effect: "Allow", Actions: []string{"dynamodb:GetItem", "dynamodb:Query"}, Resources: []string{
				"arn:aws:dynamodb:us-east-1:123456789012:table/tbl", "arn:aws:dynamodb:us-east-1:123456789012:table/tbl/index/*",
			}},
			{Effect: "Deny", Actions: []string{"ssm:GetParameter"}, Resources: []string{"arn:aws:ssm:us-east-1:123456789012:parameter/app/key"}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("a function without Policies has no statements", func(t *testing.T) {
		got, err := tpl.FunctionPolicy("Plain", testDeployment)
		if err != nil || got != nil {
			t.Errorf("got %v, %v; want no statements and no error", got, err)
		}
	})
	refusals := []struct{ name, id, why string }{
		{"a managed policy cannot be evaluated", "ManagedPolicy", "managed policy"},
		{"a SAM policy template cannot be evaluated", "PolicyTemplate", "only inline {Statement: [...]} policies"},
		{"a condition cannot be evaluated", "Conditional", "Condition is not supported"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tpl.FunctionPolicy(tt.id, testDeployment)
			if err == nil || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %v, want one saying %q", err, tt.why)
			}
		})
	}
}

func TestAuthorizersAndParameters(t *testing.T) {
	tpl := loadTestdata(t)
	auths, err := tpl.Authorizers(Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Authorizer{{API: "Api", Name: "Lambda", Function: "Custom", IdentityHeaders: []string{"Authorization"},
		PayloadFormatVersion: "2.0", SimpleResponses: true}}
	if !reflect.DeepEqual(auths, want) {
		t.Errorf("Authorizers() = %+v\nwant %+v (the JWT authorizer is not a Lambda one)", auths, want)
	}
	params := tpl.Parameters()
	wantParams := []Parameter{
		{Name: "KeyName", Type: "String", Default: "/app/key", HasDefault: true},
		{Name: "Required", Type: "String"},
		{Name: "Stage", Type: "String", Default: "dev", HasDefault: true},
	}
	if !reflect.DeepEqual(params, wantParams) {
		t.Errorf("Parameters() = %+v\nwant %+v", params, wantParams)
	}
}

// The deployed template resolves completely: every function's environment and policy,
// with the table's !Ref as the deployed table's name.
func TestRealTemplateResolves(t *testing.T) {
	tpl := loadReal(t)
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	d := Deployment{Partition: "aws", Region: "us-east-1", AccountID: "123456789012", StackName: "s",
		Names: map[string]string{TableResource: "the-table"}}
	for _, f := range fns {
		d.Names[f.ID] = "s-" + f.ID
	}
	for _, f := range fns {
		env, err := tpl.FunctionEnvironment(f.ID, d)
		if err != nil {
			t.Error(err)
			continue
		}
		// Only the functions that use the table declare it (jwks and me do not).
		if v, ok := env["TABLE_NAME"]; ok && v != "the-table" {
			t.Errorf("%s: TABLE_NAME = %q, want the deployed table's name", f.ID, v)
		}
		if _, err := tpl.FunctionPolicy(f.ID, d); err != nil {
			t.Error(err)
		}
	}
	auths, err := tpl.Authorizers(Deployment{})
	if err != nil || len(auths) != 1 || auths[0].Function != "AuthorizerFunction" {
		t.Errorf("Authorizers() = %+v, %v; want AuthorizerFunction alone", auths, err)
	}
}
