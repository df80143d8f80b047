package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// A refresh token is "<sid>.<secret>".
//
// The sid is base64url(4-byte big-endian absolute deadline || 12 random bytes). The
// deadline rides in the key because a rotation's single UpdateItem has to write the
// TTL attribute as min(idle, absolute) and DynamoDB expressions have no min(); the
// key cannot be changed by a client, so what it says is what the item was created with.
//
// The first secret of a session is 256 random bits. Each rotation derives the child
// as HMAC-SHA256(K, sid "." parent), K a server secret. That makes a rotation
// idempotent (a retried or concurrent refresh of one token computes the same child,
// so there is never a fork) and lets the service recognise a genuine ancestor of the
// current token (theft) while a made-up secret for a known sid is just invalid.
const (
	sidLen    = 22 // base64url of 16 bytes
	secretLen = 43 // base64url of 32 bytes
	tokenLen  = sidLen + 1 + secretLen
)

var errMalformedToken = errors.New("malformed refresh token")

var b64 = base64.RawURLEncoding

func newSessionID(absExp time.Time) (string, error) {
	var raw [16]byte
	binary.BigEndian.PutUint32(raw[:4], uint32(absExp.Unix()))
	if _, err := rand.Read(raw[4:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(raw[:]), nil
}

// newWriteToken is a fresh idempotency token for one decision (LoginSuccess.Token): 128
// random bits, 22 base64url characters (DynamoDB allows 36).
func newWriteToken() (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(raw[:]), nil
}

func newSecret() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return b64.EncodeToString(raw[:]), nil
}

// parseRefreshToken splits and checks a refresh token without touching storage.
func parseRefreshToken(tok string) (sid, secret string, absExp time.Time, err error) {
	if len(tok) != tokenLen || tok[sidLen] != '.' {
		return "", "", time.Time{}, errMalformedToken
	}
	sid, secret = tok[:sidLen], tok[sidLen+1:]
	var raw [16]byte
	if n, err := b64.Strict().Decode(raw[:], []byte(sid)); err != nil || n != 16 {
		return "", "", time.Time{}, errMalformedToken
	}
	var s [32]byte
	if n, err := b64.Strict().Decode(s[:], []byte(secret)); err != nil || n != 32 {
		return "", "", time.Time{}, errMalformedToken
	}
	return sid, secret, time.Unix(int64(binary.BigEndian.Uint32(raw[:4])), 0), nil
}

// SessionDeadline returns the absolute deadline encoded in a session ID.
func SessionDeadline(sid string) (time.Time, bool) {
	if len(sid) != sidLen { // first: Decode panics if sid decodes to more than raw holds
		return time.Time{}, false
	}
	var raw [16]byte
	if n, err := b64.Strict().Decode(raw[:], []byte(sid)); err != nil || n != 16 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint32(raw[:4])), 0), true
}

// hashToken is what the table stores: the token itself never is.
func hashToken(sid, secret string) []byte {
	h := sha256.New()
	h.Write([]byte(sid))
	h.Write([]byte{'.'})
	h.Write([]byte(secret))
	return h.Sum(nil)
}

func childSecret(key []byte, sid, parent string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sid))
	m.Write([]byte{'.'})
	m.Write([]byte(parent))
	return b64.EncodeToString(m.Sum(nil))
}
