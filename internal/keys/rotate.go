package keys

import (
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Rotation refusals, tested with errors.Is by sessionctl.
var (
	ErrUnknownKey   = errors.New("keys: no such key in the set")
	ErrSigningKey   = errors.New("keys: that key is the signing key")
	ErrAlreadyFirst = errors.New("keys: that key already signs")
)

// PEM returns the private set as the PEM document it is stored as, each block with its
// Added-At and Promoted-At headers.
func (s *Set) PEM() ([]byte, error) {
	if !s.Private() {
		return nil, errors.New("keys: a public key set has no PEM form")
	}
	var out []byte
	for _, k := range s.keys {
		b := &pem.Block{Type: k.block.Type, Bytes: k.block.Bytes, Headers: map[string]string{}}
		if !k.AddedAt.IsZero() {
			b.Headers[headerAdded] = k.AddedAt.UTC().Format(time.RFC3339)
		}
		if !k.PromotedAt.IsZero() {
			b.Headers[headerPromoted] = k.PromotedAt.UTC().Format(time.RFC3339)
		}
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return out, nil
}

// NewSet makes a private set with one new key for alg, signing from now.
func NewSet(alg string, now time.Time) (*Set, error) {
	k, err := newPrivateKey(alg, now)
	if err != nil {
		return nil, err
	}
	k.PromotedAt = k.AddedAt
	return newSet([]*Key{k})
}

// Add returns the set with a new key for alg appended: published, not signing.
func (s *Set) Add(alg string, now time.Time) (*Set, *Key, error) {
	k, err := newPrivateKey(alg, now)
	if err != nil {
		return nil, nil, err
	}
	n, err := newSet(append(slices.Clone(s.keys), k))
	return n, k, err
}

// Promote returns the set with key kid moved to the front, so it signs from now on.
func (s *Set) Promote(kid string, now time.Time) (*Set, error) {
	i := slices.IndexFunc(s.keys, func(k *Key) bool { return k.ID == kid })
	switch {
	case i < 0:
		return nil, ErrUnknownKey
	case i == 0:
		return nil, ErrAlreadyFirst
	}
	k := *s.keys[i]
	k.PromotedAt = now.Truncate(time.Second)
	rest := slices.Delete(slices.Clone(s.keys), i, i+1)
	return newSet(append([]*Key{&k}, rest...))
}

// Retire returns the set without key kid. The signing key cannot be retired.
func (s *Set) Retire(kid string) (*Set, error) {
	i := slices.IndexFunc(s.keys, func(k *Key) bool { return k.ID == kid })
	switch {
	case i < 0:
		return nil, ErrUnknownKey
	case i == 0:
		return nil, ErrSigningKey
	}
	return newSet(slices.Delete(slices.Clone(s.keys), i, i+1))
}

func newPrivateKey(alg string, now time.Time) (*Key, error) {
	data, err := Generate(alg)
	if err != nil {
		return nil, err
	}
	set, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("keys: parsing a generated key: %w", err)
	}
	k := set.keys[0]
	k.AddedAt = now.Truncate(time.Second)
	return k, nil
}

// Material is a complete set of key material: the private key set (whose public half
// is the published set) and the refresh-token chain key. `sessionctl keys init` stores
// it in SSM; the local server and the tests use one made at start.
type Material struct {
	Private    *Set
	RefreshKey string // stored form (base64url)
}

// NewMaterial makes new key material with one signing key for alg.
func NewMaterial(alg string, now time.Time) (*Material, error) {
	set, err := NewSet(alg, now)
	if err != nil {
		return nil, err
	}
	rk, err := NewRefreshKey()
	if err != nil {
		return nil, err
	}
	return &Material{Private: set, RefreshKey: rk}, nil
}

// Env returns the material as the values of SIGNING_KEY, PUBLIC_KEYS and REFRESH_KEY,
// the plain (local and test) forms of the three key sources.
func (m *Material) Env() (map[string]string, error) {
	pem, err := m.Private.PEM()
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"SIGNING_KEY": string(pem),
		"PUBLIC_KEYS": string(m.Private.JWKS()),
		"REFRESH_KEY": m.RefreshKey,
	}, nil
}
