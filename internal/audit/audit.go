// Package audit is the one home of the audit events' schema: one structured log line
// per security event (a login, a failed or throttled one, a refresh token replayed, a
// logout, a password change, a session ended by the session limit or signed out, a
// reauthentication, an administrator's action, a key rotation), written with Emit.
//
// The line is the service's ordinary JSON log line (its msg says what happened in
// words, e.g. "login succeeded") with one more member, "audit", an object of exactly
// these keys, always all present ("" where one does not apply):
//
//	v                  1, the schema version (a subscription filter matches { $.audit.v = 1 })
//	event              what happened: one of the Event constants
//	time               when, RFC 3339 UTC with milliseconds, on the service's clock
//	user_id            the account's user ID ("usr_..."), "" if none is known
//	session_id_prefix  the first 12 characters of the session ID (session.LogID), never the whole
//	source_ip          the client's address as API Gateway saw it ("" for sessionctl)
//	user_agent         the client's User-Agent, at most 256 bytes ("" for sessionctl)
//	reason             why, as a fixed word of the service's (never client text)
//
// It never holds a token, a password or a hash: Event has no field for one. docs/operations.md
// documents the events and their reasons.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Version is the schema's version, the audit object's "v".
const Version = 1

// Key is the log line's member that holds the audit object.
const Key = "audit"

// Event names what happened.
type Event string

// The events.
const (
	Login            Event = "login"              // a password login opened a session
	LoginFailed      Event = "login_failed"       // a password check failed (login, password change, reauthentication)
	LoginThrottled   Event = "login_throttled"    // a password check refused while its counter cools down
	RefreshReuse     Event = "refresh_reuse"      // an older refresh token came back: theft, the session is revoked
	Logout           Event = "logout"             // a session ended by its own logout
	LogoutOthers     Event = "logout_others"      // every other session of the user ended
	LogoutAll        Event = "logout_all"         // every session of the user ended
	PasswordChanged  Event = "password_changed"   // the user changed the password (the other sessions ended)
	SessionEvicted   Event = "session_evicted"    // a login ended the least recently used session at the limit
	SessionSignedOut Event = "session_signed_out" // a session ended from the user's device list
	Reauthenticated  Event = "reauthenticated"    // the password was checked again in a session
	UserCreated      Event = "user_created"       // sessionctl user create
	UserDisabled     Event = "user_disabled"      // sessionctl user disable (every session ended)
	UserEnabled      Event = "user_enabled"       // sessionctl user enable
	PasswordReset    Event = "password_reset"     // sessionctl user set-password (every session ended)
	AdminRevoke      Event = "admin_revoke"       // sessionctl revoked a session or all of a user's
	KeyRotated       Event = "key_rotated"        // a sessionctl keys step changed the key material
)

// Events lists every event, for documentation and tests.
var Events = []Event{
	Login, LoginFailed, LoginThrottled, RefreshReuse, Logout, LogoutOthers, LogoutAll,
	PasswordChanged, SessionEvicted, SessionSignedOut, Reauthenticated,
	UserCreated, UserDisabled, UserEnabled, PasswordReset, AdminRevoke, KeyRotated,
}

// Record is one audit event. SessionID is the whole ID; Emit writes only its prefix.
// Source IP and user agent come from the context (WithClient) unless set here.
type Record struct {
	Event     Event
	UserID    string
	SessionID string
	SourceIP  string
	UserAgent string
	Reason    string
	// Time is when it happened on the service's clock (zero: now).
	Time time.Time
	// Level is the line's level (zero: Info); theft is a warning.
	Level slog.Level
}

// Client is who made the request, as API Gateway reports it.
type Client struct {
	SourceIP  string
	UserAgent string
}

type clientKey struct{}

// WithClient returns ctx carrying the request's client, for the events emitted while
// serving it: internal/api sets it from every request (requestContext.http), and a
// login sets it from its session.Client.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientOf returns the client ctx carries (zero if none).
func ClientOf(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

// SessionPrefixLen is how much of a session ID an event shows (session.LogID's length):
// enough to find the session (sessionctl sessions list), never a credential.
const SessionPrefixLen = 12

// maxUserAgent bounds the user agent as the session record does.
const maxUserAgent = 256

// Emit writes r as an audit line through log: msg says what happened in words, the
// audit object follows the schema, and attrs are the line's other members (context
// outside the schema, e.g. how many sessions a logout ended).
func Emit(ctx context.Context, log *slog.Logger, msg string, r Record, attrs ...any) {
	if log == nil {
		return
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	c := ClientOf(ctx)
	if r.SourceIP == "" && r.UserAgent == "" {
		r.SourceIP, r.UserAgent = c.SourceIP, c.UserAgent
	}
	sid := r.SessionID
	if len(sid) > SessionPrefixLen {
		sid = sid[:SessionPrefixLen]
	}
	group := slog.Group(Key,
		slog.Int("v", Version),
		slog.String("event", string(r.Event)),
		slog.String("time", r.Time.UTC().Format(TimeFormat)),
		slog.String("user_id", r.UserID),
		slog.String("session_id_prefix", sid),
		slog.String("source_ip", clean(r.SourceIP, 64)),
		slog.String("user_agent", clean(r.UserAgent, maxUserAgent)),
		slog.String("reason", r.Reason),
	)
	log.Log(ctx, r.Level, msg, append([]any{group}, attrs...)...)
}

// TimeFormat is the audit object's time: RFC 3339, UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// clean bounds a client-supplied string without splitting a UTF-8 sequence and drops
// invalid UTF-8 (JSON encoding escapes control characters).
func clean(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

// Line is an audit object read back by Decode.
type Line struct {
	V               int    `json:"v"`
	Event           Event  `json:"event"`
	Time            string `json:"time"`
	UserID          string `json:"user_id"`
	SessionIDPrefix string `json:"session_id_prefix"`
	SourceIP        string `json:"source_ip"`
	UserAgent       string `json:"user_agent"`
	Reason          string `json:"reason"`
}

// Keys are the audit object's keys, in the order Emit writes them.
var Keys = []string{"v", "event", "time", "user_id", "session_id_prefix", "source_ip", "user_agent", "reason"}

// Decode reads the audit object of one log line strictly: ok is false for a line
// without one; an error says how an audit object breaks the schema (a key missing,
// extra or of the wrong type, an unknown event, a time not in TimeFormat, a version
// other than Version). It is the schema's check, for tests and for tools that read the
// logs.
func Decode(line []byte) (l Line, ok bool, err error) {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(line, &outer); err != nil {
		return l, false, fmt.Errorf("audit: not a JSON object: %w", err)
	}
	raw, ok := outer[Key]
	if !ok {
		return l, false, nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return l, true, fmt.Errorf("audit: %q is not an object: %w", Key, err)
	}
	var errs []error
	for k := range members {
		if !slices.Contains(Keys, k) {
			errs = append(errs, fmt.Errorf("audit: unexpected key %q", k))
		}
	}
	for _, k := range Keys {
		v, present := members[k]
		switch {
		case !present:
			errs = append(errs, fmt.Errorf("audit: key %q missing", k))
		case k == "v":
			var n int
			if json.Unmarshal(v, &n) != nil || strings.ContainsAny(string(v), `".eE`) {
				errs = append(errs, fmt.Errorf("audit: %q is not an integer: %s", k, v))
			}
		default:
			var s string
			if json.Unmarshal(v, &s) != nil {
				errs = append(errs, fmt.Errorf("audit: %q is not a string: %s", k, v))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return l, true, err
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return l, true, fmt.Errorf("audit: %w", err)
	}
	if l.V != Version {
		errs = append(errs, fmt.Errorf("audit: version %d, want %d", l.V, Version))
	}
	if !slices.Contains(Events, l.Event) {
		errs = append(errs, fmt.Errorf("audit: unknown event %q", l.Event))
	}
	if t, err := time.Parse(TimeFormat, l.Time); err != nil || t.Format(TimeFormat) != l.Time || !strings.HasSuffix(l.Time, "Z") {
		errs = append(errs, fmt.Errorf("audit: time %q is not RFC 3339 UTC with milliseconds", l.Time))
	}
	if len(l.SessionIDPrefix) > SessionPrefixLen {
		errs = append(errs, fmt.Errorf("audit: session_id_prefix is longer than %d", SessionPrefixLen))
	}
	return l, true, errors.Join(errs...)
}
