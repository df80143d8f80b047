// Package gateway emulates, in process, an Amazon API Gateway HTTP API that
// invokes Lambda functions with payload format version 2.0. It lets the local
// server run the real Lambda handlers on one machine, without Docker or SAM.
//
// What it reproduces (see the package tests and docs/ for the sources):
//
//   - routing on method and path, with {param} and greedy {proxy+} path
//     variables, the ANY method and the $default route; a request that no
//     route matches, including a known path with another method, is answered
//     404 {"message":"Not Found"};
//   - the request event: lower-cased headers with repeated values joined by
//     commas, the Cookie header moved into the cookies array, decoded
//     queryStringParameters joined by commas, pathParameters, the
//     requestContext, and a body that is passed as text only for text/*,
//     application/json, application/xml and application/javascript (anything
//     else, including a request without Content-Type, arrives base64-encoded
//     with isBase64Encoded true);
//   - a Lambda REQUEST authorizer with simple responses: a missing or empty
//     identity header is 401 without invoking it (with no identity headers,
//     every request reaches it), isAuthorized false is 403,
//     an error or panic is 500, and its context reaches the route's event as
//     requestContext.authorizer.lambda;
//   - the response: statusCode, headers, cookies as one Set-Cookie each,
//     isBase64Encoded bodies decoded; a function error, panic, timeout or
//     malformed response is 500 {"message":"Internal Server Error"};
//   - the payload limits: 10 MB for the request body, 6 MB for the Lambda
//     invocation's request and response;
//   - route throttling (Config.Throttling): a token bucket per route, refilled
//     at the rate limit up to the burst limit; a request that finds it empty
//     is answered 429 {"message":"Too Many Requests"} before the authorizer or
//     the function runs;
//   - CORS (Config.CORS, see CORS for the sources): an OPTIONS request that
//     no route takes is answered 204 by the gateway itself, before
//     throttling, the authorizer or any function, with the
//     Access-Control-Allow-* headers only if it is a preflight the
//     configuration permits (an allowed Origin, Access-Control-Request-Method
//     among AllowMethods, every Access-Control-Request-Headers name among
//     AllowHeaders); every other answer to an allowed Origin, the gateway's
//     own 4xx and 5xx included, carries Access-Control-Allow-Origin,
//     -Allow-Credentials and -Expose-Headers; an answer to any other request
//     carries no CORS header, and those a function returns are dropped.
//
// Every event and response goes through JSON on its way, as it does between
// API Gateway, the Lambda runtime and the handler, so the handler sees what
// it would see on AWS (for example, numbers in an authorizer context arrive
// as float64).
//
// The gateway logs one line per request (method, path, route, status,
// duration, request id) and never logs header values, query strings or
// bodies, which carry credentials.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handler is a Lambda function behind an HTTP API route: the aws-lambda-go
// shape for payload format 2.0.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Authorizer is a Lambda REQUEST authorizer with payload format 2.0 and simple
// responses enabled.
type Authorizer func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error)

// Route binds a route key (method and path) to a Lambda handler.
type Route struct {
	// Method is an HTTP method such as "GET", or "ANY" to match every method
	// that no other route defines for the path. It is ignored for $default.
	Method string
	// Path is the resource path, such as "/auth/login", "/users/{id}" or
	// "/files/{proxy+}" (a greedy variable, last segment only), or "$default"
	// for the catch-all route.
	Path string
	// Handler is the Lambda function invoked for the route.
	Handler Handler
	// Protected routes run Config.Authorizer before the handler.
	Protected bool
	// Name is the Lambda function's name, used in log lines and in the
	// InvokedFunctionArn of the Lambda context. Optional.
	Name string
}

// Config describes the emulated HTTP API.
type Config struct {
	// Routes are the API's routes. At least one is required and route keys
	// must be unique.
	Routes []Route
	// Authorizer is the Lambda authorizer of the protected routes. It is
	// required if any route is Protected.
	Authorizer Authorizer
	// IdentityHeaders are the authorizer's identity sources, as header names
	// (for example "Authorization" for $request.header.Authorization). If one
	// is missing or empty on a request to a protected route, the gateway
	// answers 401 without invoking the authorizer. Their values, in order,
	// are the authorizer event's identitySource. None (as template.yaml's
	// cookie-only mode has): the authorizer is invoked for every request to a
	// protected route and decides on its headers and cookies.
	IdentityHeaders []string
	// APIID is the API's id in events and ARNs. Default "local".
	APIID string
	// Stage is the stage name. Default "$default". For any other stage, as on
	// AWS, request paths start with "/<stage>": that prefix is not part of
	// the route match but stays in rawPath and requestContext.http.path.
	Stage string
	// Timeout is the Lambda functions' timeout: the deadline of the context
	// passed to handlers and to the authorizer. Default 10s. The gateway
	// waits at most 30s for a handler (the HTTP API integration timeout,
	// answered 503) and 10s for the authorizer (API Gateway's limit).
	Timeout time.Duration
	// Logger receives one line per request and the details of failures.
	// Default slog.Default().
	Logger *slog.Logger
	// Now gives the time stamped into events (requestContext.time and
	// timeEpoch) and the time throttling buckets refill by. Default time.Now.
	// Durations and timeouts always use the real clock.
	Now func() time.Time
	// Throttling is the stage's route throttling. Nil: no throttling.
	Throttling *Throttling
	// CORS is the API's CORS configuration. Nil: no CORS, so an OPTIONS
	// request is routed like any other (404 without an OPTIONS, ANY or
	// $default route) and no answer carries a CORS header.
	CORS *CORS
}

// Defaults and AWS limits.
const (
	defaultAPIID   = "local"
	defaultStage   = "$default"
	defaultTimeout = 10 * time.Second

	// region and accountID appear in ARNs and in requestContext.accountId.
	region    = "us-east-1"
	accountID = "local"

	// maxBodyBytes is the HTTP API payload size quota (10 MB).
	maxBodyBytes = 10 << 20
	// integrationTimeout is the HTTP API maximum integration timeout.
	integrationTimeout = 30 * time.Second
	// authorizerTimeout is the HTTP API timeout for a Lambda authorizer's
	// response.
	authorizerTimeout = 10 * time.Second
	// lambdaMaxRequestBytes and lambdaMaxResponseBytes are Lambda's limits on
	// a synchronous invocation's payloads (6 MB each, as Lambda counts them).
	lambdaMaxRequestBytes  = 6291456
	lambdaMaxResponseBytes = 6291556
)

// gateway is the http.Handler returned by New. It is immutable after New and
// safe for concurrent use.
type gateway struct {
	routes          []*compiledRoute
	defaultRoute    *compiledRoute
	authorizer      Authorizer
	identityHeaders []string
	apiID           string
	stage           string
	timeout         time.Duration
	// integrationTimeout and authorizerTimeout are the constants of the same
	// names; tests shorten them.
	integrationTimeout time.Duration
	authorizerTimeout  time.Duration
	log                *slog.Logger
	now                func() time.Time
	limiter            *limiter    // nil: no throttling
	cors               *corsPolicy // nil: no CORS
}

// New checks cfg and returns an http.Handler that serves the HTTP API it
// describes.
func New(cfg Config) (http.Handler, error) {
	g := &gateway{
		authorizer:         cfg.Authorizer,
		identityHeaders:    append([]string(nil), cfg.IdentityHeaders...),
		apiID:              cfg.APIID,
		stage:              cfg.Stage,
		timeout:            cfg.Timeout,
		integrationTimeout: integrationTimeout,
		authorizerTimeout:  authorizerTimeout,
		log:                cfg.Logger,
		now:                cfg.Now,
	}
	if g.apiID == "" {
		g.apiID = defaultAPIID
	}
	if g.stage == "" {
		g.stage = defaultStage
	}
	if strings.Contains(g.stage, "/") {
		return nil, fmt.Errorf("gateway: stage %q contains a slash", g.stage)
	}
	if g.timeout == 0 {
		g.timeout = defaultTimeout
	}
	if g.timeout < 0 {
		return nil, fmt.Errorf("gateway: negative timeout %v", g.timeout)
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	for _, h := range g.identityHeaders {
		if strings.TrimSpace(h) == "" {
			return nil, errors.New("gateway: empty identity header name")
		}
	}
	if len(cfg.Routes) == 0 {
		return nil, errors.New("gateway: no routes")
	}
	seen := make(map[string]bool, len(cfg.Routes))
	for _, rt := range cfg.Routes {
		c, err := compileRoute(rt)
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if seen[c.key] {
			return nil, fmt.Errorf("gateway: duplicate route %q", c.key)
		}
		seen[c.key] = true
		if rt.Protected && cfg.Authorizer == nil {
			return nil, fmt.Errorf("gateway: route %q is protected but there is no authorizer", c.key)
		}
		if c.isDefault {
			g.defaultRoute = c
		} else {
			g.routes = append(g.routes, c)
		}
	}
	if cfg.Throttling != nil {
		keys := make([]string, 0, len(cfg.Routes))
		for k := range seen {
			keys = append(keys, k)
		}
		lim, err := newLimiter(cfg.Throttling, keys, g.now())
		if err != nil {
			return nil, err
		}
		g.limiter = lim
	}
	if cfg.CORS != nil {
		p, err := newCORSPolicy(cfg.CORS)
		if err != nil {
			return nil, err
		}
		g.cors = p
	}
	return g, nil
}

// ServeHTTP handles one request as API Gateway would, and logs it.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	if g.cors != nil {
		w = &corsWriter{ResponseWriter: w, headers: g.cors.responseHeaders(r)}
	}
	status, routeKey := g.serve(w, r, requestID)
	g.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", routeKey),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("requestId", requestID),
	)
}

// serve does the work of ServeHTTP and returns the status it wrote and the
// route key it matched ("" if none).
func (g *gateway) serve(w http.ResponseWriter, r *http.Request, requestID string) (int, string) {
	now := g.now()

	if r.ContentLength > maxBodyBytes {
		return writeTooLarge(w), ""
	}
	body, err := readBody(serverWriter(w), r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return writeTooLarge(w), ""
		}
		g.log.Warn("reading request body failed", "requestId", requestID, "error", err)
		return writeMessage(w, http.StatusBadRequest, "Bad Request"), ""
	}

	resourcePath, ok := g.resourcePath(r.URL.Path)
	if !ok {
		return writeMessage(w, http.StatusNotFound, "Not Found"), ""
	}
	rt, params := g.match(r.Method, resourcePath)
	if rt == nil {
		// With CORS on, API Gateway answers the OPTIONS requests that no route
		// takes (an OPTIONS, ANY or $default route would take them).
		if cw, ok := w.(*corsWriter); ok && r.Method == http.MethodOptions {
			return g.answerPreflight(cw, r), ""
		}
		return writeMessage(w, http.StatusNotFound, "Not Found"), ""
	}
	// Throttling is per route and comes before the authorizer: a flood of
	// requests costs no Lambda invocation once the bucket is empty.
	if g.limiter != nil && !g.limiter.allow(rt.key, now) {
		return writeMessage(w, http.StatusTooManyRequests, tooManyRequests), rt.key
	}

	event := g.newEvent(r, body, rt.key, params, now, requestID)

	if rt.Protected {
		identity, ok := identitySource(r, g.identityHeaders)
		if !ok {
			return writeMessage(w, http.StatusUnauthorized, "Unauthorized"), rt.key
		}
		authReq := newAuthorizerRequest(event, identity, g.routeARN(r.Method, resourcePath))
		inv := invocation{name: "authorizer", timeout: g.timeout, wait: min(g.timeout, g.authorizerTimeout)}
		decision, err := invoke(r.Context(), g.authorizer, authReq, inv)
		if err != nil {
			g.logFailure(r.Context(), requestID, inv.name, err)
			return writeMessage(w, http.StatusInternalServerError, "Internal Server Error"), rt.key
		}
		if !decision.IsAuthorized {
			return writeMessage(w, http.StatusForbidden, "Forbidden"), rt.key
		}
		event.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			Lambda: decision.Context,
		}
	}

	name := rt.Name
	if name == "" {
		name = rt.key
	}
	inv := invocation{name: name, timeout: g.timeout, wait: min(g.timeout, g.integrationTimeout)}
	resp, err := invoke(r.Context(), rt.Handler, event, inv)
	if err != nil {
		g.logFailure(r.Context(), requestID, name, err)
		var ge *gatewayError
		if errors.As(err, &ge) {
			return writeMessage(w, ge.status, ge.message), rt.key
		}
		return writeMessage(w, http.StatusInternalServerError, "Internal Server Error"), rt.key
	}
	status, err := writeResponse(w, resp, func(names []string) {
		g.log.Warn("response multiValueHeaders ignored: payload format 2.0 has no such field",
			"requestId", requestID, "function", name, "headers", names)
	})
	if err != nil {
		g.log.Error("malformed Lambda response", "requestId", requestID, "function", name, "error", err)
		return writeMessage(w, http.StatusInternalServerError, "Internal Server Error"), rt.key
	}
	return status, rt.key
}

// resourcePath strips the stage prefix that a named stage puts in front of
// every path. It reports false if the path lies outside the stage.
func (g *gateway) resourcePath(p string) (string, bool) {
	if g.stage == defaultStage {
		return p, true
	}
	prefix := "/" + g.stage
	switch {
	case p == prefix:
		return "/", true
	case strings.HasPrefix(p, prefix+"/"):
		return p[len(prefix):], true
	}
	return "", false
}

// routeARN is the authorizer event's routeArn for a request.
func (g *gateway) routeARN(method, resourcePath string) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s%s", region, accountID, g.apiID, g.stage, method, resourcePath)
}

// logFailure logs why a function invocation failed, with the stack of a
// panic.
func (g *gateway) logFailure(ctx context.Context, requestID, function string, err error) {
	attrs := []slog.Attr{
		slog.String("requestId", requestID),
		slog.String("function", function),
		slog.String("error", err.Error()),
	}
	var pe *panicError
	if errors.As(err, &pe) {
		attrs = append(attrs, slog.String("stack", string(pe.stack)))
	}
	g.log.LogAttrs(ctx, slog.LevelError, "function invocation failed", attrs...)
}
