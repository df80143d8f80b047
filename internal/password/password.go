// Package password hashes and verifies passwords with argon2id, and normalises
// usernames (NormalizeUsername) and vets new ones for look-alikes (CheckNewUsername).
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
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/cases"
	"golang.org/x/text/secure/bidirule"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/bidi"
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

// ErrBadUsername is returned for every refused username, wrapped together with one of
// the reasons below, so errors.Is(err, ErrBadUsername) and errors.Is(err, reason) both
// hold. err.Error() reads "invalid username: <reason>" and never contains the input,
// so it can go back to the client as is.
var ErrBadUsername = errors.New("invalid username")

// Reasons a username is refused.
var (
	// ErrUsernameLength: empty (after trimming white space) or over MaxUsernameRunes.
	ErrUsernameLength = fmt.Errorf("must be 1 to %d characters", MaxUsernameRunes)
	// ErrUsernameDisallowed: a code point the PRECIS IdentifierClass refuses (inner
	// spaces, symbols and emoji, punctuation outside ASCII, controls, compatibility
	// forms such as the ligature "ﬁ", unassigned code points) or invalid UTF-8.
	ErrUsernameDisallowed = errors.New("has a character that usernames cannot contain")
	// ErrUsernameInvisible: a default-ignorable code point (zero-width space and
	// joiners, soft hyphen, variation selectors, Hangul fillers, ...), which renders
	// as nothing and so makes a second name that looks like the first.
	ErrUsernameInvisible = errors.New("has an invisible character")
	// ErrUsernameDirection: the name has right-to-left characters but breaks the Bidi
	// Rule (RFC 5893), so it could display in an order other than its logical one.
	ErrUsernameDirection = errors.New("mixes right-to-left and left-to-right text in a way that can display ambiguously")
	// ErrUsernameMixedScript: letters from scripts that UTS #39's Highly Restrictive
	// level does not allow together (see CheckNewUsername).
	ErrUsernameMixedScript = errors.New("mixes letters of different scripts")
)

func badUsername(reason error) error { return fmt.Errorf("%w: %w", ErrBadUsername, reason) }

// usernameProfile is PRECIS UsernameCaseMapped (RFC 8265 §3.3) as
// precis.UsernameCaseMapped builds it (width mapping, lower-casing, NFC, the
// IdentifierClass) with two differences, both towards the RFC's text:
//
//   - lower-casing applies Unicode toLowerCase's Final_Sigma rule, which RFC 8265
//     names and x/text leaves off: without it "ΔΗΜΉΤΡΗΣ" would map to "δημήτρησ" and
//     not name the account "Δημήτρης";
//   - the Bidi Rule is left to NormalizeUsername, which applies it only to names with
//     right-to-left characters, as RFC 8265 §3.3.2 says. x/text applies it to every
//     non-ASCII string (golang/go#17383), which refuses "josé_" but not "jose_".
var usernameProfile = precis.NewIdentifier(
	precis.FoldWidth, precis.LowerCase(cases.HandleFinalSigma(true)), precis.Norm(norm.NFC))

// NormalizeUsername returns the canonical form of a username, the account's key at
// creation, at login and in the login throttle. The profile:
//
//  1. surrounding white space is removed;
//  2. PRECIS UsernameCaseMapped (RFC 8265 §3.3) is enforced: fullwidth and halfwidth
//     forms map to their ordinary ones, letters to lower case (with Final_Sigma), the
//     result to NFC; every code point must be in the IdentifierClass (RFC 8264 §4.2):
//     letters, digits and printable ASCII, so inner spaces, symbols, controls,
//     invisible characters and compatibility forms are refused rather than dropped
//     or mapped; and a name with right-to-left characters must meet the Bidi Rule
//     (RFC 5893);
//  3. the result has 1 to MaxUsernameRunes characters.
//
// So "Alice", " alice ", "ＡＬＩＣＥ" and a decomposed "alicé" all name one account,
// and a zero-width space cannot make a second "alice". Errors wrap ErrBadUsername
// and a reason. Creating an account also needs CheckNewUsername.
func NormalizeUsername(s string) (string, error) {
	if len(s) > 4*MaxUsernameRunes+64 {
		return "", badUsername(ErrUsernameLength)
	}
	if !utf8.ValidString(s) {
		return "", badUsername(ErrUsernameDisallowed)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", badUsername(ErrUsernameLength)
	}
	n, err := usernameProfile.String(s)
	if err != nil {
		if strings.IndexFunc(s, defaultIgnorable) >= 0 {
			return "", badUsername(ErrUsernameInvisible)
		}
		return "", badUsername(ErrUsernameDisallowed)
	}
	if bidirule.DirectionString(n) == bidi.RightToLeft && !bidirule.ValidString(n) {
		return "", badUsername(ErrUsernameDirection)
	}
	if utf8.RuneCountInString(n) > MaxUsernameRunes {
		return "", badUsername(ErrUsernameLength)
	}
	return n, nil
}

// defaultIgnorable approximates Unicode's Default_Ignorable_Code_Point from above
// (Go's unicode package has only its Other_ part): Other_Default_Ignorable_Code_Point,
// format characters (Cf) and variation selectors. These render as nothing.
func defaultIgnorable(r rune) bool {
	return unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Cf, unicode.Variation_Selector)
}

// CheckNewUsername applies the rules for creating an account, on top of
// NormalizeUsername's (which it runs, so s may be raw or already normalised):
//
//   - no default-ignorable code point at all. PRECIS refuses most of them, but lets a
//     zero-width joiner or non-joiner through where it affects shaping (after a
//     virama, between joining Arabic letters); invisible all the same, they are
//     refused at creation;
//   - the letters come from one script, or from one of the combinations UTS #39's
//     Highly Restrictive level allows: Latin + Han + Hiragana + Katakana (Japanese),
//     Latin + Han + Hangul (Korean), Latin + Han + Bopomofo (Chinese). Characters of
//     the Common and Inherited scripts (digits, ASCII punctuation, combining marks)
//     go with any script. The script is Unicode's Script property (Go's
//     unicode.Scripts); Script_Extensions, which UTS #39 uses, is not in the
//     standard library, and the characters it would add are Common or Inherited
//     here or refused by PRECIS.
//
// So "hаnk" with a Cyrillic а is refused beside "hank", while "Δημήτρης", "たなか",
// "田中タロウ", "김민수" and "tanaka田中" are accepted. Login does not apply these
// rules: a policy added later must not lock existing accounts out. Names made of
// one script that look like another ("асе" in Cyrillic for "ace") pass: catching
// them needs UTS #39's confusable skeletons.
func CheckNewUsername(s string) error {
	n, err := NormalizeUsername(s)
	if err != nil {
		return err
	}
	if strings.IndexFunc(n, defaultIgnorable) >= 0 {
		return badUsername(ErrUsernameInvisible)
	}
	if !singleScript(n) {
		return badUsername(ErrUsernameMixedScript)
	}
	return nil
}

// scriptSets are the script combinations, beyond a single script, that UTS #39 §5.2
// Highly Restrictive allows.
var scriptSets = [][]*unicode.RangeTable{
	{unicode.Latin, unicode.Han, unicode.Hiragana, unicode.Katakana},
	{unicode.Latin, unicode.Han, unicode.Hangul},
	{unicode.Latin, unicode.Han, unicode.Bopomofo},
}

// singleScript reports whether the scripts of s's characters, Common and Inherited
// aside, are one script or within one of scriptSets.
func singleScript(s string) bool {
	var seen []*unicode.RangeTable
	for _, r := range s {
		t := scriptOf(r)
		if t != nil && !slices.Contains(seen, t) {
			seen = append(seen, t)
		}
	}
	if len(seen) <= 1 {
		return true
	}
	for _, set := range scriptSets {
		if !slices.ContainsFunc(seen, func(t *unicode.RangeTable) bool { return !slices.Contains(set, t) }) {
			return true
		}
	}
	return false
}

// scriptOf is the script of r, or nil for Common, Inherited and unassigned code
// points. Scripts are disjoint, so the map's order does not matter.
func scriptOf(r rune) *unicode.RangeTable {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return unicode.Latin
		}
		return nil
	}
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return nil
	}
	for _, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return t
		}
	}
	return nil
}
