package main

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"net/http"
	"strings"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/gateway"
	"github.com/example/sessions/internal/samtemplate"
)

// routeFunction returns the function of app.Functions that a template route's
// CodeUri (functions/<name>) names, if it serves HTTP.
func routeFunction(codeURI string) (func(*app.App) app.HTTPHandler, bool) {
	name, ok := strings.CutPrefix(codeURI, "functions/")
	if !ok {
		return nil, false
	}
	f, ok := app.Lookup(name)
	if !ok || f.HTTP == nil {
		return nil, false
	}
	return f.HTTP, true
}

// authorizerOf returns the handler of the function of app.Functions that is the
// Lambda authorizer.
func authorizerOf(a *app.App) (gateway.Authorizer, error) {
	for _, f := range app.Functions {
		if f.Authorizer != nil {
			return f.Authorizer(a), nil
		}
	}
	return nil, fmt.Errorf("app.Functions has no authorizer")
}

// plannedRoute is a template route with the handler it maps to.
type plannedRoute struct {
	route   samtemplate.Route
	handler func(*app.App) app.HTTPHandler
}

// routePlan is every route template.yaml declares, each mapped to local code.
type routePlan []plannedRoute

// planRoutes maps every HttpApi route of the template to its in-process handler. A
// route whose function has no local mapping, or that the demo page would hide, is an
// error: the local server serves all of the API or refuses to start.
func planRoutes(tmpl *samtemplate.Template) (routePlan, error) {
	routes := tmpl.Routes()
	if len(routes) == 0 {
		return nil, fmt.Errorf("template.yaml declares no HttpApi route")
	}
	var plan routePlan
	var problems []string
	for _, r := range routes {
		if localOnly(r.Path) {
			problems = append(problems, fmt.Sprintf("%s %s (%s) clashes with the local demo page at /, /sessions.js and /_local/", r.Method, r.Path, r.Function))
			continue
		}
		h, ok := routeFunction(r.CodeURI)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s %s: function %s (CodeUri %q) is not an HTTP function of app.Functions (internal/app)", r.Method, r.Path, r.Function, r.CodeURI))
			continue
		}
		plan = append(plan, plannedRoute{route: r, handler: h})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("template.yaml routes the local server cannot serve:\n  %s", strings.Join(problems, "\n  "))
	}
	return plan, nil
}

// httpAPIResource is the logical ID of template.yaml's AWS::Serverless::HttpApi.
const httpAPIResource = "HttpApi"

// throttlingOf returns the route throttling template.yaml gives the HTTP API, at the
// parameters' defaults, in the local gateway's terms: the local server answers 429
// where the deployed API would (at the default limits).
func throttlingOf(tmpl *samtemplate.Template) (*gateway.Throttling, error) {
	th, err := tmpl.Throttling(httpAPIResource, samtemplate.Deployment{})
	if err != nil {
		return nil, err
	}
	if th.Default == nil && len(th.Routes) == 0 {
		return nil, nil
	}
	// A stage without default route settings has no route limit of its own (only the
	// account's, which is not emulated).
	out := &gateway.Throttling{Default: gateway.Limit{Rate: math.MaxFloat64, Burst: math.MaxInt}}
	if th.Default != nil {
		out.Default = gateway.Limit{Rate: th.Default.Rate, Burst: th.Default.Burst}
	}
	for key, l := range th.Routes {
		if out.Routes == nil {
			out.Routes = make(map[string]gateway.Limit)
		}
		out.Routes[key] = gateway.Limit{Rate: l.Rate, Burst: l.Burst}
	}
	return out, nil
}

// bind returns the gateway routes served by a's handlers.
func (p routePlan) bind(a *app.App) []gateway.Route {
	out := make([]gateway.Route, 0, len(p))
	for _, r := range p {
		out = append(out, gateway.Route{
			Method:    r.route.Method,
			Path:      r.route.Path,
			Handler:   r.handler(a),
			Protected: r.route.Protected,
			Name:      r.route.Function,
		})
	}
	return out
}

// The demo page: plain files embedded from local/web, no build step, and the browser
// module it imports, embedded from clients/browser by the root package.
//
//go:embed web
var web embed.FS

// assets are the local-only paths and their files.
var assets = map[string]struct{ file, contentType string }{
	"/":                   {"web/index.html", "text/html; charset=utf-8"},
	"/_local/app.js":      {"web/app.js", "text/javascript; charset=utf-8"},
	"/_local/style.css":   {"web/style.css", "text/css; charset=utf-8"},
	"/_local/favicon.svg": {"web/favicon.svg", "image/svg+xml"},
	clientPath:            {"", "text/javascript; charset=utf-8"}, // sessions.BrowserClient
}

// clientPath is where the local server serves the browser module
// (clients/browser/sessions.js), which the demo page imports.
const clientPath = "/sessions.js"

// localOnly reports whether a template path would collide with the demo page.
func localOnly(path string) bool {
	return path == "/" || path == clientPath || path == "/_local" || strings.HasPrefix(path, "/_local/")
}

// pageCSP allows the page its own script, style and fetches, and nothing else.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// handler serves the demo page's files on GET and HEAD and hands everything else,
// unchanged, to the API Gateway emulator.
type handler struct {
	api   http.Handler
	files map[string][]byte
}

// transportMeta names the browser module's transport for the demo page (app.js reads
// it; without it the page uses the cookie transport).
const transportMeta = `<meta name="sessions-transport" content="%s">`

// newHandler serves the demo page with the module's transport that fits the server:
// in cookie-only mode (ACCESS_TOKEN_COOKIE=on) "cookie-only", since a cookie-transport
// page would get no access token to send.
func newHandler(api http.Handler, cookieOnly bool) http.Handler {
	h := &handler{api: api, files: map[string][]byte{}}
	for path, a := range assets {
		if a.file == "" {
			h.files[path] = sessions.BrowserClient
			continue
		}
		b, err := web.ReadFile(a.file)
		if err != nil {
			panic(err) // the files are embedded at build time
		}
		if path == "/" && cookieOnly {
			charset := []byte(`<meta charset="utf-8">`)
			if !bytes.Contains(b, charset) {
				panic("local/web/index.html has no " + string(charset))
			}
			b = bytes.Replace(b, charset, append(append(charset, '\n'), fmt.Sprintf(transportMeta, "cookie-only")...), 1)
		}
		h.files[path] = b
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if body, ok := h.files[r.URL.Path]; ok {
			hd := w.Header()
			hd.Set("Content-Type", assets[r.URL.Path].contentType)
			hd.Set("Content-Security-Policy", pageCSP)
			hd.Set("X-Content-Type-Options", "nosniff")
			hd.Set("Referrer-Policy", "no-referrer")
			hd.Set("Cache-Control", "no-cache")
			_, _ = w.Write(body)
			return
		}
	}
	h.api.ServeHTTP(w, r)
}
