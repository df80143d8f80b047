package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// appOrigin is the one origin testCORS allows.
const appOrigin = "https://app.example.com"

// testCORS is the shape of the project's configuration: one origin, credentials,
// the contract's headers and methods, Retry-After exposed.
func testCORS() *CORS {
	maxAge := 600
	return &CORS{
		AllowOrigins:     []string{appOrigin},
		AllowCredentials: true,
		AllowHeaders:     []string{"Authorization", "Content-Type", "X-Session-Transport"},
		AllowMethods:     []string{"GET", "POST", "DELETE"},
		ExposeHeaders:    []string{"Retry-After"},
		MaxAge:           &maxAge,
	}
}

// corsAPI is a gateway with testCORS in front of a public login route whose
// function sets its own CORS header (which API Gateway ignores), a protected
// route whose authorizer refuses everyone, and a route that is always
// throttled. fn and auth count their invocations.
func corsAPI(t *testing.T, cors *CORS) (g *gateway, fn, auth *recorder) {
	t.Helper()
	fn, auth = &recorder{}, &recorder{}
	g = mustNew(t, Config{
		CORS:            cors,
		Authorizer:      auth.authorizer(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}),
		IdentityHeaders: []string{"Authorization"},
		Throttling: &Throttling{
			Default: Limit{Rate: 1000, Burst: 1000},
			Routes:  map[string]Limit{"DELETE /auth/sessions/{id}": {Rate: 0, Burst: 0}},
		},
		Routes: []Route{
			{Method: "POST", Path: "/auth/login", Handler: fn.handler(events.APIGatewayV2HTTPResponse{
				StatusCode: 429,
				Headers: map[string]string{
					"Retry-After":                 "7",
					"Access-Control-Allow-Origin": "*",
					"access-control-max-age":      "1",
				},
				Body: `{"error":"too_many_attempts","message":"slow down"}`,
			})},
			{Method: "GET", Path: "/me", Handler: fn.handler(ok), Protected: true},
			{Method: "DELETE", Path: "/auth/sessions/{id}", Handler: fn.handler(ok)},
		},
	})
	return g, fn, auth
}

// corsHeaders returns the Access-Control-* headers of an answer, one value each.
func corsHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for name, vals := range h {
		if strings.HasPrefix(name, "Access-Control-") {
			out[name] = strings.Join(vals, " | ")
		}
	}
	return out
}

func wantCORSHeaders(t *testing.T, got http.Header, want map[string]string) {
	t.Helper()
	g := corsHeaders(got)
	if len(g) != len(want) {
		t.Errorf("CORS headers = %v\nwant %v", g, want)
		return
	}
	for k, v := range want {
		if g[k] != v {
			t.Errorf("CORS headers = %v\nwant %v", g, want)
			return
		}
	}
}

// The headers of a permitted preflight, from testCORS.
var permittedPreflight = map[string]string{
	"Access-Control-Allow-Origin":      appOrigin,
	"Access-Control-Allow-Credentials": "true",
	"Access-Control-Allow-Methods":     "GET,POST,DELETE",
	"Access-Control-Allow-Headers":     "authorization,content-type,x-session-transport",
	"Access-Control-Max-Age":           "600",
}

// none is an answer without any CORS header.
var none = map[string]string{}

// TestCORSPreflights: API Gateway answers every OPTIONS request that no route
// takes with 204 and no body, before throttling, the authorizer or a function;
// the CORS headers come only with a preflight the configuration permits.
func TestCORSPreflights(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		want    map[string]string
	}{
		{"a preflight from the allowed origin gets the configuration", "/auth/login",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-session-transport"},
			permittedPreflight},
		{"a preflight for a protected route gets it without the authorizer", "/me",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
			permittedPreflight},
		{"a preflight for a route throttled to zero still gets it", "/auth/sessions/s1",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "DELETE"},
			permittedPreflight},
		{"a preflight for a path without routes gets it too", "/nowhere",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "GET"},
			permittedPreflight},
		{"requested header names match in any case and spacing", "/auth/login",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": " Content-Type ,AUTHORIZATION"},
			permittedPreflight},
		{"a preflight from another origin gets no CORS header", "/auth/login",
			map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
			none},
		{"an origin that only ends like the allowed one gets none", "/auth/login",
			map[string]string{"Origin": "https://evil.app.example.com", "Access-Control-Request-Method": "POST"},
			none},
		{"the allowed host over plain http gets none", "/auth/login",
			map[string]string{"Origin": "http://app.example.com", "Access-Control-Request-Method": "POST"},
			none},
		{"the allowed origin with a trailing slash gets none", "/auth/login",
			map[string]string{"Origin": appOrigin + "/", "Access-Control-Request-Method": "POST"},
			none},
		{"a method that is not allowed gets none", "/auth/login",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "PUT"},
			none},
		{"a method in another case gets none", "/auth/login",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "post"},
			none},
		{"a header that is not allowed gets none", "/auth/login",
			map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-csrf-token"},
			none},
		{"an OPTIONS without Access-Control-Request-Method is no preflight", "/auth/login",
			map[string]string{"Origin": appOrigin},
			none},
		{"an OPTIONS without Origin is no CORS request", "/auth/login",
			map[string]string{"Access-Control-Request-Method": "POST"},
			none},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, fn, auth := corsAPI(t, testCORS())
			req := newRequest("OPTIONS", tc.path, "")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := serve(g, req)
			if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
				t.Errorf("answer = %d %q, want 204 without a body", rec.Code, rec.Body)
			}
			wantCORSHeaders(t, rec.Header(), tc.want)
			if n, a := fn.callCount(), auth.callCount(); n != 0 || a != 0 {
				t.Errorf("the function ran %d times and the authorizer %d: a preflight reaches neither", n, a)
			}
		})
	}

	t.Run("two Origin headers get none", func(t *testing.T) {
		g, _, _ := corsAPI(t, testCORS())
		req := newRequest("OPTIONS", "/auth/login", "")
		req.Header.Add("Origin", appOrigin)
		req.Header.Add("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := serve(g, req)
		wantCORSHeaders(t, rec.Header(), none)
	})
	t.Run("a route that takes OPTIONS gets the request instead", func(t *testing.T) {
		var fn recorder
		g := mustNew(t, Config{CORS: testCORS(), Routes: []Route{{Method: "ANY", Path: "/{proxy+}", Handler: fn.handler(ok)}}})
		req := newRequest("OPTIONS", "/auth/login", "")
		req.Header.Set("Origin", appOrigin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := serve(g, req)
		if rec.Code != http.StatusOK || fn.callCount() != 1 {
			t.Fatalf("answer %d after %d invocations, want the ANY route's 200", rec.Code, fn.callCount())
		}
		wantCORSHeaders(t, rec.Header(), map[string]string{
			"Access-Control-Allow-Origin":      appOrigin,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    "retry-after",
		})
	})
}

// TestCORSOnAnswers: every answer to an allowed origin carries the origin,
// credentials and exposed headers, the gateway's own errors included; no other
// answer carries a CORS header, and a function's own CORS headers never pass.
func TestCORSOnAnswers(t *testing.T) {
	allowed := map[string]string{
		"Access-Control-Allow-Origin":      appOrigin,
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Expose-Headers":    "retry-after",
	}
	tests := []struct {
		name         string
		method, path string
		headers      map[string]string
		status       int
		want         map[string]string
	}{
		{"a function's answer to the allowed origin carries them, not the function's own", "POST", "/auth/login",
			map[string]string{"Origin": appOrigin}, 429, allowed},
		{"a function's answer to another origin carries none, not even the function's own", "POST", "/auth/login",
			map[string]string{"Origin": "https://evil.example"}, 429, none},
		{"a function's answer to a request without Origin carries none", "POST", "/auth/login",
			nil, 429, none},
		{"the gateway's 401 for a missing identity carries them", "GET", "/me",
			map[string]string{"Origin": appOrigin}, 401, allowed},
		{"the authorizer's refusal, 403, carries them", "GET", "/me",
			map[string]string{"Origin": appOrigin, "Authorization": "Bearer x"}, 403, allowed},
		{"the gateway's 429 for a throttled route carries them", "DELETE", "/auth/sessions/s1",
			map[string]string{"Origin": appOrigin}, 429, allowed},
		{"the gateway's 404 for an unknown route carries them", "GET", "/nowhere",
			map[string]string{"Origin": appOrigin}, 404, allowed},
		{"the gateway's 404 to another origin carries none", "GET", "/nowhere",
			map[string]string{"Origin": "https://evil.example"}, 404, none},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _, _ := corsAPI(t, testCORS())
			req := newRequest(tc.method, tc.path, "")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := serve(g, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tc.status, rec.Body)
			}
			wantCORSHeaders(t, rec.Header(), tc.want)
		})
	}

	t.Run("the function's other headers and body pass unchanged", func(t *testing.T) {
		g, _, _ := corsAPI(t, testCORS())
		req := newRequest("POST", "/auth/login", "")
		req.Header.Set("Origin", appOrigin)
		rec := serve(g, req)
		if got := rec.Header().Get("Retry-After"); got != "7" {
			t.Errorf("Retry-After = %q, want the function's 7", got)
		}
		if !strings.Contains(rec.Body.String(), "too_many_attempts") {
			t.Errorf("body = %s, want the function's", rec.Body)
		}
	})
}

// Without a CORS configuration nothing changes: OPTIONS is routed like any
// method (404 here) and a function's CORS headers pass as it set them.
func TestNoCORSByDefault(t *testing.T) {
	g, fn, _ := corsAPI(t, nil)
	req := newRequest("OPTIONS", "/auth/login", "")
	req.Header.Set("Origin", appOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	rec := serve(g, req)
	wantMessage(t, rec, http.StatusNotFound, "Not Found")
	wantCORSHeaders(t, rec.Header(), none)

	req = newRequest("POST", "/auth/login", "")
	req.Header.Set("Origin", appOrigin)
	rec = serve(g, req)
	wantCORSHeaders(t, rec.Header(), map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Max-Age": "1"})
	if fn.callCount() != 1 {
		t.Errorf("the function ran %d times, want 1 (the POST only)", fn.callCount())
	}
}

// The "*" origin, allowed without credentials, is answered as "*" (to any
// Origin), and no credentials header is sent.
func TestCORSAnyOrigin(t *testing.T) {
	cors := testCORS()
	cors.AllowOrigins, cors.AllowCredentials = []string{"*"}, false
	g, _, _ := corsAPI(t, cors)
	for _, method := range []string{"OPTIONS", "DELETE"} {
		req := newRequest(method, "/auth/sessions/s1", "")
		req.Header.Set("Origin", "https://anyone.example")
		req.Header.Set("Access-Control-Request-Method", "DELETE")
		rec := serve(g, req)
		got := corsHeaders(rec.Header())
		if got["Access-Control-Allow-Origin"] != "*" || got["Access-Control-Allow-Credentials"] != "" {
			t.Errorf("%s: CORS headers %v, want Allow-Origin * and no Allow-Credentials", method, got)
		}
	}
}

// New refuses what API Gateway refuses, and what the emulation would have to
// guess, each for its reason.
func TestNewRefusesCORSItCannotEmulate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*CORS)
		wantErr string
	}{
		{"the * origin with credentials", func(c *CORS) { c.AllowOrigins = []string{"*"} },
			"allow-credentials is not supported if 'allow-origin' is *"},
		{"an origin wildcard", func(c *CORS) { c.AllowOrigins = []string{"https://*"} }, `the origin wildcard "https://*" is not emulated`},
		{"an empty origin", func(c *CORS) { c.AllowOrigins = []string{appOrigin, ""} }, "an empty origin"},
		{"a header wildcard", func(c *CORS) { c.AllowHeaders = []string{"*"} }, "the wildcard in AllowHeaders is not emulated"},
		{"a method wildcard", func(c *CORS) { c.AllowMethods = []string{"GET", "*"} }, "the wildcard in AllowMethods is not emulated"},
		{"an exposed-header wildcard", func(c *CORS) { c.ExposeHeaders = []string{"*"} }, "the wildcard in ExposeHeaders is not emulated"},
		{"an empty header name", func(c *CORS) { c.AllowHeaders = []string{" "} }, "an empty name in AllowHeaders"},
		{"a negative MaxAge", func(c *CORS) { n := -1; c.MaxAge = &n }, "a negative MaxAge (-1) is not emulated"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			c := testCORS()
			tc.change(c)
			_, err := New(Config{CORS: c, Logger: discard, Routes: []Route{{Method: "GET", Path: "/x", Handler: echoRouteKey}}})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// Over a real connection the preflight answer is a bare 204: no body, no
// Content-Type, no Content-Length.
func TestCORSPreflightOverARealConnection(t *testing.T) {
	g, _, _ := corsAPI(t, testCORS())
	srv := httptest.NewServer(g)
	defer srv.Close()
	req, err := http.NewRequest("OPTIONS", srv.URL+"/auth/login", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", appOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("answer = %d %q, want 204 without a body", resp.StatusCode, body)
	}
	for _, h := range []string{"Content-Type", "Content-Length"} {
		if v, ok := resp.Header[h]; ok {
			t.Errorf("%s: %q, want none", h, v)
		}
	}
	if resp.Header.Get("Apigw-Requestid") == "" {
		t.Error("no Apigw-Requestid: every answer carries one")
	}
	wantCORSHeaders(t, resp.Header, permittedPreflight)
}
