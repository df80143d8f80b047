package gateway

import (
	"fmt"
	"strings"
)

// segmentKind orders path segments by specificity: a literal beats a path
// variable, which beats a greedy variable.
type segmentKind int

const (
	literalSegment segmentKind = iota
	variableSegment
	greedySegment
)

// segment is one "/"-separated part of a route path.
type segment struct {
	kind  segmentKind
	value string // the literal text, or the variable's name
}

// compiledRoute is a Route with its route key and parsed path.
type compiledRoute struct {
	Route
	key       string // "GET /users/{id}", "ANY /{proxy+}" or "$default"
	method    string // upper case; "ANY" matches every method
	segments  []segment
	isDefault bool
}

const defaultRouteKey = "$default"

// compileRoute checks a Route and parses its path.
func compileRoute(rt Route) (*compiledRoute, error) {
	if rt.Handler == nil {
		return nil, fmt.Errorf("route %s %s has no handler", rt.Method, rt.Path)
	}
	if rt.Path == defaultRouteKey {
		if rt.Method != "" && !strings.EqualFold(rt.Method, "ANY") {
			return nil, fmt.Errorf("route $default takes no method, got %q", rt.Method)
		}
		return &compiledRoute{Route: rt, key: defaultRouteKey, method: "ANY", isDefault: true}, nil
	}
	method := strings.ToUpper(rt.Method)
	if method == "" || strings.ContainsFunc(method, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return nil, fmt.Errorf("route %q: invalid method %q", rt.Path, rt.Method)
	}
	if !strings.HasPrefix(rt.Path, "/") {
		return nil, fmt.Errorf("route %s %q: path must start with / or be $default", method, rt.Path)
	}
	parts := strings.Split(rt.Path[1:], "/")
	segs := make([]segment, 0, len(parts))
	names := make(map[string]bool)
	for i, p := range parts {
		if !strings.HasPrefix(p, "{") {
			if strings.ContainsAny(p, "{}") {
				return nil, fmt.Errorf("route %s %s: malformed segment %q", method, rt.Path, p)
			}
			segs = append(segs, segment{kind: literalSegment, value: p})
			continue
		}
		if !strings.HasSuffix(p, "}") || len(p) < 3 || strings.ContainsAny(p[1:len(p)-1], "{}") {
			return nil, fmt.Errorf("route %s %s: malformed path variable %q", method, rt.Path, p)
		}
		name, kind := p[1:len(p)-1], variableSegment
		if n, ok := strings.CutSuffix(name, "+"); ok {
			if i != len(parts)-1 {
				return nil, fmt.Errorf("route %s %s: greedy variable %q must be the last segment", method, rt.Path, p)
			}
			name, kind = n, greedySegment
		}
		if name == "" || names[name] {
			return nil, fmt.Errorf("route %s %s: empty or repeated variable %q", method, rt.Path, p)
		}
		names[name] = true
		segs = append(segs, segment{kind: kind, value: name})
	}
	return &compiledRoute{Route: rt, key: method + " " + rt.Path, method: method, segments: segs}, nil
}

// matchPath reports whether the route's path matches the request's path
// segments and returns the path variables it binds (nil if none).
func (c *compiledRoute) matchPath(parts []string) (map[string]string, bool) {
	var params map[string]string
	bind := func(name, value string) {
		if params == nil {
			params = make(map[string]string)
		}
		params[name] = value
	}
	for i, s := range c.segments {
		switch s.kind {
		case greedySegment:
			rest := strings.Join(parts[min(i, len(parts)):], "/")
			if rest == "" {
				return nil, false
			}
			bind(s.value, rest)
			return params, true
		case variableSegment:
			if i >= len(parts) || parts[i] == "" {
				return nil, false
			}
			bind(s.value, parts[i])
		default:
			if i >= len(parts) || parts[i] != s.value {
				return nil, false
			}
		}
	}
	if len(parts) != len(c.segments) {
		return nil, false
	}
	return params, true
}

// moreSpecific reports whether route a is a better match than route b for a
// request both match: segment by segment, a literal beats a variable, which
// beats a greedy variable; then a named method beats ANY.
func moreSpecific(a, b *compiledRoute) bool {
	for i := 0; i < min(len(a.segments), len(b.segments)); i++ {
		if a.segments[i].kind != b.segments[i].kind {
			return a.segments[i].kind < b.segments[i].kind
		}
	}
	if len(a.segments) != len(b.segments) {
		return len(a.segments) > len(b.segments)
	}
	return a.method != "ANY" && b.method == "ANY"
}

// match selects the route for a request, as API Gateway does: the most
// specific route whose path matches and whose method is the request's or
// ANY, else $default, else none. A known path with another method does not
// match (HTTP APIs have no 405).
func (g *gateway) match(method, resourcePath string) (*compiledRoute, map[string]string) {
	parts := strings.Split(strings.TrimPrefix(resourcePath, "/"), "/")
	var best *compiledRoute
	var bestParams map[string]string
	for _, c := range g.routes {
		if c.method != method && c.method != "ANY" {
			continue
		}
		params, ok := c.matchPath(parts)
		if !ok {
			continue
		}
		if best == nil || moreSpecific(c, best) {
			best, bestParams = c, params
		}
	}
	if best == nil && g.defaultRoute != nil {
		return g.defaultRoute, nil
	}
	return best, bestParams
}
