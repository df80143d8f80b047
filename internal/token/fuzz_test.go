package token_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// fuzzKeySet is a TEST-ONLY Ed25519 key derived at test time from a public label, so
// every fuzz worker process holds the same key and the committed corpus stays
// meaningful (mutations of a valid token reach the claim checks). It protects nothing.
func fuzzKeySet(tb testing.TB) *keys.Set {
	tb.Helper()
	seed := sha256.Sum256([]byte("github.com/example/sessions FuzzVerify test-only key, not a secret"))
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		tb.Fatal(err)
	}
	return keySet(tb, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// FuzzVerify: Verify never panics; every refusal names a pinned reason; whatever it
// accepts is a complete access token for this issuer and audience, live at the
// verifier's clock, whose claims a case-sensitive JSON reader reads the same.
func FuzzVerify(f *testing.F) {
	ks := fuzzKeySet(f)
	k := ks.Signing()
	v := verifierAt(ks, t0)
	good, err := token.NewMinter(ks, testIssuer, testAudience).Mint(t0, "user-1", "session-1", 3, "me", t0.Add(15*time.Minute))
	if err != nil {
		f.Fatal(err)
	}
	h, p, s := segments(f, good)
	hdr, claims := goodHeader(k), goodClaims(t0)
	hdrJSON := string(mustJSON(f, hdr))
	payBase := string(mustJSON(f, with(claims, "exp", deleted)))
	payBase = payBase[:len(payBase)-1]
	seeds := []string{
		good,
		signAs(f, k, hdr, claims),
		signAs(f, k, hdr, with(claims, "aud", testAudience, "nbf", t0.Unix())),
		signAs(f, k, hdr, with(claims, "ver", 0, "scope", deleted)),
		// Signed by our key but wrong in one way each.
		signAs(f, k, hdr, with(claims, "exp", "9999999999")),
		signAs(f, k, hdr, with(claims, "sub", "")),
		signAs(f, k, hdr, with(claims, "ver", "1")),
		signAs(f, k, with(hdr, "typ", "JWT"), claims),
		signAs(f, k, with(hdr, "crit", []string{"x-unknown"}), claims),
		signRaw(f, k.Alg, k.Private, hdrJSON, payBase+`,"exp":1,"EXP":9999999999}`),
		signRaw(f, k.Alg, k.Private, hdrJSON, payBase+`,"Exp":9999999999}`),
		signRaw(f, k.Alg, k.Private, hdrJSON, strings.Replace(payBase, `"sub"`, `"\u017fub"`, 1)+`,"exp":9999999999}`),
		signRaw(f, k.Alg, k.Private, hdrJSON, `[`+payBase+`}]`),
		signRaw(f, k.Alg, k.Private, hdrJSON, strings.Replace(payBase, "user-1", "user-1\xff", 1)+`,"exp":9999999999}`),
		// Forged or malformed.
		enc([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + p + ".",
		sign(f, "HS256", []byte(k.ID), with(hdr, "alg", "HS256"), claims),
		h + "." + p + ".",
		h + "." + p,
		good + "." + s,
		h + "." + p + "." + s + "=",
		good[:len(good)-3],
		"Bearer " + good,
		good + "\n",
		`{"payload":"` + p + `","protected":"` + h + `","signature":"` + s + `"}`,
		"",
		".",
		"...",
		enc([]byte(nested(100, "[", "]"))) + "." + p + "." + s,
	}
	for _, seed := range seeds {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(raw)
		if err != nil {
			if c != nil {
				t.Fatal("Verify returned claims with an error")
			}
			if !errors.Is(err, token.ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			if len(reasonsOf(err)) == 0 {
				t.Fatalf("error %q names no reason", err)
			}
			return
		}
		if c == nil {
			t.Fatal("Verify returned neither claims nor an error")
		}
		switch {
		case len(raw) > token.MaxLength:
			t.Fatalf("accepted %d bytes", len(raw))
		case c.Subject == "" || c.SID == "" || c.ID == "":
			t.Fatalf("accepted a token without sub, sid or jti: %+v", c)
		case c.Ver == nil || *c.Ver < 0:
			t.Fatalf("accepted a token without a ver: %+v", c)
		case c.Issuer != testIssuer || !slices.Contains(c.Audience, testAudience):
			t.Fatalf("accepted iss %q aud %v", c.Issuer, c.Audience)
		case c.ExpiresAt == nil || !t0.Before(c.ExpiresAt.Add(token.Leeway)):
			t.Fatalf("accepted exp %v at %v", c.ExpiresAt, t0)
		}
		hseg, rest, _ := strings.Cut(raw, ".")
		pseg, _, _ := strings.Cut(rest, ".")
		var m map[string]any // map keys match exactly, unlike struct fields
		if err := json.Unmarshal(decodeSeg(t, pseg), &m); err != nil {
			t.Fatalf("accepted a payload that is not a JSON object: %v", err)
		}
		if m["sub"] != c.Subject || m["sid"] != c.SID || m["jti"] != c.ID || m["iss"] != c.Issuer || m["exp"] == nil || m["ver"] == nil {
			t.Fatalf("a case-sensitive reader reads other claims: %v, Verify read %+v", m, c)
		}
		var gotHdr map[string]any
		if err := json.Unmarshal(decodeSeg(t, hseg), &gotHdr); err != nil {
			t.Fatalf("accepted a header that is not JSON: %v", err)
		}
		typ, _ := gotHdr["typ"].(string)
		if gotHdr["alg"] != k.Alg || gotHdr["kid"] != k.ID || !strings.EqualFold(typ, token.Type) && !strings.EqualFold(typ, "application/"+token.Type) {
			t.Fatalf("accepted header %v", gotHdr)
		}
		if again, err := v.Verify(raw); err != nil || *again.Ver != *c.Ver || again.SID != c.SID {
			t.Fatalf("a second Verify of the same input disagrees: %v", err)
		}
	})
}
