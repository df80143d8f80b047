package verify_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
	"github.com/example/sessions/verify"
)

func TestATokenFromTheServicesMinterVerifiesWithItsClaims(t *testing.T) {
	t.Parallel()
	for _, alg := range keys.Supported {
		t.Run("a token signed with "+alg+" verifies", func(t *testing.T) {
			t.Parallel()
			s := newService(t, alg)
			v := s.verifier(t)
			at := s.mint(t)
			c := mustVerify(t, v, at)
			now := s.clock.Now()
			want := verify.Claims{Subject: "user-1", Session: "session-1", Scope: "read write", Version: 3,
				ID: c.ID, IssuedAt: now, ExpiresAt: now.Add(accessTTL)}
			if c.ID == "" || !c.IssuedAt.Equal(want.IssuedAt) || !c.ExpiresAt.Equal(want.ExpiresAt) ||
				c.Subject != want.Subject || c.Session != want.Session || c.Scope != want.Scope || c.Version != want.Version {
				t.Errorf("claims %+v, want %+v", *c, want)
			}
			if !c.AuthTime.IsZero() || c.AMR != nil {
				t.Errorf("a token without auth_time and amr gave AuthTime %v, AMR %v", c.AuthTime, c.AMR)
			}
			if !c.HasScope("read") || !c.HasScope("write") || c.HasScope("rea") || c.HasScope("read write") {
				t.Errorf("HasScope does not match the scope's values one by one")
			}
			if _, err := v.VerifyAuthorization(context.Background(), "Bearer "+at); err != nil {
				t.Errorf("the same token in an Authorization header is refused: %v", err)
			}
			if n := s.fetches.Load(); n != 1 {
				t.Errorf("%d fetches of the key set for two verifications, want 1", n)
			}
		})
	}
}

// auth_time and amr are optional; their types are checked by the same strict
// verifier the authorizer uses, so a token is refused for the same reason there.
func TestAuthTimeAndAMRAreReadWhenPresent(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	k := s.signing()
	login := s.clock.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name     string
		claims   map[string]any
		authTime time.Time
		amr      []string
		why      error
	}{
		{"auth_time and amr are read", with(s.claims(), "auth_time", login.Unix(), "amr", []string{"pwd"}), login, []string{"pwd"}, nil},
		{"auth_time alone is read", with(s.claims(), "auth_time", login.Unix()), login, nil, nil},
		{"amr alone is read", with(s.claims(), "amr", []string{"pwd", "otp"}), time.Time{}, []string{"pwd", "otp"}, nil},
		{"an empty amr list is read as empty", with(s.claims(), "amr", []string{}), time.Time{}, []string{}, nil},
		{"a fractional auth_time is read to the second", with(s.claims(), "auth_time", float64(login.Unix())+0.25), login, nil, nil},
		{"auth_time as a string is refused", with(s.claims(), "auth_time", "1800000000"), time.Time{}, nil, token.ErrNumericDate},
		{"auth_time null is refused", with(s.claims(), "auth_time", nil), time.Time{}, nil, token.ErrNumericDate},
		{"auth_time as a list is refused", with(s.claims(), "auth_time", []int64{login.Unix()}), time.Time{}, nil, token.ErrNumericDate},
		{"amr as a string is refused", with(s.claims(), "amr", "pwd"), time.Time{}, nil, jwt.ErrTokenMalformed},
		{"amr holding a number is refused", with(s.claims(), "amr", []any{"pwd", 1}), time.Time{}, nil, jwt.ErrTokenMalformed},
		{"amr holding null is refused", with(s.claims(), "amr", []any{nil}), time.Time{}, nil, verify.ErrOptionalClaim},
		{"amr null is read as absent", with(s.claims(), "amr", nil), time.Time{}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := sign(t, k, header(k), tc.claims)
			if tc.why != nil {
				mustRefuse(t, v, tok, tc.why)
				return
			}
			c := mustVerify(t, v, tok)
			if !c.AuthTime.Equal(tc.authTime) {
				t.Errorf("AuthTime %v, want %v", c.AuthTime, tc.authTime)
			}
			if (c.AMR == nil) != (tc.amr == nil) || strings.Join(c.AMR, " ") != strings.Join(tc.amr, " ") {
				t.Errorf("AMR %#v, want %#v", c.AMR, tc.amr)
			}
		})
	}
}

// The authorizer's refusals (internal/authz's and internal/token's tests), each pinned
// to its reason.
func TestTheVerifierRefusesWhatTheAuthorizerRefuses(t *testing.T) {
	t.Parallel()
	type tc struct {
		name string
		tok  func(t *testing.T, s *service) string
		why  error
	}
	mintBy := func(t *testing.T, m *token.Minter, iat, exp time.Time) string {
		t.Helper()
		at, err := m.Mint(iat, "user-1", "session-1", 3, "read write", exp)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	cases := []tc{
		{"a garbage token", func(*testing.T, *service) string { return "not.a.jwt" }, token.ErrMalformed},
		{"an empty token", func(*testing.T, *service) string { return "" }, token.ErrMalformed},
		{"a refresh token (<sid>.<secret>) used as an access token", func(*testing.T, *service) string {
			return "c2Vzc2lvbi0x.c2VjcmV0LXNlY3JldC1zZWNyZXQ"
		}, token.ErrMalformed},
		{"a token longer than 8 KiB", func(*testing.T, *service) string { return strings.Repeat("a", token.MaxLength+1) }, token.ErrTooLong},
		{"a token whose claims were edited", func(t *testing.T, s *service) string {
			p := strings.Split(s.mint(t), ".")
			return p[0] + "." + enc(mustJSON(t, with(s.claims(), "ver", 4))) + "." + p[2]
		}, jwt.ErrTokenSignatureInvalid},
		{"a token whose signature was cut", func(t *testing.T, s *service) string {
			at := s.mint(t)
			return at[:strings.LastIndexByte(at, '.')+1]
		}, token.ErrMalformed},
		{"a token signed by another key under the service's kid", func(t *testing.T, s *service) string {
			o := otherKey(t, s.signing().Alg)
			return sign(t, o, header(s.signing()), s.claims())
		}, jwt.ErrTokenSignatureInvalid},
		{"a token of another deployment (its own key and kid)", func(t *testing.T, s *service) string {
			o := otherKey(t, s.signing().Alg)
			return sign(t, o, header(o), s.claims())
		}, token.ErrUnknownKey},
		{"a token without a kid", func(t *testing.T, s *service) string {
			k := s.signing()
			return sign(t, k, with(header(k), "kid", deleted), s.claims())
		}, token.ErrUnknownKey},
		{"alg none with an empty signature", func(t *testing.T, s *service) string {
			h := with(header(s.signing()), "alg", "none")
			return enc(mustJSON(t, h)) + "." + enc(mustJSON(t, s.claims())) + "."
		}, token.ErrMalformed},
		{"alg none with a junk signature", func(t *testing.T, s *service) string {
			h := with(header(s.signing()), "alg", "none")
			return enc(mustJSON(t, h)) + "." + enc(mustJSON(t, s.claims())) + ".c2lnbmF0dXJl"
		}, token.ErrAlgorithm},
		{"HS256 keyed with the published public key (algorithm confusion)", func(t *testing.T, s *service) string {
			k := s.signing()
			der, err := x509.MarshalPKIXPublicKey(k.Public)
			if err != nil {
				t.Fatal(err)
			}
			secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
			return signRaw(t, "HS256", secret, string(mustJSON(t, with(header(k), "alg", "HS256"))), string(mustJSON(t, s.claims())))
		}, token.ErrAlgorithm},
		{"the service's key under another algorithm's name", func(t *testing.T, s *service) string {
			k := s.signing()
			other := map[string]string{keys.EdDSA: keys.ES256, keys.ES256: keys.EdDSA, keys.RS256: "PS256"}[k.Alg]
			return signRaw(t, k.Alg, k.Private, string(mustJSON(t, with(header(k), "alg", other))), string(mustJSON(t, s.claims())))
		}, token.ErrAlgorithm},
		{"typ JWT", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), with(header(s.signing()), "typ", "JWT"), s.claims())
		}, token.ErrType},
		{"a token without typ", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), with(header(s.signing()), "typ", deleted), s.claims())
		}, token.ErrType},
		{"a crit header", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), with(header(s.signing()), "crit", []string{"exp"}), s.claims())
		}, token.ErrCrit},
		{"a header with kid twice", func(t *testing.T, s *service) string {
			k := s.signing()
			return signRaw(t, k.Alg, k.Private, `{"alg":"`+k.Alg+`","kid":"x","kid":"`+k.ID+`","typ":"at+jwt"}`, string(mustJSON(t, s.claims())))
		}, token.ErrDuplicateMember},
		{"a header that is not UTF-8", func(t *testing.T, s *service) string {
			k := s.signing()
			return signRaw(t, k.Alg, k.Private, `{"alg":"`+k.Alg+`","kid":"`+k.ID+`","typ":"at+jwt","x":"`+"\xff"+`"}`, string(mustJSON(t, s.claims())))
		}, token.ErrNotUTF8},
		{"a claim Exp in another case", func(t *testing.T, s *service) string {
			c := s.claims()
			return sign(t, s.signing(), header(s.signing()), with(c, "exp", deleted, "Exp", c["exp"]))
		}, token.ErrCaseVariantMember},
		{"exp as a string", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "exp", "9999999999"))
		}, token.ErrNumericDate},
		{"a token without exp", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "exp", deleted))
		}, jwt.ErrTokenRequiredClaimMissing},
		{"a token that expired the leeway ago", func(t *testing.T, s *service) string {
			now := s.clock.Now()
			return mintBy(t, s.minter, now.Add(-accessTTL-token.Leeway), now.Add(-token.Leeway))
		}, jwt.ErrTokenExpired},
		{"a token not valid for another hour (nbf)", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "nbf", s.clock.Now().Add(time.Hour).Unix()))
		}, jwt.ErrTokenNotValidYet},
		{"a token issued an hour from now (iat)", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "iat", s.clock.Now().Add(time.Hour).Unix()))
		}, jwt.ErrTokenUsedBeforeIssued},
		{"a token minted under another issuer", func(t *testing.T, s *service) string {
			now := s.clock.Now()
			return mintBy(t, token.NewMinter(s.set, "https://other.example.test", audience), now, now.Add(accessTTL))
		}, jwt.ErrTokenInvalidIssuer},
		{"a token without iss", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "iss", deleted))
		}, jwt.ErrTokenRequiredClaimMissing},
		{"a token minted for another audience", func(t *testing.T, s *service) string {
			now := s.clock.Now()
			return mintBy(t, token.NewMinter(s.set, issuer, "other-app"), now, now.Add(accessTTL))
		}, jwt.ErrTokenInvalidAudience},
		{"a token without sid", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "sid", deleted))
		}, token.ErrRequiredClaim},
		{"a token without ver", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "ver", deleted))
		}, token.ErrRequiredClaim},
		{"a token with an empty sub", func(t *testing.T, s *service) string {
			return sign(t, s.signing(), header(s.signing()), with(s.claims(), "sub", ""))
		}, token.ErrRequiredClaim},
	}
	for _, alg := range keys.Supported {
		t.Run("with "+alg+" keys", func(t *testing.T) {
			t.Parallel()
			s := newService(t, alg)
			v := s.verifier(t)
			mustVerify(t, v, s.mint(t)) // the set is fetched; the refusals below are the token's
			for _, c := range cases {
				t.Run(c.name+" is refused", func(t *testing.T) {
					mustRefuse(t, v, c.tok(t, s), c.why)
				})
			}
		})
	}
}

func TestTheLeewayOnExpIsTheAuthorizers(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	at := s.mint(t)
	s.clock.Advance(accessTTL + token.Leeway - time.Second)
	t.Run("a token expired less than the leeway ago verifies", func(t *testing.T) { mustVerify(t, v, at) })
	s.clock.Advance(time.Second)
	t.Run("a token expired the leeway ago is refused as expired", func(t *testing.T) {
		if err := mustRefuse(t, v, at, jwt.ErrTokenExpired); !errors.Is(err, verify.ErrExpired) {
			t.Errorf("%q is not verify.ErrExpired", err)
		}
	})
}

func TestVerifyAuthorizationReadsTheHeaderAsTheAuthorizerDoes(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	at := s.mint(t)
	for _, tc := range []struct {
		name, header string
		why          error
	}{
		{"Bearer and the token verifies", "Bearer " + at, nil},
		{"bearer in lower case verifies", "bearer " + at, nil},
		{"spaces around the token verify", "Bearer   " + at + " ", nil},
		{"an empty header is refused as no token", "", verify.ErrNoToken},
		{"Bearer without a token is refused as no token", "Bearer ", verify.ErrNoToken},
		{"the bare token without a scheme is refused as no token", at, verify.ErrNoToken},
		{"Basic credentials are refused as no token", "Basic YWxpY2U6cGFzc3dvcmQ=", verify.ErrNoToken},
		{"two tokens in one header are refused as malformed", "Bearer " + at + ", Bearer " + at, token.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.VerifyAuthorization(context.Background(), tc.header)
			if tc.why == nil {
				if err != nil || c.Subject != "user-1" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if got := reasonsOf(err); c != nil || len(got) != 1 || got[0] != tc.why {
				t.Fatalf("got %v, %v (reasons %q); want only %q", c, err, got, tc.why)
			}
			noEcho(t, err.Error(), at)
		})
	}
}

func TestNewRefusesAConfigurationThatCannotBeSafe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  verify.Config
		ok   bool
	}{
		{"an https URL is accepted", verify.Config{JWKSURL: "https://sessions.example.com/.well-known/jwks.json", Issuer: issuer, Audience: audience}, true},
		{"http on 127.0.0.1 is accepted", verify.Config{JWKSURL: "http://127.0.0.1:8080/.well-known/jwks.json", Issuer: issuer, Audience: audience}, true},
		{"http on localhost is accepted", verify.Config{JWKSURL: "http://localhost:8080/.well-known/jwks.json", Issuer: issuer, Audience: audience}, true},
		{"http on [::1] is accepted", verify.Config{JWKSURL: "http://[::1]:8080/.well-known/jwks.json", Issuer: issuer, Audience: audience}, true},
		{"http on another host is refused", verify.Config{JWKSURL: "http://sessions.example.com/.well-known/jwks.json", Issuer: issuer, Audience: audience}, false},
		{"http on a LAN address is refused", verify.Config{JWKSURL: "http://10.0.0.1/.well-known/jwks.json", Issuer: issuer, Audience: audience}, false},
		{"a URL without a scheme is refused", verify.Config{JWKSURL: "sessions.example.com/.well-known/jwks.json", Issuer: issuer, Audience: audience}, false},
		{"an https URL without a host is refused", verify.Config{JWKSURL: "https:///jwks.json", Issuer: issuer, Audience: audience}, false},
		{"no URL is refused", verify.Config{Issuer: issuer, Audience: audience}, false},
		{"no issuer is refused", verify.Config{JWKSURL: "https://sessions.example.com/jwks.json", Audience: audience}, false},
		{"no audience is refused", verify.Config{JWKSURL: "https://sessions.example.com/jwks.json", Issuer: issuer}, false},
		{"a negative refetch interval is refused", verify.Config{JWKSURL: "https://sessions.example.com/jwks.json", Issuer: issuer, Audience: audience, RefetchInterval: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(tc.cfg)
			if (err == nil) != tc.ok || (v != nil) != tc.ok {
				t.Errorf("New: %v, %v; want accepted %v", v, err, tc.ok)
			}
		})
	}
}
