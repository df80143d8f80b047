// Package samtemplate reads the project's AWS SAM template (template.yaml) so that tests,
// the local server and tools take the table schema, the routes and the configuration
// from the one file that is deployed instead of restating them in Go.
//
// CloudFormation short-form functions (!Ref, !GetAtt, !Sub, !If, ...) and their long
// forms ({"Ref": ...}, {"Fn::Sub": ...}) are kept as opaque values. Env resolves a !Ref
// to a template parameter to its default; the accessors that take a Deployment
// (FunctionEnvironment, FunctionPolicy, Throttling, CORS) resolve !Ref, !GetAtt, !Sub and
// !Join as CloudFormation would for that deployment (CORS also !If and the template's
// Conditions), and refuse what they cannot.
package samtemplate

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// TableResource is the logical ID of the DynamoDB table resource that
// CreateTableInput and TTLAttribute read (docs/design.md names it).
const TableResource = "SessionsTable"

// Template is a parsed SAM template. Its values are plain Go values (map[string]any,
// []any, string, int, float64, bool, nil) with CloudFormation functions kept opaque.
type Template struct {
	// Path is the file the template was loaded from ("" after Parse).
	Path string

	root map[string]any
}

// Route is one HTTP API route, taken from a function's HttpApi event.
type Route struct {
	// Method is the HTTP method in upper case ("GET", "POST", "ANY").
	Method string
	// Path is the route path as written in the template ("/auth/login").
	Path string
	// Function is the logical ID of the AWS::Serverless::Function serving the route.
	Function string
	// CodeURI is the function's CodeUri, slash-separated and relative to the
	// template's folder ("functions/login").
	CodeURI string
	// Protected reports whether an authorizer guards the route: the event's own
	// Auth.Authorizer, or else the API's DefaultAuthorizer, is set and is not NONE.
	Protected bool
}

// intrinsic is a CloudFormation function call left unevaluated.
type intrinsic struct {
	// name is the long-form name: "Ref", "Condition" or "Fn::X".
	name string
	arg  any
}

func (i *intrinsic) String() string { return fmt.Sprintf("%s(%v)", i.name, i.arg) }

// Load reads and parses the SAM template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	t.Path = path
	return t, nil
}

// Parse parses a SAM template held in memory, such as the embedded
// sessions.TemplateYAML.
func Parse(data []byte) (*Template, error) {
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	return t, nil
}

func parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("not a YAML document")
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("top level is not a mapping")
	}
	if _, ok := root["Resources"].(map[string]any); !ok {
		return nil, errors.New("no Resources mapping")
	}
	return &Template{root: root}, nil
}

// convert turns a YAML node into plain Go values, wrapping CloudFormation tags.
func convert(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return convert(n.Alias)
	}
	if fn, ok := shortFunction(n.Tag); ok {
		// The tag's value is the function's argument; decode it untagged.
		plain := *n
		plain.Tag = ""
		if n.Kind == yaml.ScalarNode {
			plain.Tag = "!!str"
		}
		arg, err := convert(&plain)
		if err != nil {
			return nil, err
		}
		if fn == "Fn::GetAtt" {
			// !GetAtt A.B is the long form ["A", "B"].
			if s, ok := arg.(string); ok {
				if res, attr, found := strings.Cut(s, "."); found {
					arg = []any{res, attr}
				}
			}
		}
		return &intrinsic{name: fn, arg: arg}, nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			var key string
			if err := n.Content[i].Decode(&key); err != nil {
				return nil, fmt.Errorf("line %d: mapping key: %w", n.Content[i].Line, err)
			}
			v, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		if len(m) == 1 {
			for k, v := range m {
				if k == "Ref" || k == "Condition" && !isMap(v) || strings.HasPrefix(k, "Fn::") {
					return &intrinsic{name: k, arg: v}, nil
				}
			}
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
}

func isMap(v any) bool { _, ok := v.(map[string]any); return ok }

// shortFunction maps a CloudFormation short-form tag to its long-form name.
func shortFunction(tag string) (string, bool) {
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return "", false
	}
	name := tag[1:]
	switch name {
	case "":
		return "", false
	case "Ref", "Condition":
		return name, true
	default:
		return "Fn::" + name, true
	}
}

// FindRoot walks up from the working directory to the nearest folder holding a
// go.mod file (the project root, where template.yaml lives) and returns it.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("samtemplate: %w", err)
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("samtemplate: no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}

// resources returns the Resources mapping.
func (t *Template) resources() map[string]any {
	m, _ := t.root["Resources"].(map[string]any)
	return m
}

// resource returns the resource with the given logical ID and checks its Type.
func (t *Template) resource(id, typ string) (map[string]any, error) {
	r, ok := t.resources()[id].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("samtemplate: no resource %s", id)
	}
	if got := r["Type"]; got != typ {
		return nil, fmt.Errorf("samtemplate: resource %s has Type %v, want %s", id, got, typ)
	}
	return r, nil
}

// get follows keys through nested mappings and returns nil where a step is missing.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str returns v as a string if it is a literal scalar.
func str(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(x), true
	default:
		return "", false
	}
}

// parameterDefault returns the Default of template parameter name.
func (t *Template) parameterDefault(name string) (string, bool) {
	p, ok := get(t.root, "Parameters", name).(map[string]any)
	if !ok {
		return "", false
	}
	d, ok := p["Default"]
	if !ok {
		return "", true
	}
	s, _ := str(d)
	return s, true
}

// refTarget returns the logical name a {Ref: X} value points at.
func refTarget(v any) (string, bool) {
	in, ok := v.(*intrinsic)
	if !ok || in.name != "Ref" {
		return "", false
	}
	s, ok := in.arg.(string)
	return s, ok
}

// Env returns the environment variables that Globals.Function declares for every
// function. A literal value is returned as written; a !Ref to a template parameter
// resolves to that parameter's default; anything else (a !Ref to a resource, !Sub,
// !GetAtt, ...) is known only once deployed and maps to "".
func (t *Template) Env() map[string]string {
	vars, _ := get(t.root, "Globals", "Function", "Environment", "Variables").(map[string]any)
	env := make(map[string]string, len(vars))
	t.resolveInto(env, vars)
	return env
}

// FunctionEnv returns the environment CloudFormation gives the function whose CodeUri
// is functions/<name>: Globals merged with the function's own variables (the function
// wins), values resolved as Env resolves them. It is nil if there is no such function.
func (t *Template) FunctionEnv(name string) map[string]string {
	fs, err := t.Functions()
	if err != nil {
		return nil
	}
	for _, f := range fs {
		if f.CodeURI != "functions/"+name {
			continue
		}
		env := t.Env()
		vars, _ := get(t.resources()[f.ID], "Properties", "Environment", "Variables").(map[string]any)
		t.resolveInto(env, vars)
		return env
	}
	return nil
}

// resolveInto sets env[name] for each variable of vars, resolved as Env says.
func (t *Template) resolveInto(env map[string]string, vars map[string]any) {
	for name, v := range vars {
		if s, ok := str(v); ok {
			env[name] = s
			continue
		}
		if ref, ok := refTarget(v); ok {
			if d, ok := t.parameterDefault(ref); ok {
				env[name] = d
				continue
			}
		}
		env[name] = ""
	}
}

// Routes returns every route that a function's HttpApi event declares, sorted by
// path and then method.
func (t *Template) Routes() []Route {
	var routes []Route
	for id, r := range t.resources() {
		if get(r, "Type") != "AWS::Serverless::Function" {
			continue
		}
		codeURI, _ := str(get(r, "Properties", "CodeUri"))
		if codeURI == "" {
			codeURI, _ = str(get(t.root, "Globals", "Function", "CodeUri"))
		}
		if codeURI != "" {
			codeURI = strings.TrimSuffix(path.Clean(filepath.ToSlash(codeURI)), "/")
		}
		events, _ := get(r, "Properties", "Events").(map[string]any)
		for _, ev := range events {
			if get(ev, "Type") != "HttpApi" {
				continue
			}
			props := get(ev, "Properties")
			method, _ := str(get(props, "Method"))
			p, _ := str(get(props, "Path"))
			if method == "" {
				method = "ANY" // SAM's default for an HttpApi event without Method
			}
			if p == "" {
				p = "$default"
			}
			routes = append(routes, Route{
				Method:    strings.ToUpper(method),
				Path:      p,
				Function:  id,
				CodeURI:   codeURI,
				Protected: t.protected(props),
			})
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		if routes[i].Path != routes[j].Path {
			return routes[i].Path < routes[j].Path
		}
		return routes[i].Method < routes[j].Method
	})
	return routes
}

// protected tells whether an HttpApi event ends up behind an authorizer.
func (t *Template) protected(props any) bool {
	authorizer, ok := str(get(props, "Auth", "Authorizer"))
	if !ok {
		// No per-route choice: the API's default applies. An event without ApiId
		// belongs to SAM's implicit API, which only Globals configure.
		authorizer, ok = "", false
		if api, isRef := refTarget(get(props, "ApiId")); isRef {
			authorizer, ok = str(get(t.resources()[api], "Properties", "Auth", "DefaultAuthorizer"))
		}
		if !ok {
			authorizer, _ = str(get(t.root, "Globals", "HttpApi", "Auth", "DefaultAuthorizer"))
		}
	}
	return authorizer != "" && authorizer != "NONE"
}

// number returns a literal integer property.
func number(v any, where string) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("samtemplate: %s: want a literal integer, got %v", where, v)
}

// literal returns a required literal string property.
func literal(v any, where string) (string, error) {
	if s, ok := v.(string); ok && s != "" {
		return s, nil
	}
	if v == nil {
		return "", fmt.Errorf("samtemplate: %s: missing", where)
	}
	return "", fmt.Errorf("samtemplate: %s: want a literal string, got %v", where, v)
}

// list returns a sequence property (nil if absent).
func list(v any, where string) ([]any, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("samtemplate: %s: want a list, got %v", where, v)
	}
	return s, nil
}
