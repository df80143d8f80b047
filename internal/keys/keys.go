// Package keys holds the signing and verification keys of access tokens.
//
// A private key set is one PEM document with one or more PKCS#8 private keys; only the
// functions that mint access tokens read it. The first key signs; every key verifies
// and is published in the public key set, a JWKS document that the verifying functions
// (the authorizer, jwks) read instead. A deployment rotates keys by appending a new key
// (published, not yet signing), promoting it to the front once every verifier knows
// it, and retiring the old one after the last token it signed has expired; `sessionctl
// keys` carries out each step on both documents (see README, "Key rotation"). Each key
// is bound to exactly one algorithm (RFC 8725 §3.1), chosen by its type.
//
// The refresh-token chain key is a separate secret (ParseRefreshKey), read only by the
// functions that rotate or recognise refresh tokens.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sync/atomic"
	"time"
)

// Algorithm names as they appear in a JWS header.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
)

// Supported lists every algorithm a key can be pinned to.
var Supported = []string{EdDSA, ES256, RS256}

// Source gives the key set to use now. A *Set is its own source; a *Live is one that
// the functions replace when they reload their key material.
type Source interface {
	Current() *Set
}

// Current returns s itself.
func (s *Set) Current() *Set { return s }

// Live is a key set that can be replaced while requests use it.
type Live struct{ p atomic.Pointer[Set] }

// NewLive returns a Live holding s.
func NewLive(s *Set) *Live {
	l := &Live{}
	l.p.Store(s)
	return l
}

// Current returns the set stored last.
func (l *Live) Current() *Set { return l.p.Load() }

// Store replaces the set; requests already holding the old one finish with it.
func (l *Live) Store(s *Set) { l.p.Store(s) }

// Key is one key with the algorithm it is pinned to.
type Key struct {
	ID      string        // RFC 7638 thumbprint, used as the JWS kid
	Alg     string        // the one JWS algorithm this key is used with
	Private crypto.Signer // nil in a public key set
	Public  crypto.PublicKey
	// AddedAt and PromotedAt are when sessionctl added the key and made it the signing
	// key (zero if unknown); they ride in the PEM block's headers so the rotation
	// commands can enforce the overlap periods.
	AddedAt, PromotedAt time.Time
	jwk                 map[string]string
	block               *pem.Block // the PKCS#8 block, for writing the set back
}

// Set is a parsed key set: private (from PEM) or public only (from a JWKS).
type Set struct {
	keys []*Key
	byID map[string]*Key
	algs []string
	jwks []byte
}

// PEM headers of a private key block.
const (
	headerAdded    = "Added-At"
	headerPromoted = "Promoted-At"
)

// Parse reads a PEM document holding one or more "PRIVATE KEY" (PKCS#8) blocks.
func Parse(data []byte) (*Set, error) {
	var ks []*Key
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
		k.block = block
		for name, dst := range map[string]*time.Time{headerAdded: &k.AddedAt, headerPromoted: &k.PromotedAt} {
			if v, ok := block.Headers[name]; ok {
				if *dst, err = time.Parse(time.RFC3339, v); err != nil {
					return nil, fmt.Errorf("keys: key %s: header %s: %w", k.ID, name, err)
				}
			}
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return nil, errors.New("keys: no PRIVATE KEY block found")
	}
	return newSet(ks)
}

// newSet indexes keys (the first signs) and renders their public JWKS document.
func newSet(ks []*Key) (*Set, error) {
	s := &Set{byID: map[string]*Key{}}
	jwks := struct {
		Keys []map[string]string `json:"keys"`
	}{Keys: []map[string]string{}}
	for _, k := range ks {
		if _, dup := s.byID[k.ID]; dup {
			return nil, fmt.Errorf("keys: key %s appears twice", k.ID)
		}
		s.keys = append(s.keys, k)
		s.byID[k.ID] = k
		if !slices.Contains(s.algs, k.Alg) {
			s.algs = append(s.algs, k.Alg)
		}
		m := map[string]string{"kid": k.ID, "alg": k.Alg, "use": "sig"}
		maps.Copy(m, k.jwk)
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

// Signing returns the key that signs new tokens: the first one. In a public key set it
// has no private half.
func (s *Set) Signing() *Key { return s.keys[0] }

// Keys returns the keys in order, the signing key first.
func (s *Set) Keys() []*Key { return slices.Clone(s.keys) }

// Private reports whether the set holds private keys (it was read from PEM).
func (s *Set) Private() bool { return s.keys[0].Private != nil }

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
