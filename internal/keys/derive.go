package keys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
)

// DeriveSecret returns n bytes derived from the key's private half with HKDF-SHA256
// (RFC 5869), the PKCS#8 encoding of the key as the input keying material and label as
// the info string. Each label names one purpose (the login function's device tokens,
// for one), so a derived secret is independent of the signing key's own use and of
// every other label's secret, and it needs no parameter of its own: it lives and dies
// with the key, through the same rotation steps. A key of a public set has no private
// half and derives nothing.
func (k *Key) DeriveSecret(label string, n int) ([]byte, error) {
	if k.Private == nil {
		return nil, errors.New("keys: a public key derives no secret")
	}
	var der []byte
	if k.block != nil {
		der = k.block.Bytes
	} else {
		var err error
		if der, err = x509.MarshalPKCS8PrivateKey(k.Private); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
	}
	return hkdf.Key(sha256.New, der, nil, label, n)
}
