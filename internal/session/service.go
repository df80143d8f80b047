// Package session is the domain logic: log in, rotate refresh tokens, log out.
//
// It knows nothing of HTTP; internal/api translates requests and errors. Time comes
// from an injected clock so tests can drive deadlines and the reuse grace window.
package session

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/sessions/internal/audit"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/metrics"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/token"
)

// Store is what the service needs from storage; *ddb.Store implements it.
type Store interface {
	GetLoginConsistent(ctx context.Context, name string) (*Login, error)
	ReserveLogin(ctx context.Context, r LoginReservation) (*Login, error)
	CreateSession(ctx context.Context, s *Session, l *Login, o LoginSuccess) error
	Rotate(ctx context.Context, in RotateInput) (*Session, error)
	RevokeSession(ctx context.Context, sid string, hash []byte, reason string, now time.Time) (*Session, error)
	GetSession(ctx context.Context, sid string) (*Session, error)
	GetSessions(ctx context.Context, ids []string) (map[string]*Session, error)
	EndSessions(ctx context.Context, e Ending) error
	SignOut(ctx context.Context, uid, sid, reason string, now time.Time) (bool, error)
	Reauthenticated(ctx context.Context, sess *Session, l *Login, at time.Time) error
	GetUser(ctx context.Context, uid string) (*User, error)
	CreateUser(ctx context.Context, l *Login) error
}

// Errors the HTTP layer maps to responses.
var (
	ErrInvalidCredentials = errors.New("session: invalid credentials")
	ErrInvalidGrant       = errors.New("session: invalid grant")
)

// ThrottledError says a username, or the device a login presented a device token of,
// is cooling down after repeated failures.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("session: too many failed logins, retry after %s", e.RetryAfter)
}

// Policy holds lifetimes and the failed-login throttle.
type Policy struct {
	AccessTTL time.Duration // access-token lifetime
	IdleTTL   time.Duration // refresh idle lifetime, slides on refresh
	MaxAge    time.Duration // absolute session lifetime
	Grace     time.Duration // reuse grace of the previous refresh token

	// The failed-login throttle, in whole seconds. It applies to each counter alike:
	// the username's, and each trusted device's.
	MaxFailures   int64         // failures before the first cool-down
	Lockout       time.Duration // first cool-down, doubled per further failure
	MaxLockout    time.Duration // cap of the cool-down
	FailureMemory time.Duration // failures older than this are forgotten
	DeviceTTL     time.Duration // lifetime of a device token from its issue
	MaxDevices    int           // trusted devices remembered per account

	// MaxSessions is the most sessions a user may have at once (0: no limit); a login
	// beyond it ends the least recently used in the same write.
	MaxSessions int
}

// DefaultThrottle fills the throttle fields with the documented defaults: after 5
// failures a cool-down of 60 s, doubling per further failure up to 15 min, failures
// forgotten after 24 h; device tokens live 180 days, and an account remembers its 8
// most recently seen devices.
func (p Policy) DefaultThrottle() Policy {
	p.MaxFailures, p.Lockout, p.MaxLockout, p.FailureMemory = 5, time.Minute, 15*time.Minute, 24*time.Hour
	p.DeviceTTL, p.MaxDevices = 180*24*time.Hour, 8
	return p
}

// Service runs the session operations.
type Service struct {
	store       Store
	minter      *token.Minter
	rotationKey []byte
	now         func() time.Time
	policy      Policy
	params      password.Params
	log         *slog.Logger
	audit       *slog.Logger      // where audit events go (internal/audit)
	metrics     *metrics.Recorder // nil records nothing
	deviceSrc   keys.Source       // private key set the device-token MAC keys derive from

	dummyOnce sync.Once
	dummy     string
	ring      atomic.Pointer[deviceRing]
}

// Deps are the Service's collaborators.
type Deps struct {
	Store       Store
	Minter      *token.Minter
	RotationKey []byte
	Now         func() time.Time
	Policy      Policy
	Password    password.Params
	Log         *slog.Logger
	// Audit receives the audit events (internal/audit); nil means Log. sessionctl
	// discards Log but keeps Audit.
	Audit *slog.Logger
	// Metrics records the operations' metrics (internal/metrics); nil records none.
	Metrics *metrics.Recorder
	// DeviceKeys is the private key set device tokens are MACed with (keys derived
	// from it, see device.go); without it logins issue and honour no device tokens.
	DeviceKeys keys.Source
}

// New builds a Service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Audit == nil {
		d.Audit = d.Log
	}
	return &Service{
		store: d.Store, minter: d.Minter, rotationKey: d.RotationKey, now: d.Now, policy: d.Policy,
		params: d.Password, log: d.Log, audit: d.Audit, metrics: d.Metrics, deviceSrc: d.DeviceKeys,
	}
}

// emit writes an audit event at the service's clock.
func (s *Service) emit(ctx context.Context, msg string, r audit.Record, attrs ...any) {
	if r.Time.IsZero() {
		r.Time = s.now()
	}
	audit.Emit(ctx, s.audit, msg, r, attrs...)
}

// outcomeOf is the metrics outcome of an operation that ended with err.
func outcomeOf(err error) string {
	var te *ThrottledError
	switch {
	case err == nil:
		return metrics.OK
	case errors.As(err, &te):
		return metrics.Throttled
	case errors.Is(err, ErrInvalidCredentials):
		return metrics.InvalidCredentials
	case errors.Is(err, ErrInvalidGrant):
		return metrics.InvalidGrant
	case errors.Is(err, ErrNotFound):
		return metrics.NotFound
	case errors.Is(err, password.ErrTooLong), errors.Is(err, password.ErrTooShort), errors.Is(err, password.ErrBadUsername):
		return metrics.InvalidRequest
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return metrics.Unavailable
	}
	return metrics.Error
}

type checkSessionKey struct{}

// inSession marks ctx as a password check in the caller's session sid (a password
// change, a reauthentication), for the audit events of the check.
func inSession(ctx context.Context, sid string) context.Context {
	return context.WithValue(ctx, checkSessionKey{}, sid)
}

// checkedSession returns the session a password check is made in ("" for a login).
func checkedSession(ctx context.Context) string {
	sid, _ := ctx.Value(checkSessionKey{}).(string)
	return sid
}

// Client describes who is logging in, for the session record, and the device token
// the client presents ("" if none).
type Client struct {
	UserAgent   string
	IP          string
	DeviceToken string
}

// Grant is what login and refresh hand back.
type Grant struct {
	AccessToken  string
	AccessExp    time.Time
	RefreshToken string
	RefreshExp   time.Time // idle deadline (never after SessionExp)
	SessionID    string
	SessionExp   time.Time // absolute deadline
	// DeviceToken proves at later logins that this client signed in before (login
	// only; "" without device-token keys). It expires at DeviceExp.
	DeviceToken string
	DeviceExp   time.Time
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// maxStaleLogins bounds how often one login decides again on a changed record. Most
// changes are a sibling login of the same user adding its session (a burst of logins
// at the session limit changes the list once per login), which costs a read and a
// write but no second password check.
const maxStaleLogins = 24

// Login checks a password and opens a session.
//
// The attempt is counted before the password is checked (reserve): one conditional
// write on the login record lets through at most what the throttle allows, however
// many requests arrive at once, and returns the record to check against. A valid
// device token moves the count to that device's own counter. A success resets the
// counter it was counted on; a failure leaves its count standing.
func (s *Service) Login(ctx context.Context, username, pw string, c Client) (*Grant, error) {
	ctx = metrics.WithFunction(ctx, metrics.FunctionLogin)
	// The login's own client, for every event of the attempt.
	ctx = audit.WithClient(ctx, audit.Client{SourceIP: c.IP, UserAgent: c.UserAgent})
	g, err := s.login(ctx, username, pw, c)
	s.metrics.Count(ctx, metrics.Logins, outcomeOf(err), 1)
	return g, err
}

func (s *Service) login(ctx context.Context, username, pw string, c Client) (*Grant, error) {
	if err := password.CheckLength(pw); err != nil {
		return nil, err
	}
	name, err := password.NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	// Unknown users are checked against a dummy hash so they cost what real ones do.
	// It is made on the first login of a container, known user or not, so even that
	// first answer's time says nothing about the account; only login pays for it.
	s.dummyOnce.Do(func() { s.dummy = password.Dummy(s.params) })
	now := s.now()
	// The throttle counts whole seconds, as the record stores them.
	sec := now.Truncate(time.Second)
	rec, dev, err := s.reserve(ctx, name, s.checkDevice(ctx, name, c.DeviceToken, sec), sec)
	if err != nil {
		return nil, err
	}
	verified := "" // the hash the password was found to match
	for attempt := 0; ; attempt++ {
		if !rec.Known() || rec.Disabled || rec.PwHash != verified {
			if err := s.checkPassword(ctx, rec, dev, pw); err != nil {
				return nil, err
			}
			verified = rec.PwHash
		}
		g, err := s.open(ctx, rec, dev, c, now)
		// The version, password or device map changed between our read and our write
		// (a racing logout-all, password change, or a sibling login that registered
		// the account's first device). Decide again, under the same counted attempt,
		// with the record as the failed write found it: a login racing both a sibling
		// and a version bump is stale twice and must still succeed.
		var stale *StaleLogin
		if errors.As(err, &stale) && attempt < maxStaleLogins-1 {
			if rec = stale.Current; rec == nil {
				return nil, ErrInvalidCredentials
			}
			continue
		}
		if errors.Is(err, ErrStale) {
			return nil, fmt.Errorf("%w: account changed during login", ErrUnavailable)
		}
		return g, err
	}
}

// checkPassword checks pw against the record (a dummy hash for an unknown or disabled
// account, so they cost what a real check does). Nothing is written on a failure: the
// attempt was counted before the check.
func (s *Service) checkPassword(ctx context.Context, rec *Login, dev *deviceProof, pw string) error {
	known := rec.Known()
	hash := s.dummy
	if known && !rec.Disabled {
		hash = rec.PwHash
	}
	ok, err := password.Verify(pw, hash)
	if err != nil {
		return fmt.Errorf("session: stored hash: %w", err)
	}
	if !ok || !known || rec.Disabled {
		r := audit.Record{Event: audit.LoginFailed, SessionID: checkedSession(ctx), Reason: FailWrongPassword}
		switch {
		case !known:
			r.Reason = FailUnknownUser
		case rec.Disabled:
			r.UserID, r.Reason = rec.UID, FailUserDisabled
		default:
			r.UserID = rec.UID
		}
		var attrs []any
		if dev != nil {
			attrs = append(attrs, "counter", "device")
		}
		s.emit(ctx, "login failed", r, attrs...)
		return ErrInvalidCredentials
	}
	return nil
}

// open opens the session of a login whose password matched rec.
func (s *Service) open(ctx context.Context, rec *Login, dev *deviceProof, c Client, now time.Time) (*Grant, error) {
	absExp := now.Add(s.policy.MaxAge).Truncate(time.Second)
	sid, err := newSessionID(absExp)
	if err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	idle := minTime(now.Add(s.policy.IdleTTL), absExp)
	sess := &Session{
		ID: sid, UserID: rec.UID, Ver: rec.Ver, Scope: rec.Scope,
		Cur: hashToken(sid, secret), IdleExp: idle, AbsExp: absExp, CreatedAt: now, LastUsed: now,
		UserAgent: truncate(c.UserAgent, 256), IP: truncate(c.IP, 64),
		LoginName: rec.Name, AuthTime: now,
		// In milliseconds, so the least recently used of sessions opened within one
		// second is still the one opened first.
		RotatedAt: now,
	}
	outcome, ring, err := s.success(rec, dev, now)
	if err != nil {
		return nil, err
	}
	if err := s.makeRoom(ctx, rec, &outcome, now); err != nil {
		return nil, err
	}
	if outcome.Token, err = newWriteToken(); err != nil {
		return nil, err
	}
	// A concurrent transaction or write on the login record cancels this one
	// (TransactionConflict): nothing was written, so write again after a pause.
	if err := retryConflict(ctx, func() error { return s.store.CreateSession(ctx, sess, rec, outcome) }); err != nil {
		return nil, err
	}
	g, err := s.grant(now, sess, sid+"."+secret)
	if err != nil {
		return nil, err
	}
	if outcome.Device != "" {
		g.DeviceToken = mintDeviceToken(ring, rec.Name, rec.UID, outcome.Device, now)
		g.DeviceExp = now.Truncate(time.Second).Add(s.policy.DeviceTTL)
	}
	for _, v := range outcome.Evict {
		s.emit(ctx, "session ended by the session limit",
			audit.Record{Event: audit.SessionEvicted, UserID: rec.UID, SessionID: v.ID, Reason: ReasonEvicted, Time: now},
			"limit", s.policy.MaxSessions)
	}
	s.metrics.Count(ctx, metrics.SessionsEvicted, "", len(outcome.Evict))
	reason := ""
	if dev != nil {
		reason = "trusted_device"
	}
	s.emit(ctx, "login succeeded", audit.Record{Event: audit.Login, UserID: rec.UID, SessionID: sid, Reason: reason, Time: now},
		"trusted_device", dev != nil)
	return g, nil
}

// makeRoom applies the session limit to a login: below it the new session is added on
// condition that the list is still short enough; at it, the listed sessions are read
// (the one extra round trip of a login at the limit, since only each session's own
// item knows when it was last used, which keeps a refresh to one small write), the
// dead ones dropped and the least recently used live ones ended to make room.
func (s *Service) makeRoom(ctx context.Context, rec *Login, o *LoginSuccess, now time.Time) error {
	limit := s.policy.MaxSessions
	o.Limit = limit
	if limit <= 0 || len(rec.Sessions) < limit {
		return nil
	}
	got, err := s.store.GetSessions(ctx, slices.Collect(maps.Keys(rec.Sessions)))
	if err != nil {
		return err
	}
	live, dead := classifyListed(rec, got, now)
	o.Drop = dead
	if extra := len(live) + 1 - limit; extra > 0 {
		o.Evict, o.Stay = live[:extra], live[extra:]
	}
	return nil
}

// classifyListed splits the sessions a login record lists into the live ones, least
// recently used first, and the IDs of those that ended (revoked, past a deadline,
// deleted by TTL, or, defensively, another user's).
func classifyListed(rec *Login, got map[string]*Session, now time.Time) (live []*Session, dead []string) {
	for id := range rec.Sessions {
		if sess, ok := got[id]; ok && sess.UserID == rec.UID && sess.Live(now) {
			live = append(live, sess)
		} else {
			dead = append(dead, id)
		}
	}
	slices.SortFunc(live, compareUse)
	slices.Sort(dead)
	return live, dead
}

// compareUse orders sessions by their last use: the last refresh or login (to the
// second, then to the millisecond of the last rotation), then by ID.
func compareUse(a, b *Session) int {
	if c := a.LastUsed.Compare(b.LastUsed); c != 0 {
		return c
	}
	if c := a.RotatedAt.Compare(b.RotatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// success is what a successful login changes on its record: the counter it was counted
// on restarts, and the device gets (or keeps) its entry: a trusted device keeps its ID,
// any other client becomes a new device. An account keeps at most MaxDevices: the
// least recently seen beyond that are forgotten, and their tokens count as untrusted.
func (s *Service) success(rec *Login, dev *deviceProof, now time.Time) (LoginSuccess, *deviceRing, error) {
	o := LoginSuccess{ClearFailures: dev == nil, Seen: now}
	ring, err := s.deviceKeys()
	if errors.Is(err, errNoDeviceKeys) {
		return o, nil, nil // no device token to issue; the login itself stands
	}
	if err != nil {
		return o, nil, err
	}
	if dev != nil {
		o.Device = dev.ID
	} else if o.Device, err = newDeviceID(); err != nil {
		return o, nil, err
	}
	type seen struct {
		id string
		at time.Time
	}
	var others []seen
	for id, d := range rec.Devices {
		if id != o.Device {
			others = append(others, seen{id, d.Seen})
		}
	}
	if extra := len(others) - max(s.policy.MaxDevices-1, 0); extra > 0 {
		slices.SortFunc(others, func(a, b seen) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return strings.Compare(a.id, b.id)
		})
		for _, d := range others[:extra] {
			o.Forget = append(o.Forget, d.id)
		}
	}
	return o, ring, nil
}

func (s *Service) grant(now time.Time, sess *Session, refresh string) (*Grant, error) {
	// Never past the idle deadline either: the authorizer reads the session, but a
	// token outliving its session would be a promise the service does not keep.
	exp := minTime(minTime(now.Add(s.policy.AccessTTL), sess.AbsExp), sess.IdleExp)
	at, err := s.minter.MintAuth(now, sess.UserID, sess.ID, sess.Ver, sess.Scope, exp, sess.AuthTime)
	if err != nil {
		return nil, err
	}
	return &Grant{
		AccessToken: at, AccessExp: exp.Truncate(time.Second),
		RefreshToken: refresh, RefreshExp: minTime(sess.IdleExp, sess.AbsExp),
		SessionID: sess.ID, SessionExp: sess.AbsExp,
	}, nil
}

// maxAncestry bounds the walk back through a session's token chain when telling an
// old token (theft) from a forged one: 30 days of 15-minute refreshes is 2880.
const maxAncestry = 20000

// Refresh rotates a refresh token and mints a new access token.
func (s *Service) Refresh(ctx context.Context, tok string) (*Grant, error) {
	ctx = metrics.WithFunction(ctx, metrics.FunctionRefresh)
	g, outcome, err := s.refresh(ctx, tok)
	if outcome == "" || (err != nil && !errors.Is(err, ErrInvalidGrant) && outcome != metrics.ReuseDetected) {
		// A storage or minting failure on the way, whatever the path.
		outcome = outcomeOf(err)
	}
	s.metrics.Count(ctx, metrics.Refreshes, outcome, 1)
	return g, err
}

// refresh is Refresh; it also returns the Refreshes outcome of the path taken.
func (s *Service) refresh(ctx context.Context, tok string) (*Grant, string, error) {
	now := s.now()
	sid, secret, absExp, err := parseRefreshToken(tok)
	if err != nil {
		return nil, metrics.Invalid, ErrInvalidGrant
	}
	if !now.Before(absExp) {
		return nil, metrics.Expired, ErrInvalidGrant
	}
	presented := hashToken(sid, secret)
	child := childSecret(s.rotationKey, sid, secret)
	next := hashToken(sid, child)
	idle := minTime(now.Add(s.policy.IdleTTL), absExp)

	sess, err := s.store.Rotate(ctx, RotateInput{
		SessionID: sid, Presented: presented, Next: next, Now: now, IdleExp: idle, AbsExp: absExp,
	})
	var conflict *RotateConflict
	switch {
	case err == nil:
		g, err := s.grant(now, sess, sid+"."+child)
		return g, metrics.Rotated, err
	case errors.Is(err, ErrNotFound):
		s.log.InfoContext(ctx, "refresh refused", "reason", "unknown_session")
		return nil, metrics.Invalid, ErrInvalidGrant
	case errors.As(err, &conflict):
		return s.resolveConflict(ctx, now, conflict.Old, sid, secret, child, next, presented)
	default:
		return nil, "", err
	}
}

// resolveConflict decides what a failed rotation condition means, from the item as
// it was (ALL_OLD), without another read. It returns the Refreshes outcome too.
func (s *Service) resolveConflict(ctx context.Context, now time.Time, old *Session, sid, secret, child string, next, presented []byte) (*Grant, string, error) {
	log := s.log.With("sid", LogID(sid), "uid", old.UserID)
	switch {
	case old.Revoked():
		log.InfoContext(ctx, "refresh refused", "reason", "revoked", "revoke_reason", old.RevokeReason)
		return nil, metrics.Revoked, ErrInvalidGrant
	case !old.Live(now):
		log.InfoContext(ctx, "refresh refused", "reason", "expired")
		return nil, metrics.Expired, ErrInvalidGrant
	case subtle.ConstantTimeCompare(old.Cur, next) == 1:
		// The presented token is the parent of the current one. Our own write whose
		// response was lost (the SDK retried it) carries our exact timestamp; a
		// concurrent refresh or a second tab lands inside the grace window. Both get
		// the same child: no fork, no write.
		age := now.Sub(old.RotatedAt)
		if old.RotatedAt.UnixMilli() == now.UnixMilli() || age <= s.policy.Grace {
			log.InfoContext(ctx, "refresh replay answered with the current token", "age_ms", age.Milliseconds())
			g, err := s.grant(now, old, sid+"."+child)
			return g, metrics.GraceReplay, err
		}
		return nil, metrics.ReuseDetected, s.revokeForReuse(ctx, old.UserID, sid, ReuseAfterGrace, 1)
	case subtle.ConstantTimeCompare(old.Prev, presented) == 1:
		// The previous token, but its child is not the current one: the rotation key
		// changed in between. Refuse without revoking; the chain can't be checked.
		log.WarnContext(ctx, "refresh refused", "reason", "previous token from another rotation key")
		return nil, metrics.Invalid, ErrInvalidGrant
	}
	if k := s.generationsOld(old, sid, secret); k > 0 {
		return nil, metrics.ReuseDetected, s.revokeForReuse(ctx, old.UserID, sid, ReuseOlderToken, k)
	}
	log.WarnContext(ctx, "refresh refused", "reason", "secret does not belong to the session")
	return nil, metrics.Invalid, ErrInvalidGrant
}

// generationsOld returns k > 0 if secret is the k-th ancestor of the session's current
// refresh token (k >= 1), or 0 if it is not in the session's chain at all (forged, or
// minted under another rotation key).
func (s *Service) generationsOld(sess *Session, sid, secret string) int64 {
	cur := secret
	for k := int64(1); k <= min(sess.Gen, maxAncestry); k++ {
		cur = childSecret(s.rotationKey, sid, cur)
		if subtle.ConstantTimeCompare(hashToken(sid, cur), sess.Cur) == 1 {
			return k
		}
	}
	return 0
}

// The reason of each audit event the service emits that has several (the others
// carry a Reason* revoke reason, or none).
const (
	// refresh_reuse: how the older token came back.
	ReuseAfterGrace     = "previous_token_after_grace"   // the previous token, after the grace window
	ReuseOlderToken     = "older_token"                  // a token older than the previous one, at refresh
	ReuseAtLogout       = "older_token_at_logout"        // an older token presented to logout
	ReuseAtLogoutOthers = "older_token_at_logout_others" // ... to logout of the other sessions
	ReuseAtLogoutAll    = "older_token_at_logout_all"    // ... to logout everywhere (which still ends everything)

	// login_failed: why the password check failed.
	FailWrongPassword = "wrong_password"
	FailUnknownUser   = "unknown_user"
	FailUserDisabled  = "user_disabled"

	// login_throttled: the counter that is cooling down.
	ThrottledUsername = "username"
	ThrottledDevice   = "device"
)

// revokeForReuse revokes a session one of whose older refresh tokens came back (theft)
// and records it: generations is how old the token was (1 = the previous one).
func (s *Service) revokeForReuse(ctx context.Context, uid, sid, reason string, generations int64) error {
	s.emit(ctx, "refresh token reuse: revoking session",
		audit.Record{Event: audit.RefreshReuse, UserID: uid, SessionID: sid, Reason: reason, Level: slog.LevelWarn},
		"generations", generations)
	if _, err := s.store.RevokeSession(ctx, sid, nil, ReasonReuse, s.now()); err != nil && !errors.Is(err, ErrNotFound) {
		// Never answer as if the session were dead while it is not: the client
		// retries, and the retry revokes.
		return err
	}
	return ErrInvalidGrant
}

// Scope says what a logout ends.
type Scope string

// Logout scopes (the "scope" member of POST /auth/logout).
const (
	ScopeSession Scope = "session" // the token's own session
	ScopeOthers  Scope = "others"  // every other session of the user; this one stays
	ScopeAll     Scope = "all"     // every session of the user, this one included
)

// Logout ends what scope names, for the session a refresh token belongs to. "others"
// and "all" act only if that session is live: a token of a session that was revoked
// (as theft, by a logout, by an administrator) or is past a deadline changes nothing
// more than a single logout would. An unknown or invalid token is not an error (RFC
// 7009 §2.2).
func (s *Service) Logout(ctx context.Context, tok string, scope Scope) error {
	ctx = metrics.WithFunction(ctx, metrics.FunctionLogout)
	outcome, err := s.logout(ctx, tok, scope)
	if err != nil && outcome != metrics.ReuseDetected {
		outcome = outcomeOf(err)
	}
	s.metrics.Count(ctx, metrics.Logouts, outcome, 1)
	return err
}

// logout is Logout; it also returns the Logouts outcome: the scope for a logout with a
// token of the session (whatever it found to end), ReuseDetected for an older token,
// Invalid for a token of no session.
func (s *Service) logout(ctx context.Context, tok string, scope Scope) (string, error) {
	now := s.now()
	sid, secret, _, err := parseRefreshToken(tok)
	if err != nil {
		return metrics.Invalid, nil
	}
	if scope == ScopeAll || scope == ScopeOthers {
		return s.logoutMany(ctx, now, sid, secret, scope)
	}
	old, err := s.store.RevokeSession(ctx, sid, hashToken(sid, secret), ReasonLogout, now)
	if errors.Is(err, ErrNotFound) {
		return s.logoutWithOldToken(ctx, sid, secret)
	}
	if err != nil {
		return "", err
	}
	s.emit(ctx, "logged out", audit.Record{Event: audit.Logout, UserID: old.UserID, SessionID: sid, Reason: ReasonLogout, Time: now},
		"scope", string(ScopeSession), "was_live", old.Live(now))
	return string(ScopeSession), nil
}

// logoutWithOldToken handles a logout whose token is neither the current nor the
// previous one. If it is an older token of the session, someone else has been
// refreshing with its descendants: a theft, which a logout must end as surely as a
// refresh would. A forged or unknown token changes nothing. Only this failure path
// pays the extra read.
func (s *Service) logoutWithOldToken(ctx context.Context, sid, secret string) (string, error) {
	sess, err := s.store.GetSession(ctx, sid)
	if errors.Is(err, ErrNotFound) {
		s.log.InfoContext(ctx, "logout of an unknown session")
		return metrics.Invalid, nil
	}
	if err != nil {
		return "", err
	}
	k := s.generationsOld(sess, sid, secret)
	if k == 0 {
		s.log.WarnContext(ctx, "logout refused", "sid", LogID(sid), "reason", "secret does not belong to the session")
		return metrics.Invalid, nil
	}
	if err := s.revokeForReuse(ctx, sess.UserID, sid, ReuseAtLogout, k); !errors.Is(err, ErrInvalidGrant) {
		return metrics.ReuseDetected, err
	}
	return metrics.ReuseDetected, nil
}

// logoutMany is Logout with "others" or "all". The token's session is read first to
// find the user and the token's place in its chain; then the user's sessions are ended
// in one transaction (Store.EndSessions) on condition that the token's session is
// still live (and still holds the token), so a logout that fails half-way (503) leaves
// everything as it was and the client's retry does the whole of it. "all" also raises
// the token version, so a login that read the record before cannot open a session
// across it.
func (s *Service) logoutMany(ctx context.Context, now time.Time, sid, secret string, scope Scope) (string, error) {
	presented := hashToken(sid, secret)
	sess, err := s.store.GetSession(ctx, sid)
	if errors.Is(err, ErrNotFound) {
		s.log.InfoContext(ctx, "logout of an unknown session")
		return metrics.Invalid, nil
	}
	if err != nil {
		return "", err
	}
	log := s.log.With("sid", LogID(sid), "uid", sess.UserID)
	hash, reason, outcome := presented, ReasonLogout, string(scope)
	var generations int64
	if subtle.ConstantTimeCompare(sess.Cur, presented) != 1 && subtle.ConstantTimeCompare(sess.Prev, presented) != 1 {
		if generations = s.generationsOld(sess, sid, secret); generations == 0 {
			log.WarnContext(ctx, "logout refused", "reason", "secret does not belong to the session")
			return metrics.Invalid, nil
		}
		// Theft, detected by the logout itself. The stolen chain's session ends
		// whatever the scope; with "all", everything else too, as asked.
		hash, reason, outcome = nil, ReasonReuse, metrics.ReuseDetected
		if scope == ScopeOthers {
			// The thief's session ends; the others stay (their owner did not ask
			// with a token of theirs). A logout answers 204 either way (RFC 7009).
			if err := s.revokeForReuse(ctx, sess.UserID, sid, ReuseAtLogoutOthers, generations); !errors.Is(err, ErrInvalidGrant) {
				return outcome, err
			}
			return outcome, nil
		}
	}
	if !sess.Live(now) {
		log.InfoContext(ctx, "logout of many sessions with a token of a session that had already ended: nothing done",
			"scope", string(scope), "revoke_reason", sess.RevokeReason)
		return outcome, nil
	}
	name, err := s.loginName(ctx, sess)
	if err != nil {
		return outcome, err
	}
	n, err := s.endSessions(ctx, sess.UserID, name, nil, func(rec *Login, listed map[string]*Session) (*Ending, error) {
		own, ok := listed[sid]
		if !ok {
			own, err = s.store.GetSession(ctx, sid) // a session from before the lists
			if err != nil {
				return nil, err
			}
		}
		if !own.Live(now) {
			return nil, errSessionEnded
		}
		e := &Ending{Login: rec, Now: now}
		if scope == ScopeAll {
			e.Bump = true
			e.End = append(e.End, Revocation{SessionID: sid, Hash: hash, Reason: reason, Now: now})
			e.End = append(e.End, others(rec, listed, sid, ReasonLogoutAll, now)...)
		} else {
			e.Keep, e.KeepHash = own, hash
			e.End = others(rec, listed, sid, ReasonLogoutOthers, now)
		}
		return e, nil
	})
	if errors.Is(err, errSessionEnded) {
		log.InfoContext(ctx, "logout of many sessions: the session ended meanwhile, nothing done", "scope", string(scope))
		return outcome, nil
	}
	if err != nil {
		return outcome, err
	}
	if reason == ReasonReuse {
		s.emit(ctx, "refresh token reuse: revoking session",
			audit.Record{Event: audit.RefreshReuse, UserID: sess.UserID, SessionID: sid, Reason: ReuseAtLogoutAll, Level: slog.LevelWarn, Time: now},
			"generations", generations)
	}
	if scope == ScopeAll {
		n-- // the caller's own session, ended with the others
	}
	ev, msg, why := audit.LogoutAll, "logged out everywhere", ReasonLogoutAll
	if scope == ScopeOthers {
		ev, msg, why = audit.LogoutOthers, "logged out of the other sessions", ReasonLogoutOthers
	}
	s.emit(ctx, msg, audit.Record{Event: ev, UserID: sess.UserID, SessionID: sid, Reason: why, Time: now},
		"scope", string(scope), "other_live_sessions", n)
	return outcome, nil
}

// errSessionEnded stops an Ending whose own session ended between the reads.
var errSessionEnded = errors.New("session: the session ended")

// others lists the revocations of every live listed session of rec but skip.
func others(rec *Login, listed map[string]*Session, skip, reason string, now time.Time) []Revocation {
	live, _ := classifyListed(rec, listed, now)
	var out []Revocation
	for _, sess := range live {
		if sess.ID != skip {
			out = append(out, Revocation{SessionID: sess.ID, Reason: reason, Now: now})
		}
	}
	return out
}

// loginName returns the key of the session's login record.
func (s *Service) loginName(ctx context.Context, sess *Session) (string, error) {
	if sess.LoginName != "" {
		return sess.LoginName, nil
	}
	u, err := s.store.GetUser(ctx, sess.UserID)
	if err != nil {
		return "", err
	}
	return u.Name, nil
}

// maxEndings bounds how often an Ending is decided again after the sessions or the
// record changed under it (a login, a refresh, another ending).
const maxEndings = 6

// endSessions reads the user's login record (unless rec is given: one just read, e.g.
// by a reservation) and the sessions it lists, lets decide build the Ending, and writes it.
// A write whose conditions found something changed since the read (ErrStale) is read
// and decided again, up to maxEndings times; a TransactionConflict is retried as
// such. It returns how many live sessions the write ended (each ended on condition
// that it was live, so a session ended by someone else in between is not counted).
func (s *Service) endSessions(ctx context.Context, uid, name string, rec *Login, decide func(*Login, map[string]*Session) (*Ending, error)) (int, error) {
	for range maxEndings {
		if rec == nil {
			var err error
			if rec, err = s.store.GetLoginConsistent(ctx, name); err != nil {
				return 0, err
			}
		}
		if rec.UID != uid {
			// No account, or the name's record is another account's: never end
			// someone else's sessions on a damaged token record.
			return 0, fmt.Errorf("session: the login record %w for the user", ErrNotFound)
		}
		listed, err := s.store.GetSessions(ctx, slices.Collect(maps.Keys(rec.Sessions)))
		if err != nil {
			return 0, err
		}
		e, err := decide(rec, listed)
		if err != nil {
			return 0, err
		}
		// The ended entries leave the list with the rest of the write.
		_, e.Drop = classifyListed(rec, listed, e.Now)
		if e.Token, err = newWriteToken(); err != nil {
			return 0, err
		}
		err = retryConflict(ctx, func() error { return s.store.EndSessions(ctx, *e) })
		if errors.Is(err, ErrStale) {
			rec = nil
			continue
		}
		if err != nil {
			return 0, err
		}
		return len(e.End), nil
	}
	return 0, fmt.Errorf("%w: sessions changed %d times while ending them", ErrUnavailable, maxEndings)
}

// RevokeUser ends every session of a user and every access token minted before, in one
// write that also raises the token version (so no login racing it opens a session
// across it) and optionally sets a new password hash. It returns how many sessions
// this call ended that were live until then (already revoked or expired ones do not
// count, so a repeat returns 0).
func (s *Service) RevokeUser(ctx context.Context, uid, newPwHash, reason string) (int, error) {
	u, err := s.store.GetUser(ctx, uid)
	if err != nil {
		return 0, err
	}
	now := s.now()
	n, err := s.endSessions(ctx, uid, u.Name, nil, func(rec *Login, listed map[string]*Session) (*Ending, error) {
		return &Ending{Login: rec, Bump: true, PwHash: newPwHash, End: others(rec, listed, "", reason, now), Now: now}, nil
	})
	if err != nil {
		return n, err
	}
	// An administrator's action (sessionctl): with a new hash it is a password reset.
	r, msg := audit.Record{Event: audit.AdminRevoke, UserID: uid, Reason: reason, Time: now}, "revoked all sessions of a user"
	if newPwHash != "" {
		r.Event, msg = audit.PasswordReset, "revoked all sessions of a user and set a new password"
	}
	s.emit(ctx, msg, r, "live_sessions", n)
	return n, nil
}

// retryConflict runs a transactional write, and again (conflictAttempts times in all)
// while a concurrent transaction on the same items cancels it (ErrConflict), which the
// SDK does not retry. Retry i waits a random pause of up to conflictPause<<i ("full
// jitter"), so writes that just collided spread out; the pauses add up to well under
// config.StorageTimeout. A logout-all racing a burst of logins of the same user needs
// more than two retries (TestLogoutEverywhereRacingALoginLeavesNoLiveSessionOnAnOldVersion).
func retryConflict(ctx context.Context, write func() error) error {
	err := write()
	for i := range conflictAttempts - 1 {
		if !errors.Is(err, ErrConflict) {
			return err
		}
		t := time.NewTimer(time.Duration(rand.Int64N(int64(conflictPause << i))))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		err = write()
	}
	return err
}

// conflictAttempts and conflictPause bound the retries of a write a conflict cancelled:
// at most 20+40+80+160+320 ms of pauses.
const (
	conflictAttempts = 6
	conflictPause    = 20 * time.Millisecond
)

// LogID is how a session appears in logs: a prefix of its ID, enough to correlate
// lines, never the refresh token or its hash.
func LogID(sid string) string {
	if len(sid) > 12 {
		return sid[:12]
	}
	return sid
}

// truncate bounds a client-supplied string so a session item stays under 1 KB (one
// WCU per write), without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "")
	}
	return strings.ToValidUTF8(s[:n], "")
}
