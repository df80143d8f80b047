// Package password hashes and verifies passwords with argon2id and normalises
// usernames.
//
// Hashes are PHC strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash), so the
// parameters travel with each hash and can be raised without a migration.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// OWASP is the Password Storage Cheat Sheet's first argon2id configuration:
// m=19 MiB, t=2, p=1.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on passwords (ASVS 4.0.3 V2.1.1–2.1.2): long passphrases are welcome, but
// anything longer than MaxRunes is refused before hashing so huge inputs cost nothing.
const (
	MinRunes = 12
	MaxRunes = 128
	MaxBytes = 4 * MaxRunes
)

// Errors returned for bad input.
var (
	ErrTooLong   = fmt.Errorf("password: longer than %d characters", MaxRunes)
	ErrTooShort  = fmt.Errorf("password: shorter than %d characters", MinRunes)
	ErrMalformed = errors.New("password: malformed hash")
)

// CheckLength refuses passwords over the bound. It is cheap and runs before hashing.
func CheckLength(pw string) error {
	if len(pw) > MaxBytes || utf8.RuneCountInString(pw) > MaxRunes {
		return ErrTooLong
	}
	return nil
}

// CheckNew applies the rules for a password being set (not for a login attempt).
func CheckNew(pw string) error {
	if err := CheckLength(pw); err != nil {
		return err
	}
	if utf8.RuneCountInString(pw) < MinRunes {
		return ErrTooShort
	}
	return nil
}

// Hash returns the PHC-encoded argon2id hash of pw with a fresh random salt.
func Hash(pw string, p Params) (string, error) {
	if err := CheckLength(pw); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64(salt), b64(key)), nil
}

// Verify reports whether pw matches the encoded hash, comparing in constant time.
func Verify(pw, encoded string) (bool, error) {
	if err := CheckLength(pw); err != nil {
		return false, err
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// ParamsOf returns the parameters an encoded hash was made with.
func ParamsOf(encoded string) (Params, error) {
	p, _, _, err := decode(encoded)
	return p, err
}

func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformed
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrMalformed
	}
	// Bound the cost a stored hash can demand, so a corrupted item can't exhaust memory.
	if p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return p, nil, nil, ErrMalformed
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformed
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, ErrMalformed
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// Dummy returns a hash of a random password with the given parameters. Logins for
// unknown users verify against it, so they cost the same time as real ones.
func Dummy(p Params) string {
	var pw [32]byte
	_, _ = rand.Read(pw[:])
	h, err := Hash(base64.RawStdEncoding.EncodeToString(pw[:]), p)
	if err != nil {
		panic(err) // only an invalid Params could fail, a programming error
	}
	return h
}

// Username bounds, in characters after normalisation.
const MaxUsernameRunes = 64

// ErrBadUsername is returned for an empty, over-long or control-character username.
var ErrBadUsername = fmt.Errorf("username: must be 1 to %d printable characters", MaxUsernameRunes)

// NormalizeUsername returns the canonical form used as the login key: Unicode NFC,
// surrounding white space removed, lower-cased. The same function runs at creation and
// at login, so "Alice", " alice " and a decomposed "alicé" all name one account.
func NormalizeUsername(s string) (string, error) {
	if len(s) > 4*MaxUsernameRunes+64 {
		return "", ErrBadUsername
	}
	n := strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	n = norm.NFC.String(n)
	if n == "" || utf8.RuneCountInString(n) > MaxUsernameRunes || !utf8.ValidString(n) {
		return "", ErrBadUsername
	}
	for _, r := range n {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "", ErrBadUsername
		}
	}
	return n, nil
}
