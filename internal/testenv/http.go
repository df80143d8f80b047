package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handler is the shape of the App's HTTP handlers.
type Handler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Request builds an API Gateway HTTP API (payload 2.0) event. body is sent as is if it
// is a string or []byte, else JSON-encoded; a non-empty body gets
// Content-Type: application/json unless headers set one. headers are name/value
// pairs; a "cookie" pair becomes an entry of the event's Cookies, as API Gateway
// delivers them.
func Request(method, path string, body any, headers ...string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " " + path, RawPath: path,
		Headers: map[string]string{},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "test-request",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7", UserAgent: "testenv/1.0",
			},
		},
	}
	switch b := body.(type) {
	case nil:
	case string:
		req.Body = b
	case []byte:
		req.Body = string(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		req.Body = string(j)
	}
	if req.Body != "" {
		req.Headers["content-type"] = "application/json"
	}
	for i := 0; i+1 < len(headers); i += 2 {
		k, v := strings.ToLower(headers[i]), headers[i+1]
		if k == "cookie" {
			req.Cookies = append(req.Cookies, v)
			continue
		}
		if v == "" && k == "content-type" {
			delete(req.Headers, k)
			continue
		}
		req.Headers[k] = v
	}
	return req
}

// Post is Request("POST", ...).
func Post(path string, body any, headers ...string) events.APIGatewayV2HTTPRequest {
	return Request(http.MethodPost, path, body, headers...)
}

// Call runs a handler with a generous deadline and fails the test if it returns an
// error (handlers answer every failure with a response).
func Call(tb testing.TB, h Handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	return CallTimeout(tb, h, req, 20*time.Second)
}

// CallTimeout runs a handler under a context that ends after d, as a Lambda's does.
func CallTimeout(tb testing.TB, h Handler, req events.APIGatewayV2HTTPRequest, d time.Duration) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	resp, err := h(ctx, req)
	if err != nil {
		tb.Fatalf("%s returned an error instead of a response: %v", req.RouteKey, err)
	}
	return resp
}

// Tokens is the body of a login or refresh answer.
type Tokens struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	SessionID        string `json:"session_id"`
	SessionExpiresAt string `json:"session_expires_at"`
	DeviceToken      string `json:"device_token"` // login's body transport only
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Decode decodes a response body into v, strictly.
func Decode(tb testing.TB, resp events.APIGatewayV2HTTPResponse, v any) {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("response body %q is not the expected JSON: %v", resp.Body, err)
	}
}

// LoginReq is a login request body.
func LoginReq(username, pw string, headers ...string) events.APIGatewayV2HTTPRequest {
	return Post("/auth/login", map[string]string{"username": username, "password": pw}, headers...)
}

// RefreshReq is a refresh request body.
func RefreshReq(rt string) events.APIGatewayV2HTTPRequest {
	return Post("/auth/refresh", map[string]string{"refresh_token": rt})
}

// LogoutReq is a logout request body; scope is "", "session" or "all".
func LogoutReq(rt, scope string) events.APIGatewayV2HTTPRequest {
	body := map[string]string{"refresh_token": rt}
	if scope != "" {
		body["scope"] = scope
	}
	return Post("/auth/logout", body)
}

// Login logs in through the HTTP handler and fails the test unless it answers 200.
func (h *Harness) Login(tb testing.TB, username, pw string) Tokens {
	tb.Helper()
	resp := Call(tb, h.App.API.Login, LoginReq(username, pw))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("login %q: %d %s", username, resp.StatusCode, resp.Body)
	}
	var t Tokens
	Decode(tb, resp, &t)
	return t
}

// Refresh posts a refresh token and returns the status with the decoded tokens (zero
// unless 200).
func (h *Harness) Refresh(tb testing.TB, rt string) (int, Tokens) {
	tb.Helper()
	resp := Call(tb, h.App.API.Refresh, RefreshReq(rt))
	var t Tokens
	if resp.StatusCode == http.StatusOK {
		Decode(tb, resp, &t)
	}
	return resp.StatusCode, t
}

// MustRefresh refreshes and fails the test unless it answers 200.
func (h *Harness) MustRefresh(tb testing.TB, rt string) Tokens {
	tb.Helper()
	resp := Call(tb, h.App.API.Refresh, RefreshReq(rt))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("refresh: %d %s", resp.StatusCode, resp.Body)
	}
	var t Tokens
	Decode(tb, resp, &t)
	return t
}

// Logout posts a logout and returns the status.
func (h *Harness) Logout(tb testing.TB, rt, scope string) int {
	tb.Helper()
	return Call(tb, h.App.API.Logout, LogoutReq(rt, scope)).StatusCode
}

// Allowed reports whether the authorizer allows an access token now.
func (h *Harness) Allowed(tb testing.TB, at string) bool {
	tb.Helper()
	return h.Authorize(tb, at).IsAuthorized
}

// Claims returns the payload of a JWT without verifying it (the test reads what the
// service put in; the authorizer does the verifying).
func Claims(tb testing.TB, jwt string) map[string]any {
	tb.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatalf("JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatalf("JWT payload: %v", err)
	}
	return m
}

// TokenHash is what the table stores for a refresh token: SHA-256 of the whole
// "<sid>.<secret>" string.
func TokenHash(rt string) []byte {
	sum := sha256.Sum256([]byte(rt))
	return sum[:]
}

// Protected runs a request to a protected route as API Gateway does: the authorizer
// decides on the access token first; a deny answers 403 without calling the route, an
// allow hands the route its context (through JSON, so numbers arrive as float64, as
// they do from API Gateway). routeKey is the template's ("DELETE
// /auth/sessions/{id}"); params are its path parameters as name/value pairs.
func (h *Harness) Protected(tb testing.TB, handler Handler, at, routeKey, path string, body any, params ...string) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	method, _, _ := strings.Cut(routeKey, " ")
	req := Request(method, path, body, "authorization", "Bearer "+at)
	req.RouteKey = routeKey
	if len(params) > 0 {
		req.PathParameters = map[string]string{}
		for i := 0; i+1 < len(params); i += 2 {
			req.PathParameters[params[i]] = params[i+1]
		}
	}
	resp := h.Authorize(tb, at)
	if !resp.IsAuthorized {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusForbidden, Body: `{"message":"Forbidden"}`}
	}
	raw, err := json.Marshal(resp.Context)
	if err != nil {
		tb.Fatal(err)
	}
	var lambda map[string]any
	if err := json.Unmarshal(raw, &lambda); err != nil {
		tb.Fatal(err)
	}
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: lambda}
	return Call(tb, handler, req)
}

// SessionView is one entry of GET /auth/sessions.
type SessionView struct {
	ID         string `json:"id"`
	CreatedAt  string `json:"created_at"`
	LastUsedAt string `json:"last_used_at"`
	ExpiresAt  string `json:"expires_at"`
	UserAgent  string `json:"user_agent"`
	IP         string `json:"ip"`
	Current    bool   `json:"current"`
}

// ListSessions is GET /auth/sessions with an access token; it fails the test unless
// the answer is 200.
func (h *Harness) ListSessions(tb testing.TB, at string) []SessionView {
	tb.Helper()
	resp := h.Protected(tb, h.App.API.Account, at, "GET /auth/sessions", "/auth/sessions", nil)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("list sessions: %d %s", resp.StatusCode, resp.Body)
	}
	var out struct {
		Sessions []SessionView `json:"sessions"`
	}
	Decode(tb, resp, &out)
	return out.Sessions
}

// SignOut is DELETE /auth/sessions/{id} with an access token; it returns the status.
func (h *Harness) SignOut(tb testing.TB, at, sid string) int {
	tb.Helper()
	return h.Protected(tb, h.App.API.Account, at, "DELETE /auth/sessions/{id}", "/auth/sessions/"+sid, nil, "id", sid).StatusCode
}

// ChangePassword is POST /auth/password with an access token.
func (h *Harness) ChangePassword(tb testing.TB, at, current, next string) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	return h.Protected(tb, h.App.API.Account, at, "POST /auth/password", "/auth/password",
		map[string]string{"current_password": current, "new_password": next})
}

// Reauthenticate is POST /auth/reauthenticate with an access token.
func (h *Harness) Reauthenticate(tb testing.TB, at, pw string) events.APIGatewayV2HTTPResponse {
	tb.Helper()
	return h.Protected(tb, h.App.API.Account, at, "POST /auth/reauthenticate", "/auth/reauthenticate",
		map[string]string{"password": pw})
}
