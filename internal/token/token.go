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

// Minter signs access tokens with the key set's signing key.
type Minter struct {
	keys     *keys.Set
	issuer   string
	audience string
	method   jwt.SigningMethod
}

// NewMinter returns a Minter for the given issuer and audience.
func NewMinter(ks *keys.Set, issuer, audience string) *Minter {
	return &Minter{keys: ks, issuer: issuer, audience: audience, method: jwt.GetSigningMethod(ks.Signing().Alg)}
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
	t := jwt.NewWithClaims(m.method, c)
	k := m.keys.Signing()
	t.Header["kid"] = k.ID
	t.Header["typ"] = Type
	return t.SignedString(k.Private)
}

// Verifier checks access tokens against a key set, issuer and audience.
type Verifier struct {
	keys   *keys.Set
	parser *jwt.Parser
}

// NewVerifier builds a verifier. now is the clock (time.Now in production).
func NewVerifier(ks *keys.Set, issuer, audience string, now func() time.Time) *Verifier {
	return &Verifier{
		keys: ks,
		parser: jwt.NewParser(
			jwt.WithValidMethods(ks.Algorithms()),
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
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

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
	// refuse both so what we check is what any other JWT library would read.
	if err := checkUniqueKeys(hdrJSON); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	if err := checkUniqueKeys(payload); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	if err := checkNumericDates(payload); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	var h header
	if err := json.Unmarshal(hdrJSON, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrInvalid, err)
	}
	if h.Crit != nil {
		// RFC 7515 §4.1.11: we understand no extensions, so any crit is fatal.
		return nil, fmt.Errorf("%w: crit header present", ErrInvalid)
	}
	if !strings.EqualFold(h.Typ, Type) && !strings.EqualFold(h.Typ, "application/"+Type) {
		return nil, fmt.Errorf("%w: typ %q is not %s", ErrInvalid, h.Typ, Type)
	}
	key, ok := v.keys.Lookup(h.Kid)
	if !ok {
		return nil, fmt.Errorf("%w: unknown kid", ErrInvalid)
	}
	if h.Alg != key.Alg {
		return nil, fmt.Errorf("%w: alg %q is not the one pinned to this kid", ErrInvalid, h.Alg)
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

// checkUniqueKeys refuses a JSON text that is not one object, or whose top-level
// names repeat when compared case-insensitively.
func checkUniqueKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	var seen [16]string
	names := seen[:0]
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		for _, n := range names {
			if strings.EqualFold(n, name) {
				return fmt.Errorf("duplicate member %q", name)
			}
		}
		names = append(names, name)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("data after the object")
	}
	return nil
}

// checkNumericDates refuses an exp, nbf or iat that is a JSON string: golang-jwt reads
// NumericDate through json.Number, which also takes "exp":"9999999999", but RFC 7519 §2
// makes a NumericDate a JSON number. The fields match names as RegisteredClaims does.
func checkNumericDates(payload []byte) error {
	var d struct{ Exp, Nbf, Iat json.RawMessage }
	if err := json.Unmarshal(payload, &d); err != nil {
		return err
	}
	for _, v := range [][]byte{d.Exp, d.Nbf, d.Iat} {
		if len(v) > 0 && v[0] == '"' {
			return errors.New("a NumericDate claim is a string")
		}
	}
	return nil
}
