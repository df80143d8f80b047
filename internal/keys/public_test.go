package keys

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestThePublicSetIsThePrivateSetWithoutItsSecrets(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, RS256} {
		t.Run(alg+" keys verify what their private halves sign", func(t *testing.T) {
			priv := mustParse(t, join(testPEM(t, alg, alg), testPEM(t, "second-"+alg, EdDSA)))
			pub, err := ParseJWKS(priv.JWKS())
			if err != nil {
				t.Fatal(err)
			}
			if pub.Private() || !priv.Private() {
				t.Fatalf("Private() = %v for the public set, %v for the private one", pub.Private(), priv.Private())
			}
			if string(pub.JWKS()) != string(priv.JWKS()) {
				t.Fatalf("the public set republishes\n%s\nwant\n%s", pub.JWKS(), priv.JWKS())
			}
			for _, k := range priv.Keys() {
				pk, ok := pub.Lookup(k.ID)
				if !ok || pk.Alg != k.Alg || pk.Private != nil {
					t.Fatalf("key %s: %+v", k.ID, pk)
				}
				signAndVerify(t, k, pk)
			}
		})
	}
}

func TestParseJWKSRefusesWhatItDidNotWrite(t *testing.T) {
	good := string(mustParse(t, testPEM(t, EdDSA, EdDSA)).JWKS())
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(good), &doc); err != nil {
		t.Fatal(err)
	}
	k := doc.Keys[0]
	with := func(name, value string) string {
		m := map[string]string{}
		for n, v := range k {
			m[n] = v
		}
		if value == "" {
			delete(m, name)
		} else {
			m[name] = value
		}
		b, _ := json.Marshal(map[string]any{"keys": []any{m}})
		return string(b)
	}
	other := mustParse(t, testPEM(t, "other", EdDSA)).Signing().ID
	tests := []struct {
		name, doc, mention string
	}{
		{"a kid that is another key's thumbprint", with("kid", other), "kid is not the key's thumbprint"},
		{"a symmetric key", `{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"x","use":"sig"}]}`, "unsupported alg"},
		{"an extra member such as a private exponent", with("d", "AAAA"), "unexpected members"},
		{"a key for encryption", with("use", "enc"), "unexpected members"},
		{"a short Ed25519 key", with("x", "AAAA"), "not an Ed25519 key"},
		{"an empty set", `{"keys":[]}`, "no key"},
		{"another document", `{"keys":[],"extra":1}`, "not a JWKS"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			s, err := ParseJWKS([]byte(tc.doc))
			if err == nil || s != nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("ParseJWKS = %v, %v; want an error mentioning %q", s, err, tc.mention)
			}
		})
	}
}

func TestRefreshKey(t *testing.T) {
	k, err := NewRefreshKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ParseRefreshKey([]byte(k + "\n"))
	if err != nil || len(raw) != RefreshKeyLen {
		t.Fatalf("ParseRefreshKey(NewRefreshKey()) = %d bytes, %v", len(raw), err)
	}
	other, _ := NewRefreshKey()
	if other == k {
		t.Fatal("two new refresh keys are equal")
	}
	for _, bad := range []string{"", "c2hvcnQ", k + "A", strings.ReplaceAll(k, k[:1], "+")} {
		if _, err := ParseRefreshKey([]byte(bad)); err == nil {
			t.Errorf("ParseRefreshKey(%q) accepted", bad)
		}
	}
}

func TestRotationSteps(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	set, err := NewSet(EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	old := set.Signing()
	if !old.AddedAt.Equal(t0) || !old.PromotedAt.Equal(t0) {
		t.Fatalf("a new set's key: added %v, promoted %v", old.AddedAt, old.PromotedAt)
	}
	// add: published, not signing.
	added, k, err := set.Add(ES256, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if added.Signing().ID != old.ID || len(added.Keys()) != 2 || !strings.Contains(string(added.JWKS()), k.ID) {
		t.Fatalf("after add: signing %s, %d keys", added.Signing().ID, len(added.Keys()))
	}
	// The PEM form keeps the order and the times.
	pem, err := added.PEM()
	if err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, pem)
	if again.Keys()[1].ID != k.ID || !again.Keys()[1].AddedAt.Equal(t0.Add(time.Hour)) || !again.Keys()[1].PromotedAt.IsZero() {
		t.Fatalf("PEM round trip lost the order or the times: %+v", again.Keys()[1])
	}
	// promote: it signs, the old one still verifies.
	promoted, err := again.Promote(k.ID, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if promoted.Signing().ID != k.ID || !promoted.Signing().PromotedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("after promote: signing %s", promoted.Signing().ID)
	}
	if _, ok := promoted.Lookup(old.ID); !ok {
		t.Fatal("the old key is gone after promote")
	}
	// retire: the old key leaves both halves.
	retired, err := promoted.Retire(old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := retired.Lookup(old.ID); ok || strings.Contains(string(retired.JWKS()), old.ID) {
		t.Fatal("the retired key is still in the set")
	}
	refusals := []struct {
		name string
		err  error
		want error
	}{
		{"retiring the signing key", func() error { _, err := promoted.Retire(k.ID); return err }(), ErrSigningKey},
		{"retiring an unknown key", func() error { _, err := promoted.Retire("nope"); return err }(), ErrUnknownKey},
		{"promoting the signing key", func() error { _, err := promoted.Promote(k.ID, t0); return err }(), ErrAlreadyFirst},
		{"promoting an unknown key", func() error { _, err := promoted.Promote("nope", t0); return err }(), ErrUnknownKey},
	}
	for _, r := range refusals {
		t.Run(r.name+" is refused", func(t *testing.T) {
			if !errors.Is(r.err, r.want) {
				t.Fatalf("err = %v, want %v", r.err, r.want)
			}
		})
	}
	if _, err := (&Set{keys: []*Key{{}}}).PEM(); err == nil {
		t.Fatal("a public set has a PEM form")
	}
}
