package session

// CPU benchmarks of the session service with DynamoDB taken out (`make bench`, see
// BENCHMARKS.md): the refresh-token arithmetic every refresh does before its one
// UpdateItem, and the whole Refresh and Login paths against an in-memory store.

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/token"
)

var benchClock = time.Unix(1_790_000_000, 0)

// benchStore answers every call at once; Rotate and CreateSession succeed. The
// embedded (nil) Store makes any other call panic: the benchmarks make none.
type benchStore struct {
	Store
	login *Login
	sess  *Session
}

func (s *benchStore) GetSession(context.Context, string) (*Session, error) {
	return nil, ErrNotFound
}
func (s *benchStore) GetLoginConsistent(context.Context, string) (*Login, error) {
	return s.login, nil
}
func (s *benchStore) ReserveLogin(context.Context, LoginReservation) (*Login, error) {
	return s.login, nil
}
func (s *benchStore) CreateSession(context.Context, *Session, *Login, LoginSuccess) error {
	return nil
}
func (s *benchStore) Rotate(_ context.Context, in RotateInput) (*Session, error) {
	return s.sess, nil
}
func (s *benchStore) RevokeSession(context.Context, string, []byte, string, time.Time) (*Session, error) {
	return s.sess, nil
}

func benchService(b *testing.B, alg string, st Store) *Service {
	b.Helper()
	pem, err := keys.Generate(alg)
	if err != nil {
		b.Fatal(err)
	}
	ks, err := keys.Parse(pem)
	if err != nil {
		b.Fatal(err)
	}
	return New(Deps{
		Store:       st,
		Minter:      token.NewMinter(ks, "https://sessions.example.com", "my-app"),
		RotationKey: []byte("0123456789abcdef0123456789abcdef"),
		Now:         func() time.Time { return benchClock },
		Policy: Policy{
			AccessTTL: 15 * time.Minute, IdleTTL: 14 * 24 * time.Hour, MaxAge: 30 * 24 * time.Hour, Grace: 10 * time.Second,
		}.DefaultThrottle(),
		Password:   password.OWASP,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		DeviceKeys: ks,
	})
}

func benchRefreshToken(b *testing.B) (sid, secret, tok string) {
	b.Helper()
	sid, err := newSessionID(benchClock.Add(30 * 24 * time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	if secret, err = newSecret(); err != nil {
		b.Fatal(err)
	}
	return sid, secret, sid + "." + secret
}

// BenchmarkRefreshTokenHash is the SHA-256 of one refresh token (what the table keeps).
func BenchmarkRefreshTokenHash(b *testing.B) {
	sid, secret, _ := benchRefreshToken(b)
	b.ReportAllocs()
	for b.Loop() {
		hashToken(sid, secret)
	}
}

// BenchmarkRefreshChildDerivation is HMAC-SHA256 of one rotation's child secret.
func BenchmarkRefreshChildDerivation(b *testing.B) {
	sid, secret, _ := benchRefreshToken(b)
	key := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		childSecret(key, sid, secret)
	}
}

// BenchmarkRefreshTokenWork is everything Refresh computes before its UpdateItem:
// parse and check the token, hash it, derive the child and hash that.
func BenchmarkRefreshTokenWork(b *testing.B) {
	_, _, tok := benchRefreshToken(b)
	key := make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		sid, secret, _, err := parseRefreshToken(tok)
		if err != nil {
			b.Fatal(err)
		}
		hashToken(sid, secret)
		child := childSecret(key, sid, secret)
		hashToken(sid, child)
	}
}

// BenchmarkServiceRefresh is Service.Refresh against a store that answers at once:
// the token work above plus minting the new access token.
func BenchmarkServiceRefresh(b *testing.B) {
	for _, alg := range []string{keys.EdDSA, keys.ES256, keys.RS256} {
		b.Run(alg, func(b *testing.B) {
			sid, _, tok := benchRefreshToken(b)
			sess := &Session{
				ID: sid, UserID: "u-2b7e151628aed2a6abf7158809cf4f3c", Ver: 3, Scope: "openid profile",
				IdleExp: benchClock.Add(14 * 24 * time.Hour), AbsExp: benchClock.Add(30 * 24 * time.Hour),
			}
			svc := benchService(b, alg, &benchStore{sess: sess})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Refresh(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServiceLogin is Service.Login (EdDSA) against a store that answers at
// once: argon2id verification at the configured parameters dominates.
func BenchmarkServiceLogin(b *testing.B) {
	const pw = "correct horse battery staple"
	h, err := password.Hash(pw, password.OWASP)
	if err != nil {
		b.Fatal(err)
	}
	login := &Login{Name: "alice", UID: "u-2b7e151628aed2a6abf7158809cf4f3c", PwHash: h, Ver: 3, Scope: "openid profile"}
	svc := benchService(b, keys.EdDSA, &benchStore{login: login})
	if _, err := svc.Login(context.Background(), "alice", pw, Client{}); err != nil { // makes the dummy hash
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Login(context.Background(), "alice", pw, Client{UserAgent: "bench", IP: "203.0.113.7"}); err != nil {
			b.Fatal(err)
		}
	}
}
