package gateway

import (
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

var (
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{15}=$`)
	traceIDPattern   = regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`)
	uuidPattern      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// TestEventMatchesTheCapturedCurlRequest replays the captured event of a curl
// GET / on a $default route and stage, and expects the same event, field for
// field, but for the account, the mTLS certificate and the random ids.
func TestEventMatchesTheCapturedCurlRequest(t *testing.T) {
	var want events.APIGatewayV2HTTPRequest
	readFixture(t, "apigw-v2-request-no-authorizer.json", &want)

	var rec recorder
	g := mustNew(t, Config{
		Routes: []Route{{Path: "$default", Handler: rec.handler(ok)}},
		APIID:  "aaaaaaaaaa",
		Now:    fixedNow(want.RequestContext.TimeEpoch),
	})
	req := newRequest("GET", "https://aaaaaaaaaa.execute-api.us-west-2.amazonaws.com/", "")
	req.RemoteAddr = "1.2.3.4:51234"
	req.Header.Set("Accept", "*/*")
	req.Header.Set("User-Agent", "curl/7.58.0")
	if res := serve(g, req); res.Code != 200 {
		t.Fatalf("status %d", res.Code)
	}
	got := rec.lastEvent()

	if problems := missingFields(asJSON(t, want), asJSON(t, got), nil); len(problems) > 0 {
		t.Errorf("fields of the captured event that the gateway does not set alike:\n%s", strings.Join(problems, "\n"))
	}

	t.Run("the X-Ray trace header is generated in API Gateway's format", func(t *testing.T) {
		if !traceIDPattern.MatchString(got.Headers["x-amzn-trace-id"]) {
			t.Errorf("x-amzn-trace-id = %q", got.Headers["x-amzn-trace-id"])
		}
	})
	t.Run("the request id has the shape of API Gateway's", func(t *testing.T) {
		if !requestIDPattern.MatchString(got.RequestContext.RequestID) {
			t.Errorf("requestId = %q, want like %q", got.RequestContext.RequestID, want.RequestContext.RequestID)
		}
	})
	t.Run("every other header is the one API Gateway sent", func(t *testing.T) {
		wantHeaders := maps.Clone(want.Headers)
		gotHeaders := maps.Clone(got.Headers)
		delete(wantHeaders, "x-amzn-trace-id")
		delete(gotHeaders, "x-amzn-trace-id")
		if !reflect.DeepEqual(gotHeaders, wantHeaders) {
			t.Errorf("headers =\n%v\nwant\n%v", gotHeaders, wantHeaders)
		}
	})
	t.Run("the top-level fields are the captured ones", func(t *testing.T) {
		if got.Version != want.Version || got.RouteKey != want.RouteKey || got.RawPath != want.RawPath ||
			got.RawQueryString != want.RawQueryString || got.Body != want.Body || got.IsBase64Encoded != want.IsBase64Encoded {
			t.Errorf("got %+v", got)
		}
		if got.Cookies != nil || got.QueryStringParameters != nil || got.PathParameters != nil || got.StageVariables != nil {
			t.Errorf("optional fields set: cookies %v, query %v, path %v, stage variables %v",
				got.Cookies, got.QueryStringParameters, got.PathParameters, got.StageVariables)
		}
	})
	t.Run("the request context is the captured one", func(t *testing.T) {
		w, g := want.RequestContext, got.RequestContext
		w.AccountID, g.AccountID = "", ""
		w.RequestID, g.RequestID = "", ""
		w.Authentication = events.APIGatewayV2HTTPRequestContextAuthentication{} // mTLS is not emulated
		if !reflect.DeepEqual(g, w) {
			t.Errorf("requestContext =\n%+v\nwant\n%+v", g, w)
		}
		if got.RequestContext.AccountID != "local" {
			t.Errorf("accountId = %q, want local", got.RequestContext.AccountID)
		}
	})
}

// TestEventMatchesTheDocumentedAuthorizedEvent replays the documented event
// of a route behind a Lambda authorizer.
func TestEventMatchesTheDocumentedAuthorizedEvent(t *testing.T) {
	var want events.APIGatewayV2HTTPRequest
	readFixture(t, "apigw-v2-request-lambda-authorizer.json", &want)

	var handler, auth recorder
	g := mustNew(t, Config{
		Routes:          []Route{{Method: "GET", Path: "/{proxy+}", Handler: handler.handler(ok), Protected: true}},
		Authorizer:      auth.authorizer(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{"key": "value"}}),
		IdentityHeaders: []string{"Header1"},
		APIID:           want.RequestContext.APIID,
		Now:             fixedNow(want.RequestContext.TimeEpoch),
	})
	req := newRequest("GET", "https://id.execute-api.us-east-1.amazonaws.com/my/path?"+want.RawQueryString, want.Body)
	req.RemoteAddr = "IP"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "agent")
	for name, value := range want.Headers {
		req.Header.Set(name, value)
	}
	req.Header.Set("Cookie", strings.Join(want.Cookies, "; "))
	if res := serve(g, req); res.Code != 200 {
		t.Fatalf("status %d, body %s", res.Code, res.Body)
	}
	got := handler.lastEvent()

	skip := map[string]bool{"stageVariables": true} // stage variables are not emulated
	if problems := missingFields(asJSON(t, want), asJSON(t, got), skip); len(problems) > 0 {
		t.Errorf("fields of the documented event that the gateway does not set alike:\n%s", strings.Join(problems, "\n"))
	}

	tests := []struct {
		name      string
		got, want any
	}{
		{"the cookies arrive as an array", got.Cookies, want.Cookies},
		{"the raw query string is passed as it came", got.RawQueryString, want.RawQueryString},
		{"repeated query parameters are joined with commas", got.QueryStringParameters, want.QueryStringParameters},
		{"the authorizer's context is at requestContext.authorizer.lambda", got.RequestContext.Authorizer, want.RequestContext.Authorizer},
		{"the request's http description is the documented one", got.RequestContext.HTTP, want.RequestContext.HTTP},
		{"the domain name is the Host", got.RequestContext.DomainName, want.RequestContext.DomainName},
		{"the domain prefix is the first label of the Host", got.RequestContext.DomainPrefix, want.RequestContext.DomainPrefix},
		{"a JSON body is passed as text", []any{got.Body, got.IsBase64Encoded}, []any{want.Body, want.IsBase64Encoded}},
		{"the path variable is bound", got.PathParameters, map[string]string{"proxy": "my/path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	t.Run("the documented headers arrive under lower-cased names", func(t *testing.T) {
		for name, value := range lowerKeys(want.Headers) {
			if got.Headers[name] != value {
				t.Errorf("header %q = %q, want %q", name, got.Headers[name], value)
			}
		}
		if _, ok := got.Headers["cookie"]; ok {
			t.Error("the cookie header is still among the headers")
		}
	})
}

// TestAuthorizerEventMatchesTheDocumentedOne replays the documented event of
// a Lambda authorizer with payload format 2.0.
func TestAuthorizerEventMatchesTheDocumentedOne(t *testing.T) {
	var want events.APIGatewayV2CustomAuthorizerV2Request
	readFixture(t, "apigw-v2-custom-authorizer-v2-request.json", &want)

	var handler, auth recorder
	g := mustNew(t, Config{
		Routes:          []Route{{Method: "POST", Path: "/{parameter1}/path", Handler: handler.handler(ok), Protected: true}},
		Authorizer:      auth.authorizer(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}),
		IdentityHeaders: []string{"Authorization", "X-Tenant"},
		APIID:           want.RequestContext.APIID,
		Now:             fixedNow(want.RequestContext.TimeEpoch),
	})
	req := newRequest("POST", "https://id.execute-api.us-east-1.amazonaws.com/my/path?"+want.RawQueryString, "")
	req.RemoteAddr = "IP"
	req.Header.Set("User-Agent", "agent")
	req.Header.Set("Authorization", want.IdentitySource[0])
	req.Header.Set("X-Tenant", want.IdentitySource[1])
	for name, value := range want.Headers {
		req.Header.Set(name, value)
	}
	req.Header.Set("Cookie", strings.Join(want.Cookies, "; "))
	res := serve(g, req)
	wantMessage(t, res, http.StatusForbidden, "Forbidden")
	if handler.callCount() != 0 {
		t.Error("the handler ran although the authorizer denied the request")
	}
	got := auth.lastAuthEvent()

	skip := map[string]bool{"stageVariables": true}
	if problems := missingFields(asJSON(t, want), asJSON(t, got), skip); len(problems) > 0 {
		t.Errorf("fields of the documented event that the gateway does not set alike:\n%s", strings.Join(problems, "\n"))
	}

	tests := []struct {
		name      string
		got, want any
	}{
		{"the version is 2.0", got.Version, want.Version},
		{"the type is REQUEST", got.Type, want.Type},
		{"the identity source holds the identity headers' values in order", got.IdentitySource, want.IdentitySource},
		{"the route ARN names the API, stage, method and path", got.RouteArn, "arn:aws:execute-api:us-east-1:local:api-id/$default/POST/my/path"},
		{"the route key is the matched route's", got.RouteKey, "POST /{parameter1}/path"},
		{"the raw path is the request's", got.RawPath, want.RawPath},
		{"the raw query string is passed as it came", got.RawQueryString, want.RawQueryString},
		{"the cookies arrive as an array", got.Cookies, want.Cookies},
		{"repeated query parameters are joined with commas", got.QueryStringParameters, want.QueryStringParameters},
		{"the request's http description is the documented one", got.RequestContext.HTTP, want.RequestContext.HTTP},
		{"the request context has no authorizer yet", got.RequestContext.Authorizer, want.RequestContext.Authorizer},
		{"the path variables are bound", got.PathParameters, map[string]string{"parameter1": "my"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	t.Run("the documented headers arrive under lower-cased names", func(t *testing.T) {
		for name, value := range lowerKeys(want.Headers) {
			if got.Headers[name] != value {
				t.Errorf("header %q = %q, want %q", name, got.Headers[name], value)
			}
		}
	})
}

// TestRouteARNWithANamedStage checks the routeArn against the documented
// example "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request".
func TestRouteARNWithANamedStage(t *testing.T) {
	var auth recorder
	g := mustNew(t, Config{
		Routes:     []Route{{Method: "GET", Path: "/request", Handler: echoRouteKey, Protected: true}},
		Authorizer: auth.authorizer(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true}),
		APIID:      "abcdef123",
		Stage:      "test",
	})
	if res := serve(g, newRequest("GET", "/test/request", "")); res.Code != 200 {
		t.Fatalf("status %d", res.Code)
	}
	const want = "arn:aws:execute-api:us-east-1:local:abcdef123/test/GET/request"
	if got := auth.lastAuthEvent().RouteArn; got != want {
		t.Errorf("routeArn = %q, want %q", got, want)
	}
}

// TestEventTranslation covers the request translation case by case.
func TestEventTranslation(t *testing.T) {
	tests := []struct {
		name  string
		route string // path of a GET route; default "/x"
		req   func() *http.Request
		check func(t *testing.T, e events.APIGatewayV2HTTPRequest)
	}{
		{
			name: "repeated headers are joined with commas under a lower-cased name",
			req: func() *http.Request {
				r := newRequest("GET", "/x", "")
				r.Header.Add("X-Thing", "a")
				r.Header.Add("X-Thing", "b")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if got := e.Headers["x-thing"]; got != "a,b" {
					t.Errorf("x-thing = %q, want a,b", got)
				}
				if _, ok := e.Headers["X-Thing"]; ok {
					t.Error("the original header name is still there")
				}
			},
		},
		{
			name: "the Cookie header becomes the cookies array and leaves the headers",
			req: func() *http.Request {
				r := newRequest("GET", "/x", "")
				r.Header.Set("Cookie", "a=1; b=2;c=3")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if want := []string{"a=1", "b=2", "c=3"}; !slices.Equal(e.Cookies, want) {
					t.Errorf("cookies = %q, want %q", e.Cookies, want)
				}
				if _, ok := e.Headers["cookie"]; ok {
					t.Error("the cookie header is still among the headers")
				}
			},
		},
		{
			name: "several Cookie headers are split and kept in order",
			req: func() *http.Request {
				r := newRequest("GET", "/x", "")
				r.Header.Add("Cookie", "a=1; b=2")
				r.Header.Add("Cookie", "c=3")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if want := []string{"a=1", "b=2", "c=3"}; !slices.Equal(e.Cookies, want) {
					t.Errorf("cookies = %q, want %q", e.Cookies, want)
				}
			},
		},
		{
			name: "a request without cookies has no cookies field",
			req:  func() *http.Request { return newRequest("GET", "/x", "") },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.Cookies != nil {
					t.Errorf("cookies = %q", e.Cookies)
				}
			},
		},
		{
			name: "query parameters are percent-decoded and repeated ones joined with commas",
			req:  func() *http.Request { return newRequest("GET", "/x?q=a%20b&q=c+d&e=%2B&flag&=v", "") },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				want := map[string]string{"q": "a b,c d", "e": "+", "flag": "", "": "v"}
				if !reflect.DeepEqual(e.QueryStringParameters, want) {
					t.Errorf("queryStringParameters = %q, want %q", e.QueryStringParameters, want)
				}
				if e.RawQueryString != "q=a%20b&q=c+d&e=%2B&flag&=v" {
					t.Errorf("rawQueryString = %q", e.RawQueryString)
				}
			},
		},
		{
			name: "a request without a query string has no queryStringParameters",
			req:  func() *http.Request { return newRequest("GET", "/x", "") },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.QueryStringParameters != nil || e.RawQueryString != "" {
					t.Errorf("queryStringParameters = %v, rawQueryString = %q", e.QueryStringParameters, e.RawQueryString)
				}
			},
		},
		{
			name:  "path variables are bound percent-decoded, and so is rawPath",
			route: "/users/{id}",
			req:   func() *http.Request { return newRequest("GET", "/users/a%20b", "") },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.PathParameters["id"] != "a b" {
					t.Errorf("pathParameters = %q", e.PathParameters)
				}
				if e.RawPath != "/users/a b" || e.RequestContext.HTTP.Path != "/users/a b" {
					t.Errorf("rawPath = %q, http.path = %q", e.RawPath, e.RequestContext.HTTP.Path)
				}
				if e.RouteKey != "GET /users/{id}" || e.RequestContext.RouteKey != "GET /users/{id}" {
					t.Errorf("routeKey = %q / %q", e.RouteKey, e.RequestContext.RouteKey)
				}
			},
		},
		{
			name:  "a greedy variable binds the rest of the path",
			route: "/files/{proxy+}",
			req:   func() *http.Request { return newRequest("GET", "/files/a/b/c.txt", "") },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.PathParameters["proxy"] != "a/b/c.txt" {
					t.Errorf("pathParameters = %q", e.PathParameters)
				}
			},
		},
		{
			name: "the client's address is appended to its own X-Forwarded-For",
			req: func() *http.Request {
				r := newRequest("GET", "/x", "")
				r.RemoteAddr = "192.0.2.7:4000"
				r.Header.Set("X-Forwarded-For", "198.51.100.1")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if got := e.Headers["x-forwarded-for"]; got != "198.51.100.1, 192.0.2.7" {
					t.Errorf("x-forwarded-for = %q", got)
				}
				if e.RequestContext.HTTP.SourceIP != "192.0.2.7" {
					t.Errorf("sourceIp = %q, want the TCP peer", e.RequestContext.HTTP.SourceIP)
				}
			},
		},
		{
			name: "sourceIp is an IPv6 address without brackets or port",
			req: func() *http.Request {
				r := newRequest("GET", "/x", "")
				r.RemoteAddr = "[::1]:4000"
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.RequestContext.HTTP.SourceIP != "::1" {
					t.Errorf("sourceIp = %q", e.RequestContext.HTTP.SourceIP)
				}
			},
		},
		{
			name: "hop-by-hop headers do not reach the function",
			req: func() *http.Request {
				r := newRequest("GET", "/x", "")
				r.Header.Set("Connection", "keep-alive")
				r.Header.Set("Keep-Alive", "timeout=5")
				r.Header.Set("Upgrade", "h2c")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				for _, h := range []string{"connection", "keep-alive", "upgrade"} {
					if _, ok := e.Headers[h]; ok {
						t.Errorf("header %q reached the function", h)
					}
				}
			},
		},
		{
			name: "host, content-length and x-forwarded-* are set as API Gateway sets them",
			req: func() *http.Request {
				r := newRequest("POST", "http://localhost:3000/x", `{"a":1}`)
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				want := map[string]string{"host": "localhost:3000", "content-length": "7", "x-forwarded-proto": "http", "x-forwarded-port": "3000"}
				for k, v := range want {
					if e.Headers[k] != v {
						t.Errorf("%s = %q, want %q", k, e.Headers[k], v)
					}
				}
				if e.RequestContext.DomainName != "localhost:3000" || e.RequestContext.DomainPrefix != "localhost" {
					t.Errorf("domainName = %q, domainPrefix = %q", e.RequestContext.DomainName, e.RequestContext.DomainPrefix)
				}
			},
		},
		{
			name: "a JSON body with a charset is passed as text",
			req: func() *http.Request {
				r := newRequest("POST", "/x", `{"name":"zoë"}`)
				r.Header.Set("Content-Type", "application/json; charset=utf-8")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.IsBase64Encoded || e.Body != `{"name":"zoë"}` {
					t.Errorf("body = %q, isBase64Encoded = %v", e.Body, e.IsBase64Encoded)
				}
			},
		},
		{
			name: "a text/plain body is passed as text",
			req: func() *http.Request {
				r := newRequest("POST", "/x", "hello")
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.IsBase64Encoded || e.Body != "hello" {
					t.Errorf("body = %q, isBase64Encoded = %v", e.Body, e.IsBase64Encoded)
				}
			},
		},
		{
			name: "a binary body is base64-encoded",
			req: func() *http.Request {
				r := newRequest("POST", "/x", "\x00\x01\xff")
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if !e.IsBase64Encoded || e.Body != "AAH/" {
					t.Errorf("body = %q, isBase64Encoded = %v", e.Body, e.IsBase64Encoded)
				}
			},
		},
		{
			name: "a body without Content-Type is base64-encoded, even if it is JSON",
			req:  func() *http.Request { return newRequest("POST", "/x", `{"a":1}`) },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if !e.IsBase64Encoded || e.Body != "eyJhIjoxfQ==" {
					t.Errorf("body = %q, isBase64Encoded = %v", e.Body, e.IsBase64Encoded)
				}
			},
		},
		{
			name: "a form body is base64-encoded",
			req: func() *http.Request {
				r := newRequest("POST", "/x", "a=1")
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if !e.IsBase64Encoded || e.Body != "YT0x" {
					t.Errorf("body = %q, isBase64Encoded = %v", e.Body, e.IsBase64Encoded)
				}
			},
		},
		{
			name: "text that is not UTF-8 is base64-encoded",
			req: func() *http.Request {
				r := newRequest("POST", "/x", "caf\xe9")
				r.Header.Set("Content-Type", "text/plain; charset=latin1")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if !e.IsBase64Encoded || e.Body != "Y2Fm6Q==" {
					t.Errorf("body = %q, isBase64Encoded = %v", e.Body, e.IsBase64Encoded)
				}
			},
		},
		{
			name: "an empty body is absent and not base64-encoded",
			req: func() *http.Request {
				r := newRequest("POST", "/x", "")
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.IsBase64Encoded || e.Body != "" || e.Headers["content-length"] != "0" {
					t.Errorf("body = %q, isBase64Encoded = %v, content-length = %q", e.Body, e.IsBase64Encoded, e.Headers["content-length"])
				}
			},
		},
		{
			name: "the time fields come from Now, in UTC and in milliseconds",
			req:  func() *http.Request { return newRequest("GET", "/x", "") },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if e.RequestContext.Time != "12/Mar/2020:19:03:58 +0000" || e.RequestContext.TimeEpoch != 1584039838390 {
					t.Errorf("time = %q, timeEpoch = %d", e.RequestContext.Time, e.RequestContext.TimeEpoch)
				}
			},
		},
		{
			name: "the request id and stage are in the request context",
			req:  func() *http.Request { return newRequest("GET", "/x", "") },
			check: func(t *testing.T, e events.APIGatewayV2HTTPRequest) {
				if !requestIDPattern.MatchString(e.RequestContext.RequestID) {
					t.Errorf("requestId = %q", e.RequestContext.RequestID)
				}
				if e.RequestContext.Stage != "$default" || e.RequestContext.APIID != "local" || e.Version != "2.0" {
					t.Errorf("stage = %q, apiId = %q, version = %q", e.RequestContext.Stage, e.RequestContext.APIID, e.Version)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.route
			if path == "" {
				path = "/x"
			}
			var rec recorder
			routes := []Route{
				{Method: "GET", Path: path, Handler: rec.handler(ok)},
				{Method: "POST", Path: path, Handler: rec.handler(ok)},
			}
			g := mustNew(t, Config{Routes: routes, Now: fixedNow(1584039838390)})
			req := tt.req()
			if res := serve(g, req); res.Code != 200 {
				t.Fatalf("status %d, body %s", res.Code, res.Body)
			}
			tt.check(t, rec.lastEvent())
		})
	}
}
