// Package token mints and verifies access tokens (JWTs).
//
// Verification is strict on purpose: golang-jwt v5's defaults accept a token without
// exp, ignore iat and crit, accept non-canonical base64 and let encoding/json match
// claim names case-insensitively (see SECURITY.md). Every one of those is closed here.
package token

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/keys"
)

// Type is the JWS "typ" of access tokens (RFC 9068), so no other JWT from the same
// keys can be replayed as one (RFC 8725 §3.11).
const Type = "at+jwt"

// MaxLength caps a token before any parsing (CVE-2025-30204 was an allocation blow-up
// on long inputs). Our tokens are under 1 KB.
const MaxLength = 8 << 10

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = 5 * time.Second

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	SID   string `json:"sid"`
	Ver   *int64 `json:"ver"`
	Scope string `json:"scope,omitempty"`
	// AuthTime is when the user last proved their password in this session (OIDC's
	// auth_time): set at login, password change and reauthentication, kept by
	// refreshes, so a route can demand a recent sign-in.
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// AMR names how the user authenticated (RFC 8176): ["pwd"].
	AMR []string `json:"amr,omitempty"`
}

// ErrInvalid is wrapped by every error Verify returns; callers deny on any error.
//
// Each error also wraps the reason it was refused, so callers and tests can tell why
// with errors.Is: one of the Err* reasons below for the checks this package makes
// itself, or golang-jwt's sentinels (jwt.ErrTokenSignatureInvalid, jwt.ErrTokenExpired,
// jwt.ErrTokenInvalidAudience, ...) for the checks golang-jwt makes. Every reason below
// wraps ErrInvalid. No error message quotes the token: an attacker chooses its bytes,
// and the authorizer logs the message.
var ErrInvalid = errors.New("token: invalid")

// The refusal reasons Verify decides itself. All but ErrRequiredClaim are decided
// before the claims are decoded and the signature checked, so a forgery can be
// refused for one of them rather than for its signature.
var (
	// ErrTooLong: the token is longer than MaxLength.
	ErrTooLong = fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	// ErrMalformed: not a compact JWS of canonical base64url segments whose header and
	// payload are each a single JSON object.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrInvalid)
	// ErrNotUTF8: the header or payload is not valid UTF-8 (RFC 8725 §3.7).
	ErrNotUTF8 = fmt.Errorf("%w: not UTF-8", ErrInvalid)
	// ErrDuplicateMember: a member name of the header or payload repeats, compared
	// case-insensitively as encoding/json matches them.
	ErrDuplicateMember = fmt.Errorf("%w: a member name repeats", ErrInvalid)
	// ErrCaseVariantMember: a member is named like one the verifier reads but in
	// other case ("Exp", "ALG"). encoding/json would read it as that member; a
	// case-sensitive reader of the same token would not.
	ErrCaseVariantMember = fmt.Errorf("%w: a member name differs in case from a registered one", ErrInvalid)
	// ErrNumericDate: exp, nbf, iat or auth_time is not a JSON number (RFC 7519 §2).
	ErrNumericDate = fmt.Errorf("%w: a NumericDate claim is not a JSON number", ErrInvalid)
	// ErrCrit: the header has a crit member; we understand no extension (RFC 7515 §4.1.11).
	ErrCrit = fmt.Errorf("%w: crit header present", ErrInvalid)
	// ErrType: the typ header is not at+jwt (RFC 9068 §2.1).
	ErrType = fmt.Errorf("%w: typ is not %s", ErrInvalid, Type)
	// ErrUnknownKey: the kid header is missing, not a string or names no key of the set.
	ErrUnknownKey = fmt.Errorf("%w: unknown kid", ErrInvalid)
	// ErrAlgorithm: the alg header is not the one algorithm pinned to the kid's key.
	ErrAlgorithm = fmt.Errorf("%w: alg is not the one pinned to this kid", ErrInvalid)
	// ErrRequiredClaim: a verified token lacks sub, sid or jti (or has them empty), or
	// lacks a non-negative ver. Checked after golang-jwt's checks.
	ErrRequiredClaim = fmt.Errorf("%w: a required claim is missing or empty", ErrInvalid)
)

// jwtReasons are golang-jwt's sentinels, in the order a refusal's message names them.
var jwtReasons = []error{
	jwt.ErrTokenMalformed,
	jwt.ErrTokenUnverifiable,
	jwt.ErrTokenSignatureInvalid,
	jwt.ErrTokenInvalidClaims,
	jwt.ErrTokenRequiredClaimMissing,
	jwt.ErrTokenExpired,
	jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued,
	jwt.ErrTokenInvalidIssuer,
	jwt.ErrTokenInvalidAudience,
	jwt.ErrTokenInvalidSubject,
	jwt.ErrTokenInvalidId,
}

// jwtError is a refusal by golang-jwt. It unwraps to ErrInvalid and to golang-jwt's
// whole error, so errors.Is finds every golang-jwt sentinel, but its message names only
// those sentinels: golang-jwt's own messages wrap encoding/json's, which quote the
// token (a number literal, a character).
type jwtError struct {
	cause error
	msg   string
}

func (e *jwtError) Error() string   { return e.msg }
func (e *jwtError) Unwrap() []error { return []error{ErrInvalid, e.cause} }

// fromJWT wraps a refusal by golang-jwt (see jwtError).
func fromJWT(err error) error {
	msg := ErrInvalid.Error()
	sep := ": "
	for _, r := range jwtReasons {
		if errors.Is(err, r) {
			msg += sep + r.Error()
			sep = ", "
		}
	}
	return &jwtError{cause: err, msg: msg}
}

// Minter signs access tokens with the signing key of the current key set.
type Minter struct {
	keys     keys.Source
	issuer   string
	audience string
}

// NewMinter returns a Minter for the given issuer and audience. ks is a *keys.Set, or
// a *keys.Live that is replaced when the key set is reloaded.
func NewMinter(ks keys.Source, issuer, audience string) *Minter {
	return &Minter{keys: ks, issuer: issuer, audience: audience}
}

// Mint signs a token for the subject and session, valid from now until exp, without
// auth_time and amr.
func (m *Minter) Mint(now time.Time, sub, sid string, ver int64, scope string, exp time.Time) (string, error) {
	return m.MintAuth(now, sub, sid, ver, scope, exp, time.Time{})
}

// MintAuth is Mint with the time the password was last checked in the session: a
// non-zero authTime adds auth_time and amr ["pwd"], the only method this service has.
func (m *Minter) MintAuth(now time.Time, sub, sid string, ver int64, scope string, exp, authTime time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.issuer,
			Subject:   sub,
			Audience:  jwt.ClaimStrings{m.audience},
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		},
		SID:   sid,
		Ver:   &ver,
		Scope: scope,
	}
	if !authTime.IsZero() {
		c.AuthTime, c.AMR = jwt.NewNumericDate(authTime), []string{"pwd"}
	}
	k := m.keys.Current().Signing()
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), c)
	t.Header["kid"] = k.ID
	t.Header["typ"] = Type
	return t.SignedString(k.Private)
}

// Verifier checks access tokens against a key set, issuer and audience.
type Verifier struct {
	keys      keys.Source
	validator *jwt.Validator
}

// NewVerifier builds a verifier. ks is a *keys.Set, or a *keys.Live that is replaced
// when the key set is reloaded; now is the clock (time.Now in production).
func NewVerifier(ks keys.Source, issuer, audience string, now func() time.Time) *Verifier {
	return &Verifier{
		keys: ks,
		validator: jwt.NewValidator(
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// Details of ErrMalformed, made once so a refusal of junk allocates nothing.
var (
	errAlphabet  = fmt.Errorf("%w: a character outside base64url and '.'", ErrMalformed)
	errSegments  = fmt.Errorf("%w: not three non-empty segments", ErrMalformed)
	errHdrBase64 = fmt.Errorf("%w: header is not canonical base64url", ErrMalformed)
	errPayBase64 = fmt.Errorf("%w: payload is not canonical base64url", ErrMalformed)
	errNotObject = fmt.Errorf("%w: not a JSON object", ErrMalformed)
	errBadObject = fmt.Errorf("%w: malformed JSON object", ErrMalformed)
	errTrailing  = fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	errBadString = fmt.Errorf("%w: malformed JSON string", ErrMalformed)
	errBadValue  = fmt.Errorf("%w: malformed JSON value", ErrMalformed)
)

// header is what we read of a JWS header: its only reading.
type header struct {
	alg, kid, typ string
	crit          bool
}

// set records one header member. Names match exactly, as JWT libraries read a header
// (golang-jwt into a map); a case variant of a name we read is refused, since
// encoding/json would match it to a struct field and other readers would not.
func (h *header) set(name, value []byte) error {
	var dst *string
	var reason error // the refusal if the value is not a string
	switch string(name) {
	case "crit":
		h.crit = true
		return nil
	case "alg":
		dst, reason = &h.alg, ErrAlgorithm
	case "kid":
		dst, reason = &h.kid, ErrUnknownKey
	case "typ":
		dst, reason = &h.typ, ErrType
	default:
		if equalFold(name, "crit") || equalFold(name, "alg") || equalFold(name, "kid") || equalFold(name, "typ") {
			return ErrCaseVariantMember
		}
		return nil
	}
	if value[0] != '"' {
		return reason
	}
	if bytes.IndexByte(value, '\\') < 0 {
		*dst = string(value[1 : len(value)-1])
		return nil
	}
	if json.Unmarshal(value, dst) != nil {
		return errBadString
	}
	return nil
}

// claimNames are the payload members Claims reads: the json names of its fields and
// of jwt.RegisteredClaims.
var claimNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "ver", "scope", "auth_time", "amr"}

// checkClaim refuses a case variant of a claim name ({"Exp":9999999999} would be
// read as exp by encoding/json, and as no exp by a case-sensitive reader), and an exp,
// nbf, iat or auth_time that is not a JSON number: golang-jwt reads NumericDate through
// json.Number, which also takes "exp":"9999999999", but RFC 7519 §2 makes a
// NumericDate a JSON number.
func checkClaim(name, value []byte) error {
	switch string(name) {
	case "exp", "nbf", "iat", "auth_time":
		if c := value[0]; c != '-' && (c < '0' || c > '9') {
			return ErrNumericDate
		}
		return nil
	case "iss", "sub", "aud", "jti", "sid", "ver", "scope", "amr":
		return nil
	}
	for _, n := range claimNames {
		if equalFold(name, n) {
			return ErrCaseVariantMember
		}
	}
	return nil
}

// equalFold reports whether b and the ASCII name s are equal under Unicode case
// folding, as encoding/json matches names: "ſub" (U+017F) is sub and "\u212aid" (the
// Kelvin sign) is kid, so b may be up to three times longer than s, never shorter.
func equalFold(b []byte, s string) bool {
	return len(s) <= len(b) && len(b) <= 3*len(s) && strings.EqualFold(string(b), s)
}

// in says which segment a refusal of the JSON scan is about.
func in(segment string, err error) error { return fmt.Errorf("%w (%s)", err, segment) }

// Verify returns the claims of a valid token, or an error wrapping ErrInvalid and the
// reason (see ErrInvalid).
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if len(raw) > MaxLength {
		return nil, ErrTooLong
	}
	// A compact JWS is base64url segments and dots (RFC 7515 §7.1). Go's base64 decoder
	// skips '\r' and '\n' even in strict mode, so without this one token has many spellings.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, errAlphabet
		}
	}
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	if first <= 0 || last == first || strings.IndexByte(raw[first+1:last], '.') >= 0 || last == len(raw)-1 {
		return nil, errSegments
	}
	hdrJSON, err := decodeSegment(raw[:first])
	if err != nil {
		return nil, errHdrBase64
	}
	payload, err := decodeSegment(raw[first+1 : last])
	if err != nil {
		return nil, errPayBase64
	}
	// RFC 8725 §3.7: JSON is UTF-8; encoding/json would silently map bad bytes to U+FFFD.
	if !utf8.Valid(hdrJSON) || !utf8.Valid(payload) {
		return nil, ErrNotUTF8
	}
	// encoding/json matches names case-insensitively and lets the last duplicate win;
	// refuse both so what we check is what any other JWT library would read. One pass
	// over each object, without allocating, reads what the checks need.
	var h header
	if err := members(hdrJSON, h.set); err != nil {
		return nil, in("header", err)
	}
	var rc rawClaims
	if err := members(payload, rc.set); err != nil {
		return nil, in("payload", err)
	}
	if h.crit {
		return nil, ErrCrit
	}
	if !strings.EqualFold(h.typ, Type) && !strings.EqualFold(h.typ, "application/"+Type) {
		return nil, ErrType
	}
	key, ok := v.keys.Current().Lookup(h.kid)
	if !ok {
		return nil, ErrUnknownKey
	}
	if h.alg != key.Alg {
		return nil, ErrAlgorithm
	}

	// From here on, the steps of golang-jwt's ParseWithClaims in its order (decode the
	// claims, check the signature, validate the claims) with its errors, and its parts
	// for the signature and the validation. Not its second base64 decoding of both
	// segments, nor its decoding of the header into a map: the reading above is the
	// header's only one, and members refused every way another reader could see it
	// differently. What members skipped, the values, must still be JSON.
	if !json.Valid(hdrJSON) {
		return nil, fromJWT(fmt.Errorf("%w: header", jwt.ErrTokenMalformed))
	}
	if !json.Valid(payload) {
		return nil, fromJWT(fmt.Errorf("%w: payload", jwt.ErrTokenMalformed))
	}
	var c Claims
	if err := rc.decode(&c); err != nil {
		return nil, fromJWT(err)
	}
	sig, err := decodeSegment(raw[last+1:])
	if err != nil {
		return nil, fromJWT(fmt.Errorf("%w: signature", jwt.ErrTokenMalformed))
	}
	method := jwt.GetSigningMethod(key.Alg)
	if method == nil || !slices.Contains(keys.Supported, key.Alg) {
		return nil, ErrAlgorithm
	}
	if err := method.Verify(raw[:last], sig, key.Public); err != nil {
		return nil, fromJWT(fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, err))
	}
	if err := v.validator.Validate(&c); err != nil {
		return nil, fromJWT(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	switch {
	case c.Subject == "":
		return nil, fmt.Errorf("%w: sub", ErrRequiredClaim)
	case c.SID == "":
		return nil, fmt.Errorf("%w: sid", ErrRequiredClaim)
	case c.Ver == nil || *c.Ver < 0:
		return nil, fmt.Errorf("%w: ver", ErrRequiredClaim)
	case c.ID == "":
		return nil, fmt.Errorf("%w: jti", ErrRequiredClaim)
	}
	return &c, nil
}

// decodeSegment decodes unpadded, canonical base64url (RFC 7515 §2).
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// members walks the top-level members of one JSON object, calling fn with each name
// (unescaped) and raw value. It refuses anything but a single object and names that
// repeat case-insensitively, and allocates only for names with escapes or objects of
// more than 16 members. Values are skipped, not validated: Verify validates the header
// (json.Valid) and decodes the payload (json.Unmarshal) as well.
func members(data []byte, fn func(name, value []byte) error) error {
	var seen [16][]byte
	names := seen[:0]
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errNotObject
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return errBadObject
			}
			end, err := skipString(data, i)
			if err != nil {
				return err
			}
			name := data[i+1 : end-1]
			if bytes.IndexByte(name, '\\') >= 0 {
				var unq string
				if json.Unmarshal(data[i:end], &unq) != nil {
					return errBadString
				}
				name = []byte(unq)
			}
			for _, n := range names {
				if bytes.EqualFold(n, name) {
					return ErrDuplicateMember
				}
			}
			names = append(names, name)
			i = skipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return errBadObject
			}
			start := skipSpace(data, i+1)
			if end, err = skipValue(data, start); err != nil {
				return err
			}
			if err := fn(name, data[start:end]); err != nil {
				return err
			}
			i = skipSpace(data, end)
			if i < len(data) && data[i] == ',' {
				i = skipSpace(data, i+1)
				continue
			}
			if i < len(data) && data[i] == '}' {
				i++
				break
			}
			return errBadObject
		}
	}
	if skipSpace(data, i) != len(data) {
		return errTrailing
	}
	return nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at data[i] == '"'.
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errBadString
}

// skipValue returns the index after the value that starts at data[i]. Nesting is
// counted, not recursed into, so a deeply nested value costs no stack.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errBadValue
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipString(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errBadValue
	}
	j := i
	for j < len(data) && !strings.ContainsRune(",}] \t\n\r", rune(data[j])) {
		j++
	}
	if j == i {
		return 0, errBadValue
	}
	return j, nil
}
