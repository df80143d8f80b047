package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// TestRouting follows the routing example of the API Gateway developer guide
// ("Routing API requests"), then the cases without a catch-all.
func TestRouting(t *testing.T) {
	documented := mustNew(t, Config{Routes: []Route{
		{Method: "GET", Path: "/pets/dog/1", Handler: echoRouteKey},
		{Method: "GET", Path: "/pets/dog/{id}", Handler: echoRouteKey},
		{Method: "GET", Path: "/pets/{proxy+}", Handler: echoRouteKey},
		{Method: "ANY", Path: "/{proxy+}", Handler: echoRouteKey},
		{Path: "$default", Handler: echoRouteKey},
	}})
	strict := mustNew(t, Config{Routes: []Route{
		{Method: "POST", Path: "/auth/login", Handler: echoRouteKey},
		{Method: "GET", Path: "/me", Handler: echoRouteKey},
		{Method: "GET", Path: "/users/{id}", Handler: echoRouteKey},
		{Method: "GET", Path: "/", Handler: echoRouteKey},
	}})
	staged := mustNew(t, Config{Stage: "v1", Routes: []Route{
		{Method: "GET", Path: "/me", Handler: echoRouteKey},
	}})

	tests := []struct {
		name         string
		gateway      http.Handler
		method, path string
		wantRoute    string // "" means 404 Not Found
	}{
		{"an exact route wins over a path variable", documented, "GET", "/pets/dog/1", "GET /pets/dog/1"},
		{"a path variable wins over a greedy variable", documented, "GET", "/pets/dog/2", "GET /pets/dog/{id}"},
		{"a greedy variable catches the children of its path", documented, "GET", "/pets/cat/1", "GET /pets/{proxy+}"},
		{"ANY catches a method that no route defines", documented, "POST", "/pets/dog/1", "ANY /{proxy+}"},
		{"$default catches what no route matches", documented, "GET", "/", "$default"},
		{"a known path with another method is 404, not 405", strict, "GET", "/auth/login", ""},
		{"an unknown path is 404", strict, "GET", "/nope", ""},
		{"a trailing slash is another path", strict, "GET", "/me/", ""},
		{"a path variable does not match an empty segment", strict, "GET", "/users/", ""},
		{"a path variable does not match two segments", strict, "GET", "/users/a/b", ""},
		{"the root route matches /", strict, "GET", "/", "GET /"},
		{"methods are case-sensitive", strict, "get", "/me", ""},
		{"a named stage's routes are under /<stage>", staged, "GET", "/v1/me", "GET /me"},
		{"a named stage does not answer outside its prefix", staged, "GET", "/me", ""},
		{"a named stage does not answer on a longer prefix", staged, "GET", "/v1x/me", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := serve(tt.gateway, newRequest(tt.method, tt.path, ""))
			if tt.wantRoute == "" {
				wantMessage(t, res, http.StatusNotFound, "Not Found")
				return
			}
			if res.Code != 200 || res.Body.String() != tt.wantRoute {
				t.Errorf("got %d %q, want route %q", res.Code, res.Body.String(), tt.wantRoute)
			}
		})
	}
}

// TestNamedStageKeepsItsPrefixInThePath: on AWS the stage segment stays in
// rawPath and requestContext.http.path.
func TestNamedStageKeepsItsPrefixInThePath(t *testing.T) {
	var rec recorder
	g := mustNew(t, Config{Stage: "v1", Routes: []Route{{Method: "GET", Path: "/me", Handler: rec.handler(ok)}}})
	serve(g, newRequest("GET", "/v1/me", ""))
	e := rec.lastEvent()
	if e.RawPath != "/v1/me" || e.RequestContext.HTTP.Path != "/v1/me" || e.RequestContext.Stage != "v1" {
		t.Errorf("rawPath %q, http.path %q, stage %q", e.RawPath, e.RequestContext.HTTP.Path, e.RequestContext.Stage)
	}
}

// TestAuthorizer covers protected routes.
func TestAuthorizer(t *testing.T) {
	allow := func(_ context.Context, _ events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{
			IsAuthorized: true,
			Context:      map[string]any{"sub": "u1", "sid": "s1", "scope": "read", "n": 1},
		}, nil
	}
	tests := []struct {
		name           string
		authorizer     Authorizer
		timeout        time.Duration
		path           string
		header         http.Header
		wantStatus     int
		wantMessage    string // gateway's own answer, if any
		wantAuthorizer bool   // whether the authorizer runs
		wantHandler    bool   // whether the handler runs
	}{
		{
			name:        "a request without the identity header is 401 and the authorizer does not run",
			authorizer:  allow,
			path:        "/me",
			header:      http.Header{},
			wantStatus:  401,
			wantMessage: "Unauthorized",
		},
		{
			name:        "an empty identity header is 401 and the authorizer does not run",
			authorizer:  allow,
			path:        "/me",
			header:      http.Header{"Authorization": {""}},
			wantStatus:  401,
			wantMessage: "Unauthorized",
		},
		{
			name:        "a blank identity header is 401 and the authorizer does not run",
			authorizer:  allow,
			path:        "/me",
			header:      http.Header{"Authorization": {"   "}},
			wantStatus:  401,
			wantMessage: "Unauthorized",
		},
		{
			name: "a request the authorizer denies is 403",
			authorizer: func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
				return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false, Context: map[string]any{"why": "no"}}, nil
			},
			path:           "/me",
			header:         http.Header{"Authorization": {"Bearer x"}},
			wantStatus:     403,
			wantMessage:    "Forbidden",
			wantAuthorizer: true,
		},
		{
			name: "an authorizer that returns an error is 500",
			authorizer: func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
				return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true}, errors.New("boom")
			},
			path:           "/me",
			header:         http.Header{"Authorization": {"Bearer x"}},
			wantStatus:     500,
			wantMessage:    "Internal Server Error",
			wantAuthorizer: true,
		},
		{
			name: "an authorizer that panics is 500",
			authorizer: func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
				panic("boom")
			},
			path:           "/me",
			header:         http.Header{"Authorization": {"Bearer x"}},
			wantStatus:     500,
			wantMessage:    "Internal Server Error",
			wantAuthorizer: true,
		},
		{
			name: "an authorizer that outlives its timeout is 500",
			authorizer: func(ctx context.Context, _ events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
				<-ctx.Done()
				time.Sleep(50 * time.Millisecond)
				return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true}, nil
			},
			timeout:        20 * time.Millisecond,
			path:           "/me",
			header:         http.Header{"Authorization": {"Bearer x"}},
			wantStatus:     500,
			wantMessage:    "Internal Server Error",
			wantAuthorizer: true,
		},
		{
			name:           "an allowed request reaches the handler",
			authorizer:     allow,
			path:           "/me",
			header:         http.Header{"Authorization": {"Bearer x"}},
			wantStatus:     200,
			wantAuthorizer: true,
			wantHandler:    true,
		},
		{
			name:        "an unprotected route does not run the authorizer",
			authorizer:  allow,
			path:        "/open",
			header:      http.Header{},
			wantStatus:  200,
			wantHandler: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var authCalls atomic.Int32
			var handler recorder
			g := mustNew(t, Config{
				Routes: []Route{
					{Method: "GET", Path: "/me", Handler: handler.handler(ok), Protected: true},
					{Method: "GET", Path: "/open", Handler: handler.handler(ok)},
				},
				Authorizer: func(ctx context.Context, e events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
					authCalls.Add(1)
					return tt.authorizer(ctx, e)
				},
				IdentityHeaders: []string{"Authorization"},
				Timeout:         tt.timeout,
			})
			req := newRequest("GET", tt.path, "")
			req.Header = tt.header
			res := serve(g, req)
			if tt.wantMessage != "" {
				wantMessage(t, res, tt.wantStatus, tt.wantMessage)
			} else if res.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", res.Code, tt.wantStatus)
			}
			if ran := authCalls.Load() > 0; ran != tt.wantAuthorizer {
				t.Errorf("authorizer ran: %v, want %v", ran, tt.wantAuthorizer)
			}
			if ran := handler.callCount() > 0; ran != tt.wantHandler {
				t.Errorf("handler ran: %v, want %v", ran, tt.wantHandler)
			}
		})
	}
}

// TestAuthorizerContextReachesTheHandler checks that the handler reads the
// authorizer's context where the design says: requestContext.authorizer.lambda,
// as it arrives from JSON.
func TestAuthorizerContextReachesTheHandler(t *testing.T) {
	var handler recorder
	g := mustNew(t, Config{
		Routes: []Route{{Method: "GET", Path: "/me", Handler: handler.handler(ok), Protected: true}},
		Authorizer: func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{
				IsAuthorized: true,
				Context:      map[string]any{"sub": "u1", "sid": "s1", "scope": "read write", "n": 1},
			}, nil
		},
		IdentityHeaders: []string{"Authorization"},
	})
	req := newRequest("GET", "/me", "")
	req.Header.Set("Authorization", "Bearer x")
	if res := serve(g, req); res.Code != 200 {
		t.Fatalf("status %d", res.Code)
	}
	authz := handler.lastEvent().RequestContext.Authorizer
	if authz == nil {
		t.Fatal("requestContext.authorizer is nil")
	}
	want := map[string]any{"sub": "u1", "sid": "s1", "scope": "read write", "n": float64(1)}
	if !reflect.DeepEqual(authz.Lambda, want) {
		t.Errorf("requestContext.authorizer.lambda = %#v, want %#v (numbers arrive as float64, from JSON)", authz.Lambda, want)
	}
	if authz.JWT != nil || authz.IAM != nil {
		t.Errorf("jwt = %v, iam = %v", authz.JWT, authz.IAM)
	}
}

// TestFunctionFailures covers what API Gateway answers when the function
// does not give a usable response.
func TestFunctionFailures(t *testing.T) {
	tests := []struct {
		name        string
		handler     Handler
		timeout     time.Duration
		integration time.Duration // shortened integration timeout, if set
		wantStatus  int
		wantMessage string
	}{
		{
			name: "a handler error is 500",
			handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return ok, errors.New("boom")
			},
			wantStatus: 500, wantMessage: "Internal Server Error",
		},
		{
			name: "a handler panic is 500",
			handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				var m map[string]int
				m["x"] = 1
				return ok, nil
			},
			wantStatus: 500, wantMessage: "Internal Server Error",
		},
		{
			name: "a response without a status code is 500",
			handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{Body: "forgot the status"}, nil
			},
			wantStatus: 500, wantMessage: "Internal Server Error",
		},
		{
			name: "a status code out of range is 500",
			handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{StatusCode: 700}, nil
			},
			wantStatus: 500, wantMessage: "Internal Server Error",
		},
		{
			name: "a body that claims to be base64 and is not is 500",
			handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "not base64!", IsBase64Encoded: true}, nil
			},
			wantStatus: 500, wantMessage: "Internal Server Error",
		},
		{
			name: "a response over Lambda's 6 MB limit is 500",
			handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: strings.Repeat("a", lambdaMaxResponseBytes)}, nil
			},
			wantStatus: 500, wantMessage: "Internal Server Error",
		},
		{
			name: "a handler that outlives the Lambda timeout is 500",
			handler: func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				<-ctx.Done()
				time.Sleep(50 * time.Millisecond)
				return ok, nil
			},
			timeout:    20 * time.Millisecond,
			wantStatus: 500, wantMessage: "Internal Server Error",
		},
		{
			name: "a handler that outlives the integration timeout is 503",
			handler: func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				time.Sleep(100 * time.Millisecond)
				return ok, nil
			},
			timeout:     time.Second,
			integration: 20 * time.Millisecond,
			wantStatus:  503, wantMessage: "Service Unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustNew(t, Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: tt.handler}}, Timeout: tt.timeout})
			if tt.integration > 0 {
				g.integrationTimeout = tt.integration
			}
			wantMessage(t, serve(g, newRequest("GET", "/x", "")), tt.wantStatus, tt.wantMessage)
		})
	}
}

// TestResponses covers the translation of the function's response.
func TestResponses(t *testing.T) {
	tests := []struct {
		name  string
		resp  events.APIGatewayV2HTTPResponse
		check func(t *testing.T, status int, h http.Header, body string)
	}{
		{
			name: "status, headers and body are passed through",
			resp: events.APIGatewayV2HTTPResponse{StatusCode: 201, Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, Body: `{"a":1}`},
			check: func(t *testing.T, status int, h http.Header, body string) {
				if status != 201 || body != `{"a":1}` || h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" {
					t.Errorf("got %d %q %v", status, body, h)
				}
				if h.Get("Content-Length") != "7" {
					t.Errorf("Content-Length = %q", h.Get("Content-Length"))
				}
			},
		},
		{
			name: "each cookie becomes its own Set-Cookie header",
			resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Cookies: []string{"a=1; Path=/; HttpOnly", "b=2; Max-Age=0"}},
			check: func(t *testing.T, status int, h http.Header, body string) {
				if want := []string{"a=1; Path=/; HttpOnly", "b=2; Max-Age=0"}; !slices.Equal(h.Values("Set-Cookie"), want) {
					t.Errorf("Set-Cookie = %q, want %q", h.Values("Set-Cookie"), want)
				}
			},
		},
		{
			name: "a base64 body is decoded",
			resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "AAH/", IsBase64Encoded: true, Headers: map[string]string{"content-type": "application/octet-stream"}},
			check: func(t *testing.T, status int, h http.Header, body string) {
				if body != "\x00\x01\xff" || h.Get("Content-Length") != "3" {
					t.Errorf("body %q, Content-Length %q", body, h.Get("Content-Length"))
				}
			},
		},
		{
			name: "a response without Content-Type gets none (no sniffing)",
			resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "<html>"},
			check: func(t *testing.T, status int, h http.Header, body string) {
				if ct, ok := h["Content-Type"]; ok && len(ct) > 0 {
					t.Errorf("Content-Type = %q", ct)
				}
			},
		},
		{
			name: "multiValueHeaders is ignored, as format 2.0 has no such field",
			resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, MultiValueHeaders: map[string][]string{"X-Multi": {"a", "b"}}},
			check: func(t *testing.T, status int, h http.Header, body string) {
				if v := h.Values("X-Multi"); len(v) > 0 {
					t.Errorf("X-Multi = %q", v)
				}
			},
		},
		{
			name: "a Content-Length from the function does not override the real one",
			resp: events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "abc", Headers: map[string]string{"Content-Length": "99"}},
			check: func(t *testing.T, status int, h http.Header, body string) {
				if h.Get("Content-Length") != "3" || body != "abc" {
					t.Errorf("Content-Length %q, body %q", h.Get("Content-Length"), body)
				}
			},
		},
		{
			name: "the response carries the apigw-requestid header",
			resp: ok,
			check: func(t *testing.T, status int, h http.Header, body string) {
				if !requestIDPattern.MatchString(h.Get("Apigw-Requestid")) {
					t.Errorf("apigw-requestid = %q", h.Get("Apigw-Requestid"))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			g := mustNew(t, Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: rec.handler(tt.resp)}}})
			res := serve(g, newRequest("GET", "/x", ""))
			tt.check(t, res.Code, res.Header(), res.Body.String())
		})
	}
}

// TestGatewayAnswersCarryTheRequestID: API Gateway's own errors have the id too.
func TestGatewayAnswersCarryTheRequestID(t *testing.T) {
	g := mustNew(t, Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: echoRouteKey}}})
	res := serve(g, newRequest("GET", "/nope", ""))
	if !requestIDPattern.MatchString(res.Header().Get("Apigw-Requestid")) {
		t.Errorf("apigw-requestid = %q", res.Header().Get("Apigw-Requestid"))
	}
}

// chunked is a body of unknown length (no Content-Length).
type chunked struct{ io.Reader }

// TestPayloadLimits covers the 10 MB quota of HTTP APIs and the 6 MB limit
// of a Lambda invocation.
func TestPayloadLimits(t *testing.T) {
	tests := []struct {
		name        string
		req         func() *http.Request
		wantStatus  int
		wantBody    string
		wantHandler bool
	}{
		{
			name: "a Content-Length over 10 MB is 413 and the function does not run",
			req: func() *http.Request {
				r := newRequest("POST", "/x", "small")
				r.ContentLength = maxBodyBytes + 1
				return r
			},
			wantStatus: 413, wantBody: tooLargeBody,
		},
		{
			name: "a body of unknown length over 10 MB is 413 and the function does not run",
			req: func() *http.Request {
				r := newRequest("POST", "/x", "")
				r.Body = io.NopCloser(chunked{io.LimitReader(zeros{}, maxBodyBytes+1)})
				r.ContentLength = -1
				return r
			},
			wantStatus: 413, wantBody: tooLargeBody,
		},
		{
			name: "a body under 10 MB whose event is over Lambda's 6 MB is 413",
			req: func() *http.Request {
				r := newRequest("POST", "/x", strings.Repeat("a", 7<<20))
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			wantStatus: 413, wantBody: `{"message":"Request Too Long"}`,
		},
		{
			name: "a binary body of 5 MB is over the limit once base64-encoded",
			req: func() *http.Request {
				r := newRequest("POST", "/x", strings.Repeat("\x00", 5<<20))
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			wantStatus: 413, wantBody: `{"message":"Request Too Long"}`,
		},
		{
			name: "a body of 4 MB reaches the function",
			req: func() *http.Request {
				r := newRequest("POST", "/x", strings.Repeat("a", 4<<20))
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			wantStatus: 200, wantBody: "ok", wantHandler: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			g := mustNew(t, Config{Routes: []Route{{Method: "POST", Path: "/x", Handler: rec.handler(ok)}}})
			res := serve(g, tt.req())
			if res.Code != tt.wantStatus || res.Body.String() != tt.wantBody {
				t.Errorf("got %d %.80q, want %d %q", res.Code, res.Body.String(), tt.wantStatus, tt.wantBody)
			}
			if ran := rec.callCount() > 0; ran != tt.wantHandler {
				t.Errorf("handler ran: %v, want %v", ran, tt.wantHandler)
			}
		})
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestLambdaContext checks what a handler finds in its context.
func TestLambdaContext(t *testing.T) {
	var rec recorder
	g := mustNew(t, Config{
		Routes:  []Route{{Method: "GET", Path: "/x", Handler: rec.handler(ok), Name: "me"}},
		Timeout: 3 * time.Second,
	})
	start := time.Now()
	if res := serve(g, newRequest("GET", "/x", "")); res.Code != 200 {
		t.Fatalf("status %d", res.Code)
	}
	rec.mu.Lock()
	ctx := rec.ctx
	rec.mu.Unlock()

	t.Run("it carries a LambdaContext with a request id and the function's ARN", func(t *testing.T) {
		lc, ok := lambdacontext.FromContext(ctx)
		if !ok {
			t.Fatal("no LambdaContext")
		}
		if !uuidPattern.MatchString(lc.AwsRequestID) {
			t.Errorf("AwsRequestID = %q", lc.AwsRequestID)
		}
		if lc.InvokedFunctionArn != "arn:aws:lambda:us-east-1:local:function:me" {
			t.Errorf("InvokedFunctionArn = %q", lc.InvokedFunctionArn)
		}
	})
	t.Run("its deadline is the function's timeout", func(t *testing.T) {
		deadline, ok := ctx.Deadline()
		if !ok {
			t.Fatal("no deadline")
		}
		if d := deadline.Sub(start); d <= 2*time.Second || d > 4*time.Second {
			t.Errorf("deadline in %v, want about 3s", d)
		}
	})
}

// TestAClientThatGoesAwayDoesNotCancelTheInvocation: on AWS the Lambda
// function runs to the end even if the client disconnects.
func TestAClientThatGoesAwayDoesNotCancelTheInvocation(t *testing.T) {
	var cancelled atomic.Bool
	g := mustNew(t, Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		cancelled.Store(ctx.Err() != nil)
		return ok, nil
	}}}})
	clientCtx, cancel := context.WithCancel(context.Background())
	cancel()
	if res := serve(g, newRequest("GET", "/x", "").WithContext(clientCtx)); res.Code != 200 {
		t.Fatalf("status %d", res.Code)
	}
	if cancelled.Load() {
		t.Error("the handler's context was done although only the client had gone")
	}
}

// TestLogging checks the one line per request, and that credentials never
// reach the log.
func TestLogging(t *testing.T) {
	var buf logBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g := mustNew(t, Config{
		Routes: []Route{
			{Method: "POST", Path: "/me", Handler: echoRouteKey, Protected: true},
			{Method: "POST", Path: "/fail", Handler: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return ok, errors.New("handler broke")
			}},
		},
		Authorizer: func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{"sub": "u1"}}, nil
		},
		IdentityHeaders: []string{"Authorization"},
		Logger:          logger,
	})
	send := func(path string) string {
		req := newRequest("POST", path+"?token=secret-query", `{"password":"secret-body"}`)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer secret-token")
		req.Header.Set("Cookie", "refresh=secret-cookie")
		return serve(g, req).Header().Get("Apigw-Requestid")
	}
	okID := send("/me")
	failID := send("/fail")

	var requests []map[string]any
	var failures []map[string]any
	for _, line := range buf.lines(t) {
		switch line["msg"] {
		case "request":
			requests = append(requests, line)
		case "function invocation failed":
			failures = append(failures, line)
		}
	}
	t.Run("each request is logged once with method, path, route, status, duration and id", func(t *testing.T) {
		if len(requests) != 2 {
			t.Fatalf("%d request lines, want 2:\n%s", len(requests), buf.String())
		}
		want := []map[string]any{
			{"method": "POST", "path": "/me", "route": "POST /me", "status": 200.0, "requestId": okID},
			{"method": "POST", "path": "/fail", "route": "POST /fail", "status": 500.0, "requestId": failID},
		}
		for i, w := range want {
			for k, v := range w {
				if requests[i][k] != v {
					t.Errorf("line %d: %s = %v, want %v", i, k, requests[i][k], v)
				}
			}
			if _, ok := requests[i]["duration"]; !ok {
				t.Errorf("line %d has no duration", i)
			}
		}
	})
	t.Run("a function failure is logged with its error and request id", func(t *testing.T) {
		if len(failures) != 1 || failures[0]["requestId"] != failID || !strings.Contains(failures[0]["error"].(string), "handler broke") {
			t.Errorf("failure lines = %v", failures)
		}
	})
	t.Run("no header value, query string or body reaches the log", func(t *testing.T) {
		if strings.Contains(buf.String(), "secret") {
			t.Errorf("a secret was logged:\n%s", buf.String())
		}
	})
}

// TestNewRejectsBadConfig covers the configuration errors.
func TestNewRejectsBadConfig(t *testing.T) {
	authorizer := func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, nil
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"a config without routes", Config{}},
		{"a route without a handler", Config{Routes: []Route{{Method: "GET", Path: "/x"}}}},
		{"a protected route without an authorizer", Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: echoRouteKey, Protected: true}}}},
		{"two routes with the same key", Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: echoRouteKey}, {Method: "get", Path: "/x", Handler: echoRouteKey}}}},
		{"two $default routes", Config{Routes: []Route{{Path: "$default", Handler: echoRouteKey}, {Method: "ANY", Path: "$default", Handler: echoRouteKey}}}},
		{"a route without a method", Config{Routes: []Route{{Path: "/x", Handler: echoRouteKey}}}},
		{"a method that is not a token", Config{Routes: []Route{{Method: "GE T", Path: "/x", Handler: echoRouteKey}}}},
		{"a path without a leading slash", Config{Routes: []Route{{Method: "GET", Path: "x", Handler: echoRouteKey}}}},
		{"a greedy variable before the last segment", Config{Routes: []Route{{Method: "GET", Path: "/{proxy+}/x", Handler: echoRouteKey}}}},
		{"an unclosed path variable", Config{Routes: []Route{{Method: "GET", Path: "/{id", Handler: echoRouteKey}}}},
		{"a variable inside a literal segment", Config{Routes: []Route{{Method: "GET", Path: "/a{id}", Handler: echoRouteKey}}}},
		{"an empty variable name", Config{Routes: []Route{{Method: "GET", Path: "/{}", Handler: echoRouteKey}}}},
		{"a repeated variable name", Config{Routes: []Route{{Method: "GET", Path: "/{id}/{id}", Handler: echoRouteKey}}}},
		{"$default with a method", Config{Routes: []Route{{Method: "GET", Path: "$default", Handler: echoRouteKey}}}},
		{"a negative timeout", Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: echoRouteKey}}, Timeout: -time.Second}},
		{"a stage with a slash", Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: echoRouteKey}}, Stage: "a/b"}},
		{"an empty identity header name", Config{Routes: []Route{{Method: "GET", Path: "/x", Handler: echoRouteKey, Protected: true}}, Authorizer: authorizer, IdentityHeaders: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is rejected", func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Error("New accepted it")
			}
		})
	}
}

// TestOverARealConnection runs the gateway behind a real HTTP server, where
// net/http (not httptest.NewRequest) parses the request.
func TestOverARealConnection(t *testing.T) {
	var rec recorder
	g := mustNew(t, Config{Routes: []Route{{Method: "POST", Path: "/auth/login", Handler: rec.handler(events.APIGatewayV2HTTPResponse{
		StatusCode: 200,
		Body:       `{"ok":true}`,
		Cookies:    []string{"a=1; HttpOnly", "b=2"},
	})}}})
	srv := httptest.NewServer(g)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	// A body of unknown length is sent chunked.
	req, _ := http.NewRequest("POST", srv.URL+"/auth/login?x=1", io.MultiReader(strings.NewReader(`{"user":`), strings.NewReader(`"a"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "c=3")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	e := rec.lastEvent()

	t.Run("the client gets the function's response", func(t *testing.T) {
		if res.StatusCode != 200 || string(body) != `{"ok":true}` {
			t.Errorf("got %d %q", res.StatusCode, body)
		}
		if want := []string{"a=1; HttpOnly", "b=2"}; !slices.Equal(res.Header.Values("Set-Cookie"), want) {
			t.Errorf("Set-Cookie = %q", res.Header.Values("Set-Cookie"))
		}
		if ct := res.Header.Get("Content-Type"); ct != "" {
			t.Errorf("Content-Type = %q, want none", ct)
		}
	})
	t.Run("the function gets the body, with its real length and without transfer-encoding", func(t *testing.T) {
		if e.Body != `{"user":"a"}` || e.IsBase64Encoded {
			t.Errorf("body %q, base64 %v", e.Body, e.IsBase64Encoded)
		}
		if e.Headers["content-length"] != "12" {
			t.Errorf("content-length = %q", e.Headers["content-length"])
		}
		if _, ok := e.Headers["transfer-encoding"]; ok {
			t.Error("transfer-encoding reached the function")
		}
	})
	t.Run("host, port and source address are the connection's", func(t *testing.T) {
		if e.Headers["host"] != u.Host || e.RequestContext.DomainName != u.Host {
			t.Errorf("host = %q, domainName = %q, want %q", e.Headers["host"], e.RequestContext.DomainName, u.Host)
		}
		if e.Headers["x-forwarded-port"] != u.Port() || e.Headers["x-forwarded-proto"] != "http" {
			t.Errorf("x-forwarded-port = %q, x-forwarded-proto = %q", e.Headers["x-forwarded-port"], e.Headers["x-forwarded-proto"])
		}
		if e.RequestContext.HTTP.SourceIP != "127.0.0.1" || e.Headers["x-forwarded-for"] != "127.0.0.1" {
			t.Errorf("sourceIp = %q, x-forwarded-for = %q", e.RequestContext.HTTP.SourceIP, e.Headers["x-forwarded-for"])
		}
		if e.RequestContext.HTTP.UserAgent == "" || e.Headers["user-agent"] != e.RequestContext.HTTP.UserAgent {
			t.Errorf("userAgent = %q, header %q", e.RequestContext.HTTP.UserAgent, e.Headers["user-agent"])
		}
	})
	t.Run("cookies and query arrive translated", func(t *testing.T) {
		if !slices.Equal(e.Cookies, []string{"c=3"}) || e.QueryStringParameters["x"] != "1" {
			t.Errorf("cookies %q, query %q", e.Cookies, e.QueryStringParameters)
		}
	})
}
