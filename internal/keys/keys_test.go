package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Every private key in these tests is generated when the tests run; none is committed.

var (
	pemMu    sync.Mutex
	pemCache = map[string][]byte{}
)

// testPEM returns a PKCS#8 PEM for alg, generated once per name (RSA is slow under -race).
func testPEM(t *testing.T, name, alg string) []byte {
	t.Helper()
	pemMu.Lock()
	defer pemMu.Unlock()
	if p, ok := pemCache[name]; ok {
		return p
	}
	p, err := Generate(alg)
	if err != nil {
		t.Fatalf("Generate(%s): %v", alg, err)
	}
	pemCache[name] = p
	return p
}

// pkcs8PEM wraps any private key the standard library can marshal as PKCS#8.
func pkcs8PEM(t *testing.T, priv any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatalf("MarshalPKCS8PrivateKey: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func mustParse(t *testing.T, data []byte) *Set {
	t.Helper()
	s, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return s
}

// rfc7638 is an independent RFC 7638 thumbprint: the required members, sorted, as
// compact JSON (json.Marshal sorts map keys), hashed with SHA-256, base64url.
func rfc7638(t *testing.T, jwk map[string]string) string {
	t.Helper()
	required := map[string][]string{
		"RSA": {"e", "kty", "n"},
		"EC":  {"crv", "kty", "x", "y"},
		"OKP": {"crv", "kty", "x"},
	}[jwk["kty"]]
	if required == nil {
		t.Fatalf("no RFC 7638 members for kty %q", jwk["kty"])
	}
	m := map[string]string{}
	for _, name := range required {
		v, ok := jwk[name]
		if !ok {
			t.Fatalf("JWK lacks required member %q", name)
		}
		m[name] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Published examples: RFC 7638 §3.1 (RSA) and RFC 8037 Appendix A.3 (Ed25519).
const rfc7638ExampleN = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"

func TestThumbprintMatchesPublishedExamples(t *testing.T) {
	tests := []struct {
		name string
		jwk  map[string]string
		want string
	}{
		{
			name: "the RFC 7638 section 3.1 RSA key has the published thumbprint",
			// alg and kid are in the RFC's example too and must not affect the result.
			jwk:  map[string]string{"kty": "RSA", "n": rfc7638ExampleN, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"},
			want: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
		},
		{
			name: "the RFC 8037 appendix A.3 Ed25519 key has the published thumbprint",
			jwk:  map[string]string{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
			want: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := thumbprint(tt.jwk); got != tt.want {
				t.Errorf("thumbprint = %s, want %s", got, tt.want)
			}
			if got := rfc7638(t, tt.jwk); got != tt.want {
				t.Errorf("the test's own RFC 7638 implementation = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseAcceptsEachSupportedKeyType(t *testing.T) {
	tests := []struct {
		name     string
		alg      string
		kty      string
		members  []string // exactly the JWK members published for the key
		wantType string
	}{
		{"an Ed25519 key is pinned to EdDSA", EdDSA, "OKP", []string{"alg", "crv", "kid", "kty", "use", "x"}, "ed25519.PublicKey"},
		{"a P-256 key is pinned to ES256", ES256, "EC", []string{"alg", "crv", "kid", "kty", "use", "x", "y"}, "*ecdsa.PublicKey"},
		{"an RSA-2048 key is pinned to RS256", RS256, "RSA", []string{"alg", "e", "kid", "kty", "n", "use"}, "*rsa.PublicKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, testPEM(t, tt.alg, tt.alg))
			k := s.Signing()
			if k.Alg != tt.alg {
				t.Errorf("Alg = %q, want %q", k.Alg, tt.alg)
			}
			if got := typeName(k.Public); got != tt.wantType {
				t.Errorf("Public is %s, want %s", got, tt.wantType)
			}
			if got := s.Algorithms(); !slices.Equal(got, []string{tt.alg}) {
				t.Errorf("Algorithms() = %v, want [%s]", got, tt.alg)
			}
			if got, ok := s.Lookup(k.ID); !ok || got != k {
				t.Errorf("Lookup(own kid) = %v, %v", got, ok)
			}

			jwks := decodeJWKS(t, s.JWKS())
			if len(jwks) != 1 {
				t.Fatalf("JWKS has %d keys, want 1", len(jwks))
			}
			jwk := jwks[0]
			var names []string
			for n := range jwk {
				names = append(names, n)
			}
			sort.Strings(names)
			if !slices.Equal(names, tt.members) {
				t.Errorf("JWK members = %v, want exactly %v (no private parts)", names, tt.members)
			}
			if jwk["kty"] != tt.kty || jwk["alg"] != tt.alg || jwk["use"] != "sig" {
				t.Errorf("JWK kty/alg/use = %q/%q/%q, want %q/%q/sig", jwk["kty"], jwk["alg"], jwk["use"], tt.kty, tt.alg)
			}
			if jwk["kid"] != k.ID {
				t.Errorf("JWK kid = %q, Key.ID = %q", jwk["kid"], k.ID)
			}
			if want := rfc7638(t, jwk); k.ID != want {
				t.Errorf("kid = %q, want the RFC 7638 thumbprint %q", k.ID, want)
			}
			// The published JWK must describe exactly the key that verifies.
			if pub := publicFromJWK(t, jwk); !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
				t.Errorf("the JWK does not rebuild the key's public key")
			}
			// And the private key must be the one that goes with it.
			signAndVerify(t, k, k)
		})
	}
}

func TestParseOfSeveralKeys(t *testing.T) {
	ed := testPEM(t, EdDSA, EdDSA)
	ec := testPEM(t, ES256, ES256)
	rs := testPEM(t, RS256, RS256)
	ed2 := testPEM(t, "ed-2", EdDSA)
	tests := []struct {
		name     string
		pems     [][]byte
		wantAlgs []string
	}{
		{"three key types: the first signs and all three verify", [][]byte{ed, ec, rs}, []string{EdDSA, ES256, RS256}},
		{"the order of the PEM decides which key signs", [][]byte{rs, ed, ec}, []string{RS256, EdDSA, ES256}},
		{"two keys of one type list their algorithm once", [][]byte{ed2, ed}, []string{EdDSA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, join(tt.pems...))
			var want []*Key
			for _, p := range tt.pems {
				want = append(want, mustParse(t, p).Signing())
			}
			if s.Signing().ID != want[0].ID {
				t.Errorf("Signing() is %s, want the first key %s", s.Signing().ID, want[0].ID)
			}
			if got := s.Algorithms(); !slices.Equal(got, tt.wantAlgs) {
				t.Errorf("Algorithms() = %v, want %v", got, tt.wantAlgs)
			}
			jwks := decodeJWKS(t, s.JWKS())
			if len(jwks) != len(want) {
				t.Fatalf("JWKS has %d keys, want %d", len(jwks), len(want))
			}
			for i, w := range want {
				if jwks[i]["kid"] != w.ID {
					t.Errorf("JWKS key %d is %s, want %s (PEM order)", i, jwks[i]["kid"], w.ID)
				}
				k, ok := s.Lookup(w.ID)
				if !ok {
					t.Fatalf("Lookup(%s) found nothing", w.ID)
				}
				// The set's signing key signs only as itself; every key verifies its own.
				signAndVerify(t, k, k)
				if i > 0 {
					if err := verifyWith(k, "m", signWith(t, s.Signing(), "m")); err == nil {
						t.Errorf("key %d verified a signature of the signing key", i)
					}
				}
			}
		})
	}
}

func TestParseRefusesBadInput(t *testing.T) {
	ed := testPEM(t, EdDSA, EdDSA)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	pkix, err := x509.MarshalPKIXPublicKey(p256.Public())
	if err != nil {
		t.Fatal(err)
	}
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	tests := []struct {
		name string
		in   []byte
	}{
		{"an RSA-1024 key is refused", pkcs8PEM(t, rsa1024)},
		{"a P-384 key is refused", pkcs8PEM(t, p384)},
		{"a P-521 key is refused", pkcs8PEM(t, p521)},
		{"an X25519 key is refused", pkcs8PEM(t, x25519)},
		{"a PKCS#1 RSA PRIVATE KEY block is refused", block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024))},
		{"a SEC 1 EC PRIVATE KEY block is refused", block("EC PRIVATE KEY", sec1)},
		{"a PUBLIC KEY block is refused", block("PUBLIC KEY", pkix)},
		{"an ENCRYPTED PRIVATE KEY block is refused", block("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00})},
		{"a PRIVATE KEY block holding garbage is refused", block("PRIVATE KEY", []byte("not DER at all"))},
		{"empty input is refused", nil},
		{"whitespace only is refused", []byte(" \n\t\n")},
		{"text without a PEM block is refused", []byte("SIGNING_KEY=changeme\n")},
		{"the same key twice is refused", join(ed, ed)},
		{"the same key twice with another between is refused", join(ed, testPEM(t, ES256, ES256), ed)},
		{"a good key followed by an RSA-1024 key refuses the whole set", join(ed, pkcs8PEM(t, rsa1024))},
		{"a good key followed by a PKCS#1 block refuses the whole set", join(ed, block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.in)
			if err == nil || s != nil {
				t.Fatalf("Parse = %v, %v; want an error and no set", s, err)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		alg     string
		wantErr bool
	}{
		{"EdDSA makes an Ed25519 key that Parse accepts", EdDSA, false},
		{"ES256 makes a P-256 key that Parse accepts", ES256, false},
		{"RS256 makes an RSA key that Parse accepts", RS256, false},
		{"HS256 is refused: key sets hold no symmetric keys", "HS256", true},
		{"none is refused", "none", true},
		{"a lower-case algorithm name is refused", "eddsa", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Generate(tt.alg)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Generate(%q) succeeded", tt.alg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mustParse(t, p).Signing().Alg; got != tt.alg {
				t.Errorf("Alg = %q, want %q", got, tt.alg)
			}
			if tt.alg == RS256 {
				if n := mustParse(t, p).Signing().Public.(*rsa.PublicKey).N.BitLen(); n < 2048 {
					t.Errorf("RSA key has %d bits", n)
				}
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case ed25519.PublicKey:
		return "ed25519.PublicKey"
	case *ecdsa.PublicKey:
		return "*ecdsa.PublicKey"
	case *rsa.PublicKey:
		return "*rsa.PublicKey"
	}
	return "other"
}

func decodeJWKS(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("JWKS is not a {\"keys\":[...]} document of string members: %v\n%s", err, b)
	}
	return doc.Keys
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatalf("JWK member %q is not unpadded base64url: %v", s, err)
	}
	return b
}

// publicFromJWK rebuilds a public key from its JWK with the standard library only.
func publicFromJWK(t *testing.T, jwk map[string]string) crypto.PublicKey {
	t.Helper()
	switch jwk["kty"] {
	case "OKP":
		x := b64(t, jwk["x"])
		if jwk["crv"] != "Ed25519" || len(x) != ed25519.PublicKeySize {
			t.Fatalf("bad OKP JWK %v", jwk)
		}
		return ed25519.PublicKey(x)
	case "EC":
		x, y := b64(t, jwk["x"]), b64(t, jwk["y"])
		if jwk["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
			t.Fatalf("bad EC JWK %v (RFC 7518 §6.2.1.2: coordinates are full length)", jwk)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatalf("EC JWK is not a point on P-256: %v", err)
		}
		return pub
	case "RSA":
		n, e := b64(t, jwk["n"]), b64(t, jwk["e"])
		if len(n) == 0 || n[0] == 0 || len(e) == 0 || e[0] == 0 {
			t.Fatalf("RSA JWK n/e must be minimal big-endian (RFC 7518 §6.3.1): %v", jwk)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	t.Fatalf("unknown kty in %v", jwk)
	return nil
}

func signWith(t *testing.T, k *Key, msg string) []byte {
	t.Helper()
	sig, err := jwt.GetSigningMethod(k.Alg).Sign(msg, k.Private)
	if err != nil {
		t.Fatalf("sign with %s: %v", k.Alg, err)
	}
	return sig
}

func verifyWith(k *Key, msg string, sig []byte) error {
	return jwt.GetSigningMethod(k.Alg).Verify(msg, sig, k.Public)
}

func signAndVerify(t *testing.T, signer, verifier *Key) {
	t.Helper()
	msg := "header." + strings.Repeat("p", 10)
	if err := verifyWith(verifier, msg, signWith(t, signer, msg)); err != nil {
		t.Errorf("%s key %s does not verify its own signature: %v", verifier.Alg, verifier.ID, err)
	}
}
