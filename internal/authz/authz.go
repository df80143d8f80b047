// Package authz is the Lambda authorizer: it verifies the access token and checks its
// session in DynamoDB on every protected request: one strongly consistent read of one
// item, which every revocation (logout of one, others or all, a device signed out, a
// password change, a disable, an administrator's revoke, the session limit) marks.
//
// It fails closed: a storage error, a missing item or anything unexpected is a deny,
// logged with its reason. It never logs the token.
package authz

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/example/sessions/internal/metrics"
	"github.com/example/sessions/internal/session"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/token"
)

// State reads what a decision needs; *ddb.Store implements it.
type State interface {
	GetSession(ctx context.Context, sid string) (*session.Session, error)
}

// Principal is an allowed caller, handed to the route as the authorizer context.
type Principal struct {
	Subject string
	Session string
	Scope   string
	// AuthTime is the token's auth_time (when the password was last checked in the
	// session); zero if the token has none.
	AuthTime time.Time
}

// Authorizer decides protected requests.
type Authorizer struct {
	verifier *token.Verifier
	state    State
	now      func() time.Time
	log      *slog.Logger
	// cookie: the access token may also come as AccessCookieName (cookie-only mode).
	cookie bool

	// Metrics records each decision Handle makes and its latency; nil records none.
	Metrics *metrics.Recorder
}

// Option adjusts an Authorizer.
type Option func(*Authorizer)

// AcceptAccessCookie is cookie-only mode (ACCESS_TOKEN_COOKIE=on): a request without
// an Authorization header may carry the access token as the AccessCookieName cookie,
// but only together with TransportHeader: cookie. A browser attaches the cookie to any
// request to the API, a cross-site form's included; it sends a custom header only when
// a script of a permitted origin asks (a preflight), so the header is the CSRF guard.
func AcceptAccessCookie() Option { return func(a *Authorizer) { a.cookie = true } }

// New builds an Authorizer.
func New(v *token.Verifier, st State, now func() time.Time, log *slog.Logger, opts ...Option) *Authorizer {
	a := &Authorizer{verifier: v, state: st, now: now, log: log}
	for _, o := range opts {
		o(a)
	}
	return a
}

// The cookie-only transport, as internal/api sets it.
const (
	// AccessCookieName is the access-token cookie. The __Host- prefix makes browsers
	// refuse it unless it is Secure, has Path=/ and no Domain, so only the API's own
	// host ever receives it and no sibling subdomain can plant one.
	AccessCookieName = "__Host-access_token"
	// TransportHeader (value "cookie") selects the cookie transport; being a custom
	// header, a cross-site form cannot send it.
	TransportHeader = "x-session-transport"
)

// Handle is the authorizer's handler of the decoded event (HTTP API, payload 2.0,
// simple responses), for the local gateway and the tests. Lambda runs Invoke, which
// answers the same from the raw payload.
func (a *Authorizer) Handle(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	req := request{cookies: ev.Cookies}
	if len(ev.IdentitySource) > 0 {
		req.credential = ev.IdentitySource[0]
	} else {
		req.credential = ev.Headers["authorization"]
	}
	req.transport, req.hasTransport = ev.Headers[TransportHeader]
	p := a.decide(ctx, req)
	if p == nil {
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
	}
	return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: p.Context()}, nil
}

// request is what a decision reads of an event.
type request struct {
	credential   string // identitySource[0], else headers["authorization"]
	transport    string // headers[TransportHeader], read in cookie-only mode
	hasTransport bool
	cookies      []string // payload 2.0's cookies, read in cookie-only mode
}

// decide authorizes req within the invocation: the principal, or nil for a deny.
func (a *Authorizer) decide(ctx context.Context, req request) *Principal {
	start := time.Now() // the real clock: a.now may be a test's
	ctx = metrics.WithFunction(ctx, metrics.FunctionAuthorizer)
	// Stop waiting for DynamoDB short of the Lambda's deadline, so a hanging table
	// still gets an explicit deny (403) rather than a function timeout (500).
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-handlerReserve))
		defer cancel()
	}
	var p *Principal
	var err error
	if req.credential == "" && a.cookie {
		p, err = a.authorizeCookie(ctx, req)
	} else {
		p, err = a.Authorize(ctx, req.credential)
	}
	a.Metrics.Authorization(ctx, decision(err), time.Since(start))
	if err != nil {
		return nil
	}
	return p
}

// Context is the authorizer context a route receives
// (requestContext.authorizer.lambda): sub, sid and scope as strings, auth_time as a
// number of seconds since the epoch (0 if the token has none).
func (p *Principal) Context() map[string]any {
	var at int64
	if !p.AuthTime.IsZero() {
		at = p.AuthTime.Unix()
	}
	return map[string]any{"sub": p.Subject, "sid": p.Session, "scope": p.Scope, "auth_time": at}
}

// handlerReserve is the part of the Lambda's remaining time kept for answering.
const handlerReserve = 500 * time.Millisecond

// Deny reasons, as logged.
var (
	errNoBearer  = errors.New("no bearer token")
	errNoSession = errors.New("session not found")
	// errNoCredential: cookie-only mode, and neither an Authorization header nor the
	// access-token cookie.
	errNoCredential = errors.New("no bearer token and no access-token cookie")
	// errCookieWithoutHeader is the CSRF guard's refusal: what a cross-site form
	// (or a link, or an image) sends, since the browser adds the cookie on its own.
	errCookieWithoutHeader = errors.New("access-token cookie without " + TransportHeader + ": cookie (a cross-site request cannot send it)")
	errBadTransport        = errors.New(TransportHeader + " is not \"cookie\"")
	// errAmbiguousCookie: the cookie twice with different values (a subdomain cannot
	// plant a __Host- cookie, but an old browser may not enforce the prefix).
	errAmbiguousCookie = errors.New("access-token cookie sent twice with different values, or empty")
)

// Authorize checks an Authorization header value and returns the principal, or an
// error saying why it is denied.
func (a *Authorizer) Authorize(ctx context.Context, header string) (*Principal, error) {
	tok, ok := token.Bearer(header)
	if !ok {
		return nil, a.deny(ctx, errNoBearer, "")
	}
	return a.authorizeToken(ctx, tok)
}

// authorizeCookie is Authorize for a request without an Authorization header in
// cookie-only mode: the token is the AccessCookieName cookie, and the request must
// carry TransportHeader: cookie (payload 2.0's header names are lower-cased).
// An Authorization header, when present, takes precedence and the cookie is not
// looked at (decide): the header is what the client chose to send, the cookie only
// what the browser attaches, and a bad header never falls back to the cookie.
func (a *Authorizer) authorizeCookie(ctx context.Context, req request) (*Principal, error) {
	tok, found := cookieValue(req.cookies, AccessCookieName)
	transport, hasTransport := req.transport, req.hasTransport
	switch {
	case !found:
		return nil, a.deny(ctx, errNoCredential, "")
	case tok == "":
		return nil, a.deny(ctx, errAmbiguousCookie, "")
	case !hasTransport:
		return nil, a.deny(ctx, errCookieWithoutHeader, "")
	case !strings.EqualFold(strings.TrimSpace(transport), "cookie"):
		return nil, a.deny(ctx, errBadTransport, "")
	}
	return a.authorizeToken(ctx, tok)
}

// cookieValue returns the value of the cookie name among payload 2.0's cookies
// ("name=value" each), and whether it is there at all. The same cookie twice with
// different values gives "": trust neither (internal/api reads its cookies alike).
func cookieValue(cookies []string, name string) (string, bool) {
	found, value := false, ""
	for _, c := range cookies {
		for part := range strings.SplitSeq(c, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name {
				if found && v != value {
					return "", true
				}
				found, value = true, v
			}
		}
	}
	return value, found
}

// authorizeToken decides a request on its access token.
func (a *Authorizer) authorizeToken(ctx context.Context, tok string) (*Principal, error) {
	c, err := a.verifier.Verify(tok)
	if err != nil {
		return nil, a.deny(ctx, err, "")
	}
	now := a.now()
	sess, err := a.state.GetSession(ctx, c.SID)
	switch {
	case errors.Is(err, session.ErrNotFound):
		err = errNoSession
	case err != nil:
		// Whatever else storage answered (unavailable, a timeout, access denied, no
		// table), the deny is a fault, not a decision about the token.
		err = storageError{err}
	}
	if err != nil {
		return nil, a.deny(ctx, err, c.Subject)
	}
	if reason := Decide(c, sess, now); reason != "" {
		return nil, a.deny(ctx, errors.New(reason), c.Subject)
	}
	// The scope the route acts on is the one stored with the session, the record of
	// what was granted; the token's claim is only a copy (and Decide has refused a
	// token whose copy differs).
	p := &Principal{Subject: c.Subject, Session: c.SID, Scope: sess.Scope}
	if c.AuthTime != nil {
		p.AuthTime = c.AuthTime.Time
	}
	return p, nil
}

// Decide returns "" if the verified claims are backed by a live session at the token
// version the session is at now, or the reason they are not. A session's version
// rises when its user changes the password in it, so every access token minted before
// is refused; every other way of ending access revokes the session.
func Decide(c *token.Claims, sess *session.Session, now time.Time) string {
	switch {
	case sess.UserID != c.Subject:
		return "session belongs to another user"
	case c.Scope != sess.Scope:
		return "scope does not match the session"
	case sess.Revoked():
		return "session revoked"
	case !sess.Live(now):
		return "session expired"
	case sess.Ver != *c.Ver:
		return "token version is not current"
	}
	return ""
}

// storageError is a failed read of the session: the authorizer fails closed.
type storageError struct{ err error }

func (e storageError) Error() string { return e.err.Error() }
func (e storageError) Unwrap() error { return e.err }

// decision is the Authorizations outcome of Authorize's error: DenyFault for any
// failed read of the session (unavailable, a timeout, or a request storage refused,
// such as access denied or a missing table: every caller is refused alike), Deny for
// a decision about the token.
func decision(err error) string {
	var se storageError
	switch {
	case err == nil:
		return metrics.Allow
	case errors.As(err, &se), errors.Is(err, session.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return metrics.DenyFault
	}
	return metrics.Deny
}

func (a *Authorizer) deny(ctx context.Context, err error, uid string) error {
	level := slog.LevelInfo
	if errors.Is(err, session.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		level = slog.LevelError // failing closed on a fault is worth an alarm
	}
	attrs := []any{"decision", "deny", "reason", err.Error()}
	if uid != "" {
		attrs = append(attrs, "uid", uid)
	}
	a.log.Log(ctx, level, "authorizer denied", attrs...)
	return err
}
