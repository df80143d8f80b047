package token_test

// Project Wycheproof vectors (github.com/C2SP/wycheproof @dac1dd4, testvectors_v1/,
// Apache-2.0), committed unchanged under testdata/wycheproof/ (see its README.md).

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// wycheproofDir holds the vectors; go test runs in the package directory.
const wycheproofDir = "testdata/wycheproof"

func loadVectors(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wycheproofDir, name))
	if err != nil {
		t.Fatalf("reading Wycheproof file %s: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding Wycheproof file %s: %v", name, err)
	}
}

type jwsVectorFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string         `json:"comment"`
		Public  map[string]any `json:"public"`
		Private map[string]any `json:"private"`
		Tests   []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			JWS     string   `json:"jws"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func jwkBytes(t *testing.T, jwk map[string]any, name string) []byte {
	t.Helper()
	s, _ := jwk[name].(string)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || s == "" {
		t.Fatalf("JWK member %q: %v", name, err)
	}
	return b
}

func jwkInt(t *testing.T, jwk map[string]any, name string) *big.Int {
	return new(big.Int).SetBytes(jwkBytes(t, jwk, name))
}

func curveOf(crv any) elliptic.Curve {
	switch crv {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

// jwkPublic builds the verification key of a JWK with the standard library.
func jwkPublic(t *testing.T, jwk map[string]any) any {
	t.Helper()
	switch jwk["kty"] {
	case "RSA":
		return &rsa.PublicKey{N: jwkInt(t, jwk, "n"), E: int(jwkInt(t, jwk, "e").Int64())}
	case "EC":
		c := curveOf(jwk["crv"])
		size := (c.Params().BitSize + 7) / 8
		pt := append([]byte{4}, append(new(big.Int).SetBytes(jwkBytes(t, jwk, "x")).FillBytes(make([]byte, size)),
			new(big.Int).SetBytes(jwkBytes(t, jwk, "y")).FillBytes(make([]byte, size))...)...)
		pub, err := ecdsa.ParseUncompressedPublicKey(c, pt)
		if err != nil {
			t.Fatalf("EC JWK: %v", err)
		}
		return pub
	case "OKP":
		return ed25519.PublicKey(jwkBytes(t, jwk, "x"))
	case "oct":
		return jwkBytes(t, jwk, "k")
	}
	t.Fatalf("unsupported JWK %v", jwk)
	return nil
}

// jwkPrivatePEM builds a PKCS#8 PEM from a private JWK (RSA or EC), or returns nil for
// key types PKCS#8 cannot hold in our sets (oct) or a JWK without private parts.
func jwkPrivatePEM(t *testing.T, jwk map[string]any) []byte {
	t.Helper()
	if _, ok := jwk["d"]; !ok {
		return nil
	}
	var priv any
	switch jwk["kty"] {
	case "RSA":
		k := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: jwkInt(t, jwk, "n"), E: int(jwkInt(t, jwk, "e").Int64())},
			D:         jwkInt(t, jwk, "d"),
			Primes:    []*big.Int{jwkInt(t, jwk, "p"), jwkInt(t, jwk, "q")},
		}
		if err := k.Validate(); err != nil {
			t.Fatalf("RSA JWK: %v", err)
		}
		k.Precompute()
		priv = k
	case "EC":
		k, err := ecdsa.ParseRawPrivateKey(curveOf(jwk["crv"]), jwkBytes(t, jwk, "d"))
		if err != nil {
			t.Fatalf("EC JWK: %v", err)
		}
		if !k.PublicKey.Equal(jwkPublic(t, jwk)) {
			t.Fatalf("EC JWK: d does not match x, y")
		}
		priv = k
	default:
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// pinnedAlg is the one algorithm our key sets pin to a public key, or "" if a key set
// cannot hold it (keys.Parse: Ed25519, P-256, RSA >= 2048 only).
func pinnedAlg(pub any) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return keys.EdDSA
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return keys.ES256
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return keys.RS256
		}
	}
	return ""
}

// usableForVerify reads the JWK's use and key_ops. Our key sets hold only signing keys
// (the JWKS says use "sig"), so a vector that is invalid only because its key is an
// encryption key has no counterpart in a deployment.
func usableForVerify(jwk map[string]any) bool {
	if u, ok := jwk["use"]; ok && u != "sig" {
		return false
	}
	if ops, ok := jwk["key_ops"].([]any); ok && !slices.Contains(ops, any("verify")) {
		return false
	}
	return true
}

// signatureLayer is the part of Verify that checks a signature, for a deployment whose
// key set holds pub: three segments, base64url decoded the way our parser decodes them
// (golang-jwt with WithStrictDecoding), the header's alg equal to the alg pinned to the
// key, and golang-jwt's signing method for that alg.
func signatureLayer(jws string, pub any) error {
	alg := pinnedAlg(pub)
	if alg == "" {
		return fmt.Errorf("a key set cannot hold a %T", pub)
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("%d segments", len(parts))
	}
	p := jwt.NewParser(jwt.WithStrictDecoding())
	var raw [3][]byte
	for i, s := range parts {
		b, err := p.DecodeSegment(s)
		if err != nil {
			return fmt.Errorf("segment %d: %v", i, err)
		}
		raw[i] = b
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw[0], &h); err != nil {
		return fmt.Errorf("header: %v", err)
	}
	if h.Alg != alg {
		return fmt.Errorf("alg %q is not the %s pinned to this key", h.Alg, alg)
	}
	return jwt.GetSigningMethod(alg).Verify(parts[0]+"."+parts[1], raw[2], pub)
}

// TestWycheproofJWS runs every case of json_web_signature_test.json through the
// deployed Verifier, with a key set built from the vector's own key whenever a key set
// can hold that key. None carries our typ, kid (an RFC 7638 thumbprint) or claims, so
// the Verifier must refuse all of them. None even has a payload that is a UTF-8 JSON
// object, so each is refused as token.ErrMalformed or token.ErrNotUTF8 before a key is
// looked up; the test pins how many of each. The signature layer, run separately, must
// accept exactly the valid vectors whose alg is the one we pin to that key type.
func TestWycheproofJWS(t *testing.T) {
	var f jwsVectorFile
	loadVectors(t, "json_web_signature_test.json", &f)
	fallback := ourSet(t, keys.EdDSA)

	var run, valid, invalid, verifierDenied, notDeployable int
	refusedFor := map[error]int{}
	var validPinned, validPinnedOK, validOtherAlg, validEmptyPayload, invalidChecked, invalidRejected, invalidMetadataOnly int
	for _, g := range f.TestGroups {
		jwk := g.Public
		if jwk == nil {
			jwk = g.Private
		}
		pub := jwkPublic(t, jwk)
		set := fallback
		if p := jwkPrivatePEM(t, g.Private); p != nil {
			if s, err := keys.Parse(p); err == nil {
				set = s
			} else if pinnedAlg(pub) != "" {
				t.Fatalf("group %q: keys.Parse refused a key type we deploy: %v", g.Comment, err)
			}
		}
		v := verifierAt(set, t0)
		for _, tc := range g.Tests {
			run++
			switch tc.Result {
			case "valid":
				valid++
			case "invalid":
				invalid++
			default:
				t.Fatalf("tcId %d: unexpected result %q", tc.TcID, tc.Result)
			}
			name := fmt.Sprintf("tcId %d %s %s (%s, %s key)", tc.TcID, tc.Result, tc.Comment, g.Comment, jwk["kty"])
			t.Run(name+" is refused by the verifier", func(t *testing.T) {
				c, err := v.Verify(tc.JWS)
				if err == nil || c != nil {
					t.Fatalf("accepted a Wycheproof token without our typ, kid and claims")
				}
				got := reasonsOf(err)
				if len(got) != 1 || got[0] != token.ErrMalformed && got[0] != token.ErrNotUTF8 {
					t.Fatalf("refused with %q, reasons %q; want only token.ErrMalformed or token.ErrNotUTF8", err, got)
				}
				refusedFor[got[0]]++
				verifierDenied++
			})

			alg := pinnedAlg(pub)
			if alg == "" {
				notDeployable++
				continue
			}
			// Metadata our key sets do not carry: a JWK use/key_ops other than signing, or
			// a JWK alg other than the one keys.Parse pins to the key's type.
			jwkAlg, _ := jwk["alg"].(string)
			metadataOnly := !usableForVerify(jwk) || jwkAlg != "" && jwkAlg != alg
			_, rest, _ := strings.Cut(tc.JWS, ".")
			emptyPayload := strings.HasPrefix(rest, ".")
			err := signatureLayer(tc.JWS, pub)
			switch {
			case tc.Result == "invalid" && err == nil && metadataOnly:
				// Wycheproof marks it invalid for the JWK's alg, use or key_ops; in a key set
				// this key would be pinned to alg and the verifier refuses the token on
				// typ, kid and claims. Counted, logged, not asserted.
				invalidMetadataOnly++
				t.Logf("tcId %d %s: invalid only by JWK metadata (jwk alg %q, use %v, key_ops %v); passes the signature layer for a key pinned to %s",
					tc.TcID, tc.Comment, jwkAlg, jwk["use"], jwk["key_ops"], alg)
			case tc.Result == "invalid":
				invalidChecked++
				t.Run(name+" is rejected by the signature layer", func(t *testing.T) {
					if err == nil {
						t.Fatal("an invalid vector passed the signature check")
					}
					invalidRejected++
				})
			case emptyPayload:
				validEmptyPayload++
				// A valid JWS with an empty payload is never an access token (the payload
				// is a JSON object), so our rules refuse it before any signature check.
				t.Run(name+" with an empty payload is rejected by our rules", func(t *testing.T) {
					if err == nil {
						t.Fatal("an empty payload passed")
					}
				})
			case headerAlg(tc.JWS) == alg:
				validPinned++
				t.Run(name+" passes the signature layer", func(t *testing.T) {
					if err != nil {
						t.Fatalf("a valid %s vector failed the signature check: %v", alg, err)
					}
					validPinnedOK++
				})
			default:
				validOtherAlg++
				// Valid in Wycheproof under an alg we do not pin to this key type.
				t.Run(name+" under an alg we do not pin is rejected by the signature layer", func(t *testing.T) {
					if err == nil {
						t.Fatalf("alg %q accepted for a key pinned to %s", headerAlg(tc.JWS), alg)
					}
				})
			}
		}
	}
	if run != f.NumberOfTests {
		t.Errorf("ran %d cases, the file declares %d", run, f.NumberOfTests)
	}
	// The vectors are committed unchanged, so these counts change only with the verifier.
	if m, u := refusedFor[token.ErrMalformed], refusedFor[token.ErrNotUTF8]; m != 395 || u != 6 {
		t.Errorf("the verifier refused %d vectors as malformed and %d as not UTF-8, want 395 and 6", m, u)
	}
	t.Logf("wycheproof json_web_signature_test.json: run %d (valid %d, invalid %d); refused by the verifier %d/%d (valid accepted 0: none carries our typ, kid and claims); "+
		"signature layer on keys a key set can hold: valid under the pinned alg accepted %d/%d, valid under another alg rejected %d, valid with an empty payload rejected %d, "+
		"invalid rejected %d/%d, invalid only by JWK alg/use/key_ops %d; cases on keys no key set can hold (HMAC, P-521): %d",
		run, valid, invalid, verifierDenied, run, validPinnedOK, validPinned, validOtherAlg, validEmptyPayload,
		invalidRejected, invalidChecked, invalidMetadataOnly, notDeployable)
}

func headerAlg(jws string) string {
	seg, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Alg
}

type rawSigFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		PublicKey struct {
			Uncompressed string `json:"uncompressed"` // ECDSA
			Pk           string `json:"pk"`           // Ed25519
		} `json:"publicKey"`
		PublicKeyDer string `json:"publicKeyDer"` // RSA
		KeySize      int    `json:"keySize"`
		TagSize      int    `json:"tagSize"` // HMAC
		Tests        []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Key     string   `json:"key"` // HMAC
			Msg     string   `json:"msg"`
			Sig     string   `json:"sig"`
			Tag     string   `json:"tag"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

// TestWycheproofSignatures runs the raw signature vectors through golang-jwt's signing
// methods exactly as our verifier calls them (method.Verify(signingInput, sig, key)).
func TestWycheproofSignatures(t *testing.T) {
	files := []struct {
		file   string
		method jwt.SigningMethod
		key    func(t *testing.T, f *rawSigFile, group int) any
	}{
		{"ecdsa_secp256r1_sha256_p1363_test.json", jwt.SigningMethodES256, func(t *testing.T, f *rawSigFile, g int) any {
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), unhex(t, f.TestGroups[g].PublicKey.Uncompressed))
			if err != nil {
				t.Fatalf("group %d public key: %v", g, err)
			}
			return pub
		}},
		{"ed25519_test.json", jwt.SigningMethodEdDSA, func(t *testing.T, f *rawSigFile, g int) any {
			return ed25519.PublicKey(unhex(t, f.TestGroups[g].PublicKey.Pk))
		}},
		{"rsa_signature_2048_sha256_test.json", jwt.SigningMethodRS256, func(t *testing.T, f *rawSigFile, g int) any {
			pub, err := x509.ParsePKIXPublicKey(unhex(t, f.TestGroups[g].PublicKeyDer))
			if err != nil {
				t.Fatalf("group %d public key: %v", g, err)
			}
			return pub
		}},
		{"hmac_sha256_test.json", jwt.SigningMethodHS256, nil}, // key per test
	}
	for _, fl := range files {
		t.Run(fl.file, func(t *testing.T) {
			var f rawSigFile
			loadVectors(t, fl.file, &f)
			var run, valid, validOK, invalid, invalidRejected, acceptable, acceptableOK, truncated int
			for gi, g := range f.TestGroups {
				var key any
				if fl.key != nil {
					key = fl.key(t, &f, gi)
				}
				for _, tc := range g.Tests {
					run++
					k, sig := key, tc.Sig
					if fl.key == nil {
						k, sig = unhex(t, tc.Key), tc.Tag
					}
					err := fl.method.Verify(string(unhex(t, tc.Msg)), unhex(t, sig), k)
					name := fmt.Sprintf("tcId %d %s %v", tc.TcID, tc.Result, tc.Flags)
					switch {
					case tc.Result == "acceptable":
						acceptable++
						if err == nil {
							acceptableOK++
						}
						t.Logf("%s %q: acceptable vector %s by %s", name, tc.Comment, map[bool]string{true: "accepted", false: "rejected"}[err == nil], fl.method.Alg())
					case tc.Result == "invalid":
						invalid++
						t.Run(name+" is rejected", func(t *testing.T) {
							if err != nil {
								invalidRejected++
								return
							}
							t.Fatalf("%s accepted an invalid vector (%s)", fl.method.Alg(), tc.Comment)
						})
					case fl.key == nil && g.TagSize != 256:
						// A JWS HS256 MAC is always the full 32 bytes; a valid truncated tag
						// is not a JWS signature and must be rejected.
						truncated++
						t.Run(name+fmt.Sprintf(" with a %d-bit tag is rejected as a JWS HS256 MAC", g.TagSize), func(t *testing.T) {
							if err == nil {
								t.Fatal("a truncated HMAC tag was accepted")
							}
						})
					default:
						valid++
						t.Run(name+" is accepted", func(t *testing.T) {
							if err != nil {
								t.Fatalf("%s rejected a valid vector (%s): %v", fl.method.Alg(), tc.Comment, err)
							}
							validOK++
						})
					}
				}
			}
			if run != f.NumberOfTests {
				t.Errorf("ran %d cases, the file declares %d", run, f.NumberOfTests)
			}
			t.Logf("wycheproof %s via jwt.SigningMethod%s.Verify: run %d; valid accepted %d/%d; invalid rejected %d/%d; acceptable %d (accepted %d); truncated-tag valid vectors rejected %d",
				fl.file, fl.method.Alg(), run, validOK, valid, invalidRejected, invalid, acceptable, acceptableOK, truncated)
		})
	}
}

// HS256 is refused by the verifier altogether: no key set can hold an HMAC key, so even
// a correct MAC under a correct-looking header is never checked.
func TestHS256IsNeverAccepted(t *testing.T) {
	var f rawSigFile
	loadVectors(t, "hmac_sha256_test.json", &f)
	hmacKey := unhex(t, f.TestGroups[0].Tests[0].Key)

	for _, alg := range algs {
		ks := ourSet(t, alg)
		k := ks.Signing()
		v := verifierAt(ks, t0)
		t.Run(alg+": the key set lists no HMAC algorithm", func(t *testing.T) {
			for _, a := range ks.Algorithms() {
				if strings.HasPrefix(a, "HS") || a == "none" {
					t.Fatalf("Algorithms() = %v", ks.Algorithms())
				}
			}
		})
		hdr := with(goodHeader(k), "alg", "HS256")
		for _, tt := range []struct {
			name, tok string
			why       error
		}{
			{"an HS256 token under our kid with a Wycheproof HMAC key is refused", sign(t, "HS256", hmacKey, hdr, goodClaims(t0)), token.ErrAlgorithm},
			{"an HS256 token without a kid with a Wycheproof HMAC key is refused", sign(t, "HS256", hmacKey, with(hdr, "kid", deleted), goodClaims(t0)), token.ErrUnknownKey},
			{"an HS256 token under our kid keyed with the published JWKS is refused", sign(t, "HS256", ks.JWKS(), hdr, goodClaims(t0)), token.ErrAlgorithm},
		} {
			t.Run(alg+": "+tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok, tt.why) })
		}
	}
}
