package token_test

// CPU benchmarks of minting and verifying access tokens (`make bench`, see
// BENCHMARKS.md). BenchmarkVerify is also the pure-stateless baseline: what a JWT
// check costs when nothing is looked up.

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

const (
	benchIssuer   = "https://sessions.example.com"
	benchAudience = "my-app"
	benchUID      = "u-2b7e151628aed2a6abf7158809cf4f3c"
	benchSID      = "ZpXbQAAAAAAAAAAAAAAAAA"
)

var benchNow = time.Unix(1_790_000_000, 0)

var benchAlgs = []string{keys.EdDSA, keys.ES256, keys.RS256}

func benchKeySet(b *testing.B, alg string) *keys.Set {
	b.Helper()
	pem, err := keys.Generate(alg)
	if err != nil {
		b.Fatal(err)
	}
	ks, err := keys.Parse(pem)
	if err != nil {
		b.Fatal(err)
	}
	return ks
}

// BenchmarkMint signs one access token, as login and refresh do.
func BenchmarkMint(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			m := token.NewMinter(benchKeySet(b, alg), benchIssuer, benchAudience)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Mint(benchNow, benchUID, benchSID, 3, "openid profile", benchNow.Add(15*time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is token.Verifier.Verify: the strict pre-checks plus golang-jwt.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			ks := benchKeySet(b, alg)
			tok, err := token.NewMinter(ks, benchIssuer, benchAudience).Mint(benchNow.Add(-time.Minute), benchUID, benchSID, 3, "openid profile", benchNow.Add(14*time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			v := token.NewVerifier(ks, benchIssuer, benchAudience, func() time.Time { return benchNow })
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyGolangJWT is golang-jwt's parser alone with the same options and
// claims, for EdDSA, ES256 and RS256 and for HS256, which this service refuses (a
// shared secret cannot be published in a JWKS). It shows what the verifier's own
// strict checks add and what a symmetric algorithm would save.
func BenchmarkVerifyGolangJWT(b *testing.B) {
	ver := int64(3)
	claims := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: benchIssuer, Subject: benchUID, Audience: jwt.ClaimStrings{benchAudience},
			ExpiresAt: jwt.NewNumericDate(benchNow.Add(14 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(benchNow.Add(-time.Minute)), ID: "jti-0123456789abcdef",
		},
		SID: benchSID, Ver: &ver, Scope: "openid profile",
	}
	type variant struct {
		name         string
		method       jwt.SigningMethod
		sign, verify any
	}
	secret := make([]byte, 32)
	variants := []variant{{name: "HS256", method: jwt.SigningMethodHS256, sign: secret, verify: secret}}
	for _, alg := range benchAlgs {
		k := benchKeySet(b, alg).Signing()
		variants = append(variants, variant{name: alg, method: jwt.GetSigningMethod(k.Alg), sign: k.Private, verify: k.Public})
	}
	for _, vr := range variants {
		b.Run(vr.name, func(b *testing.B) {
			t := jwt.NewWithClaims(vr.method, claims)
			t.Header["typ"] = token.Type
			tok, err := t.SignedString(vr.sign)
			if err != nil {
				b.Fatal(err)
			}
			p := jwt.NewParser(jwt.WithValidMethods([]string{vr.method.Alg()}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
				jwt.WithIssuer(benchIssuer), jwt.WithAudience(benchAudience), jwt.WithStrictDecoding(),
				jwt.WithLeeway(token.Leeway), jwt.WithTimeFunc(func() time.Time { return benchNow }))
			keyFunc := func(*jwt.Token) (any, error) { return vr.verify, nil }
			b.ReportAllocs()
			for b.Loop() {
				var c token.Claims
				if _, err := p.ParseWithClaims(tok, &c, keyFunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
