package samtemplate

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
)

// Authorizer is a Lambda authorizer of an AWS::Serverless::HttpApi, resolved for a
// deployment.
type Authorizer struct {
	// API is the logical ID of the HttpApi resource.
	API string
	// Name is the authorizer's name in the API's Auth.Authorizers.
	Name string
	// Function is the logical ID of the function its FunctionArn points at.
	Function string
	// IdentityHeaders are the header names of Identity.Headers: API Gateway answers
	// 401 without invoking the authorizer when one of them is missing or empty, and
	// hands their values over as the event's identitySource. None (what SAM emits for
	// an Identity without Headers): the authorizer runs for every request.
	IdentityHeaders []string
	// CacheTTL is Identity.ReauthorizeEvery: how many seconds API Gateway reuses a
	// decision for the same identity-source values (0: never).
	CacheTTL int
	// PayloadFormatVersion is AuthorizerPayloadFormatVersion ("2.0").
	PayloadFormatVersion string
	// SimpleResponses is EnableSimpleResponses.
	SimpleResponses bool
}

// identityKeys are the properties of SAM's LambdaAuthorizationIdentity this reads;
// SAM also takes QueryStrings, StageVariables and Context, which the local gateway
// does not emulate, so they are refused.
var identityKeys = []string{"Headers", "ReauthorizeEvery"}

// Authorizers returns the Lambda authorizers of every AWS::Serverless::HttpApi, sorted
// by API and name, resolved for d as a deployment sees them: an !If around Identity
// is decided (AWS::LanguageExtensions, the template's first transform, resolves it
// before SAM reads Identity; SAM alone would not), and so are the values inside it.
//
// What SAM and API Gateway would do with an authorizer this cannot pin down is an
// error rather than a guess: without Identity, or without ReauthorizeEvery in it, SAM
// emits no cache TTL and API Gateway's default applies; a cache TTL without an
// identity source is refused by API Gateway ("To enable caching, your authorizer
// must have at least one identity source").
func (t *Template) Authorizers(d Deployment) ([]Authorizer, error) {
	var out []Authorizer
	var apis []string
	for id, r := range t.resources() {
		if get(r, "Type") == "AWS::Serverless::HttpApi" {
			apis = append(apis, id)
		}
	}
	sort.Strings(apis)
	for _, api := range apis {
		auths, _ := get(t.resources()[api], "Properties", "Auth", "Authorizers").(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(auths)) {
			a := auths[name]
			arn := get(a, "FunctionArn")
			if arn == nil {
				continue // a JWT authorizer
			}
			where := fmt.Sprintf("%s.Properties.Auth.Authorizers.%s", api, name)
			in, ok := arn.(*intrinsic)
			args, _ := in.argList()
			if !ok || in.name != "Fn::GetAtt" || len(args) != 2 || args[1] != "Arn" {
				return nil, fmt.Errorf("samtemplate: %s.FunctionArn: want !GetAtt <Function>.Arn, got %v", where, arn)
			}
			fn, _ := args[0].(string)
			au := Authorizer{API: api, Name: name, Function: fn}
			if err := t.identity(&au, get(a, "Identity"), d, where+".Identity"); err != nil {
				return nil, err
			}
			au.PayloadFormatVersion, _ = str(get(a, "AuthorizerPayloadFormatVersion"))
			switch get(a, "EnableSimpleResponses") {
			case true, "true":
				au.SimpleResponses = true
			}
			out = append(out, au)
		}
	}
	return out, nil
}

// identity reads an authorizer's Identity for d into au.
func (t *Template) identity(au *Authorizer, v any, d Deployment, where string) error {
	v, err := t.choose(v, d)
	if err != nil {
		return fmt.Errorf("samtemplate: %s: %w", where, err)
	}
	if v == nil {
		return fmt.Errorf("samtemplate: %s: missing: SAM then emits no identity source and no cache TTL, which leaves the TTL to API Gateway's default; set Identity.ReauthorizeEvery", where)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("samtemplate: %s: want a mapping, got %v", where, v)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(identityKeys, k) {
			return fmt.Errorf("samtemplate: %s: %s is not supported (the local gateway emulates header identity sources only)", where, k)
		}
	}
	if m["Headers"] != nil {
		hs, ok := m["Headers"].([]any)
		if !ok {
			return fmt.Errorf("samtemplate: %s.Headers: want a list, got %v", where, m["Headers"])
		}
		for i, h := range hs {
			s, err := t.resolve(h, d)
			if err != nil || s == "" {
				return fmt.Errorf("samtemplate: %s.Headers[%d]: want a header name, got %v (%v)", where, i, h, err)
			}
			au.IdentityHeaders = append(au.IdentityHeaders, s)
		}
	}
	if m["ReauthorizeEvery"] == nil {
		return fmt.Errorf("samtemplate: %s.ReauthorizeEvery: missing: SAM then emits no cache TTL, which leaves it to API Gateway's default", where)
	}
	s, err := t.resolve(m["ReauthorizeEvery"], d)
	if err != nil {
		return fmt.Errorf("samtemplate: %s.ReauthorizeEvery: %w", where, err)
	}
	if au.CacheTTL, err = strconv.Atoi(s); err != nil || au.CacheTTL < 0 || au.CacheTTL > 3600 {
		return fmt.Errorf("samtemplate: %s.ReauthorizeEvery: want 0 to 3600 seconds, got %q", where, s)
	}
	if au.CacheTTL > 0 && len(au.IdentityHeaders) == 0 {
		return fmt.Errorf("samtemplate: %s: a cache TTL of %d s without an identity source, which API Gateway refuses (it would have no cache key)", where, au.CacheTTL)
	}
	return nil
}

// CheckRules reports the first of the template's Rules whose assertion fails for d,
// as CloudFormation refuses such a deployment before it changes anything: a rule
// applies when its RuleCondition holds (or it has none), and then each Assert must
// hold. Rule functions are evaluated like conditions (Fn::Equals, Fn::Not, Fn::And,
// Fn::Or over parameter values); anything else is an error.
func (t *Template) CheckRules(d Deployment) error {
	rules, _ := t.root["Rules"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(rules)) {
		r, ok := rules[name].(map[string]any)
		if !ok {
			return fmt.Errorf("samtemplate: rule %s: want a mapping", name)
		}
		if c, ok := r["RuleCondition"]; ok {
			holds, err := t.evalCondition(c, d, 1)
			if err != nil {
				return fmt.Errorf("samtemplate: rule %s: RuleCondition: %w", name, err)
			}
			if !holds {
				continue
			}
		}
		asserts, ok := r["Assertions"].([]any)
		if !ok || len(asserts) == 0 {
			return fmt.Errorf("samtemplate: rule %s: no Assertions", name)
		}
		for i, a := range asserts {
			holds, err := t.evalCondition(get(a, "Assert"), d, 1)
			if err != nil {
				return fmt.Errorf("samtemplate: rule %s: Assertions[%d]: %w", name, i, err)
			}
			if !holds {
				desc, _ := str(get(a, "AssertDescription"))
				return fmt.Errorf("samtemplate: rule %s refuses these parameters: %s", name, desc)
			}
		}
	}
	return nil
}
