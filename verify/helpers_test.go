package verify_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/testenv"
	"github.com/example/sessions/internal/token"
	"github.com/example/sessions/verify"
)

// Every private key in these tests is generated when the tests run; none is committed.

const (
	issuer   = "https://sessions.example.test"
	audience = "my-app"
	// accessTTL is the service's default ACCESS_TOKEN_TTL.
	accessTTL = 15 * time.Minute
)

// service is the token-issuing side as deployed: a private key set rotated with the
// keys package's own steps (what `sessionctl keys` runs), the real Minter, and the
// real jwks function's handler (its body and its Cache-Control) served over HTTP.
type service struct {
	clock   *testenv.Clock
	set     *keys.Live // the private set; the jwks handler publishes its public half
	minter  *token.Minter
	srv     *httptest.Server
	fetches atomic.Int32
	// fault, when set, answers a fetch instead of the jwks handler.
	fault atomic.Pointer[http.HandlerFunc]
}

func newService(t testing.TB, alg string) *service {
	t.Helper()
	s := &service{clock: testenv.NewClock(testenv.Epoch)}
	set, err := keys.NewSet(alg, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.set = keys.NewLive(set)
	s.minter = token.NewMinter(s.set, issuer, audience)
	jwks := api.New(nil, s.set, slog.New(slog.DiscardHandler), s.clock.Now)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if f := s.fault.Load(); f != nil {
			(*f)(w, r)
			return
		}
		if r.URL.Path != "/.well-known/jwks.json" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		resp, err := jwks.JWKS(r.Context(), events.APIGatewayV2HTTPRequest{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		w.Write([]byte(resp.Body))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *service) url() string { return s.srv.URL + "/.well-known/jwks.json" }

// inject makes every fetch get f's answer until the returned function is called.
func (s *service) inject(f http.HandlerFunc) (clear func()) {
	s.fault.Store(&f)
	return func() { s.fault.Store(nil) }
}

// verifier is another service's verifier of s's tokens, on s's clock.
func (s *service) verifier(t testing.TB, edit ...func(*verify.Config)) *verify.Verifier {
	t.Helper()
	cfg := verify.Config{JWKSURL: s.url(), Issuer: issuer, Audience: audience, Now: s.clock.Now}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mint issues an access token as login and refresh do.
func (s *service) mint(t testing.TB) string {
	t.Helper()
	now := s.clock.Now()
	at, err := s.minter.Mint(now, "user-1", "session-1", 3, "read write", now.Add(accessTTL))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// signing is the key that signs now.
func (s *service) signing() *keys.Key { return s.set.Current().Signing() }

// rotate runs one rotation step on the private set (the public set follows, as
// `sessionctl keys` writes both).
func (s *service) rotate(t testing.TB, step func(*keys.Set) (*keys.Set, error)) {
	t.Helper()
	next, err := step(s.set.Current())
	if err != nil {
		t.Fatal(err)
	}
	s.set.Store(next)
}

func (s *service) add(t testing.TB, alg string) *keys.Key {
	t.Helper()
	var k *keys.Key
	s.rotate(t, func(cur *keys.Set) (*keys.Set, error) {
		next, added, err := cur.Add(alg, s.clock.Now())
		k = added
		return next, err
	})
	return k
}

// claims are a minted token's claims, as a map to edit.
func (s *service) claims() map[string]any {
	now := s.clock.Now()
	return map[string]any{
		"iss": issuer, "aud": []string{audience}, "sub": "user-1", "sid": "session-1",
		"ver": 3, "scope": "read write", "iat": now.Unix(), "exp": now.Add(accessTTL).Unix(), "jti": "jti-1",
	}
}

func header(k *keys.Key) map[string]any {
	return map[string]any{"alg": k.Alg, "kid": k.ID, "typ": token.Type}
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw signs raw header and payload texts (anything at all) with alg and priv.
func signRaw(t testing.TB, alg string, priv any, hdr, payload string) string {
	t.Helper()
	input := enc([]byte(hdr)) + "." + enc([]byte(payload))
	sig, err := jwt.GetSigningMethod(alg).Sign(input, priv)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return input + "." + enc(sig)
}

// sign signs header and claims with k under k's own algorithm.
func sign(t testing.TB, k *keys.Key, hdr, claims map[string]any) string {
	t.Helper()
	return signRaw(t, k.Alg, k.Private, string(mustJSON(t, hdr)), string(mustJSON(t, claims)))
}

// deleted, as a value in with, removes the member.
type deletedT struct{}

var deleted = deletedT{}

// with returns a copy of m with the name/value pairs set (or deleted).
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if _, del := kv[i+1].(deletedT); del {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// otherKey is a key of alg that the service has never published.
func otherKey(t testing.TB, alg string) *keys.Key {
	t.Helper()
	return otherSet(t, alg).Signing()
}

// otherSet is a key set of one key of alg (EdDSA by default) that the service has
// never published.
func otherSet(t testing.TB, alg ...string) *keys.Set {
	t.Helper()
	set, err := keys.NewSet(append(alg, keys.EdDSA)[0], testenv.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// reasons are the refusal reasons the tests pin: the strict verifier's own, golang-jwt's
// specific sentinels, and this package's.
var reasons = []error{
	token.ErrTooLong, token.ErrMalformed, token.ErrNotUTF8, token.ErrDuplicateMember,
	token.ErrCaseVariantMember, token.ErrNumericDate, token.ErrCrit, token.ErrType,
	token.ErrUnknownKey, token.ErrAlgorithm, token.ErrRequiredClaim,
	jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
	jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience,
	verify.ErrOptionalClaim, verify.ErrNoToken, verify.ErrKeysUnavailable,
}

func reasonsOf(err error) []error {
	var out []error
	for _, r := range reasons {
		if errors.Is(err, r) {
			out = append(out, r)
		}
	}
	return out
}

// mustRefuse asserts that v refuses tok for the one reason why and no other, and that
// the error does not quote the token.
func mustRefuse(t testing.TB, v *verify.Verifier, tok string, why error) error {
	t.Helper()
	if !slices.Contains(reasons, why) {
		t.Fatalf("mustRefuse needs one of the pinned reasons, not %v", why)
	}
	c, err := v.Verify(context.Background(), tok)
	if err == nil || c != nil {
		t.Fatalf("Verify accepted a token it must refuse for %q (claims %+v)", why, c)
	}
	if why != verify.ErrKeysUnavailable && !errors.Is(err, verify.ErrInvalid) {
		t.Errorf("error %q does not wrap verify.ErrInvalid", err)
	}
	if got := reasonsOf(err); len(got) != 1 || got[0] != why {
		t.Errorf("refused with %q, reasons %q; want only %q", err, got, why)
	}
	noEcho(t, err.Error(), tok)
	return err
}

func mustVerify(t testing.TB, v *verify.Verifier, tok string) *verify.Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), tok)
	if err != nil || c == nil {
		t.Fatalf("Verify refused a token it must accept: %v", err)
	}
	return c
}

// noEcho fails if out holds the token or any of its segments.
func noEcho(t testing.TB, out, tok string) {
	t.Helper()
	for _, part := range append(strings.Split(tok, "."), tok) {
		if len(part) >= 8 && strings.Contains(out, part) {
			t.Errorf("the output quotes the token (%.12s…): %s", part, out)
		}
	}
}

// syncLog is a slog JSON log a test can read while the verifier writes it.
func syncLog() (*slog.Logger, *testenv.SyncBuffer) {
	var buf testenv.SyncBuffer
	return slog.New(slog.NewJSONHandler(&buf, nil)), &buf
}
