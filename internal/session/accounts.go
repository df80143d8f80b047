package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

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
	s.log.InfoContext(ctx, "user created", "uid", uid)
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
// had: in one transaction it sets the flag and bumps the token version (every access
// token minted before is refused, and a login racing it cannot open a session), then
// it revokes every session, so their refresh tokens fail too. It returns how many
// live sessions it ended. Enabling only clears the flag: the old version stays
// behind, so nothing from before the disable comes back.
func (s *Service) SetDisabled(ctx context.Context, uid string, disabled bool) (int, error) {
	if err := retryConflict(ctx, func() error { return s.store.SetDisabled(ctx, uid, disabled) }); err != nil {
		return 0, err
	}
	if !disabled {
		s.log.InfoContext(ctx, "user enabled", "uid", uid)
		return 0, nil
	}
	n, err := s.revokeSessions(ctx, uid, ReasonUserDisabled, "", s.now())
	if err != nil {
		return n, err
	}
	s.log.InfoContext(ctx, "user disabled", "uid", uid, "live_sessions", n)
	return n, nil
}

// ListSessions returns every stored session of a user, newest first, live or not
// (callers tell them apart with Session.Live). Sessions the index still lists but the
// table no longer holds (deleted by TTL) are skipped.
func (s *Service) ListSessions(ctx context.Context, uid string) ([]*Session, error) {
	ids, err := s.store.ListUserSessions(ctx, uid)
	if err != nil {
		return nil, err
	}
	out := make([]*Session, 0, len(ids))
	for _, id := range ids {
		sess, err := s.store.GetSession(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, nil
}

// RevokeSession ends one session (an administrator's revoke). Revoking twice keeps the
// first time and reason. It returns the session as it was just before (so
// old.Revoked() says it had already been revoked, by this write's own account, not a
// read that a concurrent revocation could overtake), or ErrNotFound.
func (s *Service) RevokeSession(ctx context.Context, sid, reason string) (*Session, error) {
	return s.store.RevokeSession(ctx, sid, nil, reason, s.now())
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
