package token_test

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// "Case N" refers to the numbered cases of SECURITY.md's test catalogue. Every refusal
// pins its reason (mustDeny): a token.Err* reason or a golang-jwt sentinel.

func TestMintThenVerify(t *testing.T) {
	for _, alg := range algs {
		t.Run("a token minted with "+alg+" verifies and carries exactly what was minted", func(t *testing.T) {
			ks := ourSet(t, alg)
			exp := t0.Add(15 * time.Minute)
			tok, err := token.NewMinter(ks, testIssuer, testAudience).Mint(t0, "user-1", "session-1", 7, "me admin", exp)
			if err != nil {
				t.Fatal(err)
			}
			c := mustAllow(t, verifierAt(ks, t0), tok)
			if c.Subject != "user-1" || c.SID != "session-1" || c.Ver == nil || *c.Ver != 7 || c.Scope != "me admin" {
				t.Errorf("claims = sub %q sid %q ver %v scope %q", c.Subject, c.SID, c.Ver, c.Scope)
			}
			if c.Issuer != testIssuer || !slices.Equal(c.Audience, jwt.ClaimStrings{testAudience}) {
				t.Errorf("iss %q aud %v", c.Issuer, c.Audience)
			}
			if c.ExpiresAt == nil || !c.ExpiresAt.Equal(exp) || c.IssuedAt == nil || !c.IssuedAt.Equal(t0) {
				t.Errorf("exp %v iat %v", c.ExpiresAt, c.IssuedAt)
			}
			if len(c.ID) < 22 { // 128 random bits
				t.Errorf("jti %q is shorter than 128 bits", c.ID)
			}
			hdr, _, _ := segments(t, tok)
			var h map[string]any
			if err := json.Unmarshal(decodeSeg(t, hdr), &h); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"alg": alg, "kid": ks.Signing().ID, "typ": "at+jwt"}
			if fmt.Sprint(h) != fmt.Sprint(want) {
				t.Errorf("header = %v, want exactly %v", h, want)
			}
		})
	}

	ks := ourSet(t, keys.EdDSA)
	exp := t0.Add(time.Minute)
	tests := []struct {
		name   string
		minter *token.Minter
		ver    int64
		why    error // nil: accepted
	}{
		{"a token with ver 0 verifies", token.NewMinter(ks, testIssuer, testAudience), 0, nil},
		{"a token minted for another audience is refused", token.NewMinter(ks, testIssuer, "https://other-api.example.test"), 1, jwt.ErrTokenInvalidAudience},
		{"a token minted under another issuer is refused", token.NewMinter(ks, "https://other-auth.example.test", testAudience), 1, jwt.ErrTokenInvalidIssuer},
		{"a token minted with another environment's key is refused", token.NewMinter(ourSet(t, keys.ES256), testIssuer, testAudience), 1, token.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.minter.Mint(t0, "user-1", "session-1", tt.ver, "", exp)
			if err != nil {
				t.Fatal(err)
			}
			if tt.why == nil {
				mustAllow(t, verifierAt(ks, t0), tok)
			} else {
				mustDeny(t, verifierAt(ks, t0), tok, tt.why)
			}
		})
	}

	t.Run("two tokens minted for the same session have different jti", func(t *testing.T) {
		m := token.NewMinter(ks, testIssuer, testAudience)
		a, _ := m.Mint(t0, "u", "s", 1, "", exp)
		b, _ := m.Mint(t0, "u", "s", 1, "", exp)
		v := verifierAt(ks, t0)
		if mustAllow(t, v, a).ID == mustAllow(t, v, b).ID {
			t.Error("jti repeated")
		}
	})
}

// publicForms are the public key's encodings an attacker may use as an HMAC secret.
func publicForms(t *testing.T, ks *keys.Set) map[string][]byte {
	t.Helper()
	k := ks.Signing()
	der, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		t.Fatal(err)
	}
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	var jwks struct{ Keys []map[string]string }
	if err := json.Unmarshal(ks.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	jwk := jwks.Keys[0]
	forms := map[string][]byte{
		"the public key PEM":                          pemPub,
		"the public key PEM without its last newline": pemPub[:len(pemPub)-1],
		"the public key DER":                          der,
		"the JWKS document":                           ks.JWKS(),
		"the JWK":                                     mustJSON(t, jwk),
	}
	for _, m := range []string{"x", "n"} {
		if v, ok := jwk[m]; ok {
			forms["the JWK "+m+" as text"] = []byte(v)
			raw, _ := base64.RawURLEncoding.DecodeString(v)
			forms["the JWK "+m+" bytes"] = raw
		}
	}
	return forms
}

// Cases 1, 2, 3, 6 and 13 (algorithm side): nothing but the alg pinned to the kid is used.
func TestVerifyRefusesForgedAlgorithms(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ks := ourSet(t, alg)
			k := ks.Signing()
			v := verifierAt(ks, t0)
			claims := goodClaims(t0)
			payload := enc(mustJSON(t, claims))
			hdrWithAlg := func(a any) string { return enc(mustJSON(t, with(goodHeader(k), "alg", a))) }

			type tc struct {
				name string
				tok  string
				why  error
			}
			var tests []tc
			mustAllow(t, v, signAs(t, k, goodHeader(k), claims)) // control
			for _, none := range []string{"none", "None", "NONE", "nOnE"} {
				tests = append(tests,
					// An empty signature segment is refused before any header is read.
					tc{"alg " + none + " with an empty signature is refused", hdrWithAlg(none) + "." + payload + ".", token.ErrMalformed},
					tc{"alg " + none + " with a junk signature is refused", hdrWithAlg(none) + "." + payload + ".c2lnbmF0dXJl", token.ErrAlgorithm},
				)
			}
			tests = append(tests, tc{"our alg and kid with an empty signature (header.payload.) is refused", hdrWithAlg(alg) + "." + payload + ".", token.ErrMalformed})

			hs := func(name, method string, secret []byte) tc {
				return tc{name, signSegments(t, method, secret, hdrWithAlg(method), payload), token.ErrAlgorithm}
			}
			for name, secret := range publicForms(t, ks) {
				tests = append(tests, hs("HS256 keyed with "+name+" is refused", "HS256", secret))
			}
			tests = append(tests,
				hs("HS384 keyed with the public key DER is refused", "HS384", publicForms(t, ks)["the public key DER"]),
				hs("HS512 keyed with the public key PEM is refused", "HS512", publicForms(t, ks)["the public key PEM"]),
				hs("HS256 with an empty key is refused", "HS256", []byte{}),
				hs("HS256 keyed with \"secret\" is refused", "HS256", []byte("secret")),
				hs("HS256 keyed with \"your-256-bit-secret\" is refused", "HS256", []byte("your-256-bit-secret")),
				hs("HS256 keyed with a refresh-token chain key is refused", "HS256", []byte("0123456789abcdef0123456789abcdef")),
			)
			// Another asymmetric family under our kid, signed by a key of that family.
			for _, other := range algs {
				if other == alg {
					continue
				}
				ak := attackerKey(t, other)
				tests = append(tests, tc{
					"alg " + other + " under our " + alg + " kid, signed by a " + other + " key, is refused",
					sign(t, other, ak.Private, with(goodHeader(k), "alg", other), claims),
					token.ErrAlgorithm,
				})
			}
			// Our own key under an algorithm it is not pinned to.
			switch alg {
			case keys.RS256:
				tests = append(tests,
					tc{"PS256 signed with our own RSA key is refused (one alg per key)", signSegments(t, "PS256", k.Private, hdrWithAlg("PS256"), payload), token.ErrAlgorithm},
					tc{"RS512 signed with our own RSA key is refused (one alg per key)", signSegments(t, "RS512", k.Private, hdrWithAlg("RS512"), payload), token.ErrAlgorithm},
				)
			case keys.EdDSA:
				tests = append(tests, tc{"alg Ed25519 (the fully-specified name) signed with our key is refused", signSegments(t, "EdDSA", k.Private, hdrWithAlg("Ed25519"), payload), token.ErrAlgorithm})
			}
			tests = append(tests,
				tc{"a lower-case alg signed with our key is refused", signSegments(t, alg, k.Private, hdrWithAlg(strings.ToLower(alg)), payload), token.ErrAlgorithm},
				tc{"a missing alg with a valid signature is refused", signSegments(t, alg, k.Private, enc(mustJSON(t, with(goodHeader(k), "alg", deleted))), payload), token.ErrAlgorithm},
				tc{"an alg that is a number is refused", signSegments(t, alg, k.Private, hdrWithAlg(256), payload), token.ErrAlgorithm},
				tc{"an alg that is a list holding ours is refused", signSegments(t, alg, k.Private, hdrWithAlg([]string{alg}), payload), token.ErrAlgorithm},
			)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok, tt.why) })
			}
		})
	}
}

// A set holding all three key types (as during an algorithm migration): each kid
// verifies only its own key under its own alg.
func TestVerifyMixedSetPinsEachKidToItsAlg(t *testing.T) {
	var pems [][]byte
	for _, alg := range algs {
		pems = append(pems, testPEM(t, "ours", alg))
	}
	ks := keySet(t, pems...)
	v := verifierAt(ks, t0)
	claims := goodClaims(t0)
	for _, alg := range algs {
		k := ourSet(t, alg).Signing()
		t.Run("a token under the "+alg+" kid signed by that key verifies", func(t *testing.T) {
			mustAllow(t, v, signAs(t, k, goodHeader(k), claims))
		})
		for _, other := range algs {
			if other == alg {
				continue
			}
			ok := ourSet(t, other).Signing()
			t.Run("a token under the "+alg+" kid signed by our "+other+" key with alg "+other+" is refused", func(t *testing.T) {
				mustDeny(t, v, signAs(t, ok, goodHeader(k), claims), jwt.ErrTokenSignatureInvalid)
				mustDeny(t, v, signAs(t, ok, with(goodHeader(k), "alg", other), claims), token.ErrAlgorithm)
			})
		}
	}
}

// Cases 4, 5, 13 (key side) and 19 (unknown kid): only keys from the configured set
// verify, the kid is only a map key, and header-supplied keys are ignored.
func TestVerifyRefusesUntrustedKeys(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ks := ourSet(t, alg)
			k := ks.Signing()
			ak := attackerKey(t, alg)
			v := verifierAt(ks, t0)
			claims := goodClaims(t0)
			var attackerJWKS struct{ Keys []map[string]string }
			if err := json.Unmarshal(keySet(t, testPEM(t, "attacker", alg)).JWKS(), &attackerJWKS); err != nil {
				t.Fatal(err)
			}
			attackerJWK := attackerJWKS.Keys[0]

			type tc struct {
				name string
				tok  string
				why  error
			}
			tests := []tc{
				{"a token signed by another key carrying our kid is refused", signAs(t, ak, goodHeader(k), claims), jwt.ErrTokenSignatureInvalid},
				{"a token signed by another key under its own kid is refused (unknown kid)", signAs(t, ak, goodHeader(ak), claims), token.ErrUnknownKey},
			}
			for _, kid := range []any{
				"", "../../../../dev/null", "/dev/null", "|sleep 10", "x' UNION SELECT '1';--",
				strings.Repeat("k", 4<<10), strings.Repeat("k", 10<<10),
				k.ID + " ", strings.ToLower(k.ID), k.ID + "\x00", k.ID[:len(k.ID)-1],
				nil, 7, []string{k.ID}, map[string]string{"kid": k.ID},
			} {
				desc, why := fmt.Sprintf("%q", kid), token.ErrUnknownKey
				if s, ok := kid.(string); ok && len(s) > 64 {
					desc = fmt.Sprintf("of %d bytes", len(s))
					if len(s) > token.MaxLength {
						why = token.ErrTooLong // refused before the kid is read
					}
				}
				tests = append(tests, tc{fmt.Sprintf("kid %s with our valid signature is refused", desc), signAs(t, k, with(goodHeader(k), "kid", kid), claims), why})
			}
			tests = append(tests, tc{"a missing kid with our valid signature is refused", signAs(t, k, with(goodHeader(k), "kid", deleted), claims), token.ErrUnknownKey})

			// Embedded keys (jwk, x5c) signed by the attacker.
			cert := selfSignedCert(t, ak)
			// Under our kid the embedded key is ignored and our key refuses the signature.
			for _, h := range []struct {
				name string
				hdr  map[string]any
				why  error
			}{
				{"an attacker key embedded as jwk under the attacker's kid", with(goodHeader(ak), "jwk", attackerJWK), token.ErrUnknownKey},
				{"an attacker key embedded as jwk under our kid", with(goodHeader(k), "jwk", attackerJWK), jwt.ErrTokenSignatureInvalid},
				{"an attacker key embedded as jwk without a kid", with(goodHeader(ak), "kid", deleted, "jwk", attackerJWK), token.ErrUnknownKey},
				{"an attacker certificate embedded as x5c under the attacker's kid", with(goodHeader(ak), "x5c", []string{cert}), token.ErrUnknownKey},
				{"an attacker certificate embedded as x5c under our kid", with(goodHeader(k), "x5c", []string{cert}), jwt.ErrTokenSignatureInvalid},
			} {
				tests = append(tests, tc{h.name + " is refused", signAs(t, ak, h.hdr, claims), h.why})
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok, tt.why) })
			}
		})
	}
}

func selfSignedCert(t *testing.T, k *keys.Key) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "attacker"},
		NotBefore:    t0.Add(-time.Hour),
		NotAfter:     t0.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public, k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// Case 4: jku and x5u are never followed, so the attacker's server sees no request.
func TestVerifyNeverFetchesHeaderURLs(t *testing.T) {
	var hits atomic.Int64
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ks := ourSet(t, alg)
			k := ks.Signing()
			ak := attackerKey(t, alg)
			attackerJWKS := keySet(t, testPEM(t, "attacker", alg)).JWKS()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(attackerJWKS)
			}))
			defer srv.Close()
			v := verifierAt(ks, t0)
			claims := goodClaims(t0)
			tests := []struct {
				name string
				hdr  map[string]any
				why  error
			}{
				{"a jku at the attacker's JWKS under the attacker's kid is refused without a fetch", with(goodHeader(ak), "jku", srv.URL+"/jwks.json"), token.ErrUnknownKey},
				{"a jku at the attacker's JWKS under our kid is refused without a fetch", with(goodHeader(k), "jku", srv.URL+"/jwks.json"), jwt.ErrTokenSignatureInvalid},
				{"an x5u at the attacker's server under the attacker's kid is refused without a fetch", with(goodHeader(ak), "x5u", srv.URL+"/cert.pem"), token.ErrUnknownKey},
				{"an x5u at the attacker's server under our kid is refused without a fetch", with(goodHeader(k), "x5u", srv.URL+"/cert.pem"), jwt.ErrTokenSignatureInvalid},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := hits.Load()
					mustDeny(t, v, signAs(t, ak, tt.hdr, claims), tt.why)
					if n := hits.Load() - before; n != 0 {
						t.Fatalf("the attacker's server received %d requests", n)
					}
				})
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the attacker's servers received %d requests in all", n)
	}
}

// Cases 13 (typ), 14 (crit) and 15 (duplicate header members).
func TestVerifyHeaderRules(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ks := ourSet(t, alg)
			k := ks.Signing()
			v := verifierAt(ks, t0)
			claims := goodClaims(t0)
			payload := string(mustJSON(t, claims))
			h := goodHeader(k)
			tests := []struct {
				name string
				hdr  string // raw header JSON
				why  error  // nil: accepted
			}{
				{"typ at+jwt is accepted", string(mustJSON(t, h)), nil},
				{"typ application/at+jwt is accepted (RFC 9068 §2.1)", string(mustJSON(t, with(h, "typ", "application/at+jwt"))), nil},
				{"typ AT+JWT is accepted (media types are case-insensitive)", string(mustJSON(t, with(h, "typ", "AT+JWT"))), nil},
				{"an unknown header member is ignored", string(mustJSON(t, with(h, "x-note", "hello"))), nil},
				{"a missing typ is refused", string(mustJSON(t, with(h, "typ", deleted))), token.ErrType},
				{"typ JWT is refused", string(mustJSON(t, with(h, "typ", "JWT"))), token.ErrType},
				{"typ jwt is refused", string(mustJSON(t, with(h, "typ", "jwt"))), token.ErrType},
				{"an empty typ is refused", string(mustJSON(t, with(h, "typ", ""))), token.ErrType},
				{"typ dpop+jwt is refused", string(mustJSON(t, with(h, "typ", "dpop+jwt"))), token.ErrType},
				{"typ at+jwt with a trailing space is refused", string(mustJSON(t, with(h, "typ", "at+jwt "))), token.ErrType},
				{"typ application/jwt is refused", string(mustJSON(t, with(h, "typ", "application/jwt"))), token.ErrType},
				{"a typ that is a number is refused", string(mustJSON(t, with(h, "typ", 1))), token.ErrType},
				{"crit [\"x-unknown\"] is refused", string(mustJSON(t, with(h, "crit", []string{"x-unknown"}, "x-unknown", true))), token.ErrCrit},
				{"crit naming a registered header is refused", string(mustJSON(t, with(h, "crit", []string{"kid"}))), token.ErrCrit},
				{"an empty crit list is refused", string(mustJSON(t, with(h, "crit", []string{}))), token.ErrCrit},
				{"crit \"b64\" is refused", string(mustJSON(t, with(h, "crit", []string{"b64"}, "b64", false))), token.ErrCrit},
				{"a header with alg twice is refused", fmt.Sprintf(`{"alg":"none","alg":%q,"kid":%q,"typ":"at+jwt"}`, alg, k.ID), token.ErrDuplicateMember},
				{"a header with kid twice is refused", fmt.Sprintf(`{"alg":%q,"kid":"other","kid":%q,"typ":"at+jwt"}`, alg, k.ID), token.ErrDuplicateMember},
				{"a header with kid and KID is refused", fmt.Sprintf(`{"alg":%q,"KID":"other","kid":%q,"typ":"at+jwt"}`, alg, k.ID), token.ErrCaseVariantMember},
				{"a header with typ twice is refused", fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT","typ":"at+jwt"}`, alg, k.ID), token.ErrDuplicateMember},
				{"a header with Alg and alg is refused", fmt.Sprintf(`{"Alg":"none","alg":%q,"kid":%q,"typ":"at+jwt"}`, alg, k.ID), token.ErrCaseVariantMember},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tok := signRaw(t, alg, k.Private, tt.hdr, payload)
					if tt.why == nil {
						mustAllow(t, v, tok)
					} else {
						mustDeny(t, v, tok, tt.why)
					}
				})
			}
		})
	}
}

// Cases 10 and 11, with the verifier's injected clock at t0.
func TestVerifyTimeClaims(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	c := goodClaims(t0)
	lee := token.Leeway
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	tests := []struct {
		name   string
		claims map[string]any
		why    error // nil: accepted
	}{
		{"exp a second from now is accepted", with(c, "exp", at(time.Second)), nil},
		{"exp in the past but inside the leeway is accepted", with(c, "exp", at(-lee+time.Second)), nil},
		{"exp exactly the leeway ago is refused", with(c, "exp", at(-lee)), jwt.ErrTokenExpired},
		{"exp the leeway plus a second ago is refused", with(c, "exp", at(-lee-time.Second)), jwt.ErrTokenExpired},
		{"a missing exp is refused", with(c, "exp", deleted), jwt.ErrTokenRequiredClaimMissing},
		{"exp 0 is refused", with(c, "exp", 0), jwt.ErrTokenExpired},
		{"exp null is refused", with(c, "exp", nil), token.ErrNumericDate},
		{"exp as the string \"9999999999\" is refused", with(c, "exp", "9999999999"), token.ErrNumericDate},
		{"exp as a string of a time inside the window is refused", with(c, "exp", fmt.Sprint(at(time.Minute))), token.ErrNumericDate},
		{"exp as a boolean is refused", with(c, "exp", true), token.ErrNumericDate},
		{"exp as a list is refused", with(c, "exp", []int64{at(time.Minute)}), token.ErrNumericDate},
		{"exp as an object is refused", with(c, "exp", map[string]int64{"t": at(time.Minute)}), token.ErrNumericDate},
		{"a fractional exp in the future is accepted (NumericDate allows fractions)", with(c, "exp", float64(at(time.Minute))+0.5), nil},
		{"nbf now is accepted", with(c, "nbf", at(0)), nil},
		{"nbf inside the leeway in the future is accepted", with(c, "nbf", at(lee-time.Second)), nil},
		{"nbf exactly the leeway in the future is accepted", with(c, "nbf", at(lee)), nil},
		{"nbf the leeway plus a second in the future is refused", with(c, "nbf", at(lee+time.Second)), jwt.ErrTokenNotValidYet},
		{"nbf an hour in the future is refused", with(c, "nbf", at(time.Hour)), jwt.ErrTokenNotValidYet},
		{"nbf as a string is refused", with(c, "nbf", fmt.Sprint(at(0))), token.ErrNumericDate},
		{"iat inside the leeway in the future is accepted", with(c, "iat", at(lee-time.Second)), nil},
		{"iat exactly the leeway in the future is accepted", with(c, "iat", at(lee)), nil},
		{"iat the leeway plus a second in the future is refused", with(c, "iat", at(lee+time.Second)), jwt.ErrTokenUsedBeforeIssued},
		{"iat an hour in the future is refused", with(c, "iat", at(time.Hour)), jwt.ErrTokenUsedBeforeIssued},
		{"iat as a string is refused", with(c, "iat", fmt.Sprint(at(0))), token.ErrNumericDate},
		{"a missing iat is accepted (exp is the required bound; minted tokens always carry iat)", with(c, "iat", deleted), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAs(t, k, goodHeader(k), tt.claims)
			if tt.why == nil {
				mustAllow(t, v, tok)
			} else {
				mustDeny(t, v, tok, tt.why)
			}
		})
	}

	t.Run("the same token is accepted before exp plus leeway and refused after it", func(t *testing.T) {
		tok := signAs(t, k, goodHeader(k), with(c, "exp", at(time.Minute)))
		mustAllow(t, verifierAt(ks, t0.Add(time.Minute+lee-time.Second)), tok)
		mustDeny(t, verifierAt(ks, t0.Add(time.Minute+lee)), tok, jwt.ErrTokenExpired)
		mustDeny(t, verifierAt(ks, t0.Add(24*time.Hour)), tok, jwt.ErrTokenExpired)
	})
}

// Case 12.
func TestVerifyIssuerAndAudience(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	c := goodClaims(t0)
	tests := []struct {
		name   string
		claims map[string]any
		why    error // nil: accepted
	}{
		{"our iss and aud [ours] are accepted", c, nil},
		{"aud as the single string ours is accepted", with(c, "aud", testAudience), nil},
		{"aud [\"other\",\"ours\"] is accepted", with(c, "aud", []string{"https://other-api.example.test", testAudience}), nil},
		{"a wrong iss is refused", with(c, "iss", "https://evil.example.test"), jwt.ErrTokenInvalidIssuer},
		{"an iss differing only in a trailing slash is refused", with(c, "iss", testIssuer+"/"), jwt.ErrTokenInvalidIssuer},
		{"an iss differing only in case is refused", with(c, "iss", strings.ToUpper(testIssuer)), jwt.ErrTokenInvalidIssuer},
		{"a missing iss is refused", with(c, "iss", deleted), jwt.ErrTokenRequiredClaimMissing},
		{"an empty iss is refused", with(c, "iss", ""), jwt.ErrTokenRequiredClaimMissing},
		{"an iss that is a number is refused", with(c, "iss", 1), jwt.ErrTokenMalformed},
		{"a missing aud is refused", with(c, "aud", deleted), jwt.ErrTokenRequiredClaimMissing},
		{"aud [] is refused", with(c, "aud", []string{}), jwt.ErrTokenRequiredClaimMissing},
		{"aud [\"\"] is refused", with(c, "aud", []string{""}), jwt.ErrTokenRequiredClaimMissing},
		{"aud \"\" is refused", with(c, "aud", ""), jwt.ErrTokenRequiredClaimMissing},
		{"aud null is refused", with(c, "aud", nil), jwt.ErrTokenRequiredClaimMissing},
		{"aud of another API is refused", with(c, "aud", []string{"https://other-api.example.test"}), jwt.ErrTokenInvalidAudience},
		{"aud differing only in case is refused", with(c, "aud", []string{strings.ToUpper(testAudience)}), jwt.ErrTokenInvalidAudience},
		{"aud that is a number is refused", with(c, "aud", 5), jwt.ErrTokenMalformed},
		{"aud holding ours and a number is refused", with(c, "aud", []any{testAudience, 5}), jwt.ErrTokenMalformed},
		{"aud as an object is refused", with(c, "aud", map[string]string{"aud": testAudience}), jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAs(t, k, goodHeader(k), tt.claims)
			if tt.why == nil {
				mustAllow(t, v, tok)
			} else {
				mustDeny(t, v, tok, tt.why)
			}
		})
	}
}

// The claims the authorizer depends on (sub, sid, ver) and jti are required and typed.
func TestVerifyRequiredClaims(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	c := goodClaims(t0)
	tests := []struct {
		name   string
		claims map[string]any
		why    error // nil: accepted
	}{
		{"all claims present is accepted", c, nil},
		{"a missing scope is accepted (scope is optional)", with(c, "scope", deleted), nil},
		{"ver 0 is accepted", with(c, "ver", 0), nil},
		{"a large ver is accepted", with(c, "ver", int64(1)<<53), nil},
		{"a missing sub is refused", with(c, "sub", deleted), token.ErrRequiredClaim},
		{"an empty sub is refused", with(c, "sub", ""), token.ErrRequiredClaim},
		{"sub null is refused", with(c, "sub", nil), token.ErrRequiredClaim},
		{"sub 5 (a number) is refused", with(c, "sub", 5), jwt.ErrTokenMalformed},
		{"sub as a list is refused", with(c, "sub", []string{"user-1"}), jwt.ErrTokenMalformed},
		{"a missing sid is refused", with(c, "sid", deleted), token.ErrRequiredClaim},
		{"an empty sid is refused", with(c, "sid", ""), token.ErrRequiredClaim},
		{"sid null is refused", with(c, "sid", nil), token.ErrRequiredClaim},
		{"sid 5 (a number) is refused", with(c, "sid", 5), jwt.ErrTokenMalformed},
		{"a missing ver is refused", with(c, "ver", deleted), token.ErrRequiredClaim},
		{"ver null is refused", with(c, "ver", nil), token.ErrRequiredClaim},
		{"ver \"1\" (a string) is refused", with(c, "ver", "1"), jwt.ErrTokenMalformed},
		{"ver -1 is refused", with(c, "ver", -1), token.ErrRequiredClaim},
		{"ver 1.5 is refused", with(c, "ver", 1.5), jwt.ErrTokenMalformed},
		{"ver true is refused", with(c, "ver", true), jwt.ErrTokenMalformed},
		{"ver beyond int64 is refused", with(c, "ver", json.Number("9223372036854775808")), jwt.ErrTokenMalformed},
		{"a missing jti is refused", with(c, "jti", deleted), token.ErrRequiredClaim},
		{"an empty jti is refused", with(c, "jti", ""), token.ErrRequiredClaim},
		{"jti 5 (a number) is refused", with(c, "jti", 5), jwt.ErrTokenMalformed},
		{"scope 5 (a number) is refused", with(c, "scope", 5), jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAs(t, k, goodHeader(k), tt.claims)
			if tt.why == nil {
				mustAllow(t, v, tok)
			} else {
				mustDeny(t, v, tok, tt.why)
			}
		})
	}
}

// Case 15: what we check is what any other reader of the token would see.
func TestVerifyRefusesDuplicateClaims(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	past, future := t0.Add(-time.Hour).Unix(), t0.Add(time.Hour).Unix()
	base := func(drop ...string) string {
		m := goodClaims(t0)
		for _, d := range drop {
			delete(m, d)
		}
		b := mustJSON(t, m)
		return string(b[:len(b)-1]) // open object, to append members to
	}
	// A repeat is refused where it is seen; a case variant seen first is refused as one.
	tests := []struct {
		name    string
		payload string
		why     error
	}{
		{"exp (past) with EXP (future) is refused", base("exp") + fmt.Sprintf(`,"exp":%d,"EXP":%d}`, past, future), token.ErrDuplicateMember},
		{"EXP (past) with exp (future) is refused", base("exp") + fmt.Sprintf(`,"EXP":%d,"exp":%d}`, past, future), token.ErrCaseVariantMember},
		{"exp twice, the future one last, is refused", base("exp") + fmt.Sprintf(`,"exp":%d,"exp":%d}`, past, future), token.ErrDuplicateMember},
		{"two sub is refused", base("sub") + `,"sub":"user-1","sub":"admin"}`, token.ErrDuplicateMember},
		{"sub with Sub is refused", base("sub") + `,"sub":"user-1","Sub":"admin"}`, token.ErrDuplicateMember},
		{"two sid is refused", base("sid") + `,"sid":"session-1","sid":"session-2"}`, token.ErrDuplicateMember},
		{"ver with VER is refused", base("ver") + `,"ver":3,"VER":4}`, token.ErrDuplicateMember},
		{"two aud is refused", base("aud") + fmt.Sprintf(`,"aud":"other","aud":%q}`, testAudience), token.ErrDuplicateMember},
		{"two iss is refused", base("iss") + fmt.Sprintf(`,"iss":"evil","iss":%q}`, testIssuer), token.ErrDuplicateMember},
		{"nbf with NBF is refused", base() + fmt.Sprintf(`,"nbf":%d,"NBF":%d}`, future, past), token.ErrDuplicateMember},
		{"two scope is refused", base("scope") + `,"scope":"me","scope":"admin"}`, token.ErrDuplicateMember},
		{"two unknown members differing only in case are refused", base() + `,"x-note":"a","X-Note":"b"}`, token.ErrDuplicateMember},
	}
	mustAllow(t, v, signRaw(t, k.Alg, k.Private, string(mustJSON(t, goodHeader(k))), base()+"}")) // control
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustDeny(t, v, signRaw(t, k.Alg, k.Private, string(mustJSON(t, goodHeader(k))), tt.payload), tt.why)
		})
	}
}

// claimJSONNames are the json names of token.Claims' fields (with jwt.RegisteredClaims'),
// read by reflection so a claim added to Claims is covered here without a list to update.
func claimJSONNames(t *testing.T) []string {
	t.Helper()
	var names []string
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for f := range rt.Fields() {
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				t.Fatalf("Claims field %s has no json name", f.Name)
			}
			names = append(names, name)
		}
	}
	walk(reflect.TypeFor[token.Claims]())
	if len(names) < 10 {
		t.Fatalf("found only %v", names)
	}
	return names
}

// Case 15, the other half: encoding/json reads {"Exp":9999999999} as exp, and so would
// golang-jwt, while a case-sensitive reader sees no exp at all. A member named like
// one the verifier reads, in other case, is refused, alone or not.
func TestVerifyRefusesCaseVariantNames(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	claims := goodClaims(t0)
	claims["nbf"] = t0.Unix() // so every claim name has a value to move
	mustAllow(t, v, signAs(t, k, goodHeader(k), claims))

	type tc struct {
		name string
		tok  string
	}
	var tests []tc
	for _, n := range claimJSONNames(t) {
		val, ok := claims[n]
		if !ok {
			t.Fatalf("goodClaims has no %s", n)
		}
		if n == "exp" {
			val = int64(9999999999)
		}
		variants := []string{strings.ToUpper(n[:1]) + n[1:], strings.ToUpper(n)}
		if strings.Contains(n, "s") {
			variants = append(variants, strings.Replace(n, "s", "\u017f", 1)) // ſ, U+017F, folds to s
		}
		for _, vn := range variants {
			tests = append(tests, tc{
				fmt.Sprintf("claim %q in place of %q is refused", vn, n),
				signAs(t, k, goodHeader(k), with(claims, n, deleted, vn, val)),
			})
		}
	}
	h := goodHeader(k)
	for _, hv := range []struct{ from, to string }{
		{"alg", "ALG"}, {"alg", "Alg"}, {"kid", "KID"}, {"kid", "\u212aid"}, {"typ", "TYP"}, {"typ", "Typ"},
	} {
		tests = append(tests, tc{
			fmt.Sprintf("header %q in place of %q is refused", hv.to, hv.from),
			signAs(t, k, with(h, hv.from, deleted, hv.to, h[hv.from]), claims),
		})
	}
	tests = append(tests, tc{"header \"CRIT\" is refused", signAs(t, k, with(h, "CRIT", []string{"x-unknown"}), claims)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok, token.ErrCaseVariantMember) })
	}
	t.Run("an unknown claim or header member is accepted whatever its case", func(t *testing.T) {
		mustAllow(t, v, signAs(t, k, with(h, "X-Note", "a"), with(claims, "Tenant", "t-1")))
	})
}

// Names and values may be spelled with JSON escapes; the verifier reads them as
// encoding/json (and so golang-jwt) does, so an escape neither hides a member from our
// checks nor makes a good token fail.
func TestVerifyReadsJSONEscapes(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	c := goodClaims(t0)
	hdr := func(members string) string { return `{"kid":"` + k.ID + `",` + members + `}` }
	payJSON := string(mustJSON(t, c))
	pay := func(from, to string) string {
		if !strings.Contains(payJSON, from) {
			t.Fatalf("no %s in %s", from, payJSON)
		}
		return strings.Replace(payJSON, from, to, 1)
	}
	good := hdr(`"alg":"EdDSA","typ":"at+jwt"`)
	tests := []struct {
		name, hdr, payload string
		why                error // nil: accepted
	}{
		{"alg and typ values spelled with escapes are accepted", hdr(`"alg":"Ed\u0044SA","typ":"at\u002bjwt"`), payJSON, nil},
		{"a header member name spelled with an escape is read as that name", hdr(`"\u0061lg":"EdDSA","typ":"at+jwt"`), payJSON, nil},
		{"a claim name spelled with an escape is read as that name", good, pay(`"sub":`, `"s\u0075b":`), nil},
		{"a case variant spelled with an escape is refused", hdr(`"alg":"EdDSA","t\u0059p":"at+jwt"`), payJSON, token.ErrCaseVariantMember},
		{"a claim case variant spelled with an escape is refused", good, pay(`"exp":`, `"\u0045xp":`), token.ErrCaseVariantMember},
		{"a member repeated under an escaped spelling is refused", hdr(`"alg":"EdDSA","typ":"JWT","t\u0079p":"at+jwt"`), payJSON, token.ErrDuplicateMember},
		{"a header value with an invalid escape is refused", hdr(`"alg":"EdDSA","typ":"at\q"`), payJSON, token.ErrMalformed},
		{"a member name with an invalid escape is refused", hdr(`"alg":"EdDSA","typ":"at+jwt","\q":1`), payJSON, token.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signRaw(t, k.Alg, k.Private, tt.hdr, tt.payload)
			if tt.why != nil {
				mustDeny(t, v, tok, tt.why)
				return
			}
			if got := mustAllow(t, v, tok); got.Subject != "user-1" {
				t.Fatalf("sub %q, want user-1", got.Subject)
			}
		})
	}
}

// What Verify says is logged by the authorizer, so it must never quote the token: the
// attacker chooses every byte of it.
func TestVerifyErrorsNeverQuoteTheToken(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	const m = "QuotedMarker7531"
	c, h := goodClaims(t0), goodHeader(k)
	hdrJSON, payJSON := string(mustJSON(t, h)), string(mustJSON(t, c))
	tests := []struct {
		name string
		tok  string
		why  error
	}{
		{"a typ of the attacker's choosing", signAs(t, k, with(h, "typ", m), c), token.ErrType},
		{"an alg of the attacker's choosing", signAs(t, k, with(h, "alg", m), c), token.ErrAlgorithm},
		{"a kid of the attacker's choosing", signAs(t, k, with(h, "kid", m), c), token.ErrUnknownKey},
		{"a repeated member name", signRaw(t, k.Alg, k.Private, hdrJSON, payJSON[:len(payJSON)-1]+`,"`+m+`":1,"`+m+`":2}`), token.ErrDuplicateMember},
		{"a NumericDate as a string", signAs(t, k, h, with(c, "exp", m)), token.ErrNumericDate},
		{"a bare word as a header value", signRaw(t, k.Alg, k.Private, hdrJSON[:len(hdrJSON)-1]+`,"x":`+m+`}`, payJSON), jwt.ErrTokenMalformed},
		{"a number where a string claim belongs", signAs(t, k, h, with(c, "sub", json.Number("75319864207531986420"))), jwt.ErrTokenMalformed},
		{"a number too large for ver", signAs(t, k, h, with(c, "ver", json.Number("75319864207531986420"))), jwt.ErrTokenMalformed},
		{"an issuer of the attacker's choosing", signAs(t, k, h, with(c, "iss", m)), jwt.ErrTokenInvalidIssuer},
		{"an audience of the attacker's choosing", signAs(t, k, h, with(c, "aud", []string{m})), jwt.ErrTokenInvalidAudience},
		{"a subject of the attacker's choosing, signed by another key", signAs(t, attackerKey(t, keys.EdDSA), h, with(c, "sub", m)), jwt.ErrTokenSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run("the error for "+tt.name+" quotes nothing of the token", func(t *testing.T) {
			msg := mustDeny(t, v, tt.tok, tt.why).Error()
			hs, ps, ss := segments(t, tt.tok)
			for _, part := range []string{m, "75319864207531986420", hs, ps, ss} {
				if strings.Contains(msg, part) {
					t.Fatalf("error %q quotes %q", msg, part)
				}
			}
		})
	}
}

// Every reason of the token package is a refusal (wraps ErrInvalid) and reads
// differently in a log.
func TestEveryReasonWrapsErrInvalid(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range reasons {
		if !strings.HasPrefix(r.Error(), "token: invalid: ") {
			continue // a golang-jwt sentinel
		}
		t.Run(r.Error(), func(t *testing.T) {
			if !errors.Is(r, token.ErrInvalid) {
				t.Fatal("does not wrap ErrInvalid")
			}
			if seen[r.Error()] {
				t.Fatal("two reasons read the same")
			}
			seen[r.Error()] = true
		})
	}
	if len(seen) != 11 {
		t.Fatalf("%d token reasons, want 11", len(seen))
	}
}

const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// flipUnusedBit changes the lowest bit of the last character of an unpadded base64url
// segment whose length leaves unused bits; lenient decoders return the same bytes.
func flipUnusedBit(t *testing.T, seg string) string {
	t.Helper()
	if len(seg)%4 == 0 {
		t.Fatalf("segment of length %d has no unused bits", len(seg))
	}
	i := strings.IndexByte(b64url, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(b64url[i^1])
	a, err1 := base64.RawURLEncoding.DecodeString(seg)
	b, err2 := base64.RawURLEncoding.DecodeString(out)
	if err1 != nil || err2 != nil || string(a) != string(b) {
		t.Fatalf("the flipped segment does not decode leniently to the same bytes")
	}
	return out
}

// stdPayload encodes claims in the standard base64 alphabet, choosing a scope that
// makes the encoding differ from base64url.
func stdPayload(t *testing.T, claims map[string]any) string {
	t.Helper()
	for i := range 12 {
		seg := base64.RawStdEncoding.EncodeToString(mustJSON(t, with(claims, "scope", strings.Repeat("~", i+1)+"?")))
		if strings.ContainsAny(seg, "+/") {
			return seg
		}
	}
	t.Fatal("no payload with + or / in standard base64")
	return ""
}

func pad(seg string) string { return seg + strings.Repeat("=", (4-len(seg)%4)%4) }

// Case 9: only canonical, unpadded base64url is read, in every segment.
func TestVerifyRefusesNonCanonicalBase64(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ks := ourSet(t, alg)
			k := ks.Signing()
			v := verifierAt(ks, t0)
			// Header and payload with lengths that leave unused bits.
			hdr := goodHeader(k)
			for i := 0; len(enc(mustJSON(t, hdr)))%4 == 0; i++ {
				hdr = with(hdr, "x-pad", strings.Repeat("p", i))
			}
			claims := goodClaims(t0)
			for i := 0; len(enc(mustJSON(t, claims)))%4 == 0; i++ {
				claims = with(claims, "scope", "me"+strings.Repeat(" x", i))
			}
			h, p := enc(mustJSON(t, hdr)), enc(mustJSON(t, claims))
			good := signSegments(t, alg, k.Private, h, p)
			_, _, s := segments(t, good)
			mustAllow(t, v, good) // control: the padding members are harmless

			// A signature that contains characters the standard alphabet spells differently.
			stdSig := ""
			for range 64 {
				tok := signSegments(t, alg, k.Private, h, p) // ES256 is randomised; Ed25519 and RS256 are not
				_, _, sig := segments(t, tok)
				if strings.ContainsAny(sig, "-_") {
					raw := decodeSeg(t, sig)
					stdSig = h + "." + p + "." + base64.RawStdEncoding.EncodeToString(raw)
					break
				}
			}

			// The signature segment is decoded by golang-jwt (WithStrictDecoding), the
			// header and payload by us; '=', '+', '/', spaces and line breaks are refused
			// before any decoding.
			type tc struct {
				name, tok string
				why       error
			}
			tests := []tc{
				{"a signature with a flipped unused bit is refused", h + "." + p + "." + flipUnusedBit(t, s), jwt.ErrTokenMalformed},
				{"a signature with = padding is refused", h + "." + p + "." + pad(s), token.ErrMalformed},
				{"a payload with a flipped unused bit, signed as sent, is refused", signSegments(t, alg, k.Private, h, flipUnusedBit(t, p)), token.ErrMalformed},
				{"a payload with = padding, signed as sent, is refused", signSegments(t, alg, k.Private, h, pad(p)), token.ErrMalformed},
				{"a header with a flipped unused bit, signed as sent, is refused", signSegments(t, alg, k.Private, flipUnusedBit(t, h), p), token.ErrMalformed},
				{"a header with = padding, signed as sent, is refused", signSegments(t, alg, k.Private, pad(h), p), token.ErrMalformed},
				{"a payload in the standard base64 alphabet, signed as sent, is refused", signSegments(t, alg, k.Private, h, stdPayload(t, claims)), token.ErrMalformed},
				{"a payload with a line break inside, signed as sent, is refused", signSegments(t, alg, k.Private, h, p[:8]+"\n"+p[8:]), token.ErrMalformed},
				{"a signature with a space inside is refused", h + "." + p + "." + s[:10] + " " + s[10:], token.ErrMalformed},
			}
			if stdSig != "" {
				tests = append(tests, tc{"a signature in the standard base64 alphabet is refused", stdSig, token.ErrMalformed})
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok, tt.why) })
			}
		})
	}
}

func es256Parts(t *testing.T, tok string) (signingInput string, r, s *big.Int) {
	t.Helper()
	h, p, sig := segments(t, tok)
	raw := decodeSeg(t, sig)
	if len(raw) != 64 {
		t.Fatalf("ES256 signature of %d bytes", len(raw))
	}
	return h + "." + p, new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])
}

func p1363(r, s *big.Int) []byte {
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// Case 8: ECDSA signatures are malleable, so a token string is not an identity.
func TestES256HighSTwinVerifies(t *testing.T) {
	ks := ourSet(t, keys.ES256)
	v := verifierAt(ks, t0)
	tok, err := token.NewMinter(ks, testIssuer, testAudience).Mint(t0, "user-1", "session-1", 3, "me", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	input, r, s := es256Parts(t, tok)
	n := elliptic.P256().Params().N
	twin := input + "." + enc(p1363(r, new(big.Int).Sub(n, s)))
	orig := mustAllow(t, v, tok)

	t.Run("the (r, N-s) twin of a valid ES256 token verifies (ECDSA malleability, expected)", func(t *testing.T) {
		mustAllow(t, v, twin)
	})
	t.Run("the twin is a different token string from the original", func(t *testing.T) {
		if twin == tok {
			t.Fatal("twin equals the original")
		}
	})
	t.Run("the twin carries the same sid, sub, ver and jti, so revocation keys on sid and ver, never on the token string", func(t *testing.T) {
		c := mustAllow(t, v, twin)
		if c.SID != orig.SID || c.Subject != orig.Subject || *c.Ver != *orig.Ver || c.ID != orig.ID {
			t.Fatalf("twin claims %+v differ from original %+v", c, orig)
		}
	})
}

// Case 7 and malformed signatures for every algorithm.
func TestVerifyRefusesMalformedSignatures(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ks := ourSet(t, alg)
			k := ks.Signing()
			v := verifierAt(ks, t0)
			good := signAs(t, k, goodHeader(k), goodClaims(t0))
			other := signAs(t, k, goodHeader(k), with(goodClaims(t0), "sub", "user-2"))
			h, p, s := segments(t, good)
			_, _, otherSig := segments(t, other)
			sig := decodeSeg(t, s)
			withSig := func(b []byte) string { return h + "." + p + "." + enc(b) }
			flipped := slices.Clone(sig)
			flipped[len(flipped)/2] ^= 0x01
			tests := []struct{ name, tok string }{
				{"an all-zero signature is refused", withSig(make([]byte, len(sig)))},
				{"a signature one byte short is refused", withSig(sig[:len(sig)-1])},
				{"a signature missing its first byte is refused", withSig(sig[1:])},
				{"a signature one zero byte longer is refused", withSig(append(slices.Clone(sig), 0))},
				{"a signature with a leading zero byte is refused", withSig(append([]byte{0}, sig...))},
				{"a signature repeated twice is refused", withSig(append(slices.Clone(sig), sig...))},
				{"a signature with one bit flipped is refused", withSig(flipped)},
				{"the signature of another token is refused", h + "." + p + "." + otherSig},
				{"a one-byte signature is refused", withSig([]byte{0})},
			}
			if alg == keys.ES256 {
				_, r, s := es256Parts(t, good)
				n := elliptic.P256().Params().N
				der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
				if err != nil {
					t.Fatal(err)
				}
				tests = append(tests,
					struct{ name, tok string }{"ES256 r=s=0 (CVE-2022-21449) is refused", withSig(p1363(big.NewInt(0), big.NewInt(0)))},
					struct{ name, tok string }{"ES256 r=0 is refused", withSig(p1363(big.NewInt(0), s))},
					struct{ name, tok string }{"ES256 s=0 is refused", withSig(p1363(r, big.NewInt(0)))},
					struct{ name, tok string }{"ES256 r=s=N is refused", withSig(p1363(n, n))},
					struct{ name, tok string }{"ES256 r+N does not fit and is refused", withSig(append(new(big.Int).Add(r, n).Bytes(), p1363(r, s)[32:]...))},
					struct{ name, tok string }{"a DER-encoded ES256 signature is refused", withSig(der)},
				)
			}
			mustAllow(t, v, good) // control
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok, jwt.ErrTokenSignatureInvalid) })
			}
		})
	}
}

// Case 18 (CVE-2024-51744): a bad signature is reported as such even when the token has
// also expired, so no caller can take an "expired, try refresh" branch on a forgery.
func TestVerifyReportsBadSignatureBeforeExpiry(t *testing.T) {
	for _, alg := range algs {
		ks := ourSet(t, alg)
		k := ks.Signing()
		v := verifierAt(ks, t0)
		expired := with(goodClaims(t0.Add(-time.Hour)), "exp", t0.Add(-time.Minute).Unix())
		tok := signAs(t, k, goodHeader(k), expired)
		h, p, s := segments(t, tok)
		sig := decodeSeg(t, s)
		sig[0] ^= 0x80
		_, p2, _ := segments(t, signAs(t, k, goodHeader(k), with(expired, "sub", "admin")))

		t.Run(alg+": an expired token with a good signature is refused as expired (control)", func(t *testing.T) {
			mustDeny(t, v, tok, jwt.ErrTokenExpired)
		})
		for _, tt := range []struct{ name, tok string }{
			{"an expired token with a corrupted signature is refused for its signature, not its expiry", h + "." + p + "." + enc(sig)},
			{"an expired token with a swapped payload is refused for its signature, not its expiry", h + "." + p2 + "." + s},
			{"an expired token signed by another key is refused for its signature, not its expiry", signAs(t, attackerKey(t, alg), goodHeader(k), expired)},
		} {
			t.Run(alg+": "+tt.name, func(t *testing.T) {
				if err := mustDeny(t, v, tt.tok, jwt.ErrTokenSignatureInvalid); errors.Is(err, jwt.ErrTokenExpired) {
					t.Fatalf("error %q also says the token expired", err)
				}
			})
		}
	}
}

func nested(depth int, open, close string) string {
	return strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth)
}

// Cases 47 and 48: malformed input is refused without a panic.
func TestVerifyRefusesMalformedTokens(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	claims := goodClaims(t0)
	hdrJSON, payJSON := string(mustJSON(t, goodHeader(k))), string(mustJSON(t, claims))
	good := signRaw(t, k.Alg, k.Private, hdrJSON, payJSON)
	mustAllow(t, v, good)
	h, p, s := segments(t, good)
	ours := func(hdr, payload string) string { return signRaw(t, k.Alg, k.Private, hdr, payload) }
	jsonSer, _ := json.Marshal(map[string]any{"payload": p, "signatures": []map[string]string{{"protected": h, "signature": s}}})
	flatSer, _ := json.Marshal(map[string]string{"payload": p, "protected": h, "signature": s})
	// As deep as fits under MaxLength, so the JSON readers see it; deeper is ErrTooLong.
	deepObj := strings.Repeat(`{"a":`, 900) + "1" + strings.Repeat("}", 900)
	attacker := attackerKey(t, keys.EdDSA).Private

	tests := []struct {
		name, tok string
		why       error
	}{
		{"an empty string is refused", "", token.ErrMalformed},
		{"a single dot is refused", ".", token.ErrMalformed},
		{"two dots are refused", "..", token.ErrMalformed},
		{"three dots are refused", "...", token.ErrMalformed},
		{"a word is refused", "garbage", token.ErrMalformed},
		{"binary junk with NUL bytes is refused", "\x00\x01\xff.\x00.\x00", token.ErrMalformed},
		{"a header alone is refused", h, token.ErrMalformed},
		{"header.payload (two segments) is refused", h + "." + p, token.ErrMalformed},
		{"header.payload. (empty signature) is refused", h + "." + p + ".", token.ErrMalformed},
		{"an empty header segment is refused", "." + p + "." + s, token.ErrMalformed},
		{"an empty payload segment is refused", h + ".." + s, token.ErrMalformed},
		{"four segments are refused", good + "." + s, token.ErrMalformed},
		{"four segments with an empty last one are refused", good + ".", token.ErrMalformed},
		{"five segments are refused", good + "." + p + "." + s, token.ErrMalformed},
		{"a leading dot is refused", "." + good, token.ErrMalformed},
		{"a doubled dot is refused", h + ".." + p + "." + s, token.ErrMalformed},
		{"a token cut by one character is refused", good[:len(good)-1], jwt.ErrTokenMalformed},
		{"a token cut in half is refused", good[:len(good)/2], token.ErrMalformed},
		{"a token cut just after its second dot is refused", h + "." + p + ".", token.ErrMalformed},
		{"a token with a leading space is refused", " " + good, token.ErrMalformed},
		{"a token with a trailing newline is refused", good + "\n", token.ErrMalformed},
		{"a token still carrying \"Bearer \" is refused", "Bearer " + good, token.ErrMalformed},
		{"a non-base64url character in the header is refused", "*" + good[1:], token.ErrMalformed},
		{"a non-base64url character in the payload is refused", h + "." + p[:5] + "!" + p[6:] + "." + s, token.ErrMalformed},
		{"a non-base64url character in the signature is refused", h + "." + p + "." + s[:5] + "$" + s[6:], token.ErrMalformed},
		{"a JSON-serialized JWS (general) is refused", string(jsonSer), token.ErrMalformed},
		{"a JSON-serialized JWS (flattened) is refused", string(flatSer), token.ErrMalformed},
		{"a header that is a JSON array is refused", ours(`["alg","EdDSA"]`, payJSON), token.ErrMalformed},
		{"a header that is a JSON string is refused", ours(`"EdDSA"`, payJSON), token.ErrMalformed},
		{"a header that is a JSON number is refused", ours(`1`, payJSON), token.ErrMalformed},
		{"a header that is null is refused", ours(`null`, payJSON), token.ErrMalformed},
		{"a header that is true is refused", ours(`true`, payJSON), token.ErrMalformed},
		{"a header that is not JSON is refused", ours(`alg=EdDSA`, payJSON), token.ErrMalformed},
		{"a header with data after the object is refused", ours(hdrJSON+`{}`, payJSON), token.ErrMalformed},
		{"a header with a byte-order mark is refused", ours("\ufeff"+hdrJSON, payJSON), token.ErrMalformed},
		{"a header with an unterminated object is refused", ours(hdrJSON[:len(hdrJSON)-1], payJSON), token.ErrMalformed},
		{"a header that is an array nested 2000 deep is refused", ours(nested(2000, "[", "]"), payJSON), token.ErrMalformed},
		{"a header holding an object nested 900 deep, signed by another key, is refused", signRaw(t, k.Alg, attacker, hdrJSON[:len(hdrJSON)-1]+`,"x":`+deepObj+`}`, payJSON), jwt.ErrTokenSignatureInvalid},
		{"a header that is an array nested 10000 deep is refused", ours(nested(10000, "[", "]"), payJSON), token.ErrTooLong},
		{"a header with invalid UTF-8 in kid is refused", ours(`{"alg":"EdDSA","kid":"`+k.ID+"\xff"+`","typ":"at+jwt"}`, payJSON), token.ErrNotUTF8},
		{"a payload that is a JSON array is refused", ours(hdrJSON, `[`+payJSON+`]`), token.ErrMalformed},
		{"a payload that is a JSON string is refused", ours(hdrJSON, `"user-1"`), token.ErrMalformed},
		{"a payload that is a JSON number is refused", ours(hdrJSON, `1`), token.ErrMalformed},
		{"a payload that is null is refused", ours(hdrJSON, `null`), token.ErrMalformed},
		{"a payload that is empty is refused", ours(hdrJSON, ``), token.ErrMalformed},
		{"a payload that is not JSON is refused", ours(hdrJSON, `sub=user-1`), token.ErrMalformed},
		{"a payload with data after the object is refused", ours(hdrJSON, payJSON+`x`), token.ErrMalformed},
		{"a payload with a second object after it is refused", ours(hdrJSON, payJSON+`{"sub":"admin"}`), token.ErrMalformed},
		{"a payload that is an array nested 2000 deep is refused", ours(hdrJSON, nested(2000, "[", "]")), token.ErrMalformed},
		{"a payload that is an array nested 10000 deep is refused", ours(hdrJSON, nested(10000, "[", "]")), token.ErrTooLong},
		{"a payload with invalid UTF-8 in sub is refused", ours(hdrJSON, strings.Replace(payJSON, `"user-1"`, "\"user-1\xff\"", 1)), token.ErrNotUTF8},
		{"a payload with a lone UTF-16 surrogate byte sequence is refused", ours(hdrJSON, strings.Replace(payJSON, `"user-1"`, "\"user-\xed\xa0\x80\"", 1)), token.ErrNotUTF8},
		{"a payload holding an object nested 900 deep, signed by another key, is refused", signRaw(t, k.Alg, attacker, hdrJSON, payJSON[:len(payJSON)-1]+`,"x":`+deepObj+`}`), jwt.ErrTokenSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok, tt.why) })
	}
}

// Case 46 (CVE-2025-30204): long input is refused before parsing, with bounded memory.
func TestVerifyBoundsLongInput(t *testing.T) {
	ks := ourSet(t, keys.EdDSA)
	k := ks.Signing()
	v := verifierAt(ks, t0)

	// A correctly signed token of exactly the size cap (or just under it, where base64
	// cannot land on it) is accepted, and the next size up is refused.
	var under, over string
	for n := 0; over == ""; n++ {
		tok := signAs(t, k, goodHeader(k), with(goodClaims(t0), "scope", strings.Repeat("s", n)))
		if len(tok) <= token.MaxLength {
			under = tok
		} else {
			over = tok
		}
	}
	t.Run(fmt.Sprintf("a correctly signed token of %d bytes (cap %d) is accepted", len(under), token.MaxLength), func(t *testing.T) {
		if token.MaxLength-len(under) > 3 {
			t.Fatalf("could not build a token near the cap")
		}
		mustAllow(t, v, under)
	})
	t.Run(fmt.Sprintf("a correctly signed token of %d bytes is refused", len(over)), func(t *testing.T) {
		mustDeny(t, v, over, token.ErrTooLong)
	})

	mb := 1 << 20
	tests := []struct {
		name     string
		tok      string
		maxBytes uint64
		why      error
	}{
		{"a correctly signed token over the cap is refused with bounded memory", over, 1 << 10, token.ErrTooLong},
		{"1 MB of dots is refused with bounded memory", strings.Repeat(".", mb), 1 << 10, token.ErrTooLong},
		{"\"Bearer \" and 1 MB of dots is refused with bounded memory", "Bearer " + strings.Repeat(".", mb), 1 << 10, token.ErrTooLong},
		{"1 MB of base64url characters is refused with bounded memory", strings.Repeat("A", mb), 1 << 10, token.ErrTooLong},
		{"a valid token followed by 1 MB of dots is refused with bounded memory", under + strings.Repeat(".", mb), 1 << 10, token.ErrTooLong},
		{"MaxLength+1 dots are refused with bounded memory", strings.Repeat(".", token.MaxLength+1), 1 << 10, token.ErrTooLong},
		// Just under the cap the work is proportional to the 8 KB input, not more.
		{"8 KB of dots under the cap is refused with bounded memory", strings.Repeat(".", token.MaxLength), 1 << 10, token.ErrMalformed},
		{"three 2.7 KB junk segments under the cap are refused with bounded memory", strings.Repeat("A", 2700) + "." + strings.Repeat("A", 2700) + "." + strings.Repeat("A", 2700), 32 << 10, token.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustDeny(t, v, tt.tok, tt.why)
			perCall, allocs := heapPerCall(func() { _, _ = v.Verify(tt.tok) })
			if perCall > tt.maxBytes || allocs > 40 {
				t.Fatalf("Verify allocated %d bytes in %.0f allocations per call (limit %d bytes, 40 allocations)", perCall, allocs, tt.maxBytes)
			}
		})
	}
}

// Case 19: keys rotate by set membership.
func TestKeyRotation(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			oldPEM, newPEM := testPEM(t, "rotation-old", alg), testPEM(t, "rotation-new", keys.EdDSA)
			before := keySet(t, oldPEM)         // only the old key
			during := keySet(t, newPEM, oldPEM) // new key promoted to the front: it signs, both verify
			after := keySet(t, newPEM)          // old key dropped
			mint := func(ks *keys.Set) string {
				tok, err := token.NewMinter(ks, testIssuer, testAudience).Mint(t0, "user-1", "session-1", 1, "", t0.Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			oldTok, newTok := mint(before), mint(during)

			t.Run("a token under the old key is accepted by the old set", func(t *testing.T) { mustAllow(t, verifierAt(before, t0), oldTok) })
			t.Run("a token under the old key is still accepted while the old key is in the set", func(t *testing.T) { mustAllow(t, verifierAt(during, t0), oldTok) })
			t.Run("a token under the old key is refused once the old key is removed", func(t *testing.T) { mustDeny(t, verifierAt(after, t0), oldTok, token.ErrUnknownKey) })
			t.Run("during the overlap new tokens are signed by the new key", func(t *testing.T) {
				h, _, _ := segments(t, newTok)
				var hdr map[string]any
				_ = json.Unmarshal(decodeSeg(t, h), &hdr)
				if hdr["kid"] != after.Signing().ID {
					t.Fatalf("kid %v, want the new key %s", hdr["kid"], after.Signing().ID)
				}
			})
			t.Run("a token under the new key is accepted during and after the overlap", func(t *testing.T) {
				mustAllow(t, verifierAt(during, t0), newTok)
				mustAllow(t, verifierAt(after, t0), newTok)
			})
			t.Run("a token under the new key is refused by a verifier that has only the old key", func(t *testing.T) {
				mustDeny(t, verifierAt(before, t0), newTok, token.ErrUnknownKey)
			})
		})
	}
}
