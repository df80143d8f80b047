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
}

// ErrInvalid wraps every reason a token is refused; callers deny on any error.
var ErrInvalid = errors.New("token: invalid")

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

// Mint signs a token for the subject and session, valid from now until exp.
func (m *Minter) Mint(now time.Time, sub, sid string, ver int64, scope string, exp time.Time) (string, error) {
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
	k := m.keys.Current().Signing()
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), c)
	t.Header["kid"] = k.ID
	t.Header["typ"] = Type
	return t.SignedString(k.Private)
}

// Verifier checks access tokens against a key set, issuer and audience.
type Verifier struct {
	keys   keys.Source
	parser *jwt.Parser
}

// NewVerifier builds a verifier. ks is a *keys.Set, or a *keys.Live that is replaced
// when the key set is reloaded; now is the clock (time.Now in production).
func NewVerifier(ks keys.Source, issuer, audience string, now func() time.Time) *Verifier {
	return &Verifier{
		keys: ks,
		parser: jwt.NewParser(
			// The algorithms this package can verify at all; each kid is further pinned
			// to its one algorithm below, so a key set reloaded with a key of another
			// type needs no new parser.
			jwt.WithValidMethods(keys.Supported),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithStrictDecoding(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// header is what we read of a JWS header before handing the token to golang-jwt.
type header struct {
	alg, kid, typ string
	crit          bool
}

// set records one header member, matching names as encoding/json would.
func (h *header) set(name, value []byte) error {
	var dst *string
	switch {
	case equalFold(name, "crit"):
		h.crit = true
		return nil
	case equalFold(name, "alg"):
		dst = &h.alg
	case equalFold(name, "kid"):
		dst = &h.kid
	case equalFold(name, "typ"):
		dst = &h.typ
	default:
		return nil
	}
	if value[0] != '"' {
		return fmt.Errorf("%s is not a string", name)
	}
	if bytes.IndexByte(value, '\\') < 0 {
		*dst = string(value[1 : len(value)-1])
		return nil
	}
	return json.Unmarshal(value, dst)
}

// checkNumericDate refuses an exp, nbf or iat that is a JSON string: golang-jwt reads
// NumericDate through json.Number, which also takes "exp":"9999999999", but RFC 7519 §2
// makes a NumericDate a JSON number.
func checkNumericDate(name, value []byte) error {
	if value[0] == '"' && (equalFold(name, "exp") || equalFold(name, "nbf") || equalFold(name, "iat")) {
		return errors.New("a NumericDate claim is a string")
	}
	return nil
}

func equalFold(b []byte, s string) bool { return len(b) == len(s) && strings.EqualFold(string(b), s) }

// Verify returns the claims of a valid token, or an error wrapping ErrInvalid.
func (v *Verifier) Verify(raw string) (*Claims, error) {
	if len(raw) > MaxLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	}
	// A compact JWS is base64url segments and dots (RFC 7515 §7.1). Go's base64 decoder
	// skips '\r' and '\n' even in strict mode, so without this one token has many spellings.
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, fmt.Errorf("%w: not a base64url character", ErrInvalid)
		}
	}
	first := strings.IndexByte(raw, '.')
	last := strings.LastIndexByte(raw, '.')
	if first <= 0 || last == first || strings.IndexByte(raw[first+1:last], '.') >= 0 || last == len(raw)-1 {
		return nil, fmt.Errorf("%w: not three non-empty segments", ErrInvalid)
	}
	hdrJSON, err := decodeSegment(raw[:first])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	payload, err := decodeSegment(raw[first+1 : last])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	// RFC 8725 §3.7: JSON is UTF-8; encoding/json would silently map bad bytes to U+FFFD.
	if !utf8.Valid(hdrJSON) || !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrInvalid)
	}
	// encoding/json matches names case-insensitively and lets the last duplicate win;
	// refuse both so what we check is what any other JWT library would read. One pass
	// over each object, without allocating, reads what the checks need.
	var h header
	if err := members(hdrJSON, h.set); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	if err := members(payload, checkNumericDate); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	if h.crit {
		// RFC 7515 §4.1.11: we understand no extensions, so any crit is fatal.
		return nil, fmt.Errorf("%w: crit header present", ErrInvalid)
	}
	if !strings.EqualFold(h.typ, Type) && !strings.EqualFold(h.typ, "application/"+Type) {
		return nil, fmt.Errorf("%w: typ %q is not %s", ErrInvalid, h.typ, Type)
	}
	key, ok := v.keys.Current().Lookup(h.kid)
	if !ok {
		return nil, fmt.Errorf("%w: unknown kid", ErrInvalid)
	}
	if h.alg != key.Alg {
		return nil, fmt.Errorf("%w: alg %q is not the one pinned to this kid", ErrInvalid, h.alg)
	}

	var c Claims
	_, err = v.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		// Checked again on golang-jwt's own reading of the header, so the two
		// readings cannot disagree.
		if t.Method.Alg() != key.Alg || t.Header["kid"] != key.ID {
			return nil, errors.New("alg or kid changed")
		}
		return key.Public, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch {
	case c.Subject == "":
		return nil, fmt.Errorf("%w: sub missing", ErrInvalid)
	case c.SID == "":
		return nil, fmt.Errorf("%w: sid missing", ErrInvalid)
	case c.Ver == nil || *c.Ver < 0:
		return nil, fmt.Errorf("%w: ver missing", ErrInvalid)
	case c.ID == "":
		return nil, fmt.Errorf("%w: jti missing", ErrInvalid)
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
// more than 16 members. Values are skipped, not validated: golang-jwt's json decoding
// of the same bytes, which must also succeed, does that.
func members(data []byte, fn func(name, value []byte) error) error {
	var seen [16][]byte
	names := seen[:0]
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return errors.New("malformed object")
			}
			end, err := skipString(data, i)
			if err != nil {
				return err
			}
			name := data[i+1 : end-1]
			if bytes.IndexByte(name, '\\') >= 0 {
				var unq string
				if err := json.Unmarshal(data[i:end], &unq); err != nil {
					return err
				}
				name = []byte(unq)
			}
			for _, n := range names {
				if bytes.EqualFold(n, name) {
					return fmt.Errorf("duplicate member %q", name)
				}
			}
			names = append(names, name)
			i = skipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return errors.New("malformed object")
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
			return errors.New("malformed object")
		}
	}
	if skipSpace(data, i) != len(data) {
		return errors.New("data after the object")
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
	return 0, errors.New("unterminated string")
}

// skipValue returns the index after the value that starts at data[i]. Nesting is
// counted, not recursed into, so a deeply nested value costs no stack.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errors.New("missing value")
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
		return 0, errors.New("unterminated value")
	}
	j := i
	for j < len(data) && !strings.ContainsRune(",}] \t\n\r", rune(data[j])) {
		j++
	}
	if j == i {
		return 0, errors.New("missing value")
	}
	return j, nil
}
