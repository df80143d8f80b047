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
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// Catalogue references (../shared/security-catalogue.md section 3) are given as "case N".

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
		allow  bool
	}{
		{"a token with ver 0 verifies", token.NewMinter(ks, testIssuer, testAudience), 0, true},
		{"a token minted for another audience is refused", token.NewMinter(ks, testIssuer, "https://other-api.example.test"), 1, false},
		{"a token minted under another issuer is refused", token.NewMinter(ks, "https://other-auth.example.test", testAudience), 1, false},
		{"a token minted with another environment's key is refused", token.NewMinter(ourSet(t, keys.ES256), testIssuer, testAudience), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tt.minter.Mint(t0, "user-1", "session-1", tt.ver, "", exp)
			if err != nil {
				t.Fatal(err)
			}
			if tt.allow {
				mustAllow(t, verifierAt(ks, t0), tok)
			} else {
				mustDeny(t, verifierAt(ks, t0), tok)
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
			}
			var tests []tc
			mustAllow(t, v, signAs(t, k, goodHeader(k), claims)) // control
			for _, none := range []string{"none", "None", "NONE", "nOnE"} {
				tests = append(tests,
					tc{"alg " + none + " with an empty signature is refused", hdrWithAlg(none) + "." + payload + "."},
					tc{"alg " + none + " with a junk signature is refused", hdrWithAlg(none) + "." + payload + ".c2lnbmF0dXJl"},
				)
			}
			tests = append(tests, tc{"our alg and kid with an empty signature (header.payload.) is refused", hdrWithAlg(alg) + "." + payload + "."})

			hs := func(name, method string, secret []byte) tc {
				return tc{name, signSegments(t, method, secret, hdrWithAlg(method), payload)}
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
				})
			}
			// Our own key under an algorithm it is not pinned to.
			switch alg {
			case keys.RS256:
				tests = append(tests,
					tc{"PS256 signed with our own RSA key is refused (one alg per key)", signSegments(t, "PS256", k.Private, hdrWithAlg("PS256"), payload)},
					tc{"RS512 signed with our own RSA key is refused (one alg per key)", signSegments(t, "RS512", k.Private, hdrWithAlg("RS512"), payload)},
				)
			case keys.EdDSA:
				tests = append(tests, tc{"alg Ed25519 (the fully-specified name) signed with our key is refused", signSegments(t, "EdDSA", k.Private, hdrWithAlg("Ed25519"), payload)})
			}
			tests = append(tests,
				tc{"a lower-case alg signed with our key is refused", signSegments(t, alg, k.Private, hdrWithAlg(strings.ToLower(alg)), payload)},
				tc{"a missing alg with a valid signature is refused", signSegments(t, alg, k.Private, enc(mustJSON(t, with(goodHeader(k), "alg", deleted))), payload)},
				tc{"an alg that is a number is refused", signSegments(t, alg, k.Private, hdrWithAlg(256), payload)},
				tc{"an alg that is a list holding ours is refused", signSegments(t, alg, k.Private, hdrWithAlg([]string{alg}), payload)},
			)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok) })
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
				mustDeny(t, v, signAs(t, ok, goodHeader(k), claims))
				mustDeny(t, v, signAs(t, ok, with(goodHeader(k), "alg", other), claims))
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
			}
			tests := []tc{
				{"a token signed by another key carrying our kid is refused", signAs(t, ak, goodHeader(k), claims)},
				{"a token signed by another key under its own kid is refused (unknown kid)", signAs(t, ak, goodHeader(ak), claims)},
			}
			for _, kid := range []any{
				"", "../../../../dev/null", "/dev/null", "|sleep 10", "x' UNION SELECT '1';--",
				strings.Repeat("k", 4<<10), strings.Repeat("k", 10<<10),
				k.ID + " ", strings.ToLower(k.ID), k.ID + "\x00", k.ID[:len(k.ID)-1],
				nil, 7, []string{k.ID}, map[string]string{"kid": k.ID},
			} {
				desc := fmt.Sprintf("%q", kid)
				if s, ok := kid.(string); ok && len(s) > 64 {
					desc = fmt.Sprintf("of %d bytes", len(s))
				}
				tests = append(tests, tc{fmt.Sprintf("kid %s with our valid signature is refused", desc), signAs(t, k, with(goodHeader(k), "kid", kid), claims)})
			}
			tests = append(tests, tc{"a missing kid with our valid signature is refused", signAs(t, k, with(goodHeader(k), "kid", deleted), claims)})

			// Embedded keys (jwk, x5c) signed by the attacker.
			cert := selfSignedCert(t, ak)
			for _, h := range []struct {
				name string
				hdr  map[string]any
			}{
				{"an attacker key embedded as jwk under the attacker's kid", with(goodHeader(ak), "jwk", attackerJWK)},
				{"an attacker key embedded as jwk under our kid", with(goodHeader(k), "jwk", attackerJWK)},
				{"an attacker key embedded as jwk without a kid", with(goodHeader(ak), "kid", deleted, "jwk", attackerJWK)},
				{"an attacker certificate embedded as x5c under the attacker's kid", with(goodHeader(ak), "x5c", []string{cert})},
				{"an attacker certificate embedded as x5c under our kid", with(goodHeader(k), "x5c", []string{cert})},
			} {
				tests = append(tests, tc{h.name + " is refused", signAs(t, ak, h.hdr, claims)})
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok) })
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
			}{
				{"a jku at the attacker's JWKS under the attacker's kid is refused without a fetch", with(goodHeader(ak), "jku", srv.URL+"/jwks.json")},
				{"a jku at the attacker's JWKS under our kid is refused without a fetch", with(goodHeader(k), "jku", srv.URL+"/jwks.json")},
				{"an x5u at the attacker's server under the attacker's kid is refused without a fetch", with(goodHeader(ak), "x5u", srv.URL+"/cert.pem")},
				{"an x5u at the attacker's server under our kid is refused without a fetch", with(goodHeader(k), "x5u", srv.URL+"/cert.pem")},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := hits.Load()
					mustDeny(t, v, signAs(t, ak, tt.hdr, claims))
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
				name  string
				hdr   string // raw header JSON
				allow bool
			}{
				{"typ at+jwt is accepted", string(mustJSON(t, h)), true},
				{"typ application/at+jwt is accepted (RFC 9068 §2.1)", string(mustJSON(t, with(h, "typ", "application/at+jwt"))), true},
				{"typ AT+JWT is accepted (media types are case-insensitive)", string(mustJSON(t, with(h, "typ", "AT+JWT"))), true},
				{"an unknown header member is ignored", string(mustJSON(t, with(h, "x-note", "hello"))), true},
				{"a missing typ is refused", string(mustJSON(t, with(h, "typ", deleted))), false},
				{"typ JWT is refused", string(mustJSON(t, with(h, "typ", "JWT"))), false},
				{"typ jwt is refused", string(mustJSON(t, with(h, "typ", "jwt"))), false},
				{"an empty typ is refused", string(mustJSON(t, with(h, "typ", ""))), false},
				{"typ dpop+jwt is refused", string(mustJSON(t, with(h, "typ", "dpop+jwt"))), false},
				{"typ at+jwt with a trailing space is refused", string(mustJSON(t, with(h, "typ", "at+jwt "))), false},
				{"typ application/jwt is refused", string(mustJSON(t, with(h, "typ", "application/jwt"))), false},
				{"a typ that is a number is refused", string(mustJSON(t, with(h, "typ", 1))), false},
				{"crit [\"x-unknown\"] is refused", string(mustJSON(t, with(h, "crit", []string{"x-unknown"}, "x-unknown", true))), false},
				{"crit naming a registered header is refused", string(mustJSON(t, with(h, "crit", []string{"kid"}))), false},
				{"an empty crit list is refused", string(mustJSON(t, with(h, "crit", []string{}))), false},
				{"crit \"b64\" is refused", string(mustJSON(t, with(h, "crit", []string{"b64"}, "b64", false))), false},
				{"a header with alg twice is refused", fmt.Sprintf(`{"alg":"none","alg":%q,"kid":%q,"typ":"at+jwt"}`, alg, k.ID), false},
				{"a header with kid twice is refused", fmt.Sprintf(`{"alg":%q,"kid":"other","kid":%q,"typ":"at+jwt"}`, alg, k.ID), false},
				{"a header with kid and KID is refused", fmt.Sprintf(`{"alg":%q,"KID":"other","kid":%q,"typ":"at+jwt"}`, alg, k.ID), false},
				{"a header with typ twice is refused", fmt.Sprintf(`{"alg":%q,"kid":%q,"typ":"JWT","typ":"at+jwt"}`, alg, k.ID), false},
				{"a header with Alg and alg is refused", fmt.Sprintf(`{"Alg":"none","alg":%q,"kid":%q,"typ":"at+jwt"}`, alg, k.ID), false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tok := signRaw(t, alg, k.Private, tt.hdr, payload)
					if tt.allow {
						mustAllow(t, v, tok)
					} else {
						mustDeny(t, v, tok)
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
		allow  bool
	}{
		{"exp a second from now is accepted", with(c, "exp", at(time.Second)), true},
		{"exp in the past but inside the leeway is accepted", with(c, "exp", at(-lee+time.Second)), true},
		{"exp exactly the leeway ago is refused", with(c, "exp", at(-lee)), false},
		{"exp the leeway plus a second ago is refused", with(c, "exp", at(-lee-time.Second)), false},
		{"a missing exp is refused", with(c, "exp", deleted), false},
		{"exp 0 is refused", with(c, "exp", 0), false},
		{"exp null is refused", with(c, "exp", nil), false},
		{"exp as the string \"9999999999\" is refused", with(c, "exp", "9999999999"), false},
		{"exp as a string of a time inside the window is refused", with(c, "exp", fmt.Sprint(at(time.Minute))), false},
		{"exp as a boolean is refused", with(c, "exp", true), false},
		{"exp as a list is refused", with(c, "exp", []int64{at(time.Minute)}), false},
		{"exp as an object is refused", with(c, "exp", map[string]int64{"t": at(time.Minute)}), false},
		{"a fractional exp in the future is accepted (NumericDate allows fractions)", with(c, "exp", float64(at(time.Minute))+0.5), true},
		{"nbf now is accepted", with(c, "nbf", at(0)), true},
		{"nbf inside the leeway in the future is accepted", with(c, "nbf", at(lee-time.Second)), true},
		{"nbf exactly the leeway in the future is accepted", with(c, "nbf", at(lee)), true},
		{"nbf the leeway plus a second in the future is refused", with(c, "nbf", at(lee+time.Second)), false},
		{"nbf an hour in the future is refused", with(c, "nbf", at(time.Hour)), false},
		{"nbf as a string is refused", with(c, "nbf", fmt.Sprint(at(0))), false},
		{"iat inside the leeway in the future is accepted", with(c, "iat", at(lee-time.Second)), true},
		{"iat exactly the leeway in the future is accepted", with(c, "iat", at(lee)), true},
		{"iat the leeway plus a second in the future is refused", with(c, "iat", at(lee+time.Second)), false},
		{"iat an hour in the future is refused", with(c, "iat", at(time.Hour)), false},
		{"iat as a string is refused", with(c, "iat", fmt.Sprint(at(0))), false},
		{"a missing iat is accepted (exp is the required bound; minted tokens always carry iat)", with(c, "iat", deleted), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAs(t, k, goodHeader(k), tt.claims)
			if tt.allow {
				mustAllow(t, v, tok)
			} else {
				mustDeny(t, v, tok)
			}
		})
	}

	t.Run("the same token is accepted before exp plus leeway and refused after it", func(t *testing.T) {
		tok := signAs(t, k, goodHeader(k), with(c, "exp", at(time.Minute)))
		mustAllow(t, verifierAt(ks, t0.Add(time.Minute+lee-time.Second)), tok)
		mustDeny(t, verifierAt(ks, t0.Add(time.Minute+lee)), tok)
		mustDeny(t, verifierAt(ks, t0.Add(24*time.Hour)), tok)
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
		allow  bool
	}{
		{"our iss and aud [ours] are accepted", c, true},
		{"aud as the single string ours is accepted", with(c, "aud", testAudience), true},
		{"aud [\"other\",\"ours\"] is accepted", with(c, "aud", []string{"https://other-api.example.test", testAudience}), true},
		{"a wrong iss is refused", with(c, "iss", "https://evil.example.test"), false},
		{"an iss differing only in a trailing slash is refused", with(c, "iss", testIssuer+"/"), false},
		{"an iss differing only in case is refused", with(c, "iss", strings.ToUpper(testIssuer)), false},
		{"a missing iss is refused", with(c, "iss", deleted), false},
		{"an empty iss is refused", with(c, "iss", ""), false},
		{"an iss that is a number is refused", with(c, "iss", 1), false},
		{"a missing aud is refused", with(c, "aud", deleted), false},
		{"aud [] is refused", with(c, "aud", []string{}), false},
		{"aud [\"\"] is refused", with(c, "aud", []string{""}), false},
		{"aud \"\" is refused", with(c, "aud", ""), false},
		{"aud null is refused", with(c, "aud", nil), false},
		{"aud of another API is refused", with(c, "aud", []string{"https://other-api.example.test"}), false},
		{"aud differing only in case is refused", with(c, "aud", []string{strings.ToUpper(testAudience)}), false},
		{"aud that is a number is refused", with(c, "aud", 5), false},
		{"aud holding ours and a number is refused", with(c, "aud", []any{testAudience, 5}), false},
		{"aud as an object is refused", with(c, "aud", map[string]string{"aud": testAudience}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAs(t, k, goodHeader(k), tt.claims)
			if tt.allow {
				mustAllow(t, v, tok)
			} else {
				mustDeny(t, v, tok)
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
		allow  bool
	}{
		{"all claims present is accepted", c, true},
		{"a missing scope is accepted (scope is optional)", with(c, "scope", deleted), true},
		{"ver 0 is accepted", with(c, "ver", 0), true},
		{"a large ver is accepted", with(c, "ver", int64(1)<<53), true},
		{"a missing sub is refused", with(c, "sub", deleted), false},
		{"an empty sub is refused", with(c, "sub", ""), false},
		{"sub null is refused", with(c, "sub", nil), false},
		{"sub 5 (a number) is refused", with(c, "sub", 5), false},
		{"sub as a list is refused", with(c, "sub", []string{"user-1"}), false},
		{"a missing sid is refused", with(c, "sid", deleted), false},
		{"an empty sid is refused", with(c, "sid", ""), false},
		{"sid null is refused", with(c, "sid", nil), false},
		{"sid 5 (a number) is refused", with(c, "sid", 5), false},
		{"a missing ver is refused", with(c, "ver", deleted), false},
		{"ver null is refused", with(c, "ver", nil), false},
		{"ver \"1\" (a string) is refused", with(c, "ver", "1"), false},
		{"ver -1 is refused", with(c, "ver", -1), false},
		{"ver 1.5 is refused", with(c, "ver", 1.5), false},
		{"ver true is refused", with(c, "ver", true), false},
		{"ver beyond int64 is refused", with(c, "ver", json.Number("9223372036854775808")), false},
		{"a missing jti is refused", with(c, "jti", deleted), false},
		{"an empty jti is refused", with(c, "jti", ""), false},
		{"jti 5 (a number) is refused", with(c, "jti", 5), false},
		{"scope 5 (a number) is refused", with(c, "scope", 5), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := signAs(t, k, goodHeader(k), tt.claims)
			if tt.allow {
				mustAllow(t, v, tok)
			} else {
				mustDeny(t, v, tok)
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
	tests := []struct {
		name    string
		payload string
	}{
		{"exp (past) with EXP (future) is refused", base("exp") + fmt.Sprintf(`,"exp":%d,"EXP":%d}`, past, future)},
		{"EXP (past) with exp (future) is refused", base("exp") + fmt.Sprintf(`,"EXP":%d,"exp":%d}`, past, future)},
		{"exp twice, the future one last, is refused", base("exp") + fmt.Sprintf(`,"exp":%d,"exp":%d}`, past, future)},
		{"two sub is refused", base("sub") + `,"sub":"user-1","sub":"admin"}`},
		{"sub with Sub is refused", base("sub") + `,"sub":"user-1","Sub":"admin"}`},
		{"two sid is refused", base("sid") + `,"sid":"session-1","sid":"session-2"}`},
		{"ver with VER is refused", base("ver") + `,"ver":3,"VER":4}`},
		{"two aud is refused", base("aud") + fmt.Sprintf(`,"aud":"other","aud":%q}`, testAudience)},
		{"two iss is refused", base("iss") + fmt.Sprintf(`,"iss":"evil","iss":%q}`, testIssuer)},
		{"nbf with NBF is refused", base() + fmt.Sprintf(`,"nbf":%d,"NBF":%d}`, future, past)},
		{"two scope is refused", base("scope") + `,"scope":"me","scope":"admin"}`},
	}
	mustAllow(t, v, signRaw(t, k.Alg, k.Private, string(mustJSON(t, goodHeader(k))), base()+"}")) // control
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustDeny(t, v, signRaw(t, k.Alg, k.Private, string(mustJSON(t, goodHeader(k))), tt.payload))
		})
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

			tests := []struct{ name, tok string }{
				{"a signature with a flipped unused bit is refused", h + "." + p + "." + flipUnusedBit(t, s)},
				{"a signature with = padding is refused", h + "." + p + "." + pad(s)},
				{"a payload with a flipped unused bit, signed as sent, is refused", signSegments(t, alg, k.Private, h, flipUnusedBit(t, p))},
				{"a payload with = padding, signed as sent, is refused", signSegments(t, alg, k.Private, h, pad(p))},
				{"a header with a flipped unused bit, signed as sent, is refused", signSegments(t, alg, k.Private, flipUnusedBit(t, h), p)},
				{"a header with = padding, signed as sent, is refused", signSegments(t, alg, k.Private, pad(h), p)},
				{"a payload in the standard base64 alphabet, signed as sent, is refused", signSegments(t, alg, k.Private, h, stdPayload(t, claims))},
				{"a payload with a line break inside, signed as sent, is refused", signSegments(t, alg, k.Private, h, p[:8]+"\n"+p[8:])},
				{"a signature with a space inside is refused", h + "." + p + "." + s[:10] + " " + s[10:]},
			}
			if stdSig != "" {
				tests = append(tests, struct{ name, tok string }{"a signature in the standard base64 alphabet is refused", stdSig})
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok) })
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
				t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok) })
			}
		})
	}
}

// Case 18 (CVE-2024-51744): a bad signature is reported as such even when the token has
// also expired, so no caller can take an "expired, try refresh" branch on a forgery.
func TestVerifyReportsBadSignatureBeforeExpiry(t *testing.T) {
	sigErr := jwt.ErrTokenSignatureInvalid.Error()
	expErr := jwt.ErrTokenExpired.Error()
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
			if err := mustDeny(t, v, tok); !strings.Contains(err.Error(), expErr) {
				t.Fatalf("error %q does not say %q", err, expErr)
			}
		})
		for _, tt := range []struct{ name, tok string }{
			{"an expired token with a corrupted signature is refused for its signature, not its expiry", h + "." + p + "." + enc(sig)},
			{"an expired token with a swapped payload is refused for its signature, not its expiry", h + "." + p2 + "." + s},
			{"an expired token signed by another key is refused for its signature, not its expiry", signAs(t, attackerKey(t, alg), goodHeader(k), expired)},
		} {
			t.Run(alg+": "+tt.name, func(t *testing.T) {
				err := mustDeny(t, v, tt.tok)
				if !strings.Contains(err.Error(), sigErr) || strings.Contains(err.Error(), expErr) {
					t.Fatalf("error %q: want %q and not %q", err, sigErr, expErr)
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
	deepObj := strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000)

	tests := []struct{ name, tok string }{
		{"an empty string is refused", ""},
		{"a single dot is refused", "."},
		{"two dots are refused", ".."},
		{"three dots are refused", "..."},
		{"a word is refused", "garbage"},
		{"binary junk with NUL bytes is refused", "\x00\x01\xff.\x00.\x00"},
		{"a header alone is refused", h},
		{"header.payload (two segments) is refused", h + "." + p},
		{"header.payload. (empty signature) is refused", h + "." + p + "."},
		{"an empty header segment is refused", "." + p + "." + s},
		{"an empty payload segment is refused", h + ".." + s},
		{"four segments are refused", good + "." + s},
		{"four segments with an empty last one are refused", good + "."},
		{"five segments are refused", good + "." + p + "." + s},
		{"a leading dot is refused", "." + good},
		{"a doubled dot is refused", h + ".." + p + "." + s},
		{"a token cut by one character is refused", good[:len(good)-1]},
		{"a token cut in half is refused", good[:len(good)/2]},
		{"a token cut just after its second dot is refused", h + "." + p + "."},
		{"a token with a leading space is refused", " " + good},
		{"a token with a trailing newline is refused", good + "\n"},
		{"a token still carrying \"Bearer \" is refused", "Bearer " + good},
		{"a non-base64url character in the header is refused", "*" + good[1:]},
		{"a non-base64url character in the payload is refused", h + "." + p[:5] + "!" + p[6:] + "." + s},
		{"a non-base64url character in the signature is refused", h + "." + p + "." + s[:5] + "$" + s[6:]},
		{"a JSON-serialized JWS (general) is refused", string(jsonSer)},
		{"a JSON-serialized JWS (flattened) is refused", string(flatSer)},
		{"a header that is a JSON array is refused", ours(`["alg","EdDSA"]`, payJSON)},
		{"a header that is a JSON string is refused", ours(`"EdDSA"`, payJSON)},
		{"a header that is a JSON number is refused", ours(`1`, payJSON)},
		{"a header that is null is refused", ours(`null`, payJSON)},
		{"a header that is true is refused", ours(`true`, payJSON)},
		{"a header that is not JSON is refused", ours(`alg=EdDSA`, payJSON)},
		{"a header with data after the object is refused", ours(hdrJSON+`{}`, payJSON)},
		{"a header with a byte-order mark is refused", ours("\ufeff"+hdrJSON, payJSON)},
		{"a header with an unterminated object is refused", ours(hdrJSON[:len(hdrJSON)-1], payJSON)},
		{"a header that is an array nested 2000 deep is refused", ours(nested(2000, "[", "]"), payJSON)},
		{"a header holding an object nested 2000 deep is refused", ours(hdrJSON[:len(hdrJSON)-1]+`,"x":`+deepObj+`}`, payJSON)},
		{"a header that is an array nested 10000 deep is refused", ours(nested(10000, "[", "]"), payJSON)},
		{"a header with invalid UTF-8 in kid is refused", ours(fmt.Sprintf(`{"alg":"EdDSA","kid":"%s\xff","typ":"at+jwt"}`, k.ID), payJSON)},
		{"a payload that is a JSON array is refused", ours(hdrJSON, `[`+payJSON+`]`)},
		{"a payload that is a JSON string is refused", ours(hdrJSON, `"user-1"`)},
		{"a payload that is a JSON number is refused", ours(hdrJSON, `1`)},
		{"a payload that is null is refused", ours(hdrJSON, `null`)},
		{"a payload that is empty is refused", ours(hdrJSON, ``)},
		{"a payload that is not JSON is refused", ours(hdrJSON, `sub=user-1`)},
		{"a payload with data after the object is refused", ours(hdrJSON, payJSON+`x`)},
		{"a payload with a second object after it is refused", ours(hdrJSON, payJSON+`{"sub":"admin"}`)},
		{"a payload that is an array nested 2000 deep is refused", ours(hdrJSON, nested(2000, "[", "]"))},
		{"a payload that is an array nested 10000 deep is refused", ours(hdrJSON, nested(10000, "[", "]"))},
		{"a payload with invalid UTF-8 in sub is refused", ours(hdrJSON, strings.Replace(payJSON, `"user-1"`, "\"user-1\xff\"", 1))},
		{"a payload with a lone UTF-16 surrogate byte sequence is refused", ours(hdrJSON, strings.Replace(payJSON, `"user-1"`, "\"user-\xed\xa0\x80\"", 1))},
		{"a payload holding an object nested 2000 deep, signed by another key, is refused", signRaw(t, k.Alg, attackerKey(t, keys.EdDSA).Private, hdrJSON, payJSON[:len(payJSON)-1]+`,"x":`+deepObj+`}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustDeny(t, v, tt.tok) })
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
		mustDeny(t, v, over)
	})

	mb := 1 << 20
	tests := []struct {
		name     string
		tok      string
		maxBytes uint64
	}{
		{"a correctly signed token over the cap is refused with bounded memory", over, 1 << 10},
		{"1 MB of dots is refused with bounded memory", strings.Repeat(".", mb), 1 << 10},
		{"\"Bearer \" and 1 MB of dots is refused with bounded memory", "Bearer " + strings.Repeat(".", mb), 1 << 10},
		{"1 MB of base64url characters is refused with bounded memory", strings.Repeat("A", mb), 1 << 10},
		{"a valid token followed by 1 MB of dots is refused with bounded memory", under + strings.Repeat(".", mb), 1 << 10},
		{"MaxLength+1 dots are refused with bounded memory", strings.Repeat(".", token.MaxLength+1), 1 << 10},
		// Just under the cap the work is proportional to the 8 KB input, not more.
		{"8 KB of dots under the cap is refused with bounded memory", strings.Repeat(".", token.MaxLength), 1 << 10},
		{"three 2.7 KB junk segments under the cap are refused with bounded memory", strings.Repeat("A", 2700) + "." + strings.Repeat("A", 2700) + "." + strings.Repeat("A", 2700), 32 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustDeny(t, v, tt.tok)
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
			during := keySet(t, newPEM, oldPEM) // new key prepended: it signs, both verify
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
			t.Run("a token under the old key is refused once the old key is removed", func(t *testing.T) { mustDeny(t, verifierAt(after, t0), oldTok) })
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
				mustDeny(t, verifierAt(before, t0), newTok)
			})
		})
	}
}
