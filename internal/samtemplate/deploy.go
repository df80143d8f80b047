package samtemplate

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Deployment is what CloudFormation fills in when it deploys the template: the pseudo
// parameters, the parameter values and the physical names of the stack's resources.
// The accessors that take one resolve !Ref, !GetAtt, !Sub and !Join with it, so a
// test sees the values a deployed function sees.
type Deployment struct {
	Partition string // AWS::Partition, such as "aws"
	Region    string // AWS::Region, such as "us-east-1"
	AccountID string // AWS::AccountId, such as "123456789012"
	StackName string // AWS::StackName
	// Parameters override template parameters by name; a parameter not listed takes
	// its Default.
	Parameters map[string]string
	// Names are the physical names of resources by logical ID: what !Ref returns for a
	// table or a function, and what their Arn attribute is built from.
	Names map[string]string
}

// Function is an AWS::Serverless::Function with Globals.Function applied: a property
// the function sets wins, otherwise the global one applies.
type Function struct {
	// ID is the logical ID ("LoginFunction").
	ID string
	// CodeURI is the CodeUri, slash-separated and relative to the template's folder
	// ("functions/login").
	CodeURI string
	// Runtime is the Lambda runtime ("provided.al2023").
	Runtime string
	// Handler is the Handler property ("bootstrap").
	Handler string
	// Architectures are the instruction set architectures ("arm64").
	Architectures []string
	// MemorySize is the memory in MB (Lambda's default 128).
	MemorySize int64
	// Timeout is the timeout in seconds (Lambda's default 3).
	Timeout int64
	// LogFormat is LoggingConfig.LogFormat ("JSON" or "Text"; "" when not set).
	LogFormat string
	// ApplicationLogLevel is LoggingConfig.ApplicationLogLevel ("" when not set).
	ApplicationLogLevel string
}

// Lambda's defaults for a function that sets neither the property nor a global.
const (
	defaultMemorySize = 128
	defaultTimeout    = 3
)

// Statement is one IAM policy statement of a function's inline policies, with every
// CloudFormation function resolved.
type Statement struct {
	// Effect is "Allow" or "Deny".
	Effect string
	// Actions are the action patterns ("dynamodb:GetItem", "ssm:Get*").
	Actions []string
	// Resources are the resource ARN patterns.
	Resources []string
}

// Parameter is a template parameter.
type Parameter struct {
	Name    string
	Type    string
	Default string
	// HasDefault is false for a parameter a deployment must always supply.
	HasDefault bool
}

// globalFunction is a Globals.Function property.
func (t *Template) globalFunction(key string) any {
	return get(t.root, "Globals", "Function", key)
}

// functionProperty is a function's own property, or else the global one.
func (t *Template) functionProperty(r any, key string) any {
	if v := get(r, "Properties", key); v != nil {
		return v
	}
	return t.globalFunction(key)
}

// functionIDs returns the logical IDs of the AWS::Serverless::Function resources.
func (t *Template) functionIDs() []string {
	var ids []string
	for id, r := range t.resources() {
		if get(r, "Type") == "AWS::Serverless::Function" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Functions returns every AWS::Serverless::Function, sorted by logical ID. Every
// property it reports must be a literal (after Globals): a CloudFormation function
// there is an error, since nothing could build or run the function from it.
func (t *Template) Functions() ([]Function, error) {
	var out []Function
	for _, id := range t.functionIDs() {
		r := t.resources()[id]
		where := id + ".Properties"
		f := Function{ID: id, MemorySize: defaultMemorySize, Timeout: defaultTimeout}
		codeURI, err := literal(t.functionProperty(r, "CodeUri"), where+".CodeUri")
		if err != nil {
			return nil, err
		}
		f.CodeURI = strings.TrimSuffix(path.Clean(filepath.ToSlash(codeURI)), "/")
		if f.Runtime, err = literal(t.functionProperty(r, "Runtime"), where+".Runtime"); err != nil {
			return nil, err
		}
		if f.Handler, err = literal(t.functionProperty(r, "Handler"), where+".Handler"); err != nil {
			return nil, err
		}
		archs, err := list(t.functionProperty(r, "Architectures"), where+".Architectures")
		if err != nil {
			return nil, err
		}
		for i, a := range archs {
			s, err := literal(a, fmt.Sprintf("%s.Architectures[%d]", where, i))
			if err != nil {
				return nil, err
			}
			f.Architectures = append(f.Architectures, s)
		}
		if len(f.Architectures) == 0 {
			f.Architectures = []string{"x86_64"} // Lambda's default
		}
		if v := t.functionProperty(r, "MemorySize"); v != nil {
			if f.MemorySize, err = number(v, where+".MemorySize"); err != nil {
				return nil, err
			}
		}
		if v := t.functionProperty(r, "Timeout"); v != nil {
			if f.Timeout, err = number(v, where+".Timeout"); err != nil {
				return nil, err
			}
		}
		// LoggingConfig is a map: SAM merges the global one with the function's own.
		logging := mergedMap(t.globalFunction("LoggingConfig"), get(r, "Properties", "LoggingConfig"))
		if v, ok := logging["LogFormat"]; ok {
			if f.LogFormat, err = literal(v, where+".LoggingConfig.LogFormat"); err != nil {
				return nil, err
			}
		}
		if v, ok := logging["ApplicationLogLevel"]; ok {
			if f.ApplicationLogLevel, err = literal(v, where+".LoggingConfig.ApplicationLogLevel"); err != nil {
				return nil, err
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// mergedMap merges two mappings, the second winning; a non-mapping counts as empty.
func mergedMap(global, own any) map[string]any {
	m := map[string]any{}
	if g, ok := global.(map[string]any); ok {
		maps.Copy(m, g)
	}
	if o, ok := own.(map[string]any); ok {
		maps.Copy(m, o)
	}
	return m
}

// function returns the AWS::Serverless::Function resource id.
func (t *Template) function(id string) (map[string]any, error) {
	return t.resource(id, "AWS::Serverless::Function")
}

// FunctionEnvironment returns the environment variables CloudFormation gives function
// id: Globals.Function.Environment.Variables merged with the function's own (the
// function's value wins), each value resolved against d. Variables Lambda itself sets
// (AWS_REGION, ...) are not included.
func (t *Template) FunctionEnvironment(id string, d Deployment) (map[string]string, error) {
	r, err := t.function(id)
	if err != nil {
		return nil, err
	}
	vars := mergedMap(get(t.globalFunction("Environment"), "Variables"), get(r, "Properties", "Environment", "Variables"))
	env := make(map[string]string, len(vars))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		v, err := t.resolve(vars[name], d)
		if err != nil {
			errs = append(errs, fmt.Errorf("samtemplate: %s: Environment.Variables.%s: %w", id, name, err))
			continue
		}
		env[name] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return env, nil
}

// FunctionPolicy returns the statements of function id's inline policies (Policies
// entries of the form {Statement: [...]}) with every value resolved against d. A
// function without Policies has none. Anything this cannot evaluate is an error rather
// than a guess: a managed policy or a SAM policy template, a Role property, and
// statements with NotAction, NotResource or Condition.
func (t *Template) FunctionPolicy(id string, d Deployment) ([]Statement, error) {
	r, err := t.function(id)
	if err != nil {
		return nil, err
	}
	if get(r, "Properties", "Role") != nil {
		return nil, fmt.Errorf("samtemplate: %s: an explicit Role is not supported (its policies are outside the template)", id)
	}
	where := id + ".Properties.Policies"
	policies := get(r, "Properties", "Policies")
	var entries []any
	switch p := policies.(type) {
	case nil:
		return nil, nil
	case []any:
		entries = p
	default:
		entries = []any{p}
	}
	var out []Statement
	for i, e := range entries {
		w := fmt.Sprintf("%s[%d]", where, i)
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("samtemplate: %s: %v is a managed policy, which cannot be evaluated here", w, e)
		}
		stmts, ok := m["Statement"]
		if !ok || len(m) > 2 || (len(m) == 2 && m["Version"] == nil) {
			return nil, fmt.Errorf("samtemplate: %s: only inline {Statement: [...]} policies are supported, got %v", w, e)
		}
		list, ok := stmts.([]any)
		if !ok {
			list = []any{stmts}
		}
		for j, s := range list {
			st, err := t.statement(s, d, fmt.Sprintf("%s.Statement[%d]", w, j))
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// statement resolves one policy statement.
func (t *Template) statement(v any, d Deployment, where string) (Statement, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Statement{}, fmt.Errorf("samtemplate: %s: not a mapping", where)
	}
	for k := range m {
		switch k {
		case "Effect", "Action", "Resource", "Sid":
		default:
			return Statement{}, fmt.Errorf("samtemplate: %s: %s is not supported", where, k)
		}
	}
	var st Statement
	var err error
	if st.Effect, err = literal(m["Effect"], where+".Effect"); err != nil {
		return Statement{}, err
	}
	if st.Effect != "Allow" && st.Effect != "Deny" {
		return Statement{}, fmt.Errorf("samtemplate: %s.Effect: %q is neither Allow nor Deny", where, st.Effect)
	}
	if st.Actions, err = t.resolveList(m["Action"], d, where+".Action"); err != nil {
		return Statement{}, err
	}
	if st.Resources, err = t.resolveList(m["Resource"], d, where+".Resource"); err != nil {
		return Statement{}, err
	}
	return st, nil
}

// resolveList resolves a value that is one item or a list of them; it must not be
// empty.
func (t *Template) resolveList(v any, d Deployment, where string) ([]string, error) {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var out []string
	for i, it := range items {
		if it == nil {
			return nil, fmt.Errorf("samtemplate: %s: missing", where)
		}
		s, err := t.resolve(it, d)
		if err != nil {
			return nil, fmt.Errorf("samtemplate: %s[%d]: %w", where, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// Parameters returns the template's parameters, sorted by name.
func (t *Template) Parameters() []Parameter {
	params, _ := get(t.root, "Parameters").(map[string]any)
	var out []Parameter
	for _, name := range slices.Sorted(maps.Keys(params)) {
		p := Parameter{Name: name}
		m, _ := params[name].(map[string]any)
		p.Type, _ = str(m["Type"])
		if d, ok := m["Default"]; ok {
			p.Default, _ = str(d)
			p.HasDefault = true
		}
		out = append(out, p)
	}
	return out
}

func (in *intrinsic) argList() ([]any, bool) {
	if in == nil {
		return nil, false
	}
	l, ok := in.arg.([]any)
	return l, ok
}

// resolve evaluates a value as CloudFormation would for deployment d.
func (t *Template) resolve(v any, d Deployment) (string, error) {
	if s, ok := str(v); ok {
		return s, nil
	}
	in, ok := v.(*intrinsic)
	if !ok {
		return "", fmt.Errorf("want a string or a CloudFormation function, got %v", v)
	}
	switch in.name {
	case "Ref":
		name, ok := in.arg.(string)
		if !ok {
			return "", fmt.Errorf("!Ref of %v", in.arg)
		}
		return t.ref(name, d)
	case "Fn::GetAtt":
		args, ok := in.argList()
		if !ok || len(args) != 2 {
			return "", fmt.Errorf("!GetAtt wants [resource, attribute], got %v", in.arg)
		}
		res, _ := args[0].(string)
		attr, _ := args[1].(string)
		return t.getAtt(res, attr, d)
	case "Fn::Sub":
		var tmpl string
		vars := map[string]any{}
		switch a := in.arg.(type) {
		case string:
			tmpl = a
		case []any:
			if len(a) != 2 {
				return "", fmt.Errorf("!Sub wants a string or [string, variables], got %v", a)
			}
			s, ok1 := a[0].(string)
			m, ok2 := a[1].(map[string]any)
			if !ok1 || !ok2 {
				return "", fmt.Errorf("!Sub wants a string or [string, variables], got %v", a)
			}
			tmpl, vars = s, m
		default:
			return "", fmt.Errorf("!Sub of %v", in.arg)
		}
		return t.sub(tmpl, vars, d)
	case "Fn::Join":
		args, ok := in.argList()
		if !ok || len(args) != 2 {
			return "", fmt.Errorf("!Join wants [delimiter, list], got %v", in.arg)
		}
		delim, ok := args[0].(string)
		if !ok {
			return "", fmt.Errorf("!Join wants [delimiter, list], got %v", in.arg)
		}
		// The list is literal, or a !Ref to a list parameter.
		parts, err := t.resolveStrings(args[1], d)
		if err != nil {
			return "", fmt.Errorf("!Join: %w", err)
		}
		return strings.Join(parts, delim), nil
	default:
		return "", fmt.Errorf("%s is not supported here", in)
	}
}

// ref is !Ref name: a pseudo parameter, a template parameter or a resource.
func (t *Template) ref(name string, d Deployment) (string, error) {
	switch name {
	case "AWS::Partition":
		return nonEmpty(d.Partition, name)
	case "AWS::Region":
		return nonEmpty(d.Region, name)
	case "AWS::AccountId":
		return nonEmpty(d.AccountID, name)
	case "AWS::StackName":
		return nonEmpty(d.StackName, name)
	case "AWS::URLSuffix":
		if d.Partition == "aws-cn" {
			return "amazonaws.com.cn", nil
		}
		return "amazonaws.com", nil
	}
	if v, ok := d.Parameters[name]; ok {
		return v, nil
	}
	if p, ok := get(t.root, "Parameters", name).(map[string]any); ok {
		def, ok := p["Default"]
		if !ok {
			return "", fmt.Errorf("parameter %s has no Default and the deployment sets none", name)
		}
		s, _ := str(def)
		return s, nil
	}
	if _, ok := t.resources()[name]; ok {
		if phys, ok := d.Names[name]; ok && phys != "" {
			return phys, nil
		}
		return "", fmt.Errorf("the deployment names no physical resource for %s", name)
	}
	return "", fmt.Errorf("!Ref %s: no such parameter or resource", name)
}

// getAtt is !GetAtt res.attr, for the attributes whose value follows from the
// resource's physical name.
func (t *Template) getAtt(res, attr string, d Deployment) (string, error) {
	typ, _ := get(t.resources()[res], "Type").(string)
	if typ == "" {
		return "", fmt.Errorf("!GetAtt %s.%s: no such resource", res, attr)
	}
	if attr != "Arn" {
		return "", fmt.Errorf("!GetAtt %s.%s: only Arn is supported", res, attr)
	}
	name, err := t.ref(res, d)
	if err != nil {
		return "", err
	}
	for _, v := range []string{d.Partition, d.Region, d.AccountID} {
		if v == "" {
			return "", errors.New("the deployment lacks a partition, region or account")
		}
	}
	prefix := fmt.Sprintf("arn:%s:", d.Partition)
	switch typ {
	case "AWS::DynamoDB::Table":
		return prefix + fmt.Sprintf("dynamodb:%s:%s:table/%s", d.Region, d.AccountID, name), nil
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return prefix + fmt.Sprintf("lambda:%s:%s:function:%s", d.Region, d.AccountID, name), nil
	default:
		return "", fmt.Errorf("!GetAtt %s.Arn: resources of type %s are not supported", res, typ)
	}
}

// sub is !Sub: ${Name} is a variable, a pseudo parameter, a parameter or a resource,
// ${Res.Attr} an attribute, and ${!Literal} the text ${Literal}.
func (t *Template) sub(tmpl string, vars map[string]any, d Deployment) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(tmpl, "${")
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), nil
		}
		b.WriteString(tmpl[:i])
		rest := tmpl[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return "", fmt.Errorf("!Sub %q: unterminated ${", tmpl)
		}
		name := rest[:j]
		tmpl = rest[j+1:]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			b.WriteString("${" + lit + "}")
			continue
		}
		var v string
		var err error
		switch value, isVar := vars[name]; {
		case isVar:
			v, err = t.resolve(value, d)
		case strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::"):
			res, attr, _ := strings.Cut(name, ".")
			v, err = t.getAtt(res, attr, d)
		default:
			v, err = t.ref(name, d)
		}
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
}

func nonEmpty(v, name string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("the deployment sets no %s", name)
	}
	return v, nil
}
