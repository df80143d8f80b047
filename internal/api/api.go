// Package api turns API Gateway HTTP API (payload 2.0) events into calls of the
// session service and its results into responses.
//
// Errors map to responses in one place (errorResponse): 4xx bodies say what was
// wrong, 5xx bodies are generic and the detail goes to the log.
package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/audit"
	"github.com/example/sessions/internal/authz"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/session"
)

// JWKSMaxAge is how long clients may cache the JWKS document.
const JWKSMaxAge = 5 * time.Minute

// MaxBodyBytes bounds request bodies; ours are a few hundred bytes.
const MaxBodyBytes = 8 << 10

// Cookie transport settings.
const (
	// CookieName is the refresh-token cookie. The __Secure- prefix makes browsers
	// refuse it unless it is Secure (set over HTTPS or on localhost).
	CookieName = "__Secure-refresh_token"
	// CookiePath limits the cookie to the auth routes.
	CookiePath = "/auth"
	// TransportHeader selects the cookie transport; being a custom header, a
	// cross-site form cannot send it, which is the CSRF guard of refresh and logout
	// (and, in cookie-only mode, of every request the authorizer lets in on the
	// access-token cookie).
	TransportHeader = authz.TransportHeader
	// AccessCookieName is the access-token cookie of cookie-only mode
	// (ACCESS_TOKEN_COOKIE=on): Path=/ so that it reaches every protected route,
	// HttpOnly so that no script reads it; the __Host- prefix makes browsers refuse it
	// unless it is Secure, has Path=/ and no Domain. The authorizer reads it.
	AccessCookieName = authz.AccessCookieName
	// DeviceCookieName is the device-token cookie of the cookie transport: proof that
	// this browser signed in before, which lets it log in while its username is
	// throttled (see session.Service.Login). Path=/auth/login keeps it to the one
	// route that reads it; the __Secure- prefix makes browsers refuse it unless it is
	// Secure (__Host- would need Path=/).
	DeviceCookieName = "__Secure-device_token"
	// DeviceCookiePath limits the device cookie to the login route.
	DeviceCookiePath = "/auth/login"
)

// Handlers serves the HTTP routes. Each route uses only its own parts: Me uses none,
// JWKS only the public key set, the others the session service; a function's App
// leaves the parts it does not use nil.
type Handlers struct {
	svc  *session.Service
	jwks keys.Source
	log  *slog.Logger
	now  func() time.Time
	// accessCookie is cookie-only mode: see WithAccessCookie.
	accessCookie bool
}

// Option adjusts the Handlers.
type Option func(*Handlers)

// WithAccessCookie is cookie-only mode (ACCESS_TOKEN_COOKIE=on): an answer with an
// access token to a request that uses the cookie transport sets it as the
// AccessCookieName cookie and leaves access_token (and token_type) out of the body, so
// no page script ever holds a token; logout and a refused refresh clear it. The body
// transport is unchanged.
func WithAccessCookie() Option { return func(h *Handlers) { h.accessCookie = true } }

// New returns the route handlers.
func New(svc *session.Service, jwks keys.Source, log *slog.Logger, now func() time.Time, opts ...Option) *Handlers {
	if now == nil {
		now = time.Now
	}
	h := &Handlers{svc: svc, jwks: jwks, log: log, now: now}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Request and response bodies.
type (
	loginRequest struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
		// DeviceToken is the body transport's device token (native clients keep the
		// one a login answered with); the cookie transport sends it as a cookie.
		DeviceToken *string `json:"device_token"`
	}
	refreshRequest struct {
		RefreshToken string `json:"refresh_token"`
	}
	logoutRequest struct {
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	tokenResponse struct {
		// AccessToken and TokenType are empty, so left out, when the access token
		// travels as a cookie (cookie-only mode).
		AccessToken      string `json:"access_token,omitempty"`
		TokenType        string `json:"token_type,omitempty"`
		ExpiresIn        int64  `json:"expires_in"`
		RefreshToken     string `json:"refresh_token,omitempty"`
		RefreshExpiresIn int64  `json:"refresh_expires_in"`
		SessionID        string `json:"session_id"`
		SessionExpiresAt string `json:"session_expires_at"`
		DeviceToken      string `json:"device_token,omitempty"`
	}
)

// Login is POST /auth/login.
func (h *Handlers) Login(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.serve(ctx, req, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		cookieMode, err := transport(req)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		var body loginRequest
		if err := decodeJSON(req, &body, true); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		if body.Username == nil || body.Password == nil || *body.Username == "" || *body.Password == "" {
			return events.APIGatewayV2HTTPResponse{}, badRequest("username and password are required")
		}
		// The device token comes the way the transport hands it out: the cookie in
		// cookie mode, the body member otherwise (a cookie is then ignored).
		var device string
		if cookieMode {
			if body.DeviceToken != nil {
				return events.APIGatewayV2HTTPResponse{}, badRequest("with the cookie transport the device token is a cookie, not a body member")
			}
			device, _ = cookieValue(req.Cookies, DeviceCookieName)
		} else if body.DeviceToken != nil {
			device = *body.DeviceToken
		}
		g, err := h.svc.Login(ctx, *body.Username, *body.Password, session.Client{
			UserAgent: req.RequestContext.HTTP.UserAgent, IP: req.RequestContext.HTTP.SourceIP, DeviceToken: device,
		})
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return h.grantResponse(g, cookieMode), nil
	})
}

// Refresh is POST /auth/refresh.
func (h *Handlers) Refresh(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.serve(ctx, req, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		var body refreshRequest
		tok, cookieMode, err := refreshToken(req, &body, func() string { return body.RefreshToken })
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		g, err := h.svc.Refresh(ctx, tok)
		if errors.Is(err, session.ErrInvalidGrant) && cookieMode {
			resp := errorBody(http.StatusUnauthorized, "invalid_grant", "the refresh token is invalid, expired or revoked")
			resp.Cookies = h.clearCookies()
			return resp, nil
		}
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return h.grantResponse(g, cookieMode), nil
	})
}

// Logout is POST /auth/logout: 204 whether or not the token was known.
func (h *Handlers) Logout(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.serve(ctx, req, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		var body logoutRequest
		tok, cookieMode, err := refreshToken(req, &body, func() string { return body.RefreshToken })
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		scope := session.Scope(body.Scope)
		switch scope {
		case "":
			scope = session.ScopeSession
		case session.ScopeSession, session.ScopeOthers, session.ScopeAll:
		default:
			return events.APIGatewayV2HTTPResponse{}, badRequest(`scope must be "session", "others" or "all"`)
		}
		if err := h.svc.Logout(ctx, tok, scope); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		resp := events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: noStore()}
		if cookieMode && scope != session.ScopeOthers {
			resp.Cookies = h.clearCookies()
		}
		return resp, nil
	})
}

// Me is GET /me: the example of a protected route. It reads the principal the
// authorizer put in the request context.
func (h *Handlers) Me(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.serve(ctx, req, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		p, ok := principalOf(req)
		if !ok {
			return errorBody(http.StatusUnauthorized, "unauthorized", "no authorizer context"), nil
		}
		return jsonResponse(http.StatusOK, map[string]any{"sub": p.sub, "sid": p.sid, "scope": p.scope, "auth_time": p.authTime}, noStore()), nil
	})
}

// JWKS is GET /.well-known/jwks.json.
func (h *Handlers) JWKS(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers: map[string]string{
			"Content-Type": "application/json",
			// Short enough that a key added to the set is seen before it signs anything:
			// `sessionctl keys promote` waits this long plus the functions' reload time
			// after `keys add`.
			"Cache-Control": fmt.Sprintf("public, max-age=%d", int(JWKSMaxAge/time.Second)),
		},
		Body: string(h.jwks.Current().JWKS()),
	}, nil
}

// tokenBody is the token response's body for a grant, without the refresh and device
// tokens (the transport decides where those go).
func (h *Handlers) tokenBody(g *session.Grant) tokenResponse {
	now := h.now()
	return tokenResponse{
		AccessToken:      g.AccessToken,
		TokenType:        "Bearer",
		ExpiresIn:        seconds(g.AccessExp.Sub(now)),
		RefreshExpiresIn: seconds(g.RefreshExp.Sub(now)),
		SessionID:        g.SessionID,
		SessionExpiresAt: g.SessionExp.UTC().Format(time.RFC3339),
	}
}

func (h *Handlers) grantResponse(g *session.Grant, cookieMode bool) events.APIGatewayV2HTTPResponse {
	now := h.now()
	body := h.tokenBody(g)
	if !cookieMode {
		body.RefreshToken = g.RefreshToken
		body.DeviceToken = g.DeviceToken
		return jsonResponse(http.StatusOK, body, noStore())
	}
	cookies := []string{setCookie(CookieName, g.RefreshToken, CookiePath, body.RefreshExpiresIn)}
	if g.DeviceToken != "" {
		cookies = append(cookies, setCookie(DeviceCookieName, g.DeviceToken, DeviceCookiePath, seconds(g.DeviceExp.Sub(now))))
	}
	if h.accessCookie {
		cookies = append(cookies, setCookie(AccessCookieName, g.AccessToken, "/", body.ExpiresIn))
		body.AccessToken, body.TokenType = "", ""
	}
	resp := jsonResponse(http.StatusOK, body, noStore())
	resp.Cookies = cookies
	return resp
}

func seconds(d time.Duration) int64 { return max(0, int64(d/time.Second)) }

// setCookie is a Set-Cookie value of the cookie transport: host-only (no Domain),
// HTTPS only, out of scripts' reach and never sent on a cross-site request.
func setCookie(name, value, path string, maxAge int64) string {
	return fmt.Sprintf("%s=%s; Path=%s; Max-Age=%d; HttpOnly; Secure; SameSite=Strict", name, value, path, maxAge)
}

// clearCookies are the Set-Cookie values that end a cookie-transport session in the
// browser: the refresh cookie and, in cookie-only mode, the access-token cookie.
func (h *Handlers) clearCookies() []string {
	out := []string{setCookie(CookieName, "", CookiePath, 0)}
	if h.accessCookie {
		out = append(out, setCookie(AccessCookieName, "", "/", 0))
	}
	return out
}

// transport reports whether the request asks for the cookie transport.
func transport(req events.APIGatewayV2HTTPRequest) (bool, error) {
	v, ok := header(req, TransportHeader)
	switch {
	case !ok:
		return false, nil
	case strings.EqualFold(strings.TrimSpace(v), "cookie"):
		return true, nil
	default:
		return false, badRequest(TransportHeader + ` must be "cookie" when present`)
	}
}

// refreshToken finds the refresh token of a refresh or logout request. The rule:
// with the cookie transport header the token comes from the cookie only and a body
// token is refused; without it the token comes from the body only, and a request that
// carries just the cookie is refused as a possible cross-site request.
func refreshToken(req events.APIGatewayV2HTTPRequest, body any, fromBody func() string) (string, bool, error) {
	cookieMode, err := transport(req)
	if err != nil {
		return "", false, err
	}
	cookie, hasCookie := cookieValue(req.Cookies, CookieName)
	// A body is optional whenever a refresh cookie came along, so that a cookie
	// request without the header meets the CSRF refusal below, not "body required".
	if err := decodeJSON(req, body, !cookieMode && !hasCookie); err != nil {
		return "", false, err
	}
	if cookieMode {
		if fromBody() != "" {
			return "", true, badRequest("send the refresh token in the cookie or in the body, not both")
		}
		if !hasCookie || cookie == "" {
			return "", true, &requestError{http.StatusUnauthorized, "invalid_grant", "no refresh token cookie"}
		}
		return cookie, true, nil
	}
	if fromBody() == "" {
		if hasCookie {
			return "", false, &requestError{http.StatusForbidden, "csrf_header_required",
				"a request that uses the refresh cookie must send " + TransportHeader + ": cookie"}
		}
		return "", false, badRequest("refresh_token is required")
	}
	return fromBody(), false, nil
}

func cookieValue(cookies []string, name string) (string, bool) {
	found, value := false, ""
	for _, c := range cookies {
		for part := range strings.SplitSeq(c, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				if found && v != value {
					return "", true // two different values: trust neither
				}
				found, value = true, v
			}
		}
	}
	return value, found
}

func header(req events.APIGatewayV2HTTPRequest, name string) (string, bool) {
	if v, ok := req.Headers[name]; ok {
		return v, true
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// decodeJSON reads a JSON object body into v (a pointer to a flat struct of scalar
// fields), refusing oversized bodies, non-JSON content types and anything that could
// be read two ways (see checkMembers). An empty body is allowed only when !required
// (cookie-mode refresh and logout send none).
func decodeJSON(req events.APIGatewayV2HTTPRequest, v any, required bool) error {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(req.Body)) > 2*MaxBodyBytes {
			return &requestError{http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("the body must be at most %d bytes", MaxBodyBytes)}
		}
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return badRequest("the body is not valid base64")
		}
		body = b
	}
	if len(body) > MaxBodyBytes {
		return &requestError{http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprintf("the body must be at most %d bytes", MaxBodyBytes)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if required {
			return badRequest("a JSON body is required")
		}
		return nil
	}
	ct, _ := header(req, "content-type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return &requestError{http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json"}
	}
	if err := checkMembers(body, memberNames(v)); err != nil {
		return err
	}
	// checkMembers has established that every member name is exactly one of v's and
	// appears once, so encoding/json's case folding and last-duplicate-wins rule have
	// nothing left to decide.
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("the body is not the expected JSON object: " + jsonProblem(err))
	}
	return nil
}

// Messages of checkMembers' refusals. They name the problem, never the client's
// text: a member name or value sent back would be a reflection channel, and a log
// reader would have to escape it.
const (
	msgNotUTF8      = "the body is not valid UTF-8"
	msgNotObject    = "the body must be a JSON object"
	msgUnknown      = "the body has a member that is not part of this request"
	msgCaseVariant  = "the body has a member whose name differs from one of this request only in letter case; member names are case-sensitive"
	msgRepeated     = "the body repeats a member"
	msgNotScalar    = "the body has a member whose value is an object or an array"
	msgSurrogate    = "the body has a string with an unpaired UTF-16 surrogate escape"
	msgTrailingData = "the body has data after the JSON object"
)

// checkMembers refuses a body that a reader other than encoding/json could take for
// another request. encoding/json matches member names case-insensitively (with
// Unicode folding: "refresh_to\u212Aen" with a Kelvin sign is refresh_token), keeps
// the last of duplicate members and replaces invalid UTF-8 and unpaired surrogate
// escapes with U+FFFD; a WAF or log reader that takes the first member, or compares
// names exactly, or keeps the bytes, would see something else. So the body must be
// valid UTF-8 holding one JSON object whose member names are each exactly one of
// names (after JSON unescaping, which every reader does), none twice, with scalar
// values and strings free of unpaired surrogates. (The JWT verifier likewise
// refuses duplicate and case-variant members in a token.)
func checkMembers(body []byte, names []string) error {
	if !utf8.Valid(body) {
		return badRequest(msgNotUTF8)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // a number is not converted, so 1e400 is not an error here
	tok, err := dec.Token()
	if err != nil {
		return badRequest("the body is not the expected JSON object: " + jsonProblem(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badRequest(msgNotObject)
	}
	seen := make([]bool, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("the body is not the expected JSON object: " + jsonProblem(err))
		}
		key, _ := tok.(string) // the decoder refuses a non-string key with a syntax error
		i := slices.Index(names, key)
		switch {
		case i < 0 && slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, key) }):
			return badRequest(msgCaseVariant)
		case i < 0:
			return badRequest(msgUnknown)
		case seen[i]:
			return badRequest(msgRepeated)
		}
		seen[i] = true
		tok, err = dec.Token()
		if err != nil {
			return badRequest("the body is not the expected JSON object: " + jsonProblem(err))
		}
		if _, ok := tok.(json.Delim); ok {
			// Nested values would need the same checks at every level; the contract
			// has none, so refusing them keeps the rule flat.
			return badRequest(msgNotScalar)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return badRequest("the body is not the expected JSON object: " + jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest(msgTrailingData)
	}
	if unpairedSurrogate(body) {
		return badRequest(msgSurrogate)
	}
	return nil
}

// unpairedSurrogate reports whether a syntactically valid JSON text has a \uXXXX
// escape of a UTF-16 surrogate that is not a high surrogate directly followed by an
// escaped low one. RFC 8259 leaves such strings' meaning open and RFC 7493 (I-JSON)
// forbids them; encoding/json turns them into U+FFFD. In valid JSON a backslash
// occurs only inside strings and starts an escape, so no string tracking is needed.
func unpairedSurrogate(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 >= len(b) || b[i+1] != 'u' {
			i++ // a one-character escape such as \\ or \"
			continue
		}
		r, ok := hex4(b[i+2:])
		switch {
		case !ok:
			return true // not valid JSON; cannot happen after checkMembers' scan
		case r >= 0xdc00 && r <= 0xdfff:
			return true // a low surrogate with no high one before it
		case r >= 0xd800 && r <= 0xdbff:
			lo, ok := rune(0), false
			if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
				lo, ok = hex4(b[i+8:])
			}
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}

// hex4 parses the four hex digits that start b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(v), err == nil
}

// memberNames lists the JSON member names of the struct v points to, exactly as its
// tags spell them (a field without a tag is named by its Go name, as encoding/json
// does). They are the only names checkMembers accepts.
func memberNames(v any) []string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

// jsonProblem describes a decoding error without echoing the input. A type error
// names the member, which checkMembers has already matched exactly to the contract,
// so the name is the service's text, not the client's.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "the JSON ends early"
	}
	return "malformed JSON"
}

// requestError is a 4xx answer decided by this package.
type requestError struct {
	status        int
	code, message string
}

func (e *requestError) Error() string { return e.code + ": " + e.message }

func badRequest(msg string) error {
	return &requestError{http.StatusBadRequest, "invalid_request", msg}
}

// handlerReserve is the part of the Lambda's remaining time kept for answering.
const handlerReserve = 500 * time.Millisecond

// serve runs fn with at most config.StorageTimeout, and never past a point short of
// the Lambda's deadline, so a slow DynamoDB gets a 503 in time for the client's retry
// to land inside the refresh grace window (see config.MinReuseGrace). It recovers
// panics and maps errors to responses.
func (h *Handlers) serve(ctx context.Context, req events.APIGatewayV2HTTPRequest, fn func(context.Context) (events.APIGatewayV2HTTPResponse, error)) (resp events.APIGatewayV2HTTPResponse, _ error) {
	deadline := time.Now().Add(config.StorageTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-handlerReserve).Before(deadline) {
		deadline = dl.Add(-handlerReserve)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// Who is asking, for the audit events of the request (a login passes its own).
	ctx = audit.WithClient(ctx, audit.Client{SourceIP: req.RequestContext.HTTP.SourceIP, UserAgent: req.RequestContext.HTTP.UserAgent})
	defer func() {
		if r := recover(); r != nil {
			h.log.ErrorContext(ctx, "panic in handler", "route", req.RouteKey, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp = errorBody(http.StatusInternalServerError, "internal_error", "internal error")
		}
	}()
	resp, err := fn(ctx)
	if err != nil {
		return h.errorResponse(ctx, req, err), nil
	}
	return resp, nil
}

// errorResponse is the one place that maps errors to HTTP answers.
func (h *Handlers) errorResponse(ctx context.Context, req events.APIGatewayV2HTTPRequest, err error) events.APIGatewayV2HTTPResponse {
	var re *requestError
	var te *session.ThrottledError
	switch {
	case errors.As(err, &re):
		return errorBody(re.status, re.code, re.message)
	case errors.As(err, &te):
		resp := errorBody(http.StatusTooManyRequests, "too_many_attempts", "too many failed logins; try again later")
		resp.Headers["Retry-After"] = strconv.FormatInt(max(1, int64((te.RetryAfter+time.Second-1)/time.Second)), 10)
		return resp
	case errors.Is(err, session.ErrInvalidCredentials):
		return errorBody(http.StatusUnauthorized, "invalid_credentials", "the username or password is incorrect")
	case errors.Is(err, session.ErrInvalidGrant):
		return errorBody(http.StatusUnauthorized, "invalid_grant", "the refresh token is invalid, expired or revoked")
	case errors.Is(err, password.ErrTooLong), errors.Is(err, password.ErrBadUsername):
		return errorBody(http.StatusBadRequest, "invalid_request", err.Error())
	case errors.Is(err, password.ErrTooShort):
		// Only a new password is held to the policy (a login's is only bounded).
		return errorBody(http.StatusBadRequest, "weak_password", err.Error())
	case errors.Is(err, session.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		h.log.ErrorContext(ctx, "storage unavailable", "route", req.RouteKey, "err", err)
		resp := errorBody(http.StatusServiceUnavailable, "temporarily_unavailable", "the service is temporarily unavailable; try again")
		resp.Headers["Retry-After"] = strconv.Itoa(int(config.RetryAfter / time.Second))
		return resp
	default:
		h.log.ErrorContext(ctx, "internal error", "route", req.RouteKey, "err", err)
		return errorBody(http.StatusInternalServerError, "internal_error", "internal error")
	}
}

func errorBody(status int, code, msg string) events.APIGatewayV2HTTPResponse {
	return jsonResponse(status, map[string]string{"error": code, "message": msg}, noStore())
}

func noStore() map[string]string {
	return map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"}
}

func jsonResponse(status int, v any, headers map[string]string) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"internal error"}`)
	}
	headers["Content-Type"] = "application/json"
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers, Body: string(b)}
}
