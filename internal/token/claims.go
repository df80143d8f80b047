package token

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// rawClaims are the payload members Claims reads, as the raw JSON of their values
// (nil: absent). Verify's one pass over the payload (members) collects them; decode
// turns them into Claims once the header has passed, as encoding/json would decode
// the payload into Claims, without its reflection (a fifth of an authorization's
// allocations). Every member name is exact here: members refused repeats and checkClaim
// case variants, the two ways encoding/json would read a name differently.
type rawClaims struct {
	iss, sub, aud, exp, nbf, iat, jti, sid, ver, scope, authTime, amr []byte
}

// set is members' callback: checkClaim, then keep the value.
func (r *rawClaims) set(name, value []byte) error {
	if err := checkClaim(name, value); err != nil {
		return err
	}
	var dst *[]byte
	switch string(name) {
	case "iss":
		dst = &r.iss
	case "sub":
		dst = &r.sub
	case "aud":
		dst = &r.aud
	case "exp":
		dst = &r.exp
	case "nbf":
		dst = &r.nbf
	case "iat":
		dst = &r.iat
	case "jti":
		dst = &r.jti
	case "sid":
		dst = &r.sid
	case "ver":
		dst = &r.ver
	case "scope":
		dst = &r.scope
	case "auth_time":
		dst = &r.authTime
	case "amr":
		dst = &r.amr
	default:
		return nil
	}
	*dst = value
	return nil
}

// errClaimType refuses a claim whose value encoding/json (or golang-jwt's
// UnmarshalJSON of the claim's type) would not decode into Claims: golang-jwt's
// ErrTokenMalformed, as when it decoded the payload. Wrapped by decode with the
// claim's name, never its value.
var errClaimType = fmt.Errorf("%w: a claim's value has the wrong type", jwt.ErrTokenMalformed)

// decode fills c as json.Unmarshal(payload, c) would; payload must be valid JSON
// (json.Valid) and r its members.
func (r *rawClaims) decode(c *Claims) error {
	for _, s := range [...]struct {
		name string
		raw  []byte
		dst  *string
	}{
		{"iss", r.iss, &c.Issuer}, {"sub", r.sub, &c.Subject}, {"jti", r.jti, &c.ID},
		{"sid", r.sid, &c.SID}, {"scope", r.scope, &c.Scope},
	} {
		if err := decodeString(s.raw, s.dst); err != nil {
			return fmt.Errorf("%w (%s)", err, s.name)
		}
	}
	var err error
	if c.Audience, err = decodeAudience(r.aud); err != nil {
		return fmt.Errorf("%w (aud)", err)
	}
	for _, d := range [...]struct {
		name string
		raw  []byte
		dst  **jwt.NumericDate
	}{{"exp", r.exp, &c.ExpiresAt}, {"nbf", r.nbf, &c.NotBefore}, {"iat", r.iat, &c.IssuedAt}, {"auth_time", r.authTime, &c.AuthTime}} {
		if *d.dst, err = decodeNumericDate(d.raw); err != nil {
			return fmt.Errorf("%w (%s)", err, d.name)
		}
	}
	if c.Ver, err = decodeInt64(r.ver); err != nil {
		return fmt.Errorf("%w (ver)", err)
	}
	if c.AMR, err = decodeStrings(r.amr); err != nil {
		return fmt.Errorf("%w (amr)", err)
	}
	return nil
}

// decodeStrings is encoding/json's decoding into a []string: null is nil, [] an empty
// slice, a null element "", anything else is refused.
func decodeStrings(raw []byte) ([]string, error) {
	if raw == nil || raw[0] == 'n' {
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, errClaimType
	}
	list := []string{}
	i := skipSpace(raw, 1)
	if raw[i] == ']' {
		return list, nil
	}
	for {
		end, err := skipValue(raw, i)
		if err != nil {
			return nil, err
		}
		var s string
		if err := decodeString(raw[i:end], &s); err != nil {
			return nil, err
		}
		list = append(list, s)
		i = skipSpace(raw, end)
		if raw[i] == ']' {
			return list, nil
		}
		i = skipSpace(raw, i+1) // the comma: the array is valid JSON
	}
}

// decodeString: a string is unquoted as encoding/json unquotes it, null leaves ""
// (encoding/json ignores null for a string), anything else is refused.
func decodeString(raw []byte, dst *string) error {
	switch {
	case raw == nil || raw[0] == 'n':
		return nil
	case raw[0] != '"':
		return errClaimType
	}
	s, err := unquote(raw)
	*dst = s
	return err
}

// unquote decodes a JSON string; one without escapes (the payload is UTF-8, checked) is
// its bytes.
func unquote(raw []byte) (string, error) {
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", errBadString
			}
			return s, nil
		}
	}
	return string(raw[1 : len(raw)-1]), nil
}

// decodeAudience is jwt.ClaimStrings' UnmarshalJSON: a string is a list of one; an
// array must hold only strings ([] is none); null is none; anything else is refused.
func decodeAudience(raw []byte) (jwt.ClaimStrings, error) {
	if raw == nil || raw[0] == 'n' {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		s, err := unquote(raw)
		if err != nil {
			return nil, err
		}
		return jwt.ClaimStrings{s}, nil
	case '[':
	default:
		return nil, errClaimType
	}
	var aud jwt.ClaimStrings
	i := skipSpace(raw, 1)
	if raw[i] == ']' {
		return nil, nil
	}
	for {
		if raw[i] != '"' {
			return nil, errClaimType
		}
		end, err := skipString(raw, i)
		if err != nil {
			return nil, err
		}
		s, err := unquote(raw[i:end])
		if err != nil {
			return nil, err
		}
		aud = append(aud, s)
		i = skipSpace(raw, end)
		if raw[i] == ']' {
			return aud, nil
		}
		i = skipSpace(raw, i+1) // the comma: the array is valid JSON
	}
}

// decodeNumericDate is *jwt.NumericDate's decoding: null is none; a number is
// seconds, read as a float64 (json.Number.Float64) and truncated to
// jwt.TimePrecision. checkClaim has refused every other kind of value.
func decodeNumericDate(raw []byte) (*jwt.NumericDate, error) {
	if raw == nil || raw[0] == 'n' {
		return nil, nil
	}
	var f float64
	if n, ok := smallInt(raw); ok {
		f = float64(n) // what ParseFloat makes of the same digits, without allocating
	} else {
		var err error
		if f, err = strconv.ParseFloat(string(raw), 64); err != nil {
			return nil, errClaimType
		}
	}
	round, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(round), int64(frac*1e9))), nil
}

// decodeInt64 is encoding/json's decoding into *int64: null is none; a number must be
// an integer literal (no fraction or exponent) within int64; anything else is refused.
func decodeInt64(raw []byte) (*int64, error) {
	if raw == nil || raw[0] == 'n' {
		return nil, nil
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return nil, errClaimType
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return nil, errClaimType
	}
	return &n, nil
}

// smallInt reads a JSON number made of up to 18 digits, and an optional minus, which
// fits an int64 and a float64's exact integers up to 2^53 and rounds like ParseFloat
// beyond.
func smallInt(raw []byte) (int64, bool) {
	neg := raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
