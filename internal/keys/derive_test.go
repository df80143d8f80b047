package keys

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/pem"
	"testing"
)

func TestDeriveSecret(t *testing.T) {
	t.Parallel()
	a := mustParse(t, join(testPEM(t, "derive-a", EdDSA), testPEM(t, "derive-b", ES256)))
	first, second := a.Keys()[0], a.Keys()[1]
	derive := func(t *testing.T, k *Key, label string) []byte {
		t.Helper()
		b, err := k.DeriveSecret(label, 32)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("the secret is HKDF-SHA256 over the key's PKCS#8 bytes with the label as info", func(t *testing.T) {
		block, _ := pem.Decode(testPEM(t, "derive-a", EdDSA))
		want, err := hkdf.Key(sha256.New, block.Bytes, nil, "label one", 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := derive(t, first, "label one"); !bytes.Equal(got, want) {
			t.Errorf("derived %x, want %x", got, want)
		}
	})
	t.Run("the same key and label give the same secret after a reload", func(t *testing.T) {
		again := mustParse(t, testPEM(t, "derive-a", EdDSA)).Keys()[0]
		if !bytes.Equal(derive(t, first, "label one"), derive(t, again, "label one")) {
			t.Error("a reparsed key derives another secret")
		}
	})
	t.Run("another label or another key gives another secret", func(t *testing.T) {
		base := derive(t, first, "label one")
		if bytes.Equal(base, derive(t, first, "label two")) {
			t.Error("two labels derive the same secret")
		}
		if bytes.Equal(base, derive(t, second, "label one")) {
			t.Error("two keys derive the same secret")
		}
	})
	t.Run("a key of a public set derives nothing", func(t *testing.T) {
		pub, err := ParseJWKS(a.JWKS())
		if err != nil {
			t.Fatal(err)
		}
		if b, err := pub.Keys()[0].DeriveSecret("label one", 32); err == nil || b != nil {
			t.Errorf("a public key derived %x, %v", b, err)
		}
	})
}
