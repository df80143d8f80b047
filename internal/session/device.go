package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/example/sessions/internal/keys"
)

// Device tokens (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a
// successful login hands the client a token that names the account and a device ID,
// MACed with a key derived from the private signing key set. A later login that
// presents it for that account is throttled on the device's own counter instead of the
// username's, so a guesser who keeps the username locked does not lock out the owner's
// devices. The token is a throttling credential only: it never replaces the password.
//
// Format: "d1.<device ID>.<issued at, Unix seconds>.<uid>.<MAC>", the device ID 16
// random bytes and the MAC 32 bytes, both unpadded base64url. The MAC is
// HMAC-SHA256 over the version, the normalised username and uid (length-prefixed),
// the device ID and the issue time, so a token is bound to one account and one name
// and none can be made or altered without the key.
const (
	deviceTokenVersion = "d1"
	// deviceKeyLabel is the HKDF label of the MAC key (keys.Key.DeriveSecret).
	deviceKeyLabel = "sessions device token v1"
	// maxDeviceTokenLen bounds what is parsed: the longest well-formed token is
	// 2 + 1 + 22 + 1 + 12 + 1 + 64 + 1 + 43 bytes.
	maxDeviceTokenLen = 160
	// deviceClockSkew is how far in the future an issue time may be: login
	// containers' clocks differ a little.
	deviceClockSkew = time.Minute
)

// deviceProof is a device token whose MAC and lifetime checked out. Whether the
// account still lists the device is for the login record to say (ReserveLogin's
// condition).
type deviceProof struct {
	ID, UID  string
	IssuedAt time.Time
}

// deviceRing is the MAC keys derived from one private key set, the signing key's first.
type deviceRing struct {
	set  *keys.Set
	macs [][]byte
}

// errNoDeviceKeys: the service has no private key set (a function that does not log
// in), so it neither issues nor checks device tokens.
var errNoDeviceKeys = errors.New("session: no key set for device tokens")

// deviceKeys returns the MAC keys of the current private key set, derived once per
// set: a reload that brings a new set derives again; errNoDeviceKeys without a set.
func (s *Service) deviceKeys() (*deviceRing, error) {
	if s.deviceSrc == nil {
		return nil, errNoDeviceKeys
	}
	set := s.deviceSrc.Current()
	if set == nil {
		return nil, errNoDeviceKeys
	}
	if r := s.ring.Load(); r != nil && r.set == set {
		return r, nil
	}
	r := &deviceRing{set: set}
	for _, k := range set.Keys() {
		mac, err := k.DeriveSecret(deviceKeyLabel, 32)
		if err != nil {
			return nil, fmt.Errorf("session: device token key: %w", err)
		}
		r.macs = append(r.macs, mac)
	}
	s.ring.Store(r)
	return r, nil
}

func deviceMAC(key []byte, name, uid, did string, iat int64) []byte {
	m := hmac.New(sha256.New, key)
	var n [4]byte
	m.Write([]byte(deviceTokenVersion))
	for _, f := range []string{name, uid, did} {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	m.Write([]byte(strconv.FormatInt(iat, 10)))
	return m.Sum(nil)
}

// newDeviceID returns 128 random bits, base64url.
func newDeviceID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// mintDeviceToken issues a device token for the device did of account uid, logged
// into as name, with the signing key's MAC key.
func mintDeviceToken(r *deviceRing, name, uid, did string, iat time.Time) string {
	sec := iat.Unix()
	mac := deviceMAC(r.macs[0], name, uid, did, sec)
	return strings.Join([]string{deviceTokenVersion, did, strconv.FormatInt(sec, 10), uid,
		base64.RawURLEncoding.EncodeToString(mac)}, ".")
}

// checkDevice returns the device proof a login presents for name, or nil if there is
// none or it is not valid: malformed, expired, issued for another name or account, or
// MACed with a key the current set no longer has. An invalid token is not an error:
// the attempt is simply untrusted and counts on the username.
func (s *Service) checkDevice(ctx context.Context, name, tok string, now time.Time) *deviceProof {
	if tok == "" {
		return nil
	}
	ignore := func(reason string) *deviceProof {
		s.log.InfoContext(ctx, "device token ignored", "reason", reason)
		return nil
	}
	ring, err := s.deviceKeys()
	if err != nil {
		return ignore("no device token key")
	}
	if len(tok) > maxDeviceTokenLen {
		return ignore("malformed")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 5 || parts[0] != deviceTokenVersion {
		return ignore("malformed")
	}
	did, iatText, uid, macText := parts[1], parts[2], parts[3], parts[4]
	iat, err := strconv.ParseInt(iatText, 10, 64)
	if len(did) != 22 || !base64url(did) || len(iatText) > 12 || err != nil || iat <= 0 ||
		strconv.FormatInt(iat, 10) != iatText || uid == "" || len(uid) > 64 || !base64url(uid) ||
		len(macText) != 43 || !base64url(macText) {
		return ignore("malformed")
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil {
		return ignore("malformed")
	}
	issued := time.Unix(iat, 0)
	if issued.After(now.Add(deviceClockSkew)) || !now.Before(issued.Add(s.policy.DeviceTTL)) {
		return ignore("expired")
	}
	valid := false
	for _, key := range ring.macs {
		// Every key is tried, so the time taken does not say which one matched.
		valid = hmac.Equal(deviceMAC(key, name, uid, did, iat), mac) || valid
	}
	if !valid {
		return ignore("bad MAC")
	}
	return &deviceProof{ID: did, UID: uid, IssuedAt: issued}
}

// base64url reports whether s uses only the unpadded base64url alphabet (which also
// covers the "usr_" user IDs).
func base64url(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
