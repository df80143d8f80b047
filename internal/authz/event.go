package authz

// The raw-payload entry point Lambda runs. aws-lambda-go's handler for Handle decodes
// the whole payload 2.0 event (a dozen headers, the request context, ...) by
// reflection, most of an authorization's allocations, to read a few fields; Invoke
// reads those straight from the bytes and writes the simple response by hand.
//
// It answers exactly as lambda.NewHandler(a.Handle) does (the equivalence test and
// FuzzEventRequest hold it to that): the same request is read from the same event, the
// same bytes come back, and a payload that decoder refuses is refused. An event that
// names a field Handle reads twice (which API Gateway never sends) is decoded as
// encoding/json does it, the slow way, since a repeat decodes into what the first one
// left. The one difference is a field Handle never reads that has a type the event
// struct does not allow ({"version":2}): encoding/json refuses the whole event, Invoke
// decides as usual. API Gateway does not send such events, and the decision never
// depended on those fields.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ErrMalformedEvent is wrapped by the error Invoke returns for a payload that
// aws-lambda-go's decoder of Handle's event would refuse too. Lambda reports it as a
// function error, which API Gateway answers 500: closed, like a deny. The message
// says what was wrong, never what the payload held.
var ErrMalformedEvent = errors.New("authz: malformed authorizer event")

// Why a payload was refused, made once so refusing junk allocates nothing.
var (
	errNoEvent   = wrapEvent("no JSON value")
	errTruncated = wrapEvent("truncated JSON")
	errSyntax    = wrapEvent("invalid JSON")
	errTooDeep   = wrapEvent("JSON nested too deeply")
	errNotObject = wrapEvent("not a JSON object")
	errStrings   = wrapEvent("identitySource or cookies is not an array of strings")
	errHeaders   = wrapEvent("headers is not an object of strings")
	errFieldType = wrapEvent("a field has a type the event does not allow")
)

type eventError struct{ reason string }

func (e *eventError) Error() string { return ErrMalformedEvent.Error() + ": " + e.reason }
func (e *eventError) Unwrap() error { return ErrMalformedEvent }

func wrapEvent(reason string) error { return &eventError{reason} }

// Invoke implements lambda.Handler: the payload 2.0 REQUEST authorizer event in, the
// simple response out, byte for byte what lambda.NewHandler(a.Handle) answers.
func (a *Authorizer) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := eventRequest(payload)
	if err != nil {
		return nil, err
	}
	return appendResponse(make([]byte, 0, 224), a.decide(ctx, req)), nil
}

// appendResponse appends the simple response for p (nil: denied) as encoding/json
// writes events.APIGatewayV2CustomAuthorizerSimpleResponse{Context: p.Context()} with
// aws-lambda-go's settings: context's keys sorted, HTML characters not escaped, no
// newline.
func appendResponse(b []byte, p *Principal) []byte {
	if p == nil {
		return append(b, `{"isAuthorized":false}`...)
	}
	var authTime int64
	if !p.AuthTime.IsZero() {
		authTime = p.AuthTime.Unix()
	}
	b = append(b, `{"isAuthorized":true,"context":{"auth_time":`...)
	b = strconv.AppendInt(b, authTime, 10)
	b = append(b, `,"scope":`...)
	b = appendJSONString(b, p.Scope)
	b = append(b, `,"sid":`...)
	b = appendJSONString(b, p.Session)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, p.Subject)
	return append(b, "}}"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes a string with HTML
// escaping off: '"', '\\' and control characters escaped, invalid UTF-8 replaced by
// U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// maxDepth is encoding/json's limit on nesting.
const maxDepth = 10000

// eventRequest returns what Handle reads of the event in payload, read as
// aws-lambda-go reads it (json.Decoder.Decode into the event struct): the first JSON
// value counts and anything after it is ignored; that value must be an object or null
// (null is an empty event) and valid JSON throughout; member names match the fields
// exactly or else case-insensitively; the fields Handle reads must have their types.
func eventRequest(payload []byte) (request, error) {
	s := scanner{data: payload}
	s.space()
	if s.i >= len(s.data) {
		return request{}, errNoEvent
	}
	switch s.data[s.i] {
	case '{':
	case 'n':
		// null decodes into nothing: an empty event. What follows is never read.
		return request{}, s.literal("null")
	default:
		// Any other value is refused, by its syntax or by its type.
		if err := s.skip(0); err != nil {
			return request{}, err
		}
		return request{}, errNotObject
	}
	var ev event
	var seen [fieldCount]bool
	repeated := false
	s.i++
	s.space()
	if s.peek() == '}' {
		return request{}, nil // {} and whatever follows
	}
	for {
		s.space()
		name, escaped, err := s.str()
		if err != nil {
			return request{}, err
		}
		s.space()
		if s.peek() != ':' {
			return request{}, s.fail()
		}
		s.i++
		s.space()
		f := field(name, escaped)
		repeated = repeated || f != fieldOther && seen[f]
		seen[f] = true
		switch {
		case repeated && f != fieldOther:
			err = s.skip(1) // decoded by encoding/json below
		case f == fieldIdentity:
			ev.sources, ev.first, err = s.strings(nil)
		case f == fieldCookies:
			ev.cookies = s.i
			ev.nCookies, _, err = s.strings(nil)
		case f == fieldHeaders:
			err = ev.headers(&s)
		default:
			err = s.skip(1)
		}
		if err != nil {
			return request{}, err
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			if repeated {
				return typedRequest(payload)
			}
			return ev.request(payload)
		}
		return request{}, s.fail()
	}
}

// typedRequest reads the event the slow way, with encoding/json, as Handle gets it.
// The scanner has found the payload valid, so only a type can be wrong.
func typedRequest(payload []byte) (request, error) {
	var ev events.APIGatewayV2CustomAuthorizerV2Request
	if err := json.NewDecoder(bytes.NewReader(payload)).Decode(&ev); err != nil {
		return request{}, errFieldType
	}
	req := request{cookies: ev.Cookies}
	if len(ev.IdentitySource) > 0 {
		req.credential = ev.IdentitySource[0]
	} else {
		req.credential = ev.Headers["authorization"]
	}
	req.transport, req.hasTransport = ev.Headers[TransportHeader]
	return req, nil
}

// event is what Handle reads of an event whose fields appear once each, as quoted
// JSON strings (nil: "" or absent), unquoted only when used.
type event struct {
	sources      int    // len(identitySource)
	first        []byte // identitySource[0]
	auth         []byte // headers["authorization"]
	transport    []byte // headers[TransportHeader]
	hasTransport bool
	cookies      int // where the cookies array starts (0: no cookies member)
	nCookies     int
}

func (ev *event) request(payload []byte) (request, error) {
	var req request
	var err error
	q := ev.auth
	if ev.sources > 0 {
		q = ev.first
	}
	if req.credential, err = unquote(q); err != nil {
		return request{}, err
	}
	if req.transport, err = unquote(ev.transport); err != nil {
		return request{}, err
	}
	req.hasTransport = ev.hasTransport
	// The cookies are read only for a request without a credential (cookie-only mode).
	if req.credential == "" && ev.nCookies > 0 {
		req.cookies = make([]string, 0, ev.nCookies)
		s := scanner{data: payload, i: ev.cookies}
		if _, _, err := s.strings(func(q []byte) error {
			c, err := unquote(q)
			req.cookies = append(req.cookies, c)
			return err
		}); err != nil {
			return request{}, err
		}
	}
	return req, nil
}

// strings reads an array of strings into a fresh []string as encoding/json does: null
// and [] are empty, a null element is "", anything else is refused. It returns the
// length and the first element, and hands each element to each (if not nil), quoted
// (nil for null).
func (s *scanner) strings(each func(quoted []byte) error) (n int, first []byte, err error) {
	switch s.peek() {
	case 'n':
		return 0, nil, s.literal("null")
	case '[':
	default:
		if err := s.skip(1); err != nil {
			return 0, nil, err
		}
		return 0, nil, errStrings
	}
	s.i++
	s.space()
	if s.peek() == ']' {
		s.i++
		return 0, nil, nil
	}
	for {
		s.space()
		start := s.i
		var q []byte
		switch s.peek() {
		case '"':
			if _, _, err := s.str(); err != nil {
				return 0, nil, err
			}
			q = s.data[start:s.i]
		case 'n':
			if err := s.literal("null"); err != nil {
				return 0, nil, err
			}
		default:
			if err := s.skip(2); err != nil {
				return 0, nil, err
			}
			return 0, nil, errStrings
		}
		if n == 0 {
			first = q
		}
		if each != nil {
			if err := each(q); err != nil {
				return 0, nil, err
			}
		}
		n++
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case ']':
			s.i++
			return n, first, nil
		}
		return 0, nil, s.fail()
	}
}

// headers reads a headers member into a fresh map[string]string as encoding/json
// does: null is none; an object's members are its entries, a null value "" and a
// repeated key the last; anything else is refused. Keys match exactly.
func (ev *event) headers(s *scanner) error {
	switch s.peek() {
	case 'n':
		return s.literal("null")
	case '{':
	default:
		if err := s.skip(1); err != nil {
			return err
		}
		return errHeaders
	}
	s.i++
	s.space()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.space()
		name, escaped, err := s.str()
		if err != nil {
			return err
		}
		s.space()
		if s.peek() != ':' {
			return s.fail()
		}
		s.i++
		s.space()
		var dst *[]byte
		switch {
		case isKey(name, escaped, "authorization"):
			dst = &ev.auth
		case isKey(name, escaped, TransportHeader):
			dst, ev.hasTransport = &ev.transport, true
		}
		start := s.i
		switch s.peek() {
		case '"':
			if _, _, err := s.str(); err != nil {
				return err
			}
			if dst != nil {
				*dst = s.data[start:s.i]
			}
		case 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
			if dst != nil {
				*dst = nil
			}
		default:
			if err := s.skip(2); err != nil {
				return err
			}
			return errHeaders
		}
		s.space()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
			return nil
		}
		return s.fail()
	}
}

const (
	fieldOther = iota
	fieldIdentity
	fieldHeaders
	fieldCookies
	fieldCount
)

// field says which of the fields Handle reads a member name (quoted, as in the
// payload) decodes into. encoding/json matches a name to a field exactly or else
// case-insensitively (Unicode simple folding, as bytes.EqualFold); no two fields of
// the event fold to the same name, so either way it is the same field.
func field(quoted []byte, escaped bool) int {
	switch {
	case isFold(quoted, escaped, "identitySource"):
		return fieldIdentity
	case isFold(quoted, escaped, "headers"):
		return fieldHeaders
	case isFold(quoted, escaped, "cookies"):
		return fieldCookies
	}
	return fieldOther
}

// plain reports whether a quoted string's contents are what it decodes to: no escape
// and valid UTF-8 (encoding/json replaces invalid bytes by U+FFFD).
func plain(quoted []byte, escaped bool) bool {
	if escaped {
		return false
	}
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c >= utf8.RuneSelf {
			return utf8.Valid(inner)
		}
	}
	return true
}

func isFold(quoted []byte, escaped bool, name string) bool {
	if plain(quoted, escaped) {
		inner := quoted[1 : len(quoted)-1]
		// Each letter of name is one byte and folds from at most three (ſ, K): a
		// cheap first cut.
		return len(inner) >= len(name) && len(inner) <= 3*len(name) && bytes.EqualFold(inner, []byte(name))
	}
	s, err := unquote(quoted)
	return err == nil && bytes.EqualFold([]byte(s), []byte(name))
}

func isKey(quoted []byte, escaped bool, name string) bool {
	if plain(quoted, escaped) {
		return string(quoted[1:len(quoted)-1]) == name
	}
	s, err := unquote(quoted)
	return err == nil && s == name
}

// unquote decodes a JSON string as encoding/json does. Only a string with escapes or
// bytes that are not UTF-8 takes the slow way.
func unquote(quoted []byte) (string, error) {
	if len(quoted) <= 2 {
		return "", nil // nil (absent or null) or ""
	}
	if plain(quoted, bytes.IndexByte(quoted, '\\') >= 0) {
		return string(quoted[1 : len(quoted)-1]), nil
	}
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return "", errSyntax
	}
	return s, nil
}

// scanner reads JSON from data at i. It validates what it passes over as
// encoding/json's scanner does, without building anything.
type scanner struct {
	data []byte
	i    int
	// objects has bit d set if the container skip is in at depth d is an object.
	// Each bit is written when its container opens, so it needs no clearing.
	objects [maxDepth/64 + 1]uint64
}

// peek returns the byte at i, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

// fail is the error for the byte at i: the input ended, or it is out of place.
func (s *scanner) fail() error {
	if s.i >= len(s.data) {
		return errTruncated
	}
	return errSyntax
}

func (s *scanner) space() {
	data, i := s.data, s.i
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	s.i = i
}

// literal moves past word (true, false or null) at i.
func (s *scanner) literal(word string) error {
	for k := 0; k < len(word); k++ {
		if s.i >= len(s.data) {
			return errTruncated
		}
		if s.data[s.i] != word[k] {
			return errSyntax
		}
		s.i++
	}
	return nil
}

// str moves past the string at i and returns it quoted, and whether it has an escape.
func (s *scanner) str() (quoted []byte, escaped bool, err error) {
	data, i := s.data, s.i // locals, so the loop keeps them in registers
	if i >= len(data) || data[i] != '"' {
		return nil, false, s.fail()
	}
	start := i
	i++
	for {
		// Eight bytes at a time while none of them needs a look.
		for i+8 <= len(data) && !special(binary.LittleEndian.Uint64(data[i:])) {
			i += 8
		}
		if i >= len(data) {
			return nil, false, errTruncated
		}
		c := data[i]
		if plainByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return data[start:s.i], escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(data) {
				return nil, false, errTruncated
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for range 4 {
					if i >= len(data) {
						return nil, false, errTruncated
					}
					if !isHex(data[i]) {
						return nil, false, errSyntax
					}
					i++
				}
			default:
				return nil, false, errSyntax
			}
		default: // a control character
			return nil, false, errSyntax
		}
	}
}

// special reports whether one of the eight bytes of w is '"', '\\' or a control
// character (below 0x20): the bit tricks of "Bit Twiddling Hacks" (haszero, hasless),
// exact for whether any byte is one.
func special(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	return (zero(w^(ones*'"')) | zero(w^(ones*'\\')) | (w-ones*0x20)&^w&highs) != 0
}

// plainByte is true for the bytes that stand for themselves inside a JSON string:
// all but '"', '\\' and control characters.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number moves past the number at i: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return s.fail()
	}
	if s.peek() == '.' {
		s.i++
		if !isDigit(s.peek()) {
			return s.fail()
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !isDigit(s.peek()) {
			return s.fail()
		}
		s.digits()
	}
	return nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *scanner) digits() {
	for s.i < len(s.data) && isDigit(s.data[s.i]) {
		s.i++
	}
}

// skip moves past the value at i, validating it; the value is inside outer containers.
// Nesting is tracked in a bit set, not by recursion, so a deep value costs no stack;
// encoding/json refuses nesting deeper than maxDepth, and so does skip.
func (s *scanner) skip(outer int) error {
	objects := &s.objects
	depth := outer
	for {
		// A value.
		s.space()
		switch c := s.peek(); {
		case c == '{' || c == '[':
			if depth == maxDepth {
				return errTooDeep
			}
			depth++
			if c == '{' {
				objects[depth/64] |= 1 << (depth % 64)
			} else {
				objects[depth/64] &^= 1 << (depth % 64)
			}
			s.i++
			s.space()
			if (c == '{' && s.peek() == '}') || (c == '[' && s.peek() == ']') {
				s.i++
				depth--
				break
			}
			if c == '{' {
				if err := s.member(); err != nil {
					return err
				}
			}
			continue
		case c == '"':
			if _, _, err := s.str(); err != nil {
				return err
			}
		case c == 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		case c == '-' || isDigit(c):
			if err := s.number(); err != nil {
				return err
			}
		default:
			return s.fail()
		}
		// After a value: close containers until one has a next element.
		for {
			if depth == outer {
				return nil
			}
			s.space()
			object := objects[depth/64]&(1<<(depth%64)) != 0
			c := s.peek()
			if c == ',' {
				s.i++
				if object {
					s.space()
					if err := s.member(); err != nil {
						return err
					}
				}
				break
			}
			if (object && c == '}') || (!object && c == ']') {
				s.i++
				depth--
				continue
			}
			return s.fail()
		}
	}
}

// member moves past an object member's name and colon.
func (s *scanner) member() error {
	if _, _, err := s.str(); err != nil {
		return err
	}
	s.space()
	if s.peek() != ':' {
		return s.fail()
	}
	s.i++
	return nil
}
