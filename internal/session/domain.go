package session

import (
	"errors"
	"fmt"
	"time"
)

// Storage outcomes. internal/ddb turns DynamoDB's condition failures and cancellation
// reasons into these, so the rules here never see an SDK type; callers test them with
// errors.Is.
var (
	// ErrNotFound: the item does not exist (or, for a conditional update, does not match).
	ErrNotFound = errors.New("session: not found")
	// ErrExists: a create found the key taken.
	ErrExists = errors.New("session: already exists")
	// ErrStale: the item changed since it was read (a concurrent write won).
	ErrStale = errors.New("session: changed since read")
	// ErrUnavailable: storage throttled, failed or timed out after the SDK's retries.
	// Callers answer 503 (or deny, in the authorizer) and must not treat it as "no".
	ErrUnavailable = errors.New("session: storage unavailable")
	// ErrConflict: a transaction was cancelled because another one was writing one of
	// its items at that moment (DynamoDB's TransactionConflict). It is an
	// ErrUnavailable, so a caller that gives up answers 503; unlike throttling, the
	// SDK does not retry it, and trying again at once usually succeeds.
	ErrConflict = fmt.Errorf("%w: conflicting transaction", ErrUnavailable)
)

// Session is one signed-in device: its refresh-token chain, deadlines and revocation.
type Session struct {
	ID           string
	UserID       string
	Ver          int64 // the user's token version when the session was opened
	Scope        string
	Cur, Prev    []byte // SHA-256 of the current and previous refresh token
	RotatedAt    time.Time
	Gen          int64 // number of rotations so far
	IdleExp      time.Time
	AbsExp       time.Time
	CreatedAt    time.Time
	LastUsed     time.Time
	UserAgent    string
	IP           string
	RevokedAt    time.Time // zero unless revoked
	RevokeReason string
}

// Revoked reports whether the session was revoked.
func (s *Session) Revoked() bool { return !s.RevokedAt.IsZero() }

// Live reports whether the session is unrevoked and inside both deadlines at now.
// Every reader calls it: DynamoDB deletes expired items late (TTL is a cleanup, not a
// deadline), so an item that is still stored says nothing about being valid.
func (s *Session) Live(now time.Time) bool {
	return !s.Revoked() && now.Before(s.IdleExp) && now.Before(s.AbsExp)
}

// User is a user's token record: what the authorizer checks besides the session.
type User struct {
	ID       string
	Name     string
	Ver      int64 // token version: raising it ends every access token and session opened before
	Disabled bool
}

// Login is a login record, keyed by the normalised username. A record with an empty
// UID is a stub that only counts failed attempts for a name that has no account.
type Login struct {
	Name     string
	UID      string
	PwHash   string
	Ver      int64 // copy of the user's token version, checked when a session is created
	Scope    string
	Disabled bool
	Fails    int64
	LastFail time.Time
}

// Known reports whether the record belongs to an account (not a failures-only stub).
func (l *Login) Known() bool { return l != nil && l.UID != "" }

// Revocation names a session that a version bump revokes in the same transaction
// (logout everywhere), on condition that it is still live at Now and, with a Hash,
// still holds that refresh token as its current or previous one. If the condition
// fails, nothing is written and the bump fails with ErrStale.
type Revocation struct {
	SessionID string
	Hash      []byte // nil: whichever token it holds (theft detected on an older one)
	Reason    string
	Now       time.Time
}

// RotateInput describes one refresh-token rotation.
type RotateInput struct {
	SessionID string
	Presented []byte // hash of the token the client sent
	Next      []byte // hash of the child token
	Now       time.Time
	IdleExp   time.Time // new idle deadline
	AbsExp    time.Time // the session's absolute deadline (for the TTL attribute)
}

// RotateConflict is returned by a rotation whose condition failed on an existing
// item. Old is the item as it was, so the caller can tell a retry, a grace-window
// replay, theft and expiry apart without another read.
type RotateConflict struct{ Old *Session }

func (e *RotateConflict) Error() string { return "session: rotation condition failed" }
