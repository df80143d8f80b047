package token_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// Every private key in these tests is generated when the tests run; none is committed.

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "https://api.example.test"
)

// t0 is the verifier's clock in most tests: a whole second, so NumericDate rounding
// cannot move a boundary.
var t0 = time.Unix(1_800_000_000, 0)

var algs = []string{keys.EdDSA, keys.ES256, keys.RS256}

var (
	pemMu    sync.Mutex
	pemCache = map[string][]byte{}
)

// testPEM returns a PKCS#8 PEM for alg, generated once per name and test binary.
func testPEM(t testing.TB, name, alg string) []byte {
	t.Helper()
	pemMu.Lock()
	defer pemMu.Unlock()
	name = alg + "/" + name
	if p, ok := pemCache[name]; ok {
		return p
	}
	p, err := keys.Generate(alg)
	if err != nil {
		t.Fatalf("Generate(%s): %v", alg, err)
	}
	pemCache[name] = p
	return p
}

func keySet(t testing.TB, pems ...[]byte) *keys.Set {
	t.Helper()
	s, err := keys.Parse(bytes.Join(pems, nil))
	if err != nil {
		t.Fatalf("keys.Parse: %v", err)
	}
	return s
}

// ourSet is the deployment's key set for alg; attackerKey is a key of the same type
// the deployment has never seen.
func ourSet(t testing.TB, alg string) *keys.Set { return keySet(t, testPEM(t, "ours", alg)) }
func attackerKey(t testing.TB, alg string) *keys.Key {
	return keySet(t, testPEM(t, "attacker", alg)).Signing()
}

func verifierAt(ks *keys.Set, now time.Time) *token.Verifier {
	return token.NewVerifier(ks, testIssuer, testAudience, func() time.Time { return now })
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

// signSegments signs exactly "hdrSeg.paySeg" (whatever their encoding) with alg and
// priv, and appends the canonical signature segment.
func signSegments(t testing.TB, alg string, priv any, hdrSeg, paySeg string) string {
	t.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %q", alg)
	}
	input := hdrSeg + "." + paySeg
	sig, err := m.Sign(input, priv)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return input + "." + enc(sig)
}

// signRaw signs raw header and payload JSON texts (which may be anything).
func signRaw(t testing.TB, alg string, priv any, hdr, payload string) string {
	t.Helper()
	return signSegments(t, alg, priv, enc([]byte(hdr)), enc([]byte(payload)))
}

// sign marshals header and claims and signs them.
func sign(t testing.TB, alg string, priv any, header, claims map[string]any) string {
	t.Helper()
	return signRaw(t, alg, priv, string(mustJSON(t, header)), string(mustJSON(t, claims)))
}

// signAs signs a token with key k under k's own alg.
func signAs(t testing.TB, k *keys.Key, header, claims map[string]any) string {
	t.Helper()
	return sign(t, k.Alg, k.Private, header, claims)
}

func goodHeader(k *keys.Key) map[string]any {
	return map[string]any{"alg": k.Alg, "kid": k.ID, "typ": token.Type}
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"aud":       []string{testAudience},
		"sub":       "user-1",
		"sid":       "session-1",
		"ver":       3,
		"scope":     "me",
		"iat":       now.Unix(),
		"exp":       now.Add(15 * time.Minute).Unix(),
		"jti":       "jti-1",
		"auth_time": now.Add(-time.Minute).Unix(),
		"amr":       []string{"pwd"},
	}
}

// deleted, as a value in with, removes the member.
type deletedT struct{}

var deleted = deletedT{}

// with returns a copy of m with the given name/value pairs set (or deleted).
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		name := kv[i].(string)
		if _, del := kv[i+1].(deletedT); del {
			delete(out, name)
			continue
		}
		out[name] = kv[i+1]
	}
	return out
}

func mustAllow(t testing.TB, v *token.Verifier, tok string) *token.Claims {
	t.Helper()
	c, err := v.Verify(tok)
	if err != nil || c == nil {
		t.Fatalf("Verify refused a token it must accept: %v\n%s", err, tok)
	}
	return c
}

// reasons are the refusal reasons a test pins: the token package's own and golang-jwt's
// specific sentinels (not its umbrella jwt.ErrTokenInvalidClaims, which wraps several).
var reasons = []error{
	token.ErrTooLong, token.ErrMalformed, token.ErrNotUTF8, token.ErrDuplicateMember,
	token.ErrCaseVariantMember, token.ErrNumericDate, token.ErrCrit, token.ErrType,
	token.ErrUnknownKey, token.ErrAlgorithm, token.ErrRequiredClaim,
	jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
	jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenInvalidAudience,
	jwt.ErrTokenInvalidSubject, jwt.ErrTokenInvalidId,
}

// reasonsOf lists the reasons err wraps, in the order of reasons.
func reasonsOf(err error) []error {
	var out []error
	for _, r := range reasons {
		if errors.Is(err, r) {
			out = append(out, r)
		}
	}
	return out
}

// mustDeny asserts that Verify refuses tok for the one reason why, and no other: a
// refusal test that only saw "refused" would pass a verifier that refuses for the
// wrong reason, or for none of its own (golang-jwt catching what our check missed).
func mustDeny(t testing.TB, v *token.Verifier, tok string, why error) error {
	t.Helper()
	if !slices.Contains(reasons, why) {
		t.Fatalf("mustDeny needs one of the pinned reasons, not %v", why)
	}
	c, err := v.Verify(tok)
	if err == nil || c != nil {
		t.Fatalf("Verify accepted a token it must refuse for %q (claims %+v)\n%.300s", why, c, tok)
	}
	if !errors.Is(err, token.ErrInvalid) {
		t.Errorf("error %q does not wrap token.ErrInvalid", err)
	}
	if got := reasonsOf(err); len(got) != 1 || got[0] != why {
		t.Errorf("refused with %q, reasons %q; want only %q", err, got, why)
	}
	return err
}

// heapPerCall reports the bytes and allocations f makes per call, measured over
// several calls (a bound on memory, not on wall-clock time).
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

// segments splits a compact token; the tests only call it on well-formed tokens.
func segments(t testing.TB, tok string) (hdr, payload, sig string) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	return p[0], p[1], p[2]
}

func decodeSeg(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}
