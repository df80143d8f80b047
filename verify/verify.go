// Package verify lets a service outside the API Gateway of the session service verify
// its access tokens offline: it fetches and caches the service's JWKS
// (/.well-known/jwks.json) and checks each token with the authorizer's own strict
// verifier (internal/token: issuer, audience, the one algorithm pinned to each kid, typ
// at+jwt, exp required, 5 s leeway, and the rest SECURITY.md lists).
//
// What it cannot see is revocation. A logout, a password change, a disabled user or an
// evicted session is recorded in the service's table, which only the authorizer reads:
// a token verified here stays good until its exp, at most ACCESS_TOKEN_TTL (15 minutes
// by default) after it was issued. Routes that must stop at a logout belong behind the
// authorizer (README, "Verify tokens in another service").
//
// The key set follows the service's rotation (README, "Key rotation"): it is kept for
// its Cache-Control max-age, fetched again early when a token names a kid it lacks (at
// most once per RefetchInterval, so forged kids cannot make it hammer the endpoint), and
// kept when a fetch fails.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/token"
)

// Refusals. Every error Verify returns for a token wraps ErrInvalid and the reason the
// strict verifier refused it (its message names the reason, never the token); a missing
// header is ErrNoToken, and no key set to verify with is ErrKeysUnavailable, which is
// not a verdict on the token.
var (
	// ErrInvalid is wrapped by every refusal of a token: deny on it.
	ErrInvalid = token.ErrInvalid
	// ErrExpired: the token's exp has passed (beyond the leeway). A client answered 401
	// for it should refresh; it is also an ErrInvalid.
	ErrExpired = jwt.ErrTokenExpired
	// ErrUnknownKey: the token's kid names no key of the set, even after fetching the
	// set again (or a fetch was not allowed yet). A retired key's tokens get it.
	ErrUnknownKey = token.ErrUnknownKey
	// ErrOptionalClaim: auth_time or amr is present but not of its type (a NumericDate,
	// a list of strings).
	ErrOptionalClaim = fmt.Errorf("%w: auth_time or amr is not of its type", ErrInvalid)
	// ErrNoToken: the request has no single "Authorization: Bearer <token>" header.
	ErrNoToken = errors.New("verify: no bearer token")
	// ErrKeysUnavailable: no key set could be fetched yet, so no token can be verified.
	// It wraps why the last fetch failed (ErrJWKSStatus, ...).
	ErrKeysUnavailable = errors.New("verify: no key set to verify with")
)

// Config says where the key set is and what the tokens must say.
type Config struct {
	// JWKSURL is the service's key set, https://<api>/.well-known/jwks.json. It must be
	// https; plain http is accepted only for a loopback host (a local run, a test).
	JWKSURL string
	// Issuer and Audience are the service's ISSUER and AUDIENCE settings; a token must
	// carry exactly this iss and this aud.
	Issuer, Audience string
	// Client fetches the key set. Nil: a client that follows no redirect. FetchTimeout
	// applies to every fetch either way.
	Client *http.Client
	// Now is the clock of token times and of the key set's age. Nil: time.Now.
	Now func() time.Time
	// FetchTimeout bounds one fetch of the key set. Zero: DefaultFetchTimeout.
	FetchTimeout time.Duration
	// RefetchInterval is the least time between two fetches. Zero:
	// DefaultRefetchInterval.
	RefetchInterval time.Duration
	// Log receives a warning when a fetch fails and an info line (with the reason,
	// never the token) for each request the middleware refuses. Nil: no logs.
	Log *slog.Logger
}

// Verifier verifies access tokens against the service's published keys. It is safe for
// concurrent use; make one per process and share it, so the key set is fetched once.
type Verifier struct {
	keys       *jwksCache
	tokens     *token.Verifier
	log        *slog.Logger
	retryAfter string // Retry-After of an answer without a key set: the refetch interval
}

// New returns a Verifier. It fetches nothing yet: the first Verify does, or Refresh.
func New(cfg Config) (*Verifier, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || !secureURL(u) {
		return nil, errors.New("verify: JWKSURL must be an https URL (http only for a loopback host)")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("verify: Issuer and Audience are required")
	}
	if cfg.FetchTimeout < 0 || cfg.RefetchInterval < 0 {
		return nil, errors.New("verify: FetchTimeout and RefetchInterval cannot be negative")
	}
	c := &jwksCache{
		url:      cfg.JWKSURL,
		client:   cfg.Client,
		now:      cfg.Now,
		timeout:  cmp(cfg.FetchTimeout, DefaultFetchTimeout),
		interval: cmp(cfg.RefetchInterval, DefaultRefetchInterval),
		log:      cfg.Log,
	}
	if c.client == nil {
		c.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return &Verifier{
		keys:       c,
		tokens:     token.NewVerifier(&c.live, cfg.Issuer, cfg.Audience, c.now),
		log:        c.log,
		retryAfter: fmt.Sprint(int((c.interval + time.Second - 1) / time.Second)),
	}, nil
}

// cmp returns d, or def if d is zero.
func cmp(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Refresh fetches the key set now, whatever its age and the refetch interval, and
// returns the fetch's error (the last good set stays in use). Call it at start so the
// first request does not wait for the fetch; not per request.
func (v *Verifier) Refresh(ctx context.Context) error { return v.keys.refresh(ctx) }

// Claims are what a verified token says.
type Claims struct {
	Subject   string    // sub: the user's opaque ID (never the username)
	Session   string    // sid: the session the token was issued to
	Scope     string    // scope: space-separated; empty if the user has none
	Version   int64     // ver: the user's token version when it was issued
	ID        string    // jti
	IssuedAt  time.Time // iat; zero if absent
	ExpiresAt time.Time // exp
	// AuthTime is when the user last authenticated with a password (auth_time); zero if
	// the token has no auth_time.
	AuthTime time.Time
	// AMR lists how the user authenticated (amr, RFC 8176: "pwd"); nil if absent.
	AMR []string
}

// HasScope reports whether the scope claim holds s as one of its space-separated values.
func (c *Claims) HasScope(s string) bool {
	for v := range strings.FieldsSeq(c.Scope) {
		if v == s {
			return true
		}
	}
	return false
}

// Verify checks a token (the bare JWT, without "Bearer ") and returns its claims. A
// refusal wraps ErrInvalid and its reason; ErrKeysUnavailable means it could not be
// checked at all.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	set, err := v.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	c, err := v.tokens.Verify(raw)
	if errors.Is(err, token.ErrUnknownKey) && v.keys.refetch(ctx, set) {
		c, err = v.tokens.Verify(raw)
	}
	if err != nil {
		return nil, err
	}
	out := &Claims{
		Subject: c.Subject,
		Session: c.SID,
		Scope:   c.Scope,
		Version: *c.Ver, // Verify refuses a token without ver
		ID:      c.ID,
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	if c.AuthTime != nil {
		out.AuthTime = c.AuthTime.Time
	}
	// json reads a null element as "": refused like any empty method.
	if slices.Contains(c.AMR, "") {
		return nil, fmt.Errorf("%w: amr", ErrOptionalClaim)
	}
	out.AMR = c.AMR
	return out, nil
}

// VerifyAuthorization checks an Authorization header value ("Bearer <token>"), read as
// the authorizer reads it.
func (v *Verifier) VerifyAuthorization(ctx context.Context, header string) (*Claims, error) {
	raw, ok := token.Bearer(header)
	if !ok {
		return nil, ErrNoToken
	}
	return v.Verify(ctx, raw)
}
