package samtemplate

import (
	"reflect"
	"strings"
	"testing"
)

// template.yaml's authorizer in each mode, as API Gateway gets it once
// AWS::LanguageExtensions has resolved the !If around Identity: the body transport
// keeps Authorization as the identity source (and the cache it keys); cookie-only
// mode has none, since a request may carry either credential and API Gateway
// requires every identity source, and so no cache, whatever AuthorizerCacheTtl says;
// and the deployment that asks for both is refused by the template's rule.
func TestTheAuthorizersIdentityFollowsTheMode(t *testing.T) {
	tpl := loadReal(t)
	tests := []struct {
		name    string
		params  map[string]string
		headers []string
		ttl     int
		refused string // the rule CheckRules names, "" if the deployment is allowed
	}{
		{"the defaults: Authorization, no cache", nil, []string{"Authorization"}, 0, ""},
		{"the body transport with a cache keys it on Authorization", map[string]string{"AuthorizerCacheTtl": "60"}, []string{"Authorization"}, 60, ""},
		{"cookie-only mode: no identity source, no cache", map[string]string{"AccessTokenCookie": "on"}, nil, 0, ""},
		{"cookie-only mode with a cache is refused before deploying, and caches nothing even so",
			map[string]string{"AccessTokenCookie": "on", "AuthorizerCacheTtl": "60"}, nil, 0, "CookieOnlyHasNoAuthorizerCache"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Deployment{Parameters: tc.params}
			auths, err := tpl.Authorizers(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(auths) != 1 {
				t.Fatalf("%d authorizers, want 1", len(auths))
			}
			if a := auths[0]; !reflect.DeepEqual(a.IdentityHeaders, tc.headers) || a.CacheTTL != tc.ttl {
				t.Errorf("identity headers %q, cache TTL %d; want %q, %d", a.IdentityHeaders, a.CacheTTL, tc.headers, tc.ttl)
			}
			err = tpl.CheckRules(d)
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("CheckRules: %v, want the deployment allowed", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), "rule "+tc.refused+" refuses")):
				t.Errorf("CheckRules: %v, want rule %s's refusal", err, tc.refused)
			}
		})
	}
}

// Every function that reads ACCESS_TOKEN_COOKIE gets the parameter's value, and they
// are the functions that hand out, clear or accept the access cookie.
func TestCookieOnlyModeReachesEveryFunctionThatReadsIt(t *testing.T) {
	tpl := loadReal(t)
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	d := Deployment{Partition: "aws", Region: "us-east-1", AccountID: "123456789012", StackName: "s",
		Parameters: map[string]string{"AccessTokenCookie": "on"}, Names: map[string]string{TableResource: "tbl"}}
	var readers []string
	for _, f := range fns {
		env, err := tpl.FunctionEnvironment(f.ID, d)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := env["ACCESS_TOKEN_COOKIE"]; ok {
			if v != "on" {
				t.Errorf("%s: ACCESS_TOKEN_COOKIE = %q, want the parameter's on", f.ID, v)
			}
			readers = append(readers, f.ID)
		}
	}
	want := []string{"AccountFunction", "AuthorizerFunction", "LoginFunction", "LogoutFunction", "RefreshFunction"}
	if !reflect.DeepEqual(readers, want) {
		t.Errorf("functions given ACCESS_TOKEN_COOKIE: %v, want %v", readers, want)
	}
}
