// Package authz is the Lambda authorizer: it verifies the access token and checks the
// session and the user's token version in DynamoDB on every protected request.
//
// It fails closed: a storage error, a missing item or anything unexpected is a deny,
// logged with its reason. It never logs the token.
package authz

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/example/sessions/internal/session"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/token"
)

// State reads what a decision needs; *ddb.Store implements it.
type State interface {
	GetAuthState(ctx context.Context, sid, uid string) (*session.Session, *session.User, error)
	GetSession(ctx context.Context, sid string) (*session.Session, error)
}

// Principal is an allowed caller, handed to the route as the authorizer context.
type Principal struct {
	Subject string
	Session string
	Scope   string
}

// Authorizer decides protected requests.
type Authorizer struct {
	verifier *token.Verifier
	state    State
	now      func() time.Time
	log      *slog.Logger
	cache    *versionCache // nil unless TOKEN_VERSION_CACHE_TTL > 0
}

// New builds an Authorizer. A positive cacheTTL keeps users' token versions in the
// container for that long, so most requests read only the session item; a
// "log out everywhere" then takes up to cacheTTL to reach this container (a single
// logout is still immediate, since the session is always read).
func New(v *token.Verifier, st State, now func() time.Time, log *slog.Logger, cacheTTL time.Duration) *Authorizer {
	a := &Authorizer{verifier: v, state: st, now: now, log: log}
	if cacheTTL > 0 {
		a.cache = &versionCache{ttl: cacheTTL, m: map[string]cachedUser{}}
	}
	return a
}

// Handle is the authorizer's handler of the decoded event (HTTP API, payload 2.0,
// simple responses), for the local gateway and the tests. Lambda runs Invoke, which
// answers the same from the raw payload.
func (a *Authorizer) Handle(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	raw := ""
	if len(ev.IdentitySource) > 0 {
		raw = ev.IdentitySource[0]
	} else {
		raw = ev.Headers["authorization"]
	}
	p := a.decide(ctx, raw)
	if p == nil {
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
	}
	return events.APIGatewayV2CustomAuthorizerSimpleResponse{
		IsAuthorized: true,
		Context:      map[string]any{"sub": p.Subject, "sid": p.Session, "scope": p.Scope},
	}, nil
}

// decide authorizes the event's credential within the invocation: the principal, or
// nil for a deny.
func (a *Authorizer) decide(ctx context.Context, credential string) *Principal {
	// Stop waiting for DynamoDB short of the Lambda's deadline, so a hanging table
	// still gets an explicit deny (403) rather than a function timeout (500).
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-handlerReserve))
		defer cancel()
	}
	p, err := a.Authorize(ctx, credential)
	if err != nil {
		return nil
	}
	return p
}

// handlerReserve is the part of the Lambda's remaining time kept for answering.
const handlerReserve = 500 * time.Millisecond

// Deny reasons, as logged.
var (
	errNoBearer  = errors.New("no bearer token")
	errNoSession = errors.New("session or user not found")
)

// Authorize checks an Authorization header value and returns the principal, or an
// error saying why it is denied.
func (a *Authorizer) Authorize(ctx context.Context, header string) (*Principal, error) {
	tok, ok := bearer(header)
	if !ok {
		return nil, a.deny(ctx, errNoBearer, "")
	}
	c, err := a.verifier.Verify(tok)
	if err != nil {
		return nil, a.deny(ctx, err, "")
	}
	now := a.now()
	sess, user, err := a.load(ctx, c.SID, c.Subject, now)
	if err != nil {
		return nil, a.deny(ctx, err, c.Subject)
	}
	if reason := Decide(c, sess, user, now); reason != "" {
		return nil, a.deny(ctx, errors.New(reason), c.Subject)
	}
	// The scope the route acts on is the one stored with the session, the record of
	// what was granted; the token's claim is only a copy (and Decide has refused a
	// token whose copy differs).
	return &Principal{Subject: c.Subject, Session: c.SID, Scope: sess.Scope}, nil
}

// Decide returns "" if the verified claims are backed by a live session and the
// user's current token version, or the reason they are not.
func Decide(c *token.Claims, sess *session.Session, user *session.User, now time.Time) string {
	switch {
	case sess.UserID != c.Subject || user.ID != c.Subject:
		return "session belongs to another user"
	case c.Scope != sess.Scope:
		return "scope does not match the session"
	case sess.Revoked():
		return "session revoked"
	case !sess.Live(now):
		return "session expired"
	case user.Disabled:
		return "user disabled"
	case user.Ver != *c.Ver:
		return "token version is not current"
	}
	return ""
}

func (a *Authorizer) load(ctx context.Context, sid, uid string, now time.Time) (*session.Session, *session.User, error) {
	if a.cache != nil {
		if u, ok := a.cache.get(uid, now); ok {
			sess, err := a.state.GetSession(ctx, sid)
			if errors.Is(err, session.ErrNotFound) {
				return nil, nil, errNoSession
			}
			return sess, u, err
		}
	}
	sess, user, err := a.state.GetAuthState(ctx, sid, uid)
	if errors.Is(err, session.ErrNotFound) {
		return nil, nil, errNoSession
	}
	if err == nil && a.cache != nil {
		a.cache.put(user, now)
	}
	return sess, user, err
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

// bearer extracts the token of an "Authorization: Bearer <token>" value: the scheme
// in any case (RFC 9110 §11.1), one space, then the token with surrounding white space
// trimmed.
func bearer(h string) (string, bool) {
	scheme, t, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	t = strings.TrimSpace(t)
	return t, t != ""
}

type cachedUser struct {
	user    *session.User
	fetched time.Time
}

// versionCache is a small per-container cache of token records.
type versionCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedUser
}

const maxCachedUsers = 10000

func (c *versionCache) get(uid string, now time.Time) (*session.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[uid]
	if !ok || now.Sub(e.fetched) >= c.ttl || now.Before(e.fetched) {
		return nil, false
	}
	return e.user, true
}

func (c *versionCache) put(u *session.User, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedUsers {
		clear(c.m) // crude but bounded; a container sees few distinct users
	}
	c.m[u.ID] = cachedUser{user: u, fetched: now}
}
