package samtemplate

import (
	"reflect"
	"strings"
	"testing"
)

// authorizerTemplate is a template whose one Lambda authorizer has the given
// Identity property (YAML, indented for its place; "" for none).
func authorizerTemplate(t *testing.T, identity string) *Template {
	t.Helper()
	src := `
Parameters:
  Mode: {Type: String, Default: a}
  Ttl: {Type: Number, Default: 5}
Conditions:
  IsB: !Equals [!Ref Mode, b]
Resources:
  Fn:
    Type: AWS::Serverless::Function
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          L:
            FunctionArn: !GetAtt Fn.Arn
            AuthorizerPayloadFormatVersion: "2.0"
` + identity
	tpl, err := parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestAuthorizersReadIdentityAsSAMDoes(t *testing.T) {
	tests := []struct {
		name     string
		identity string
		params   map[string]string
		headers  []string
		ttl      int
	}{
		{"headers and a TTL from a parameter", `
            Identity:
              Headers: [Authorization, X-Tenant]
              ReauthorizeEvery: !Ref Ttl
`, nil, []string{"Authorization", "X-Tenant"}, 5},
		{"an Identity without Headers has no identity source (SAM emits an empty list)", `
            Identity:
              ReauthorizeEvery: 0
`, nil, nil, 0},
		{"an !If around Identity takes the branch its condition picks", `
            Identity: !If
              - IsB
              - ReauthorizeEvery: 0
              - Headers: [Authorization]
                ReauthorizeEvery: 0
`, map[string]string{"Mode": "b"}, nil, 0},
		{"and the other branch for the other value", `
            Identity: !If
              - IsB
              - ReauthorizeEvery: 0
              - Headers: [Authorization]
                ReauthorizeEvery: 0
`, nil, []string{"Authorization"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			auths, err := authorizerTemplate(t, tc.identity).Authorizers(Deployment{Parameters: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			if len(auths) != 1 || !reflect.DeepEqual(auths[0].IdentityHeaders, tc.headers) || auths[0].CacheTTL != tc.ttl {
				t.Fatalf("Authorizers = %+v, want identity headers %q and cache TTL %d", auths, tc.headers, tc.ttl)
			}
		})
	}
	refusals := []struct {
		name, identity, why string
	}{
		{"no Identity leaves the cache TTL to API Gateway's default", "", "Identity: missing"},
		{"an !If whose branch is AWS::NoValue is no Identity either", `
            Identity: !If [IsB, {ReauthorizeEvery: 0}, !Ref AWS::NoValue]
`, "Identity: missing"},
		{"no ReauthorizeEvery leaves it to API Gateway's default too", `
            Identity:
              Headers: [Authorization]
`, "ReauthorizeEvery: missing"},
		{"a cache without an identity source is what API Gateway refuses", `
            Identity:
              ReauthorizeEvery: !Ref Ttl
`, "without an identity source"},
		{"a query-string identity source is not emulated", `
            Identity:
              QueryStrings: [token]
              ReauthorizeEvery: 0
`, "QueryStrings is not supported"},
		{"a TTL beyond API Gateway's hour", `
            Identity:
              Headers: [Authorization]
              ReauthorizeEvery: 3601
`, "want 0 to 3600 seconds"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authorizerTemplate(t, tc.identity).Authorizers(Deployment{})
			if err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("err = %v, want one saying %q", err, tc.why)
			}
		})
	}
}

func TestCheckRulesAsCloudFormationDoes(t *testing.T) {
	tpl, err := parse([]byte(`
Parameters:
  A: {Type: String, Default: x}
  B: {Type: String, Default: "1"}
Rules:
  Always:
    Assertions:
      - Assert: !Not [!Equals [!Ref B, "9"]]
        AssertDescription: B is never 9.
  OnlyWhenY:
    RuleCondition: !Equals [!Ref A, y]
    Assertions:
      - Assert: !Equals [!Ref B, "0"]
        AssertDescription: With A y, B must be 0.
Resources: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		params map[string]string
		why    string // "" if allowed
	}{
		{"the defaults pass", nil, ""},
		{"a rule without a condition always applies", map[string]string{"B": "9"}, "rule Always refuses these parameters: B is never 9."},
		{"a rule whose condition holds applies", map[string]string{"A": "y", "B": "1"}, "rule OnlyWhenY refuses these parameters: With A y, B must be 0."},
		{"and its assertion can hold", map[string]string{"A": "y", "B": "0"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tpl.CheckRules(Deployment{Parameters: tc.params})
			if tc.why == "" && err != nil || tc.why != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.why)) {
				t.Fatalf("CheckRules = %v, want %q", err, tc.why)
			}
		})
	}
	t.Run("a rule function it cannot evaluate is an error, not a pass", func(t *testing.T) {
		tpl, err := parse([]byte(`
Parameters:
  L: {Type: CommaDelimitedList, Default: "a,b"}
Rules:
  R:
    Assertions:
      - Assert: !Contains [[a, b], !Ref L]
Resources: {}
`))
		if err != nil {
			t.Fatal(err)
		}
		if err := tpl.CheckRules(Deployment{}); err == nil || !strings.Contains(err.Error(), "not a condition function") {
			t.Fatalf("CheckRules = %v", err)
		}
	})
}
