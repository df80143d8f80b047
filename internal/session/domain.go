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
	// LoginName is the key of the user's login record (the normalised username), so
	// an operation on a session reaches the record without another lookup.
	LoginName string
	// AuthTime is when the password was last checked in this session (login, password
	// change, reauthentication); refreshes keep it. Zero for sessions from before it
	// was recorded.
	AuthTime time.Time
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
	// Devices are the account's trusted devices by device ID: those a device token
	// was issued to at a successful login. nil when the record has no device map at
	// all (the first registration creates it), empty when it has one with no entry.
	Devices map[string]Device
	// Sessions lists the account's sessions by ID, with their creation time: every
	// session a login opened, until an operation that rewrites the list (a login at
	// the limit, logout others or everywhere, a password change, a disable) drops the
	// ones that ended. It is exact, never missing a session that is live; entries of
	// sessions that ended since the last rewrite are dead (each session's own item
	// says so). nil when the record has no list at all (an account from before lists
	// existed), empty when it has one with no entry.
	Sessions map[string]time.Time
	// SetGen counts the changes of Sessions, so a write that must see the list exactly
	// as it was read ("end all of these") can make that its condition.
	SetGen int64
}

// Known reports whether the record belongs to an account (not a failures-only stub).
func (l *Login) Known() bool { return l != nil && l.UID != "" }

// Revocation names a session an Ending revokes, on condition that it is still live at
// Now and, with a Hash, still holds that refresh token as its current or previous one.
// If the condition fails, nothing is written and the Ending fails with ErrStale.
type Revocation struct {
	SessionID string
	Hash      []byte // nil: whichever token it holds (theft detected on an older one)
	Reason    string
	Now       time.Time
}

// Ending is one atomic write that ends sessions of a user at once: logout everywhere or
// everywhere else, a password change, a disable, an administrator's revoke. It is
// decided on what was read just before, and written on condition that it is still so:
// the login record's session list unchanged (SetGen), each session in End still live,
// the kept session still live (and, with KeepHash, still holding that refresh token).
// If any condition fails nothing is written and the write fails with ErrStale; the
// caller reads again and decides again.
type Ending struct {
	Login *Login // the login record as read (strongly consistent)
	// End are the sessions to revoke, each on condition that it is still live (and,
	// with a Hash, still holds that token); they leave the list.
	End []Revocation
	// Drop are listed sessions found ended: they leave the list.
	Drop []string
	// Keep is the session that stays (the caller's, for "others" and a password
	// change); nil for none. Its entry stays in the list; every other entry goes.
	Keep     *Session
	KeepHash []byte // with Keep: the refresh token it must still hold (nil: any)
	// KeepVer, if non-zero, is the kept session's new token version (a password
	// change: every access token of the session minted before is refused).
	KeepVer int64
	// KeepAuth, if non-zero, is the kept session's new auth_time.
	KeepAuth time.Time
	// Bump raises the user's token version: a login that read the record before
	// fails its condition, so no session is opened across the write.
	Bump     bool
	PwHash   string // non-empty: the new password hash (failure counter reset)
	Disabled *bool  // non-nil: set the disabled flag
	Now      time.Time
	// Token identifies this decision to storage (DynamoDB's idempotency token), as
	// LoginSuccess.Token does: random per decision, the same across retries of it.
	Token string
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

// Device is a trusted device of an account: its own failed-login counter, which
// throttles a login presenting its device token instead of the username's counter.
type Device struct {
	Fails    int64
	LastFail time.Time
	Seen     time.Time // last successful login from it: the least recently seen go first
}

// ThrottleRule is the failed-login throttle as storage evaluates it, atomically, when
// it reserves an attempt: an attempt is allowed while the count is below Below, and
// after that once CoolDowns[count-Below] has passed since the last counted attempt
// (the last entry applies to every larger count). Failures last counted before
// Forget are forgotten. Times are whole seconds.
type ThrottleRule struct {
	Below     int64
	CoolDowns []time.Duration
	Forget    time.Time
}

// LoginReservation asks storage to count one login attempt before its password is
// checked (internal/ddb: one conditional UpdateItem on the login record). It counts
// on the username's counter, or with Device on that device's counter, which requires
// the record to belong to UID and to list the device.
type LoginReservation struct {
	Name string
	Now  time.Time // the counted attempt's time, whole seconds
	Rule ThrottleRule
	// Restart starts the counter over at 1: its failures are old enough to forget.
	// Its condition is that the last counted attempt is before Rule.Forget.
	Restart bool
	// StubExpiry is the TTL a record without an account gets (or keeps extending).
	StubExpiry time.Time
	UID        string // with Device: the account the device token names
	Device     string // "" for the username's counter
}

// ReserveConflict is returned when a reservation's condition failed: the counter is
// cooling down, is due for a restart, or (for a device) the device or account is not
// the one named. Old is the record as it was (nil if there is none), so the caller
// can tell these apart without another read.
type ReserveConflict struct{ Old *Login }

func (e *ReserveConflict) Error() string { return "session: login attempt not reserved" }

// LoginSuccess is what a successful login changes on its login record besides opening
// the session: the counter that reserved the attempt restarts, and the device that
// gets a device token is registered (or seen again).
type LoginSuccess struct {
	// ClearFailures resets the username's counter: the attempt was reserved on it.
	ClearFailures bool
	// Device is the device ID to register or refresh, its counter reset; "" for none.
	Device string
	Seen   time.Time
	// Forget lists devices to drop: the least recently seen beyond the bound.
	Forget []string
	// Limit is the most sessions the account may have; 0 for no limit. Below it the
	// new session is added on condition that the list is still shorter than Limit.
	Limit int
	// Evict are the least recently used live sessions the login ends to stay within
	// Limit, each on condition that it has not been used (refreshed) since it was read
	// and is not revoked; Drop are listed sessions found dead, dropped from the list.
	// With either, the write's condition is that the list is unchanged since it was
	// read (Login.SetGen).
	Evict []*Session
	Drop  []string
	// Stay are the other live listed sessions of a login that evicts: each must still
	// be live when the login writes, or one of them ended meanwhile and made room, and
	// the login decides again (it must not end a session it does not need to).
	Stay []*Session
	// Token identifies this decision to storage (DynamoDB's idempotency token): the
	// same write sent again after a TransactionConflict carries the same one, so a
	// first attempt that committed but whose answer was lost is answered as the success
	// it was. A new decision gets a new token.
	Token string
}

// StaleLogin is returned when a login's session write found its login record changed
// since it was read (ErrStale): a version bump, a password change or a device map that
// appeared. Current is the record as it is now (nil if it is gone), so the login can
// decide again under the same counted attempt without a read.
type StaleLogin struct{ Current *Login }

func (e *StaleLogin) Error() string { return "session: login record changed since read" }

// Unwrap makes errors.Is(err, ErrStale) hold.
func (e *StaleLogin) Unwrap() error { return ErrStale }
