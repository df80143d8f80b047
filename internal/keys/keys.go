// Package keys holds the signing and verification keys of access tokens.
//
// A key set is one PEM document with one or more PKCS#8 private keys. The first key
// signs; every key verifies and is published in the JWKS, so a deployment rotates keys
// by prepending a new key, waiting one access-token lifetime, then dropping the old one.
// Each key is bound to exactly one algorithm (RFC 8725 §3.1), chosen by its type.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// Algorithm names as they appear in a JWS header.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
)

// Key is one private key with the algorithm it is pinned to.
type Key struct {
	ID      string // RFC 7638 thumbprint, used as the JWS kid
	Alg     string
	Private crypto.Signer
	Public  crypto.PublicKey
	jwk     map[string]string
}

// Set is a parsed key set.
type Set struct {
	keys     []*Key
	byID     map[string]*Key
	algs     []string
	jwks     []byte
	rotation []byte
}

// Parse reads a PEM document holding one or more "PRIVATE KEY" (PKCS#8) blocks.
func Parse(data []byte) (*Set, error) {
	s := &Set{byID: map[string]*Key{}}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("keys: PEM block %q: want PKCS#8 \"PRIVATE KEY\"", block.Type)
		}
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		k, err := newKey(priv)
		if err != nil {
			return nil, err
		}
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("keys: key %s appears twice", k.ID)
		}
		s.keys = append(s.keys, k)
		s.byID[k.ID] = k
		if !contains(s.algs, k.Alg) {
			s.algs = append(s.algs, k.Alg)
		}
		if len(s.keys) == 1 {
			// The rotation key derives refresh-token children (see internal/session).
			// HKDF gives it its own label so it never doubles as a signing key.
			s.rotation, err = hkdf.Key(sha256.New, block.Bytes, nil, "refresh-token-rotation/v1", 32)
			if err != nil {
				return nil, fmt.Errorf("keys: %w", err)
			}
		}
	}
	if len(s.keys) == 0 {
		return nil, errors.New("keys: no PRIVATE KEY block found")
	}
	jwks := struct {
		Keys []map[string]string `json:"keys"`
	}{}
	for _, k := range s.keys {
		m := map[string]string{"kid": k.ID, "alg": k.Alg, "use": "sig"}
		for name, v := range k.jwk {
			m[name] = v
		}
		jwks.Keys = append(jwks.Keys, m)
	}
	var err error
	if s.jwks, err = json.Marshal(jwks); err != nil {
		return nil, err
	}
	return s, nil
}

func newKey(priv any) (*Key, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	k := &Key{}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		k.Alg, k.Private, k.Public = EdDSA, p, p.Public()
		k.jwk = map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(p.Public().(ed25519.PublicKey))}
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, errors.New("keys: only P-256 ECDSA keys are supported (ES256)")
		}
		pub, err := p.PublicKey.ECDH()
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		xy := pub.Bytes()[1:] // uncompressed point: 0x04 || X || Y
		k.Alg, k.Private, k.Public = ES256, p, &p.PublicKey
		k.jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(xy[:32]), "y": b64(xy[32:])}
	case *rsa.PrivateKey:
		if p.N.BitLen() < 2048 {
			return nil, errors.New("keys: RSA keys must have at least 2048 bits")
		}
		k.Alg, k.Private, k.Public = RS256, p, &p.PublicKey
		k.jwk = map[string]string{"kty": "RSA", "n": b64(p.N.Bytes()), "e": b64(big.NewInt(int64(p.E)).Bytes())}
	default:
		return nil, fmt.Errorf("keys: unsupported key type %T", priv)
	}
	k.ID = thumbprint(k.jwk)
	return k, nil
}

// thumbprint is RFC 7638: SHA-256 over the required members in lexical order.
func thumbprint(jwk map[string]string) string {
	var members []string
	switch jwk["kty"] {
	case "OKP":
		members = []string{"crv", "kty", "x"}
	case "EC":
		members = []string{"crv", "kty", "x", "y"}
	case "RSA":
		members = []string{"e", "kty", "n"}
	}
	buf := []byte{'{'}
	for i, m := range members {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, "%q:%q", m, jwk[m])
	}
	buf = append(buf, '}')
	sum := sha256.Sum256(buf)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Signing returns the key that signs new tokens.
func (s *Set) Signing() *Key { return s.keys[0] }

// Lookup returns the key with the given kid. The kid is only ever a map key: it never
// reaches a file path, a URL or a query.
func (s *Set) Lookup(kid string) (*Key, bool) {
	k, ok := s.byID[kid]
	return k, ok
}

// Algorithms lists the algorithms of the set's keys, for the parser's allow-list.
func (s *Set) Algorithms() []string { return s.algs }

// JWKS returns the public keys as a JSON Web Key Set document.
func (s *Set) JWKS() []byte { return s.jwks }

// RotationKey returns the 32-byte secret that derives refresh-token children.
func (s *Set) RotationKey() []byte { return s.rotation }

// Generate makes a new private key for alg and returns it as a PKCS#8 PEM block.
// It is for local development and tests; production keys are made by an operator
// (see README) and stored in SSM Parameter Store.
func Generate(alg string) ([]byte, error) {
	var priv any
	var err error
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("keys: unknown algorithm %q (want EdDSA, ES256 or RS256)", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
