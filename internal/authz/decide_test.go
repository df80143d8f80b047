package authz

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/session"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// SECURITY.md cases 16, 17, 31 and 49: a verified token is only as good as the session
// behind it, which every revocation marks.

var now = time.Unix(1_800_000_000, 0)

func claims(sub, sid string, ver int64) *token.Claims {
	c := &token.Claims{SID: sid, Ver: &ver, Scope: "read write"}
	c.Subject = sub
	return c
}

func withScope(scope string) *token.Claims {
	c := claims("user-1", "session-1", 3)
	c.Scope = scope
	return c
}

func liveSession() *session.Session {
	return &session.Session{
		ID:        "session-1",
		UserID:    "user-1",
		Ver:       3,
		Scope:     "read write",
		IdleExp:   now.Add(time.Hour),
		AbsExp:    now.Add(24 * time.Hour),
		CreatedAt: now.Add(-time.Hour),
		LastUsed:  now.Add(-time.Minute),
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		claims *token.Claims
		sess   func(*session.Session)
		want   string
	}{
		{name: "a live session and the current version are allowed", want: ""},
		{name: "a token for one user with another user's session is denied",
			claims: claims("user-2", "session-1", 3), want: "session belongs to another user"},
		{name: "a revoked session is denied",
			sess: func(s *session.Session) { s.RevokedAt = now.Add(-time.Second); s.RevokeReason = "logout" }, want: "session revoked"},
		{name: "a session revoked in the future (clock skew) is still denied",
			sess: func(s *session.Session) { s.RevokedAt = now.Add(time.Minute) }, want: "session revoked"},
		{name: "a session past its idle deadline whose item is still present is denied",
			sess: func(s *session.Session) { s.IdleExp = now.Add(-time.Second) }, want: "session expired"},
		{name: "a session exactly at its idle deadline is denied",
			sess: func(s *session.Session) { s.IdleExp = now }, want: "session expired"},
		{name: "a session past its absolute deadline whose item is still present is denied",
			sess: func(s *session.Session) { s.AbsExp = now.Add(-time.Second) }, want: "session expired"},
		{name: "a session exactly at its absolute deadline is denied",
			sess: func(s *session.Session) { s.AbsExp = now }, want: "session expired"},
		{name: "a session with zero deadlines (a damaged item) is denied",
			sess: func(s *session.Session) { s.IdleExp, s.AbsExp = time.Time{}, time.Time{} }, want: "session expired"},
		{name: "a token older than its session's version (the password changed in it) is denied",
			sess: func(s *session.Session) { s.Ver = 4 }, want: "token version is not current"},
		{name: "a token newer than its session's version is denied",
			claims: claims("user-1", "session-1", 4), want: "token version is not current"},
		{name: "a token with ver 0 for a session at version 0 is allowed",
			claims: claims("user-1", "session-1", 0), sess: func(s *session.Session) { s.Ver = 0 }, want: ""},
		{name: "a token claiming more scope than its session holds is denied",
			claims: withScope("read write admin"), want: "scope does not match the session"},
		{name: "a token claiming less scope than its session holds is denied",
			claims: withScope("read"), want: "scope does not match the session"},
		{name: "a token without scope for a session with scope is denied",
			claims: withScope(""), want: "scope does not match the session"},
		{name: "a token with scope for a session without any is denied",
			sess: func(s *session.Session) { s.Scope = "" }, want: "scope does not match the session"},
		{name: "the same scopes in another order are denied (the claim is a copy, byte for byte)",
			claims: withScope("write read"), want: "scope does not match the session"},
		{name: "a token and a session both without scope are allowed",
			claims: withScope(""), sess: func(s *session.Session) { s.Scope = "" }, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.claims
			if c == nil {
				c = claims("user-1", "session-1", 3)
			}
			s := liveSession()
			if tt.sess != nil {
				tt.sess(s)
			}
			if got := Decide(c, s, now); got != tt.want {
				t.Fatalf("Decide = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   string
		ok     bool
	}{
		{"\"Bearer <token>\" yields the token", "Bearer abc.def.ghi", "abc.def.ghi", true},
		{"a lower-case scheme is accepted", "bearer abc.def.ghi", "abc.def.ghi", true},
		{"an upper-case scheme is accepted", "BEARER abc.def.ghi", "abc.def.ghi", true},
		{"a mixed-case scheme is accepted", "bEaReR abc.def.ghi", "abc.def.ghi", true},
		{"extra spaces before the token are trimmed", "Bearer    abc.def.ghi", "abc.def.ghi", true},
		{"trailing spaces and a newline are trimmed", "Bearer abc.def.ghi  \r\n", "abc.def.ghi", true},
		{"an empty header is refused", "", "", false},
		{"the scheme alone is refused", "Bearer", "", false},
		{"the scheme and a space are refused (empty token)", "Bearer ", "", false},
		{"the scheme and only spaces are refused (empty token)", "Bearer      ", "", false},
		{"the scheme and a tab are refused (empty token)", "Bearer \t", "", false},
		{"Basic credentials are refused", "Basic dXNlcjpwYXNz", "", false},
		{"a bare token without a scheme is refused", "abc.def.ghi", "", false},
		{"a scheme glued to the token is refused", "Bearerabc.def.ghi", "", false},
		{"a tab instead of the space after the scheme is refused", "Bearer\tabc.def.ghi", "", false},
		{"a leading space before the scheme is refused", " Bearer abc.def.ghi", "", false},
		{"another scheme starting with Bearer is refused", "BearerToken abc", "", false},
		{"DPoP is refused", "DPoP abc.def.ghi", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := token.Bearer(tt.header)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Bearer(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// countingState fails the test if the authorizer reads storage for a request that
// should have been denied on the token alone.
type countingState struct{ calls int }

func (s *countingState) GetSession(context.Context, string) (*session.Session, error) {
	s.calls++
	return nil, session.ErrNotFound
}

// SECURITY.md case 46 at the authorizer's entry point: junk headers are refused before
// any storage read and with bounded memory.
func TestAuthorizeRefusesJunkHeadersWithoutStorage(t *testing.T) {
	pemKey, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.Parse(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	v := token.NewVerifier(ks, "https://auth.example.test", "https://api.example.test", func() time.Time { return now })
	st := &countingState{}
	a := New(v, st, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	mb := strings.Repeat(".", 1<<20)
	tests := []struct{ name, header string }{
		{"no header is denied", ""},
		{"Basic credentials are denied", "Basic dXNlcjpwYXNz"},
		{"\"Bearer \" and 1 MB of dots is denied", "Bearer " + mb},
		{"\"Bearer \" and 1 MB of base64url is denied", "Bearer " + strings.Repeat("A", 1<<20)},
		{"\"Bearer \" and a malformed token is denied", "Bearer a.b.c"},
		{"\"Bearer \" and alg none is denied", "Bearer eyJhbGciOiJub25lIn0.e30."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := st.calls
			if p, err := a.Authorize(context.Background(), tt.header); err == nil || p != nil {
				t.Fatalf("Authorize allowed %q", tt.header[:min(len(tt.header), 40)])
			}
			if st.calls != before {
				t.Fatalf("storage was read %d times for a token that fails verification", st.calls-before)
			}
			bytes, allocs := heapPerCall(func() { _, _ = a.Authorize(context.Background(), tt.header) })
			if bytes > 4<<10 || allocs > 40 {
				t.Fatalf("%d bytes in %.0f allocations per call (limit 4 KB, 40)", bytes, allocs)
			}
		})
	}
	t.Run("Handle denies a junk header with a plain deny and no error", func(t *testing.T) {
		before := st.calls
		resp, err := a.Handle(context.Background(), eventWith("Bearer "+mb))
		if err != nil || resp.IsAuthorized || resp.Context != nil {
			t.Fatalf("Handle = %+v, %v", resp, err)
		}
		if st.calls != before {
			t.Fatal("storage was read")
		}
	})
}

func eventWith(header string) events.APIGatewayV2CustomAuthorizerV2Request {
	return events.APIGatewayV2CustomAuthorizerV2Request{IdentitySource: []string{header}}
}

// heapPerCall reports the bytes and allocations f makes per call (memory, not time).
func heapPerCall(f func()) (bytesPerCall uint64, allocsPerCall float64) {
	allocsPerCall = testing.AllocsPerRun(10, f)
	const n = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / n, allocsPerCall
}
