package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/token"
)

// Unit tests of Authorize, Handle, the deny log and the version cache, against a
// narrow in-memory State (the integration tests in authz_test.go use DynamoDB Local).

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

// memState is a State holding one session and one user. err, if set, is what every
// read returns; it counts the reads of each kind.
type memState struct {
	mu         sync.Mutex
	sess       *session.Session
	user       *session.User
	err        error
	auth, only int // GetAuthState and GetSession calls
}

func (m *memState) GetAuthState(_ context.Context, sid, uid string) (*session.Session, *session.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.auth++
	if m.err != nil {
		return nil, nil, m.err
	}
	if m.sess == nil || m.sess.ID != sid || m.user == nil || m.user.ID != uid {
		return nil, nil, fmt.Errorf("mem: %w", session.ErrNotFound)
	}
	s, u := *m.sess, *m.user
	return &s, &u, nil
}

func (m *memState) GetSession(_ context.Context, sid string) (*session.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.only++
	if m.err != nil {
		return nil, m.err
	}
	if m.sess == nil || m.sess.ID != sid {
		return nil, fmt.Errorf("mem: %w", session.ErrNotFound)
	}
	s := *m.sess
	return &s, nil
}

func (m *memState) calls() (auth, only int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.auth, m.only
}

// logRecords keeps every record logged through it.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

// last returns the last record and its attributes.
func (l *logRecords) last(t *testing.T) (slog.Record, map[string]string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recs) == 0 {
		t.Fatal("nothing was logged")
	}
	r := l.recs[len(l.recs)-1]
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
	return r, attrs
}

// rig is an Authorizer over a memState, with a minter for its tokens.
type rig struct {
	a     *Authorizer
	st    *memState
	logs  *logRecords
	mint  *token.Minter
	clock *time.Time
}

func newRig(t *testing.T, cacheTTL time.Duration) *rig {
	t.Helper()
	pemKey, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Parse(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	clock := now
	r := &rig{
		st: &memState{
			sess: &session.Session{ID: "session-1", UserID: "user-1", Ver: 3, Scope: "read write",
				IdleExp: now.Add(time.Hour), AbsExp: now.Add(24 * time.Hour)},
			user: &session.User{ID: "user-1", Name: "alice", Ver: 3},
		},
		logs: &logRecords{}, mint: token.NewMinter(ks, testIssuer, testAudience), clock: &clock,
	}
	nowFn := func() time.Time { return *r.clock }
	r.a = New(token.NewVerifier(ks, testIssuer, testAudience, nowFn), r.st, nowFn, slog.New(r.logs), cacheTTL)
	return r
}

func (r *rig) token(t *testing.T, sub, sid string, ver int64, scope string) string {
	t.Helper()
	at, err := r.mint.Mint(*r.clock, sub, sid, ver, scope, r.clock.Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func (r *rig) good(t *testing.T) string { return r.token(t, "user-1", "session-1", 3, "read write") }

func TestAnAllowedPrincipalCarriesTheSessionsRecord(t *testing.T) {
	r := newRig(t, 0)
	p, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t))
	if err != nil {
		t.Fatal(err)
	}
	if *p != (Principal{Subject: "user-1", Session: "session-1", Scope: "read write"}) {
		t.Fatalf("principal %+v", p)
	}
	t.Run("a token whose scope disagrees with its session is denied, and says why", func(t *testing.T) {
		_, err := r.a.Authorize(context.Background(), "Bearer "+r.token(t, "user-1", "session-1", 3, "read write admin"))
		if err == nil || err.Error() != "scope does not match the session" {
			t.Fatalf("err = %v", err)
		}
		if rec, attrs := r.logs.last(t); rec.Level != slog.LevelInfo || attrs["reason"] != "scope does not match the session" {
			t.Fatalf("logged %v %v", rec.Level, attrs)
		}
	})
}

// A deny on a storage fault is an ERROR (it pages someone: the API is refusing
// everybody); a deny of a bad or dead token is INFO (it is the authorizer working).
func TestTheDenyLogLevelSaysWhetherItWasAFault(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error // what storage answers
		header func(r *rig, t *testing.T) string
		level  slog.Level
		reason string
		uid    bool
	}{
		{"storage unavailable is an ERROR", fmt.Errorf("ddb: %w", session.ErrUnavailable), (*rig).goodHeader, slog.LevelError, "ddb: session: storage unavailable", true},
		{"a conflict (an ErrUnavailable) is an ERROR", session.ErrConflict, (*rig).goodHeader, slog.LevelError, session.ErrConflict.Error(), true},
		{"the deadline running out is an ERROR", fmt.Errorf("ddb: %w", context.DeadlineExceeded), (*rig).goodHeader, slog.LevelError, "ddb: context deadline exceeded", true},
		{"a missing session is INFO", fmt.Errorf("ddb: %w", session.ErrNotFound), (*rig).goodHeader, slog.LevelInfo, "session or user not found", true},
		{"an error that is neither (a bad request to storage) is INFO", errors.New("ddb: ValidationException"), (*rig).goodHeader, slog.LevelInfo, "ddb: ValidationException", true},
		{"no bearer token is INFO, without a uid", nil, func(*rig, *testing.T) string { return "Basic abc" }, slog.LevelInfo, "no bearer token", false},
		{"a forged token is INFO, without a uid", nil, func(r *rig, t *testing.T) string { return "Bearer " + r.good(t) + "x" }, slog.LevelInfo, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0)
			r.st.err = tc.err
			if _, err := r.a.Authorize(context.Background(), tc.header(r, t)); err == nil {
				t.Fatal("allowed")
			}
			rec, attrs := r.logs.last(t)
			if rec.Level != tc.level || rec.Message != "authorizer denied" || attrs["decision"] != "deny" {
				t.Errorf("logged %v %q %v, want %v", rec.Level, rec.Message, attrs, tc.level)
			}
			if tc.reason != "" && attrs["reason"] != tc.reason {
				t.Errorf("reason %q, want %q", attrs["reason"], tc.reason)
			}
			if _, ok := attrs["uid"]; ok != tc.uid || tc.uid && attrs["uid"] != "user-1" {
				t.Errorf("uid attribute %q present %v, want present %v", attrs["uid"], ok, tc.uid)
			}
		})
	}
}

func (r *rig) goodHeader(t *testing.T) string { return "Bearer " + r.good(t) }

func TestHandle(t *testing.T) {
	r := newRig(t, 0)
	at := r.good(t)
	for _, tc := range []struct {
		name string
		ev   events.APIGatewayV2CustomAuthorizerV2Request
		ok   bool
	}{
		{"the identity source is used", events.APIGatewayV2CustomAuthorizerV2Request{IdentitySource: []string{"Bearer " + at}}, true},
		{"without an identity source the authorization header is used", events.APIGatewayV2CustomAuthorizerV2Request{Headers: map[string]string{"authorization": "Bearer " + at}}, true},
		{"the identity source wins over the header", events.APIGatewayV2CustomAuthorizerV2Request{
			IdentitySource: []string{"Basic abc"}, Headers: map[string]string{"authorization": "Bearer " + at}}, false},
		{"neither is a deny", events.APIGatewayV2CustomAuthorizerV2Request{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := r.a.Handle(context.Background(), tc.ev)
			if err != nil || resp.IsAuthorized != tc.ok {
				t.Fatalf("Handle = %+v, %v; want allowed %v", resp, err, tc.ok)
			}
			if !tc.ok {
				if resp.Context != nil {
					t.Errorf("a deny carries context %v", resp.Context)
				}
				return
			}
			want := map[string]any{"sub": "user-1", "sid": "session-1", "scope": "read write"}
			if fmt.Sprint(resp.Context) != fmt.Sprint(want) {
				t.Errorf("context %v, want %v", resp.Context, want)
			}
		})
	}
	t.Run("storage gets the Lambda's deadline less the reserve for answering", func(t *testing.T) {
		dl := time.Now().Add(time.Hour)
		ctx, cancel := context.WithDeadline(context.Background(), dl)
		defer cancel()
		var got time.Time
		st := &deadlineState{memState: r.st, seen: &got}
		a := New(r.a.verifier, st, r.a.now, r.a.log, 0)
		if _, err := a.Handle(ctx, events.APIGatewayV2CustomAuthorizerV2Request{IdentitySource: []string{"Bearer " + at}}); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(dl.Add(-handlerReserve)) {
			t.Fatalf("storage saw deadline %v, want %v", got, dl.Add(-handlerReserve))
		}
	})
}

// deadlineState records the deadline of the context storage is called with.
type deadlineState struct {
	*memState
	seen *time.Time
}

func (d *deadlineState) GetAuthState(ctx context.Context, sid, uid string) (*session.Session, *session.User, error) {
	*d.seen, _ = ctx.Deadline()
	return d.memState.GetAuthState(ctx, sid, uid)
}

func TestTheVersionCache(t *testing.T) {
	t.Run("no TTL means no cache", func(t *testing.T) {
		if a := New(nil, &memState{}, time.Now, slog.New(slog.DiscardHandler), 0); a.cache != nil {
			t.Fatal("a cache without a TTL")
		}
	})
	t.Run("a warm entry reads only the session; a failed read caches nothing", func(t *testing.T) {
		r := newRig(t, time.Minute)
		r.st.err = session.ErrUnavailable
		if _, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t)); !errors.Is(err, session.ErrUnavailable) {
			t.Fatalf("err = %v", err)
		}
		r.st.err = nil
		for i := range 3 {
			if _, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t)); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if auth, only := r.st.calls(); auth != 2 || only != 2 {
			t.Fatalf("%d GetAuthState and %d GetSession calls, want 2 (the failure, then the one that fills the cache) and 2", auth, only)
		}
	})
	t.Run("a warm entry still reads the session, and a missing one is a plain deny", func(t *testing.T) {
		r := newRig(t, time.Minute)
		if _, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t)); err != nil {
			t.Fatal(err)
		}
		r.st.sess = nil
		_, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t))
		if !errors.Is(err, errNoSession) {
			t.Fatalf("err = %v, want errNoSession", err)
		}
		if rec, _ := r.logs.last(t); rec.Level != slog.LevelInfo {
			t.Errorf("logged at %v", rec.Level)
		}
	})
	t.Run("an entry is good until exactly its TTL, and never for a clock that went back", func(t *testing.T) {
		c := &versionCache{ttl: time.Minute, m: map[string]cachedUser{}}
		u := &session.User{ID: "user-1", Ver: 3}
		c.put(u, now)
		for _, tc := range []struct {
			at  time.Time
			hit bool
		}{
			{now, true},
			{now.Add(time.Minute - time.Nanosecond), true},
			{now.Add(time.Minute), false},
			{now.Add(time.Hour), false},
			{now.Add(-time.Nanosecond), false},
		} {
			if got, ok := c.get("user-1", tc.at); ok != tc.hit || ok && got != u {
				t.Errorf("get at %v: %v, %v; want hit %v", tc.at.Sub(now), got, ok, tc.hit)
			}
		}
		if _, ok := c.get("user-2", now); ok {
			t.Error("a user never put is a hit")
		}
	})
	t.Run("the cache holds up to maxCachedUsers users, and is emptied when one more comes", func(t *testing.T) {
		c := &versionCache{ttl: time.Minute, m: map[string]cachedUser{}}
		for i := range maxCachedUsers {
			c.put(&session.User{ID: "u" + strconv.Itoa(i)}, now)
		}
		if len(c.m) != maxCachedUsers {
			t.Fatalf("%d entries, want %d", len(c.m), maxCachedUsers)
		}
		if _, ok := c.get("u0", now); !ok {
			t.Fatal("the first entry was dropped before the bound")
		}
		c.put(&session.User{ID: "one-more"}, now)
		if len(c.m) != 1 {
			t.Fatalf("%d entries after passing the bound, want only the new one", len(c.m))
		}
		if _, ok := c.get("one-more", now); !ok {
			t.Fatal("the new entry is missing")
		}
		c.put(&session.User{ID: "one-more", Ver: 4}, now)
		if len(c.m) != 1 {
			t.Fatalf("re-putting a user made %d entries", len(c.m))
		}
	})
	t.Run("through the authorizer, an expired entry is read again", func(t *testing.T) {
		r := newRig(t, time.Minute)
		if _, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t)); err != nil {
			t.Fatal(err)
		}
		*r.clock = r.clock.Add(time.Minute)
		at := r.good(t)
		r.st.user.Ver = 4 // bumped meanwhile: the stale cached version would allow
		if _, err := r.a.Authorize(context.Background(), "Bearer "+at); err == nil || err.Error() != "token version is not current" {
			t.Fatalf("err = %v, want the fresh version's deny", err)
		}
	})
}
