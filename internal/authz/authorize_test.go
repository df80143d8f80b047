package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/token"
)

// Unit tests of Authorize, Handle and the deny log, against a
// narrow in-memory State (the integration tests in authz_test.go use DynamoDB Local).

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

// memState is a State holding one session. err, if set, is what every read returns;
// it counts the reads.
type memState struct {
	mu    sync.Mutex
	sess  *session.Session
	err   error
	reads int
}

func (m *memState) GetSession(_ context.Context, sid string) (*session.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.err != nil {
		return nil, m.err
	}
	if m.sess == nil || m.sess.ID != sid {
		return nil, fmt.Errorf("mem: %w", session.ErrNotFound)
	}
	s := *m.sess
	return &s, nil
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

func newRig(t *testing.T) *rig {
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
		},
		logs: &logRecords{}, mint: token.NewMinter(ks, testIssuer, testAudience), clock: &clock,
	}
	nowFn := func() time.Time { return *r.clock }
	r.a = New(token.NewVerifier(ks, testIssuer, testAudience, nowFn), r.st, nowFn, slog.New(r.logs))
	return r
}

func (r *rig) token(t *testing.T, sub, sid string, ver int64, scope string) string {
	t.Helper()
	at, err := r.mint.MintAuth(*r.clock, sub, sid, ver, scope, r.clock.Add(15*time.Minute), r.clock.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func (r *rig) good(t *testing.T) string { return r.token(t, "user-1", "session-1", 3, "read write") }

func TestAnAllowedPrincipalCarriesTheSessionsRecord(t *testing.T) {
	r := newRig(t)
	p, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t))
	if err != nil {
		t.Fatal(err)
	}
	if *p != (Principal{Subject: "user-1", Session: "session-1", Scope: "read write", AuthTime: now.Add(-time.Minute)}) {
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
		{"a missing session is INFO", fmt.Errorf("ddb: %w", session.ErrNotFound), (*rig).goodHeader, slog.LevelInfo, "session not found", true},
		{"an error that is neither (a bad request to storage) is INFO", errors.New("ddb: ValidationException"), (*rig).goodHeader, slog.LevelInfo, "ddb: ValidationException", true},
		{"no bearer token is INFO, without a uid", nil, func(*rig, *testing.T) string { return "Basic abc" }, slog.LevelInfo, "no bearer token", false},
		{"a forged token is INFO, without a uid", nil, func(r *rig, t *testing.T) string { return "Bearer " + r.good(t) + "x" }, slog.LevelInfo, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
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
	r := newRig(t)
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
			want := map[string]any{"sub": "user-1", "sid": "session-1", "scope": "read write", "auth_time": now.Add(-time.Minute).Unix()}
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
		a := New(r.a.verifier, st, r.a.now, r.a.log)
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

func (d *deadlineState) GetSession(ctx context.Context, sid string) (*session.Session, error) {
	*d.seen, _ = ctx.Deadline()
	return d.memState.GetSession(ctx, sid)
}

func TestEachDecisionReadsTheSessionOnce(t *testing.T) {
	r := newRig(t)
	for range 3 {
		if _, err := r.a.Authorize(context.Background(), "Bearer "+r.good(t)); err != nil {
			t.Fatal(err)
		}
	}
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if r.st.reads != 3 {
		t.Fatalf("%d reads for 3 decisions, want 3", r.st.reads)
	}
}
