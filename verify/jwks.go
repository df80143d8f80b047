package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/example/sessions/internal/keys"
)

// Limits of the key-set fetch. The defaults follow the service: it sends
// Cache-Control: public, max-age=300 on /.well-known/jwks.json, and its key rotation
// (README, "Key rotation") waits out that max-age, its functions' 5-minute reload and
// a minute of clock skew before a new key signs.
const (
	// DefaultFetchTimeout bounds one fetch of the key set, connection to last byte.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultRefetchInterval is the least time between two fetches. A token naming a
	// kid the set lacks triggers a fetch, so this is what stops forged kids from making
	// a verifier hammer the endpoint: at most one fetch per interval, however many
	// tokens arrive. It is also the shortest time a fetched set is kept, whatever its
	// Cache-Control says, and how long a failed fetch is not retried.
	DefaultRefetchInterval = 30 * time.Second
	// DefaultMaxAge is how long a set is kept when its response has no usable
	// Cache-Control max-age: the service's own max-age.
	DefaultMaxAge = 5 * time.Minute
	// MaxAgeLimit caps a response's max-age, so a retired key (the emergency retirement
	// of a leaked one, say) stops verifying within the hour even if something between
	// the verifier and the service sends a long max-age.
	MaxAgeLimit = time.Hour
	// MaxJWKSSize caps the key-set response; the service's sets are a few hundred bytes
	// per key.
	MaxJWKSSize = 64 << 10
)

// Why a fetch of the key set failed. Each is wrapped, with ErrKeysUnavailable, by the
// error Verify returns when it has no key set at all, and returned by Refresh; a
// transport failure (a refused connection, the timeout: context.DeadlineExceeded) is
// wrapped as the HTTP client reports it.
var (
	// ErrJWKSStatus: the answer was not 200 (a redirect is one, with the default client).
	ErrJWKSStatus = errors.New("verify: the JWKS endpoint did not answer 200")
	// ErrJWKSTooLarge: the answer is longer than MaxJWKSSize.
	ErrJWKSTooLarge = fmt.Errorf("verify: the JWKS document is longer than %d bytes", MaxJWKSSize)
	// ErrJWKSDocument: the answer is not a key set of this service: not a JWKS, an
	// unsupported key, or a kid that is not its key's RFC 7638 thumbprint (the rules of
	// the authorizer's own reading of the set, keys.ParseJWKS).
	ErrJWKSDocument = errors.New("verify: not a valid JWKS document")
	// ErrJWKSInsecure: the answer came from a URL that is neither https nor a loopback
	// address (an injected client followed a redirect to one).
	ErrJWKSInsecure = errors.New("verify: the JWKS came over plain http from a non-loopback host")
)

// jwksCache holds the last good key set fetched from the JWKS URL and decides when to
// fetch again: when the set's max-age has passed, or when a token names a kid the set
// lacks (a key added, or promoted early, since the last fetch), never more than once
// per interval. A failed fetch keeps the set it has, as the service's own functions
// keep their keys when SSM is unreachable.
type jwksCache struct {
	url      string
	client   *http.Client
	now      func() time.Time
	timeout  time.Duration
	interval time.Duration
	log      *slog.Logger

	// live is what the token verifier reads; nothing is stored in it until the first
	// good fetch, and never nil after.
	live keys.Live

	mu       sync.Mutex
	fresh    time.Time     // the set is used without a fetch until then
	tried    time.Time     // when the last fetch started
	inflight chan struct{} // closed when the running fetch ends; nil if none runs
	lastErr  error         // the last fetch's failure; nil after a success
}

// get returns the key set to verify with. Without one it fetches (or waits for the
// running fetch); with a stale one, the request that starts the fetch waits for it and
// any other uses the stale set meanwhile, so a hanging endpoint delays one request per
// interval, not all of them. A failed fetch leaves the stale set in use.
func (c *jwksCache) get(ctx context.Context) (*keys.Set, error) {
	now := c.now()
	c.mu.Lock()
	set := c.live.Current()
	if set != nil && now.Before(c.fresh) {
		c.mu.Unlock()
		return set, nil
	}
	ch, started := c.begin(now)
	c.mu.Unlock()
	if ch != nil && (started || set == nil) {
		c.wait(ctx, ch)
	}
	if set = c.live.Current(); set == nil {
		return nil, c.unavailable(ctx)
	}
	return set, nil
}

// refetch fetches again because a token named a kid that seen lacks, unless a fetch
// started less than an interval ago (then it only waits for it if it still runs). It
// reports whether the set in use is no longer seen, so the token is worth another try.
func (c *jwksCache) refetch(ctx context.Context, seen *keys.Set) bool {
	c.mu.Lock()
	if c.live.Current() != seen {
		c.mu.Unlock()
		return true
	}
	ch, _ := c.begin(c.now())
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	c.wait(ctx, ch)
	return c.live.Current() != seen
}

// refresh fetches now, whatever the interval, and returns the fetch's error.
func (c *jwksCache) refresh(ctx context.Context) error {
	c.mu.Lock()
	ch := c.inflight
	if ch == nil {
		ch = c.start(c.now())
	}
	c.mu.Unlock()
	if !c.wait(ctx, ch) {
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// begin returns the running fetch, or starts one unless the last started less than an
// interval ago (then it returns nil). started says whether this call started it. A
// clock that went back past the last fetch allows one. c.mu is held.
func (c *jwksCache) begin(now time.Time) (ch chan struct{}, started bool) {
	if c.inflight != nil {
		return c.inflight, false
	}
	if d := now.Sub(c.tried); !c.tried.IsZero() && d >= 0 && d < c.interval {
		return nil, false
	}
	return c.start(now), true
}

// start runs a fetch in its own goroutine, under its own timeout rather than a
// request's context: every request waiting for it shares its result, so one caller
// giving up must not fail it for the others. c.mu is held.
func (c *jwksCache) start(now time.Time) chan struct{} {
	ch := make(chan struct{})
	c.tried, c.inflight = now, ch
	go c.fetch(now, ch)
	return ch
}

// wait waits for the fetch ch, or for ctx to end; it reports whether the fetch ended.
func (c *jwksCache) wait(ctx context.Context, ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// unavailable is the error of a verification with no key set.
func (c *jwksCache) unavailable(ctx context.Context) error {
	c.mu.Lock()
	cause := c.lastErr
	c.mu.Unlock()
	if cause == nil {
		cause = ctx.Err() // gave up waiting for the first fetch
	}
	if cause == nil {
		return ErrKeysUnavailable
	}
	return fmt.Errorf("%w: %w", ErrKeysUnavailable, cause)
}

// fetch downloads the set and stores it, or records why not; started is when it began,
// from which the set's max-age counts (the earlier of the two bounds RFC 9111 allows).
func (c *jwksCache) fetch(started time.Time, ch chan struct{}) {
	set, ttl, err := c.download()
	if err != nil {
		// Logged before the waiters wake, so what they do next follows the warning. Only
		// a fetch stores a set, and one runs at a time: Current cannot change meanwhile.
		c.log.Warn("verify: fetching the JWKS failed", "error", err.Error(), "keeping_last_key_set", c.live.Current() != nil)
	}
	c.mu.Lock()
	if err == nil {
		c.live.Store(set)
		c.fresh = started.Add(ttl)
	}
	c.lastErr = err
	c.inflight = nil
	close(ch)
	c.mu.Unlock()
}

func (c *jwksCache) download() (*keys.Set, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.Request != nil && resp.Request.URL != nil && !secureURL(resp.Request.URL) {
		return nil, 0, ErrJWKSInsecure
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("%w (status %d)", ErrJWKSStatus, resp.StatusCode)
	}
	if resp.ContentLength > MaxJWKSSize {
		return nil, 0, ErrJWKSTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, 0, err
	}
	if len(body) > MaxJWKSSize {
		return nil, 0, ErrJWKSTooLarge
	}
	set, err := keys.ParseJWKS(body)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrJWKSDocument, err)
	}
	return set, freshness(resp.Header), nil
}

// freshness is how long a response may be used (RFC 9111 §4.2.1, as a private cache):
// its max-age less its Age, at most MaxAgeLimit; DefaultMaxAge without a max-age; no
// time with no-store, no-cache or a max-age that is malformed or given twice with
// different values. (A set is kept for the refetch interval even then: no fetch starts
// sooner after the last.)
func freshness(h http.Header) time.Duration {
	maxAge := int64(-1)
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
				if err != nil || n < 0 || maxAge >= 0 && n != maxAge {
					return 0
				}
				maxAge = n
			}
		}
	}
	if maxAge < 0 {
		return DefaultMaxAge
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		maxAge = max(maxAge-age, 0)
	}
	return time.Duration(min(maxAge, int64(MaxAgeLimit/time.Second))) * time.Second
}

// secureURL reports whether keys may be fetched from u: over https, or over http from
// a loopback host only (a local run, a test). Keys fetched over plain http from
// anywhere else could be replaced on the way, and with them every token's meaning.
func secureURL(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		host := u.Hostname()
		if strings.EqualFold(host, "localhost") {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}
