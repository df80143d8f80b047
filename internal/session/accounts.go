package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/example/sessions/internal/audit"
	"github.com/example/sessions/internal/metrics"
	"github.com/example/sessions/internal/password"
)

// Revoke reasons (the revoke_reason attribute).
const (
	ReasonLogout         = "logout"              // the session's own logout
	ReasonLogoutAll      = "logout_all"          // another session of the user logged out everywhere
	ReasonReuse          = "refresh_token_reuse" // an older refresh token came back: theft
	ReasonPasswordChange = "password_change"
	ReasonAdminRevoke    = "admin_revoke"
	ReasonUserDisabled   = "user_disabled"
	ReasonSignedOut      = "signed_out"    // ended from another session's device list
	ReasonLogoutOthers   = "logout_others" // another session of the user logged out everywhere else
	ReasonEvicted        = "session_limit" // the least recently used beyond MAX_SESSIONS_PER_USER
)

// NewUserID returns a new opaque user ID: "usr_" and 128 random bits in base64url. It
// is the only user-ID format: every account, whoever creates it, gets one of these.
func NewUserID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "usr_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// CreateUser opens an account: the username is normalised (password.NormalizeUsername)
// and checked as a new name (password.CheckNewUsername),
// the password checked and hashed with the service's argon2id parameters, and the login
// and token records written together. It fails with ErrExists if the name is taken.
// Every account is created here: sessionctl, the local server, the tests and the
// benchmarks.
func (s *Service) CreateUser(ctx context.Context, username, pw, scope string) (*Login, error) {
	name, err := password.NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	// Stricter than login: no invisible characters, one script, so no new account
	// renders like an existing one.
	if err := password.CheckNewUsername(name); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(pw)
	if err != nil {
		return nil, err
	}
	uid, err := NewUserID()
	if err != nil {
		return nil, err
	}
	l := &Login{Name: name, UID: uid, PwHash: hash, Ver: 1, Scope: scope}
	if err := s.store.CreateUser(ctx, l); err != nil {
		return nil, err
	}
	s.emit(ctx, "user created", audit.Record{Event: audit.UserCreated, UserID: uid})
	return l, nil
}

// FindUser returns the login record of the account called username, or ErrNotFound
// (also for the failures-only stub that failed logins of an unknown name leave).
func (s *Service) FindUser(ctx context.Context, username string) (*Login, error) {
	name, err := password.NormalizeUsername(username)
	if err != nil {
		return nil, err
	}
	l, err := s.store.GetLoginConsistent(ctx, name)
	if err != nil {
		return nil, err
	}
	if !l.Known() {
		return nil, fmt.Errorf("session: user %w", ErrNotFound)
	}
	return l, nil
}

// SetPassword gives the account a new password and ends every session and access token
// it had, as a password change must.
func (s *Service) SetPassword(ctx context.Context, uid, pw string) error {
	hash, err := s.hashPassword(pw)
	if err != nil {
		return err
	}
	_, err = s.RevokeUser(ctx, uid, hash, ReasonPasswordChange)
	return err
}

// SetDisabled disables or enables an account. Disabling ends everything the account
// had, in one write: it sets the flag, raises the token version (so a login racing it
// cannot open a session) and revokes every live session. It returns how many live
// sessions it ended. Enabling only clears the flag: nothing from before the disable
// comes back.
func (s *Service) SetDisabled(ctx context.Context, uid string, disabled bool) (int, error) {
	u, err := s.store.GetUser(ctx, uid)
	if err != nil {
		return 0, err
	}
	now := s.now()
	n, err := s.endSessions(ctx, uid, u.Name, nil, func(rec *Login, listed map[string]*Session) (*Ending, error) {
		e := &Ending{Login: rec, Disabled: &disabled, Now: now}
		if disabled {
			e.Bump, e.End = true, others(rec, listed, "", ReasonUserDisabled, now)
		}
		return e, nil
	})
	if err != nil {
		return n, err
	}
	if !disabled {
		s.emit(ctx, "user enabled", audit.Record{Event: audit.UserEnabled, UserID: uid, Time: now})
		return 0, nil
	}
	s.emit(ctx, "user disabled", audit.Record{Event: audit.UserDisabled, UserID: uid, Reason: ReasonUserDisabled, Time: now},
		"live_sessions", n)
	return n, nil
}

// ListSessions returns a user's live sessions, most recently used first: those the
// login record lists whose own item says they are live. It is exact (no index, no
// eventually consistent read): the user's device list.
func (s *Service) ListSessions(ctx context.Context, uid string) (_ []*Session, err error) {
	ctx = metrics.WithFunction(ctx, metrics.FunctionAccount)
	defer func() { s.metrics.Count(ctx, metrics.SessionListings, outcomeOf(err), 1) }()
	rec, listed, err := s.listed(ctx, uid)
	if err != nil {
		return nil, err
	}
	live, _ := classifyListed(rec, listed, s.now())
	slices.Reverse(live)
	return live, nil
}

// ListedSessions returns every session the user's login record still lists and the
// table still holds, live or ended (an ended one stays listed until the next write
// that rewrites the list), most recently used first: sessionctl's view, which shows
// why each one ended.
func (s *Service) ListedSessions(ctx context.Context, uid string) ([]*Session, error) {
	_, listed, err := s.listed(ctx, uid)
	if err != nil {
		return nil, err
	}
	out := slices.Collect(maps.Values(listed))
	slices.SortFunc(out, func(a, b *Session) int { return -compareUse(a, b) })
	return out, nil
}

func (s *Service) listed(ctx context.Context, uid string) (*Login, map[string]*Session, error) {
	u, err := s.store.GetUser(ctx, uid)
	if err != nil {
		return nil, nil, err
	}
	rec, err := s.store.GetLoginConsistent(ctx, u.Name)
	if err != nil {
		return nil, nil, err
	}
	if rec.UID != uid {
		return nil, nil, fmt.Errorf("session: user %w", ErrNotFound)
	}
	listed, err := s.store.GetSessions(ctx, slices.Collect(maps.Keys(rec.Sessions)))
	if err != nil {
		return nil, nil, err
	}
	for id, sess := range listed {
		if sess.UserID != uid {
			delete(listed, id)
		}
	}
	return rec, listed, nil
}

// SignOut ends one of the user's own sessions (a device signed out from the list; the
// caller's own session too, which is a logout). One of the user's that has already
// ended is done already (nil). ErrNotFound for an unknown ID and another user's
// session alike.
func (s *Service) SignOut(ctx context.Context, uid, sid string) (err error) {
	ctx = metrics.WithFunction(ctx, metrics.FunctionAccount)
	defer func() { s.metrics.Count(ctx, metrics.SignOuts, outcomeOf(err), 1) }()
	now := s.now()
	ended, err := s.store.SignOut(ctx, uid, sid, ReasonSignedOut, now)
	if err != nil {
		return err
	}
	if !ended {
		s.log.InfoContext(ctx, "sign-out of a session that had already ended: nothing done", "uid", uid, "sid", LogID(sid))
		return nil
	}
	s.emit(ctx, "session signed out", audit.Record{Event: audit.SessionSignedOut, UserID: uid, SessionID: sid, Reason: ReasonSignedOut, Time: now})
	return nil
}

// ChangePassword replaces the user's password, checked against the current one (an
// attempt counted by the login throttle, as a login is): in one write every other
// session ends, the token version rises, and the caller's session stays with the new
// version, so every access token issued before is refused, its own included. It
// returns a new access token for the caller's session (the refresh token stays).
func (s *Service) ChangePassword(ctx context.Context, uid, sid, current, next string) (_ *Grant, err error) {
	ctx = inSession(metrics.WithFunction(ctx, metrics.FunctionAccount), sid)
	defer func() { s.metrics.Count(ctx, metrics.PasswordChanges, outcomeOf(err), 1) }()
	if err := password.CheckLength(current); err != nil {
		return nil, err
	}
	// A new password the policy refuses is refused before an attempt is counted.
	if err := password.CheckNew(next); err != nil {
		return nil, err
	}
	sess, rec, err := s.checkInSession(ctx, uid, sid, current)
	if err != nil {
		return nil, err
	}
	hash, err := password.Hash(next, s.params)
	if err != nil {
		return nil, err
	}
	now := s.now()
	verified := rec.PwHash
	var kept *Session
	n, err := s.endSessions(ctx, uid, rec.Name, rec, func(rec *Login, listed map[string]*Session) (*Ending, error) {
		if rec.PwHash != verified {
			// Changed by someone else meanwhile: the current password must match
			// what it is now.
			if ok, err := password.Verify(current, rec.PwHash); err != nil || !ok {
				return nil, ErrInvalidCredentials
			}
			verified = rec.PwHash
		}
		own, ok := listed[sid]
		if !ok {
			own = sess // a session from before the lists
		}
		if own.UserID != uid || !own.Live(now) {
			return nil, ErrInvalidGrant
		}
		k := *own
		k.Ver, k.AuthTime, k.LastUsed = rec.Ver+1, now, now
		kept = &k
		return &Ending{
			Login: rec, Keep: own, KeepVer: k.Ver, KeepAuth: now, Bump: true, PwHash: hash,
			End: others(rec, listed, sid, ReasonPasswordChange, now), Now: now,
		}, nil
	})
	if err != nil {
		return nil, err
	}
	s.emit(ctx, "password changed", audit.Record{Event: audit.PasswordChanged, UserID: uid, SessionID: sid, Reason: ReasonPasswordChange, Time: now},
		"other_live_sessions", n)
	return s.grant(now, kept, "")
}

// Reauthenticate checks the password again in the caller's session (an attempt the
// login throttle counts) and returns an access token whose auth_time is now; the
// session keeps that auth_time through its refreshes.
func (s *Service) Reauthenticate(ctx context.Context, uid, sid, pw string) (_ *Grant, err error) {
	ctx = inSession(metrics.WithFunction(ctx, metrics.FunctionAccount), sid)
	defer func() { s.metrics.Count(ctx, metrics.Reauthentications, outcomeOf(err), 1) }()
	if err := password.CheckLength(pw); err != nil {
		return nil, err
	}
	sess, rec, err := s.checkInSession(ctx, uid, sid, pw)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := retryConflict(ctx, func() error { return s.store.Reauthenticated(ctx, sess, rec, now) }); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrInvalidGrant
		}
		return nil, err
	}
	sess.AuthTime, sess.LastUsed = now, now
	s.emit(ctx, "reauthenticated", audit.Record{Event: audit.Reauthenticated, UserID: uid, SessionID: sid, Time: now})
	return s.grant(now, sess, "")
}

// checkInSession checks a password of the user of a live session: the attempt is
// counted on the username's counter first, as a login's is. ErrInvalidGrant if the
// session is not the user's live one, ErrInvalidCredentials for a wrong password,
// *ThrottledError while the username cools down.
func (s *Service) checkInSession(ctx context.Context, uid, sid, pw string) (*Session, *Login, error) {
	sess, err := s.store.GetSession(ctx, sid)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, ErrInvalidGrant
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	if sess.UserID != uid || !sess.Live(now) {
		return nil, nil, ErrInvalidGrant
	}
	name, err := s.loginName(ctx, sess)
	if err != nil {
		return nil, nil, err
	}
	s.dummyOnce.Do(func() { s.dummy = password.Dummy(s.params) })
	sec := now.Truncate(time.Second)
	rec, _, err := s.reserve(ctx, name, nil, sec)
	if err != nil {
		return nil, nil, err
	}
	if rec.UID != uid {
		return nil, nil, ErrInvalidGrant
	}
	if err := s.checkPassword(ctx, rec, nil, pw); err != nil {
		return nil, nil, err
	}
	return sess, rec, nil
}

// RevokeSession ends one session (an administrator's revoke). Revoking twice keeps the
// first time and reason. It returns the session as it was just before (so
// old.Revoked() says it had already been revoked, by this write's own account, not a
// read that a concurrent revocation could overtake), or ErrNotFound.
func (s *Service) RevokeSession(ctx context.Context, sid, reason string) (*Session, error) {
	now := s.now()
	old, err := s.store.RevokeSession(ctx, sid, nil, reason, now)
	if err != nil {
		return nil, err
	}
	s.emit(ctx, "session revoked by an administrator", audit.Record{Event: audit.AdminRevoke, UserID: old.UserID, SessionID: sid, Reason: reason, Time: now},
		"already_revoked", old.Revoked())
	return old, nil
}

// GetSession reads one session.
func (s *Service) GetSession(ctx context.Context, sid string) (*Session, error) {
	return s.store.GetSession(ctx, sid)
}

// GetUser reads a user's token record.
func (s *Service) GetUser(ctx context.Context, uid string) (*User, error) {
	return s.store.GetUser(ctx, uid)
}

func (s *Service) hashPassword(pw string) (string, error) {
	if err := password.CheckNew(pw); err != nil {
		return "", err
	}
	return password.Hash(pw, s.params)
}
