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
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/sessions/internal/keys"
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
	BumpVersion(ctx context.Context, uid, newPwHash string, end *Revocation) error
	ListUserSessions(ctx context.Context, uid string) ([]string, error)
	GetSession(ctx context.Context, sid string) (*Session, error)
	GetUser(ctx context.Context, uid string) (*User, error)
	CreateUser(ctx context.Context, l *Login) error
	SetDisabled(ctx context.Context, uid string, disabled bool) error
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
	deviceSrc   keys.Source // private key set the device-token MAC keys derive from

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
	return &Service{
		store: d.Store, minter: d.Minter, rotationKey: d.RotationKey, now: d.Now, policy: d.Policy,
		params: d.Password, log: d.Log, deviceSrc: d.DeviceKeys,
	}
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

// maxStaleLogins bounds how often one login decides again on a changed record.
const maxStaleLogins = 3

// Login checks a password and opens a session.
//
// The attempt is counted before the password is checked (reserve): one conditional
// write on the login record lets through at most what the throttle allows, however
// many requests arrive at once, and returns the record to check against. A valid
// device token moves the count to that device's own counter. A success resets the
// counter it was counted on; a failure leaves its count standing.
func (s *Service) Login(ctx context.Context, username, pw string, c Client) (*Grant, error) {
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
	for attempt := 0; ; attempt++ {
		g, err := s.login(ctx, rec, dev, pw, c, now)
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

func (s *Service) login(ctx context.Context, rec *Login, dev *deviceProof, pw string, c Client, now time.Time) (*Grant, error) {
	known := rec.Known()
	hash := s.dummy
	if known && !rec.Disabled {
		hash = rec.PwHash
	}
	ok, err := password.Verify(pw, hash)
	if err != nil {
		return nil, fmt.Errorf("session: stored hash: %w", err)
	}
	if !ok || !known || rec.Disabled {
		// Nothing to write: the attempt was counted before the check.
		attrs := []any{"outcome", "invalid_credentials"}
		if known {
			attrs = append(attrs, "uid", rec.UID)
		}
		if dev != nil {
			attrs = append(attrs, "counter", "device")
		}
		s.log.InfoContext(ctx, "login failed", attrs...)
		return nil, ErrInvalidCredentials
	}

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
	}
	outcome, ring, err := s.success(rec, dev, now)
	if err != nil {
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
	s.log.InfoContext(ctx, "login succeeded", "outcome", "ok", "uid", rec.UID, "sid", LogID(sid), "trusted_device", dev != nil)
	return g, nil
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
	exp := minTime(now.Add(s.policy.AccessTTL), sess.AbsExp)
	at, err := s.minter.Mint(now, sess.UserID, sess.ID, sess.Ver, sess.Scope, exp)
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
	now := s.now()
	sid, secret, absExp, err := parseRefreshToken(tok)
	if err != nil || !now.Before(absExp) {
		return nil, ErrInvalidGrant
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
		return s.grant(now, sess, sid+"."+child)
	case errors.Is(err, ErrNotFound):
		s.log.InfoContext(ctx, "refresh refused", "reason", "unknown_session")
		return nil, ErrInvalidGrant
	case errors.As(err, &conflict):
		return s.resolveConflict(ctx, now, conflict.Old, sid, secret, child, next, presented)
	default:
		return nil, err
	}
}

// resolveConflict decides what a failed rotation condition means, from the item as
// it was (ALL_OLD), without another read.
func (s *Service) resolveConflict(ctx context.Context, now time.Time, old *Session, sid, secret, child string, next, presented []byte) (*Grant, error) {
	log := s.log.With("sid", LogID(sid), "uid", old.UserID)
	switch {
	case old.Revoked():
		log.InfoContext(ctx, "refresh refused", "reason", "revoked", "revoke_reason", old.RevokeReason)
		return nil, ErrInvalidGrant
	case !old.Live(now):
		log.InfoContext(ctx, "refresh refused", "reason", "expired")
		return nil, ErrInvalidGrant
	case subtle.ConstantTimeCompare(old.Cur, next) == 1:
		// The presented token is the parent of the current one. Our own write whose
		// response was lost (the SDK retried it) carries our exact timestamp; a
		// concurrent refresh or a second tab lands inside the grace window. Both get
		// the same child: no fork, no write.
		age := now.Sub(old.RotatedAt)
		if old.RotatedAt.UnixMilli() == now.UnixMilli() || age <= s.policy.Grace {
			log.InfoContext(ctx, "refresh replay answered with the current token", "age_ms", age.Milliseconds())
			return s.grant(now, old, sid+"."+child)
		}
		return nil, s.revokeForReuse(ctx, log, sid, "previous token replayed after the grace window")
	case subtle.ConstantTimeCompare(old.Prev, presented) == 1:
		// The previous token, but its child is not the current one: the rotation key
		// changed in between. Refuse without revoking; the chain can't be checked.
		log.WarnContext(ctx, "refresh refused", "reason", "previous token from another rotation key")
		return nil, ErrInvalidGrant
	}
	if k := s.generationsOld(old, sid, secret); k > 0 {
		return nil, s.revokeForReuse(ctx, log, sid, fmt.Sprintf("token %d generations old replayed", k))
	}
	log.WarnContext(ctx, "refresh refused", "reason", "secret does not belong to the session")
	return nil, ErrInvalidGrant
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

func (s *Service) revokeForReuse(ctx context.Context, log *slog.Logger, sid, why string) error {
	log.WarnContext(ctx, "refresh token reuse: revoking session", "why", why)
	if _, err := s.store.RevokeSession(ctx, sid, nil, ReasonReuse, s.now()); err != nil && !errors.Is(err, ErrNotFound) {
		// Never answer as if the session were dead while it is not: the client
		// retries, and the retry revokes.
		return err
	}
	return ErrInvalidGrant
}

// Logout revokes the session a refresh token belongs to. With all, it also revokes
// every session of the user and every access token minted before, by bumping the
// user's token version, but only if that session is live: a token of a session that
// was revoked (as theft, by a logout, by an administrator) or is past a deadline
// changes nothing more than a single logout would. An unknown or invalid token is not
// an error (RFC 7009 §2.2).
func (s *Service) Logout(ctx context.Context, tok string, all bool) error {
	now := s.now()
	sid, secret, _, err := parseRefreshToken(tok)
	if err != nil {
		return nil
	}
	if all {
		return s.logoutAll(ctx, now, sid, secret)
	}
	old, err := s.store.RevokeSession(ctx, sid, hashToken(sid, secret), ReasonLogout, now)
	if errors.Is(err, ErrNotFound) {
		return s.logoutWithOldToken(ctx, sid, secret)
	}
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "logged out", "sid", LogID(sid), "uid", old.UserID, "all", false, "was_live", old.Live(now))
	return nil
}

// logoutWithOldToken handles a logout whose token is neither the current nor the
// previous one. If it is an older token of the session, someone else has been
// refreshing with its descendants: a theft, which a logout must end as surely as a
// refresh would. A forged or unknown token changes nothing. Only this failure path
// pays the extra read.
func (s *Service) logoutWithOldToken(ctx context.Context, sid, secret string) error {
	sess, err := s.store.GetSession(ctx, sid)
	if errors.Is(err, ErrNotFound) {
		s.log.InfoContext(ctx, "logout of an unknown session")
		return nil
	}
	if err != nil {
		return err
	}
	k := s.generationsOld(sess, sid, secret)
	if k == 0 {
		s.log.WarnContext(ctx, "logout refused", "sid", LogID(sid), "reason", "secret does not belong to the session")
		return nil
	}
	log := s.log.With("sid", LogID(sid), "uid", sess.UserID)
	if err := s.revokeForReuse(ctx, log, sid, fmt.Sprintf("logout with a token %d generations old", k)); !errors.Is(err, ErrInvalidGrant) {
		return err
	}
	return nil
}

// logoutAll is Logout with all. Whether the session is live and the token its own is
// decided by the condition of the one transaction that bumps the version and revokes
// the session (Store.BumpVersion with a Revocation), not by the read before it, which
// only finds the user and the token's place in the chain: a session revoked or
// rotated in between fails the condition, nothing is written, and the decision is
// made again on what the session is now. Because the bump and this session's
// revocation are one write, a logout that fails half-way (503) leaves the session
// live, and the client's retry does the whole of it; once they are done, every
// access token and every session opened before is dead, and the revocation of the
// other sessions is only what makes their refresh tokens fail too.
func (s *Service) logoutAll(ctx context.Context, now time.Time, sid, secret string) error {
	presented := hashToken(sid, secret)
	for range 2 {
		sess, err := s.store.GetSession(ctx, sid)
		if errors.Is(err, ErrNotFound) {
			s.log.InfoContext(ctx, "logout of an unknown session")
			return nil
		}
		if err != nil {
			return err
		}
		log := s.log.With("sid", LogID(sid), "uid", sess.UserID)
		end := &Revocation{SessionID: sid, Reason: ReasonLogout, Now: now}
		switch {
		case subtle.ConstantTimeCompare(sess.Cur, presented) == 1 || subtle.ConstantTimeCompare(sess.Prev, presented) == 1:
			end.Hash = presented
		case s.generationsOld(sess, sid, secret) > 0:
			// Theft, detected by the logout itself: end it, and with it everything
			// else, as asked. (A dead session's old token ends nothing: below.)
			end.Reason = ReasonReuse
		default:
			log.WarnContext(ctx, "logout refused", "reason", "secret does not belong to the session")
			return nil
		}
		if !sess.Live(now) {
			log.InfoContext(ctx, "logout everywhere with a token of a session that had already ended: nothing done",
				"revoke_reason", sess.RevokeReason)
			return nil
		}
		err = s.bump(ctx, sess.UserID, "", end)
		if errors.Is(err, ErrStale) {
			continue // the session changed since the read: decide on what it is now
		}
		if err != nil {
			return err
		}
		if end.Reason == ReasonReuse {
			log.WarnContext(ctx, "refresh token reuse: revoking session", "why", "logout everywhere with an older token")
		}
		n, err := s.revokeSessions(ctx, sess.UserID, ReasonLogoutAll, sid, now)
		if err != nil {
			// Every access token and session from before is dead already (the
			// bump); what failed is making the other refresh tokens fail too.
			return err
		}
		log.InfoContext(ctx, "logged out everywhere", "all", true, "other_live_sessions", n)
		return nil
	}
	return fmt.Errorf("%w: session changed twice during logout", ErrUnavailable)
}

// RevokeUser bumps a user's token version (with an optional new password hash) and
// revokes each of the user's sessions. The bump alone already stops every access token
// and every racing login; revoking the sessions makes their refresh tokens fail too.
// It returns how many sessions this call ended that were live until then (already
// revoked or expired ones do not count, so a repeat returns 0).
func (s *Service) RevokeUser(ctx context.Context, uid, newPwHash, reason string) (int, error) {
	if err := s.bump(ctx, uid, newPwHash, nil); err != nil {
		return 0, err
	}
	n, err := s.revokeSessions(ctx, uid, reason, "", s.now())
	if err != nil {
		return n, err
	}
	s.log.InfoContext(ctx, "revoked all sessions of a user", "uid", uid, "live_sessions", n, "reason", reason)
	return n, nil
}

// bump is Store.BumpVersion, tried again if a concurrent transaction cancels it.
func (s *Service) bump(ctx context.Context, uid, newPwHash string, end *Revocation) error {
	return retryConflict(ctx, func() error { return s.store.BumpVersion(ctx, uid, newPwHash, end) })
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

// revokeSessions revokes every listed session of a user but skip, and returns how
// many of them this call found live: counted from each revocation's own ALL_OLD image,
// so a session revoked or expired before, or by someone else in between, is not.
func (s *Service) revokeSessions(ctx context.Context, uid, reason, skip string, now time.Time) (int, error) {
	ids, err := s.store.ListUserSessions(ctx, uid)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if id == skip {
			continue
		}
		old, err := s.store.RevokeSession(ctx, id, nil, reason, now)
		if errors.Is(err, ErrNotFound) {
			continue // deleted by TTL since the index listed it
		}
		if err != nil {
			return n, err
		}
		if old.Live(now) {
			n++
		}
	}
	return n, nil
}

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
