package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ParseJWKS reads a public key set: the JWKS document a private set publishes
// (Set.JWKS). Only the members this package writes are accepted, and each kid must be
// the key's RFC 7638 thumbprint, so a tampered document cannot give a key another
// key's ID. Its first key is the one the minters sign with, by convention only:
// verifiers accept any key of the set.
func ParseJWKS(data []byte) (*Set, error) {
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("keys: public key set is not a JWKS document: %w", err)
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("keys: public key set has no key")
	}
	b64 := base64.RawURLEncoding.Strict()
	ks := make([]*Key, 0, len(doc.Keys))
	for i, m := range doc.Keys {
		k := &Key{Alg: m["alg"], jwk: map[string]string{}}
		want := map[string][]string{EdDSA: {"kty", "crv", "x"}, ES256: {"kty", "crv", "x", "y"}, RS256: {"kty", "n", "e"}}[k.Alg]
		if want == nil {
			return nil, fmt.Errorf("keys: public key %d: unsupported alg", i)
		}
		if len(m) != len(want)+3 || m["use"] != "sig" || m["kid"] == "" {
			return nil, fmt.Errorf("keys: public key %d: unexpected members", i)
		}
		for _, name := range want {
			if m[name] == "" {
				return nil, fmt.Errorf("keys: public key %d: %s is missing", i, name)
			}
			k.jwk[name] = m[name]
		}
		dec := func(name string) []byte {
			b, err := b64.DecodeString(m[name])
			if err != nil {
				return nil
			}
			return b
		}
		switch k.Alg {
		case EdDSA:
			x := dec("x")
			if m["kty"] != "OKP" || m["crv"] != "Ed25519" || len(x) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("keys: public key %d: not an Ed25519 key", i)
			}
			k.Public = ed25519.PublicKey(x)
		case ES256:
			x, y := dec("x"), dec("y")
			if m["kty"] != "EC" || m["crv"] != "P-256" || len(x) != 32 || len(y) != 32 {
				return nil, fmt.Errorf("keys: public key %d: not a P-256 key", i)
			}
			point := append(append([]byte{4}, x...), y...)
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point) // checks the point is on the curve
			if err != nil {
				return nil, fmt.Errorf("keys: public key %d: %w", i, err)
			}
			k.Public = pub
		case RS256:
			n, e := dec("n"), dec("e")
			if m["kty"] != "RSA" || len(n) < 256 || len(e) == 0 || len(e) > 4 || n[0] == 0 || e[0] == 0 {
				return nil, fmt.Errorf("keys: public key %d: not an RSA key of at least 2048 bits", i)
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
				return nil, fmt.Errorf("keys: public key %d: not an RSA key of at least 2048 bits", i)
			}
			k.Public = pub
		}
		k.ID = thumbprint(k.jwk)
		if subtle.ConstantTimeCompare([]byte(k.ID), []byte(m["kid"])) != 1 {
			return nil, fmt.Errorf("keys: public key %d: kid is not the key's thumbprint", i)
		}
		ks = append(ks, k)
	}
	return newSet(ks)
}

// RefreshKeyLen is the length of the refresh-token chain key.
const RefreshKeyLen = 32

// NewRefreshKey makes a refresh-token chain key in its stored form (base64url).
func NewRefreshKey() (string, error) {
	var raw [RefreshKeyLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// ParseRefreshKey reads a refresh-token chain key in its stored form.
func ParseRefreshKey(data []byte) ([]byte, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != RefreshKeyLen {
		return nil, fmt.Errorf("keys: the refresh-token key must be %d random bytes in base64url (sessionctl keys init makes one)", RefreshKeyLen)
	}
	return raw, nil
}
