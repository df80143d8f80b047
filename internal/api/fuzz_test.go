package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// These fuzz targets exercise pure functions only (no DynamoDB): request decoding and
// refresh-token selection, and cookie parsing. Run one with
//
//	go test -run='^$' -fuzz='^FuzzDecodeRequest$' -fuzztime=60s ./internal/api
//
// New interesting inputs land in $(go env GOCACHE)/fuzz; the ones worth keeping are
// committed under testdata/fuzz/<Target>/ and run as regression cases in every go test.

// fuzzRefreshToken has the shape of a real refresh token (sid "." secret); its value
// means nothing, the decoding path never looks further than "is it empty".
var fuzzRefreshToken = base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, 16)) + "." +
	base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))

// Bits of FuzzDecodeRequest's mode byte.
const (
	fuzzEncMask       = 3      // 0 plain, 1 valid base64, 2 the raw bytes flagged base64, 3 unpadded base64 flagged base64
	fuzzTransport     = 1 << 2 // send x-session-transport with the fuzzed value
	fuzzCanonicalKeys = 1 << 3 // header names as "Content-Type" rather than "content-type"
	fuzzNoContentType = 1 << 4 // no content-type header at all
)

// fuzzRequest builds the event the handlers would receive and returns it with the
// bytes decodeJSON should parse (nil if the base64 is invalid).
func fuzzRequest(body []byte, mode uint8, contentType, transportValue string, cookies []string) (events.APIGatewayV2HTTPRequest, []byte) {
	req := events.APIGatewayV2HTTPRequest{Headers: map[string]string{}, Cookies: cookies}
	switch mode & fuzzEncMask {
	case 0:
		req.Body = string(body)
	case 1:
		req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	case 2:
		req.Body, req.IsBase64Encoded = string(body), true
	case 3:
		req.Body, req.IsBase64Encoded = base64.RawStdEncoding.EncodeToString(body), true
	}
	ctKey, trKey := "content-type", TransportHeader
	if mode&fuzzCanonicalKeys != 0 {
		ctKey, trKey = http.CanonicalHeaderKey(ctKey), http.CanonicalHeaderKey(trKey)
	}
	if mode&fuzzNoContentType == 0 {
		req.Headers[ctKey] = contentType
	}
	if mode&fuzzTransport != 0 {
		req.Headers[trKey] = transportValue
	}
	decoded := []byte(req.Body)
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return req, nil
		}
		decoded = b
	}
	return req, decoded
}

// fixedMessages are the error messages (and message prefixes) with no part taken from
// the input; a body that happens to be a substring of one is not an echo.
var fixedMessages = strings.Join([]string{
	"the body must be at most 8192 bytes", "the body is not valid base64", "a JSON body is required",
	"the body must be application/json", "the body has data after the JSON object",
	"the body is not the expected JSON object: malformed JSON",
	"the body is not the expected JSON object: syntax error at byte ",
	"the body is not the expected JSON object: field ", "username and password are required",
	TransportHeader + ` must be "cookie" when present`,
	"send the refresh token in the cookie or in the body, not both", "no refresh token cookie",
	"a request that uses the refresh cookie must send " + TransportHeader + ": cookie",
	"refresh_token is required",
	msgNotUTF8, msgNotObject, msgUnknown, msgCaseVariant, msgRepeated, msgNotScalar, msgSurrogate,
	msgTrailingData, "the body is not the expected JSON object: the JSON ends early",
}, "\n")

// wantRequestError checks err is a 4xx *requestError whose message echoes none of
// the given inputs (those of 16 bytes or more), and that errorResponse turns it into
// exactly that JSON answer.
func wantRequestError(t *testing.T, what string, h *Handlers, req events.APIGatewayV2HTTPRequest, err error, inputs ...string) {
	t.Helper()
	re, ok := err.(*requestError)
	if !ok {
		t.Fatalf("%s: error %v is a %T, not a *requestError", what, err, err)
	}
	if re.status < 400 || re.status > 499 || re.code == "" || re.message == "" {
		t.Fatalf("%s: requestError %d %q %q", what, re.status, re.code, re.message)
	}
	for _, in := range inputs {
		if len(in) >= 16 && strings.Contains(re.message, in) && !strings.Contains(fixedMessages, in) {
			t.Fatalf("%s: message %q echoes the input %q", what, re.message, in)
		}
	}
	resp := h.errorResponse(context.Background(), req, err)
	var got map[string]string
	if resp.StatusCode != re.status || json.Unmarshal([]byte(resp.Body), &got) != nil ||
		!maps.Equal(got, map[string]string{"error": re.code, "message": re.message}) {
		t.Fatalf("%s: errorResponse gave %d %s for %v", what, resp.StatusCode, resp.Body, err)
	}
}

// strictLogin is the reference decoding, written apart from decodeJSON's: the body
// is valid UTF-8 and one JSON value (encoding/json's validity check, which refuses
// trailing data) that is an object; its members, counted by scanJSON, are as many as
// the distinct names that exact-key map decoding finds, so none repeats; each name is
// exactly "username" or "password"; no value is an object or array; no string has an
// unpaired surrogate escape; and the values are what encoding/json decodes.
func strictLogin(b []byte) (loginRequest, bool) {
	var v loginRequest
	if !utf8.Valid(b) || !json.Valid(b) {
		return v, false
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); t[0] != '{' {
		return v, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return v, false
	}
	for k, raw := range m {
		raw = bytes.TrimLeft(raw, " \t\r\n")
		if k != "username" && k != "password" || raw[0] == '{' || raw[0] == '[' {
			return v, false
		}
	}
	if members, lone := scanJSON(b); members != len(m) || lone {
		return v, false
	}
	return v, json.Unmarshal(b, &v) == nil
}

// scanJSON walks a valid JSON text byte by byte, counting the members of the
// outermost object (the colons at depth 1 outside strings) and reporting whether a
// string has a \uXXXX escape of a UTF-16 surrogate that is not half of an adjacent
// high-low pair.
func scanJSON(b []byte) (members int, lone bool) {
	depth, inString := 0, false
	var units []int // the current string: an escaped code unit, or -1 for anything else
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			switch c {
			case '"':
				inString, units = true, units[:0]
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case ':':
				if depth == 1 {
					members++
				}
			}
			continue
		}
		switch {
		case c == '"':
			inString = false
			for j, u := range units {
				high, low := u >= 0xd800 && u <= 0xdbff, u >= 0xdc00 && u <= 0xdfff
				prevHigh := j > 0 && units[j-1] >= 0xd800 && units[j-1] <= 0xdbff
				nextLow := j+1 < len(units) && units[j+1] >= 0xdc00 && units[j+1] <= 0xdfff
				if high && !nextLow || low && !prevHigh {
					lone = true
				}
				if high && nextLow {
					units[j+1] = -1 // consumed by this pair
				}
			}
		case c == '\\' && b[i+1] == 'u':
			u, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
			units = append(units, int(u))
			i += 5
		case c == '\\':
			units = append(units, -1)
			i++
		default:
			units = append(units, -1)
		}
	}
	return members, lone
}

func sameStringPtr(a, b *string) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// FuzzDecodeRequest: the decoding and token-selection path of login, refresh and
// logout never panics; every refusal is a 4xx requestError that does not echo the
// body; login accepts exactly what the reference strictLogin accepts (one reading:
// no repeated, case-variant or unknown member, valid UTF-8, no unpaired surrogate;
// given a JSON content type and a body within the limit) with the same values; and the
// refresh token chosen is the cookie's in cookie mode and the body's otherwise.
func FuzzDecodeRequest(f *testing.F) {
	tok := fuzzRefreshToken
	cookie := CookieName + "=" + tok
	const ct = "application/json"
	nested := `{"username":` + strings.Repeat("[", 4000) + strings.Repeat("]", 4000) + `}`
	big := `{"username":"alice","password":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	seeds := []struct {
		body             string
		mode             uint8
		ct, transport    string
		cookie1, cookie2 string
	}{
		// Realistic requests.
		{`{"username":"alice","password":"correct horse battery staple"}`, 0, ct, "", "", ""},
		{`{"username":"alice","password":"pw"}`, fuzzCanonicalKeys, "application/json; charset=utf-8", "", "", ""},
		{`{"username":"alice","password":"pw"}`, 1, ct, "", "", ""},
		{`{"username":"alice","password":"pw"}`, fuzzTransport, ct, "cookie", "", ""},
		{`{"refresh_token":"` + tok + `"}`, 0, ct, "", "", ""},
		{`{"refresh_token":"` + tok + `","scope":"all"}`, 1, ct, "", "theme=dark", ""},
		{"", fuzzTransport | fuzzNoContentType, "", "cookie", cookie, ""},
		{"", fuzzTransport | fuzzCanonicalKeys, "", " Cookie ", "theme=dark; " + cookie, ""},
		{`{"scope":"session"}`, fuzzTransport, ct, "cookie", cookie, ""},
		// Refusals of the token-selection rule.
		{"", fuzzNoContentType, "", "", cookie, ""},
		{`{"refresh_token":"` + tok + `"}`, fuzzTransport, ct, "cookie", cookie, ""},
		{"", fuzzTransport, "", "cookie", "", ""},
		{"", fuzzTransport, "", "cookie", CookieName + "=", ""},
		{"", fuzzTransport, "", "cookie", cookie, CookieName + "=other"},
		{"", fuzzTransport, "", "body", cookie, ""},
		{`{"refresh_token":""}`, 0, ct, "", "", ""},
		// Malformed bodies.
		{`{"username":"alice","password":"pw","extra":1}`, 0, ct, "", "", ""},
		{`{"username":1,"password":true,"refresh_token":7}`, 0, ct, "", "", ""},
		{`{"username":"alice"} {"password":"pw"}`, 0, ct, "", "", ""},
		{`{"username":"alice"}garbage`, 0, ct, "", "", ""},
		{`{"username":"alice"`, 0, ct, "", "", ""},
		{`{"USERNAME":"a","Password":"b","username":"c"}`, 0, ct, "", "", ""},
		{`{"username":"\u0000\ud800","password":"\"\\"}`, 0, ct, "", "", ""},
		{`{"username":null,"password":null}`, 0, ct, "", "", ""},
		// Bodies two readers could read differently (issue 9, item 6).
		{`{"username":"a","username":"b","password":"pw"}`, 0, ct, "", "", ""},
		{`{"username":"a","user\u006eame":"b","password":"pw"}`, 0, ct, "", "", ""},
		{`{"refresh_token":"junk","refresh_token":"` + tok + `"}`, 0, ct, "", "", ""},
		{`{"refresh_token":"` + tok + `","scope":"session","scope":"all"}`, 0, ct, "", "", ""},
		{`{"Refresh_Token":"` + tok + `","SCOPE":"all"}`, 0, ct, "", "", ""},
		{`{"refresh_to\u212aen":"` + tok + `"}`, 0, ct, "", "", ""},
		{`{"username":{"username":"a"},"password":"pw"}`, 0, ct, "", "", ""},
		{`{"username":["a"],"password":"pw"}`, 0, ct, "", "", ""},
		{"{\"username\":\"ali\xffce\",\"password\":\"pw\"}", 0, ct, "", "", ""},
		{`{"username":"alice","password":"p\ud83d\ude00w"}`, 0, ct, "", "", ""},
		{`{"username":"alice","password":"p\ude00\ud83dw"}`, 0, ct, "", "", ""},
		{`{"username":"alice","password":"p\\ud800w"}`, 0, ct, "", "", ""},
		{`{"username":"alice","password":"\ud800"}`, 0, ct, "", "", ""},
		{`{"username":"alice","password":1e400}`, 0, ct, "", "", ""},
		{"\xef\xbb\xbf{}", 0, ct, "", "", ""},
		{"\v\f\u0085", 0, ct, "", "", ""},
		{`[1,2,3]`, 0, ct, "", "", ""},
		{`null`, 0, ct, "", "", ""},
		{`"a string that is long enough"`, 0, ct, "", "", ""},
		{nested, 0, ct, "", "", ""},
		{big, 0, ct, "", "", ""},
		{big, 1, ct, "", "", ""},
		{"not base64 at all!", 2, ct, "", "", ""},
		{`{"username":"alice","password":"pw"}`, 3, ct, "", "", ""},
		// Content types.
		{`{"username":"alice","password":"pw"}`, 0, "text/plain", "", "", ""},
		{`{"username":"alice","password":"pw"}`, 0, "application/JSON", "", "", ""},
		{`{"username":"alice","password":"pw"}`, 0, "application/json;;", "", "", ""},
		{`{"username":"alice","password":"pw"}`, 0, "application/json; charset=", "", "", ""},
		{`{"username":"alice","password":"pw"}`, fuzzNoContentType, "", "", "", ""},
		{`{"username":"alice","password":"pw"}`, 0, "multipart/form-data; boundary=x", "", "", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.mode, s.ct, s.transport, s.cookie1, s.cookie2)
	}
	h := &Handlers{log: slog.New(slog.DiscardHandler)}

	f.Fuzz(func(t *testing.T, body []byte, mode uint8, contentType, transportValue, cookie1, cookie2 string) {
		req, decoded := fuzzRequest(body, mode, contentType, transportValue, []string{cookie1, cookie2})
		inputs := []string{string(body), req.Body, string(decoded)}
		cookieMode, trErr := transport(req)
		if trErr != nil {
			wantRequestError(t, "transport", h, req, trErr, inputs...)
		}

		// Login: transport, then a required body with both fields.
		var login loginRequest
		err := decodeJSON(req, &login, true)
		if err == nil && (login.Username == nil || login.Password == nil || *login.Username == "" || *login.Password == "") {
			err = badRequest("username and password are required")
		}
		if err != nil {
			wantRequestError(t, "login", h, req, err, inputs...)
		}
		want, strictOK := strictLogin(decoded)
		mt, _, ctErr := mime.ParseMediaType(req.Headers[headerKey(req, "content-type")])
		if decoded != nil && strictOK && len(decoded) <= MaxBodyBytes && ctErr == nil && mt == "application/json" {
			if err2 := decodeJSON(req, new(loginRequest), true); err2 != nil {
				t.Fatalf("login refused a body that strict decoding accepts: %v", err2)
			}
		}
		var again loginRequest
		if decodeJSON(req, &again, true) == nil {
			if !strictOK {
				t.Fatalf("login accepted %q, which strict decoding refuses", decoded)
			}
			if !sameStringPtr(again.Username, want.Username) || !sameStringPtr(again.Password, want.Password) {
				t.Fatalf("login decoded %v/%v, strict decoding %v/%v", again.Username, again.Password, want.Username, want.Password)
			}
		}

		// Refresh and logout: the token-selection rule.
		cookie, hasCookie := cookieValue(req.Cookies, CookieName)
		check := func(what string, tok string, gotCookieMode bool, err error, bodyToken string) {
			if err != nil {
				wantRequestError(t, what, h, req, err, inputs...)
				return
			}
			switch {
			case trErr != nil:
				t.Fatalf("%s: accepted a request with a bad %s", what, TransportHeader)
			case tok == "":
				t.Fatalf("%s: accepted an empty token", what)
			case gotCookieMode != cookieMode:
				t.Fatalf("%s: cookie mode %v, the header says %v", what, gotCookieMode, cookieMode)
			case cookieMode && (!hasCookie || tok != cookie || bodyToken != ""):
				t.Fatalf("%s: cookie mode chose %q (cookie %q %v, body %q)", what, tok, cookie, hasCookie, bodyToken)
			case !cookieMode && tok != bodyToken:
				t.Fatalf("%s: body mode chose %q, the body has %q", what, tok, bodyToken)
			}
		}
		var refresh refreshRequest
		tok, cm, err := refreshToken(req, &refresh, func() string { return refresh.RefreshToken })
		check("refresh", tok, cm, err, refresh.RefreshToken)
		var logout logoutRequest
		tok, cm, err = refreshToken(req, &logout, func() string { return logout.RefreshToken })
		check("logout", tok, cm, err, logout.RefreshToken)
	})
}

// headerKey is the key under which req carries name (any case), or name.
func headerKey(req events.APIGatewayV2HTTPRequest, name string) string {
	for k := range req.Headers {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// cookiePairs is every value that follows "name=" at the start of a ";"-separated,
// space-trimmed part of a cookies entry: the values a careful reader would say the
// request gives for name.
func cookiePairs(cookies []string, name string) []string {
	var vals []string
	for _, c := range cookies {
		for _, part := range strings.Split(c, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), name+"="); ok {
				vals = append(vals, v)
			}
		}
	}
	return vals
}

// FuzzCookieValue: cookieValue never panics; with no pair for the name it returns
// ("", false); with one distinct value (however often it repeats) it returns that
// value, which appears verbatim after "name=" in the input; with two different values
// it returns ("", true). The answer does not depend on the order of the entries or on
// whether pairs come in one entry or several.
func FuzzCookieValue(f *testing.F) {
	tok := fuzzRefreshToken
	seeds := [][4]string{
		{CookieName, CookieName + "=" + tok, "", ""},
		{CookieName, "theme=dark", CookieName + "=" + tok, "lang=en"},
		{CookieName, "theme=dark; " + CookieName + "=" + tok + "; lang=en", "", ""},
		{CookieName, CookieName + "=" + tok, CookieName + "=" + tok, ""},
		{CookieName, CookieName + "=" + tok, CookieName + "=other", ""},
		{CookieName, CookieName + "=a; " + CookieName + "=b", "", ""},
		{CookieName, CookieName + "=", "", ""},
		{CookieName, CookieName + "=; " + CookieName + "=x", "", ""},
		{CookieName, CookieName, "", ""},
		{CookieName, "  " + CookieName + " = x ", "", ""},
		{CookieName, CookieName + `="quoted"`, "", ""},
		{CookieName, CookieName + "=a=b=c", "", ""},
		{CookieName, strings.ToLower(CookieName) + "=x", "", ""},
		{CookieName, "refresh_token=x", "", ""},
		{CookieName, ";;;", "=", " ; = ; "},
		{CookieName, "\t" + CookieName + "=x\t;\n", "", ""},
		{"", "=x", "", ""},
		{"a=b", "a=b=c", "", ""},
		{"a;b", "a;b=c", "", ""},
		{" a", " a=b", "", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}

	f.Fuzz(func(t *testing.T, name, c1, c2, c3 string) {
		cookies := []string{c1, c2, c3}
		value, found := cookieValue(cookies, name)

		pairs := cookiePairs(cookies, name)
		if strings.Contains(name, "=") {
			// strings.Cut splits at the first "=", so such a name never matches.
			pairs = nil
		}
		distinct := slices.Compact(slices.Sorted(slices.Values(pairs)))
		switch {
		case len(distinct) == 0:
			if found || value != "" {
				t.Fatalf("no %q pair, got (%q, %v)", name, value, found)
			}
		case len(distinct) == 1:
			if !found || value != distinct[0] {
				t.Fatalf("one value %q, got (%q, %v)", distinct[0], value, found)
			}
			if !strings.Contains(strings.Join(cookies, "\x00"), name+"="+value) {
				t.Fatalf("returned %q, which does not follow %q= in the input", value, name)
			}
		default:
			if !found || value != "" {
				t.Fatalf("values %q, got (%q, %v), want (\"\", true)", distinct, value, found)
			}
		}

		// The order of the entries does not matter, nor how the pairs are split
		// into entries.
		for _, other := range [][]string{{c3, c2, c1}, {c1 + ";" + c2 + ";" + c3}, strings.Split(c1+";"+c2+";"+c3, ";")} {
			if v, ok := cookieValue(other, name); v != value || ok != found {
				t.Fatalf("cookies %q give (%q, %v), but %q give (%q, %v)", cookies, value, found, other, v, ok)
			}
		}
	})
}
