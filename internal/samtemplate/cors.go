package samtemplate

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// CORS is the CorsConfiguration of an AWS::Serverless::HttpApi, resolved for a
// deployment (SAM writes it into the API's OpenAPI body as
// x-amazon-apigateway-cors).
type CORS struct {
	AllowOrigins     []string
	AllowCredentials bool
	AllowHeaders     []string
	AllowMethods     []string
	ExposeHeaders    []string
	// MaxAge is MaxAge in seconds; nil if the configuration sets none.
	MaxAge *int
}

// corsKeys are the properties SAM accepts in a CorsConfiguration mapping (it
// refuses any other key).
var corsKeys = []string{"AllowOrigins", "AllowCredentials", "AllowHeaders", "AllowMethods", "ExposeHeaders", "MaxAge"}

// CORS returns the CorsConfiguration of the HttpApi resource api, resolved for
// d (a Deployment without Parameters takes the template's defaults). It is nil
// if the API has none for d: no CorsConfiguration, or an !If whose chosen
// branch is AWS::NoValue. The other forms SAM takes (true for "*", or the
// origins alone) are refused, like anything else this cannot evaluate.
func (t *Template) CORS(api string, d Deployment) (*CORS, error) {
	r, err := t.resource(api, "AWS::Serverless::HttpApi")
	if err != nil {
		return nil, err
	}
	where := api + ".Properties.CorsConfiguration"
	v, err := t.choose(get(r, "Properties", "CorsConfiguration"), d)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", where, err)
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("samtemplate: %s: want a mapping of %s, got %v", where, strings.Join(corsKeys, ", "), v)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(corsKeys, k) {
			return nil, fmt.Errorf("samtemplate: %s: %s is not a CorsConfiguration property (SAM refuses it)", where, k)
		}
	}
	c := &CORS{}
	for _, f := range []struct {
		key string
		dst *[]string
	}{
		{"AllowOrigins", &c.AllowOrigins},
		{"AllowHeaders", &c.AllowHeaders},
		{"AllowMethods", &c.AllowMethods},
		{"ExposeHeaders", &c.ExposeHeaders},
	} {
		if m[f.key] == nil {
			continue
		}
		if *f.dst, err = t.resolveStrings(m[f.key], d); err != nil {
			return nil, fmt.Errorf("samtemplate: %s.%s: %w", where, f.key, err)
		}
	}
	if v := m["AllowCredentials"]; v != nil {
		s, err := t.resolve(v, d)
		if err != nil {
			return nil, fmt.Errorf("samtemplate: %s.AllowCredentials: %w", where, err)
		}
		if c.AllowCredentials, err = strconv.ParseBool(s); err != nil {
			return nil, fmt.Errorf("samtemplate: %s.AllowCredentials: want true or false, got %q", where, s)
		}
	}
	if v := m["MaxAge"]; v != nil {
		s, err := t.resolve(v, d)
		if err != nil {
			return nil, fmt.Errorf("samtemplate: %s.MaxAge: %w", where, err)
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("samtemplate: %s.MaxAge: want an integer, got %q", where, s)
		}
		c.MaxAge = &n
	}
	return c, nil
}

// maxConditionDepth bounds the nesting of !If, conditions and condition
// functions, so that a condition naming itself is an error, not a hang.
const maxConditionDepth = 32

// choose evaluates the !If functions around a property value for d and
// returns the value chosen: nil for AWS::NoValue (or no value at all).
func (t *Template) choose(v any, d Deployment) (any, error) {
	for range maxConditionDepth {
		in, ok := v.(*intrinsic)
		if !ok {
			return v, nil
		}
		if ref, _ := refTarget(in); ref == "AWS::NoValue" {
			return nil, nil
		}
		if in.name != "Fn::If" {
			return v, nil
		}
		args, ok := in.argList()
		name, isName := "", false
		if ok && len(args) == 3 {
			name, isName = args[0].(string)
		}
		if !isName {
			return nil, fmt.Errorf("!If wants [condition, then, else], got %v", in.arg)
		}
		holds, err := t.Condition(name, d)
		if err != nil {
			return nil, err
		}
		if holds {
			v = args[1]
		} else {
			v = args[2]
		}
	}
	return nil, fmt.Errorf("!If nested more than %d deep", maxConditionDepth)
}

// Condition evaluates the template condition name for d, as CloudFormation
// does: Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition, over values
// resolve can evaluate (Ref, Fn::Join of a list parameter, ...).
func (t *Template) Condition(name string, d Deployment) (bool, error) {
	return t.condition(name, d, 0)
}

func (t *Template) condition(name string, d Deployment, depth int) (bool, error) {
	conds, _ := t.root["Conditions"].(map[string]any)
	v, ok := conds[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	holds, err := t.evalCondition(v, d, depth+1)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	return holds, nil
}

// evalCondition evaluates one condition function.
func (t *Template) evalCondition(v any, d Deployment, depth int) (bool, error) {
	if depth > maxConditionDepth {
		return false, fmt.Errorf("conditions nested more than %d deep", maxConditionDepth)
	}
	in, ok := v.(*intrinsic)
	if !ok {
		return false, fmt.Errorf("want a condition function, got %v", v)
	}
	if in.name == "Condition" {
		name, ok := in.arg.(string)
		if !ok {
			return false, fmt.Errorf("Condition of %v", in.arg)
		}
		return t.condition(name, d, depth)
	}
	args, ok := in.argList()
	if !ok {
		return false, fmt.Errorf("%s wants a list, got %v", in.name, in.arg)
	}
	switch in.name {
	case "Fn::Equals":
		if len(args) != 2 {
			return false, fmt.Errorf("!Equals wants two values, got %v", in.arg)
		}
		a, err := t.resolve(args[0], d)
		if err != nil {
			return false, err
		}
		b, err := t.resolve(args[1], d)
		if err != nil {
			return false, err
		}
		return a == b, nil
	case "Fn::Not":
		if len(args) != 1 {
			return false, fmt.Errorf("!Not wants one condition, got %v", in.arg)
		}
		holds, err := t.evalCondition(args[0], d, depth+1)
		return !holds, err
	case "Fn::And", "Fn::Or":
		if len(args) < 2 {
			return false, fmt.Errorf("%s wants at least two conditions, got %v", in.name, in.arg)
		}
		and := in.name == "Fn::And"
		for _, a := range args {
			holds, err := t.evalCondition(a, d, depth+1)
			if err != nil {
				return false, err
			}
			if holds != and {
				return holds, nil
			}
		}
		return and, nil
	default:
		return false, fmt.Errorf("%s is not a condition function", in)
	}
}

// resolveStrings evaluates a list value for d: a literal list (each item
// resolved) or a !Ref to a list parameter.
func (t *Template) resolveStrings(v any, d Deployment) ([]string, error) {
	if items, ok := v.([]any); ok {
		out := make([]string, 0, len(items))
		for i, it := range items {
			s, err := t.resolve(it, d)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, s)
		}
		return out, nil
	}
	if name, ok := refTarget(v); ok && isListType(t.parameterType(name)) {
		s, err := t.ref(name, d)
		if err != nil {
			return nil, err
		}
		return splitList(s), nil
	}
	return nil, fmt.Errorf("want a list or a !Ref to a list parameter, got %v", v)
}

// parameterType is the Type of template parameter name ("" if there is none).
func (t *Template) parameterType(name string) string {
	s, _ := str(get(t.root, "Parameters", name, "Type"))
	return s
}

// isListType reports whether a parameter type is a list (CommaDelimitedList,
// List<Number>, List<AWS::EC2::Subnet::Id>, ...).
func isListType(typ string) bool {
	return typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")
}

// splitList is a list parameter's value as CloudFormation reads it: split at
// commas, each member space-trimmed ("" is one empty member).
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// CheckParameter reports why CloudFormation would refuse value for template
// parameter name: its AllowedPattern (which each member of a list parameter
// must match whole), AllowedValues, or a Number's MinValue and MaxValue. It
// lets a local run refuse a setting a deployment would refuse.
func (t *Template) CheckParameter(name, value string) error {
	p, ok := get(t.root, "Parameters", name).(map[string]any)
	if !ok {
		return fmt.Errorf("samtemplate: no parameter %s", name)
	}
	typ := t.parameterType(name)
	members := []string{value}
	if isListType(typ) {
		members = splitList(value)
	}
	if pat, ok := str(p["AllowedPattern"]); ok {
		re, err := regexp.Compile(`^(?:` + pat + `)$`)
		if err != nil {
			return fmt.Errorf("samtemplate: parameter %s: AllowedPattern %q: %w", name, pat, err)
		}
		for _, m := range members {
			if !re.MatchString(m) {
				return fmt.Errorf("samtemplate: parameter %s: %q does not match its AllowedPattern %s", name, m, pat)
			}
		}
	}
	if allowed, ok := p["AllowedValues"].([]any); ok {
		for _, m := range members {
			if !slices.ContainsFunc(allowed, func(a any) bool { s, _ := str(a); return s == m }) {
				return fmt.Errorf("samtemplate: parameter %s: %q is not one of its AllowedValues %v", name, m, allowed)
			}
		}
	}
	if typ == "Number" {
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return fmt.Errorf("samtemplate: parameter %s: %q is not a number", name, value)
		}
		for _, b := range []struct {
			key   string
			below bool
		}{{"MinValue", true}, {"MaxValue", false}} {
			s, ok := str(p[b.key])
			if !ok {
				continue
			}
			limit, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return fmt.Errorf("samtemplate: parameter %s: %s %q is not a number", name, b.key, s)
			}
			if b.below && n < limit || !b.below && n > limit {
				return fmt.Errorf("samtemplate: parameter %s: %s is outside its %s %s", name, value, b.key, s)
			}
		}
	}
	return nil
}
