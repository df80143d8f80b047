package main

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/gateway"
	"github.com/example/sessions/internal/samtemplate"
)

// envOf is a getenv over a map.
func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// routePath is a request path for a template route: each {variable} filled in.
func routePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "{") {
			parts[i] = "x1"
		}
	}
	return strings.Join(parts, "/")
}

// The local gateway's CORS is template.yaml's CorsConfiguration for the same
// parameters, field by field, and does on every template route what that
// configuration says: a browser's preflight from an allowed origin, asking for the
// route's method and every header the contract uses, is permitted with the
// template's lists and cache time; one from another origin gets no CORS header.
func TestLocalCORSIsTheTemplates(t *testing.T) {
	tmpl := realTemplate(t)
	tests := []struct {
		name    string
		env     map[string]string
		origins []string // nil: CORS off
		maxAge  int
	}{
		{"nothing set: CORS off, as the template's defaults", nil, nil, 0},
		{"one origin, the template's cache time", map[string]string{"CORS_ORIGINS": "http://localhost:5173"},
			[]string{"http://localhost:5173"}, 600},
		{"two origins and a cache time",
			map[string]string{"CORS_ORIGINS": "https://app.example.com,http://localhost:5173", "CORS_PREFLIGHT_CACHE_TTL": "5"},
			[]string{"https://app.example.com", "http://localhost:5173"}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := corsOf(tmpl, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			params := map[string]string{}
			for _, p := range corsParameters {
				if v := tc.env[p.env]; v != "" {
					params[p.param] = v
				}
			}
			want, err := tmpl.CORS(httpAPIResource, samtemplate.Deployment{Parameters: params})
			if err != nil {
				t.Fatal(err)
			}
			if tc.origins == nil {
				if got != nil || want != nil {
					t.Fatalf("corsOf = %+v, template %+v; want both off", got, want)
				}
				return
			}
			if want == nil || !slices.Equal(want.AllowOrigins, tc.origins) || *want.MaxAge != tc.maxAge {
				t.Fatalf("the template gives %+v for %v, want origins %v and MaxAge %d", want, params, tc.origins, tc.maxAge)
			}
			if !reflect.DeepEqual(*got, gateway.CORS(*want)) {
				t.Fatalf("corsOf = %+v\nthe template gives %+v", got, want)
			}

			var routes []gateway.Route
			for _, r := range tmpl.Routes() {
				routes = append(routes, gateway.Route{Method: r.Method, Path: r.Path, Handler: answer200, Protected: r.Protected})
			}
			gw, err := gateway.New(gateway.Config{Routes: routes, Authorizer: allowAll, IdentityHeaders: []string{"Authorization"}, CORS: got, Logger: discardLog})
			if err != nil {
				t.Fatal(err)
			}
			lower := func(l []string) string {
				out := make([]string, len(l))
				for i, s := range l {
					out[i] = strings.ToLower(s)
				}
				return strings.Join(out, ",")
			}
			permitted := map[string]string{
				"Access-Control-Allow-Origin":      tc.origins[len(tc.origins)-1],
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     strings.Join(want.AllowMethods, ","),
				"Access-Control-Allow-Headers":     lower(want.AllowHeaders),
				"Access-Control-Max-Age":           strconv.Itoa(tc.maxAge),
			}
			for _, r := range tmpl.Routes() {
				for _, origin := range []string{tc.origins[len(tc.origins)-1], "https://evil.example"} {
					req := httptest.NewRequest("OPTIONS", routePath(r.Path), nil)
					req.Header.Set("Origin", origin)
					req.Header.Set("Access-Control-Request-Method", r.Method)
					req.Header.Set("Access-Control-Request-Headers", strings.Join(want.AllowHeaders, ", "))
					rec := httptest.NewRecorder()
					gw.ServeHTTP(rec, req)
					wantHeaders := permitted
					if origin == "https://evil.example" {
						wantHeaders = map[string]string{}
					}
					if got := corsHeadersOf(rec.Header()); rec.Code != http.StatusNoContent || !reflect.DeepEqual(got, wantHeaders) {
						t.Errorf("preflight of %s %s from %s: %d %v\nwant 204 %v", r.Method, r.Path, origin, rec.Code, got, wantHeaders)
					}
				}
			}
		})
	}
}

// corsHeadersOf returns an answer's Access-Control-* headers.
func corsHeadersOf(h http.Header) map[string]string {
	out := map[string]string{}
	for name, vals := range h {
		if strings.HasPrefix(name, "Access-Control-") {
			out[name] = strings.Join(vals, " | ")
		}
	}
	return out
}

// A value that CloudFormation would refuse for the parameter stops the local server
// too, naming the variable and the reason.
func TestLocalCORSRefusesWhatADeployWould(t *testing.T) {
	tests := []struct {
		name, env, value, wantErr string
	}{
		{"any origin", "CORS_ORIGINS", "*", "CORS_ORIGINS: samtemplate: parameter CorsOrigins: \"*\" does not match its AllowedPattern"},
		{"an origin with a path", "CORS_ORIGINS", "http://localhost:5173/app", "does not match its AllowedPattern"},
		{"a cache time over a day", "CORS_PREFLIGHT_CACHE_TTL", "90000", "CORS_PREFLIGHT_CACHE_TTL: samtemplate: parameter CorsPreflightCacheTtl: 90000 is outside its MaxValue 86400"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := corsOf(realTemplate(t), envOf(map[string]string{"CORS_ORIGINS": "http://localhost:5173", tc.env: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("corsOf: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// template.yaml's CorsConfiguration covers the contract: every header a browser app
// sends (the authorizer's identity header, Content-Type for JSON bodies, the cookie
// transport's CSRF guard), every method of a route, and Retry-After, which 429 and
// 503 answers carry (internal/api) and a page must be able to read.
func TestTemplateCORSCoversTheContract(t *testing.T) {
	tmpl := realTemplate(t)
	c, err := tmpl.CORS(httpAPIResource, samtemplate.Deployment{Parameters: map[string]string{"CorsOrigins": "https://app.example.com"}})
	if err != nil || c == nil {
		t.Fatalf("CORS with an origin: %+v, %v", c, err)
	}
	has := func(list []string, name string) bool {
		return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, name) })
	}
	auths, err := tmpl.Authorizers(samtemplate.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	headers := []string{"Content-Type", api.TransportHeader}
	for _, a := range auths {
		headers = append(headers, a.IdentityHeaders...)
	}
	for _, h := range headers {
		if !has(c.AllowHeaders, h) {
			t.Errorf("AllowHeaders %v lacks %s", c.AllowHeaders, h)
		}
	}
	for _, r := range tmpl.Routes() {
		if !slices.Contains(c.AllowMethods, r.Method) {
			t.Errorf("AllowMethods %v lacks %s, the method of %s", c.AllowMethods, r.Method, r.Path)
		}
	}
	if !has(c.ExposeHeaders, "Retry-After") {
		t.Errorf("ExposeHeaders %v lacks Retry-After", c.ExposeHeaders)
	}
	if !c.AllowCredentials {
		t.Error("AllowCredentials is off: a browser would then send neither the refresh cookie nor read an answer to Authorization")
	}
}

// The local server takes CORS_ORIGINS: a preflight from that origin is answered by
// the gateway, and a real function's answer carries the CORS headers.
func TestEndToEndCORS(t *testing.T) {
	const origin = "http://localhost:5173"
	s := startServer(t, map[string]string{"CORS_ORIGINS": origin}, runOptions{})
	pre := do(t, "OPTIONS", s.URL+"/auth/login", map[string]string{
		"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
	}, "")
	wantStatus(t, "preflight", pre, http.StatusNoContent)
	if got := pre.header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("preflight: Access-Control-Allow-Origin %q, want %q", got, origin)
	}
	jwks := do(t, "GET", s.URL+"/.well-known/jwks.json", map[string]string{"Origin": origin}, "")
	wantStatus(t, "jwks", jwks, http.StatusOK)
	if got := jwks.header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("jwks: Access-Control-Allow-Origin %q, want %q", got, origin)
	}
	if got := jwks.header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("jwks: Access-Control-Allow-Credentials %q, want true", got)
	}
	if !strings.Contains(s.stdout.String(), "CORS:           "+origin+", with credentials") {
		t.Errorf("the banner does not say CORS is on for %s:\n%s", origin, s.stdout)
	}
}
