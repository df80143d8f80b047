package authz

// Invoke's decoding and encoding held to aws-lambda-go's: the request eventRequest
// reads against what json.Decoder (as lambda.NewHandler uses it) leaves in the event
// struct, and appendResponse against encoding/json's output. The integration test
// TestInvokeAnswersAsTheTypedHandler (invoke_test.go) runs both handlers whole.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// typedRequest is what Handle reads of payload after aws-lambda-go decoded it:
// json.NewDecoder(...).Decode into the event struct.
func typedEventRequest(payload []byte) (request, error) {
	var ev events.APIGatewayV2CustomAuthorizerV2Request
	if err := json.NewDecoder(bytes.NewBuffer(payload)).Decode(&ev); err != nil {
		return request{}, err
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

// readsField reports whether a type error is in a field Handle reads (or is the
// event's own type), where eventRequest must refuse too.
func readsField(err error) bool {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return true // a syntax error or no value at all
	}
	for _, f := range []string{"identitySource", "headers", "cookies"} {
		if te.Field == f || strings.HasPrefix(te.Field, f+".") {
			return true
		}
	}
	return te.Field == ""
}

// sameRequest fails unless eventRequest reads payload as the typed path does. The
// cookies count only for a request without a credential, the only one that reads them.
func sameRequest(t *testing.T, payload []byte) {
	t.Helper()
	want, wantErr := typedEventRequest(payload)
	got, err := eventRequest(payload)
	if err == nil && got.credential != "" {
		got.cookies, want.cookies = nil, nil
	}
	same := got.credential == want.credential && got.transport == want.transport &&
		got.hasTransport == want.hasTransport && slices.Equal(got.cookies, want.cookies)
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("eventRequest refused what encoding/json decodes: %v", err)
	case wantErr == nil && !same:
		t.Fatalf("eventRequest = %+v, encoding/json left %+v", got, want)
	case wantErr != nil && err == nil && readsField(wantErr):
		t.Fatalf("eventRequest = %+v, but encoding/json refuses the event: %v", got, wantErr)
	case err != nil && !errors.Is(err, ErrMalformedEvent):
		t.Fatalf("eventRequest's error %v does not wrap ErrMalformedEvent", err)
	}
}

func eventFixtures(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "events*", "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no testdata/events: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(filepath.Dir(p))+": "+strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

func TestEventRequestReadsEveryFixtureAsEncodingJSONDoes(t *testing.T) {
	for name, payload := range eventFixtures(t) {
		t.Run(strings.ReplaceAll(name, "-", " "), func(t *testing.T) {
			sameRequest(t, payload)
			_, err := eventRequest(payload)
			if refused := err != nil; refused != strings.Contains(name, ": error-") {
				t.Errorf("refused: %v (%v); the fixture's name says %v", refused, err, !refused)
			}
		})
	}
}

func TestEventRequestNesting(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(`{"identitySource":["Bearer x"],"x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		err     error
	}{
		{"nesting as deep as encoding/json allows is read", nest(maxDepth), nil},
		{"one level deeper is refused as too deep", nest(maxDepth + 1), errTooDeep},
		{"a deep identity source element is refused as too deep", []byte(`{"identitySource":[` + strings.Repeat("{\"a\":", maxDepth) + "1" + strings.Repeat("}", maxDepth) + `]}`), errTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sameRequest(t, tc.payload)
			if _, err := eventRequest(tc.payload); !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
}

func TestEventRequestRefusalsSayWhyWithoutTheCredential(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		err           error
	}{
		{"an empty payload has no value", "", errNoEvent},
		{"a cut-off event is truncated", `{"identitySource":["Bearer secret`, errTruncated},
		{"a stray character is invalid JSON", `{"identitySource":["Bearer secret"]x}`, errSyntax},
		{"an array is not an object", `["Bearer secret"]`, errNotObject},
		{"an identity source string is not an array of strings", `{"identitySource":"Bearer secret"}`, errStrings},
		{"a cookie number is not a string", `{"cookies":["__Host-access_token=secret",5]}`, errStrings},
		{"a repeated field with a number for a string has the wrong type", `{"headers":{},"headers":{"authorization":"Bearer secret","port":443}}`, errFieldType},
		{"a header number is not a string", `{"headers":{"authorization":"Bearer secret","port":443}}`, errHeaders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventRequest([]byte(tc.payload))
			if !errors.Is(err, tc.err) || !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error %q quotes the payload", err)
			}
		})
	}
}

// FuzzEventRequest: for any payload, the request read is the one encoding/json's
// decoding gives, and a payload it refuses for its syntax or for a field Handle reads
// is refused.
func FuzzEventRequest(f *testing.F) {
	for _, payload := range eventFixtures(f) {
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, payload []byte) { sameRequest(t, payload) })
}

// typedResponse is what aws-lambda-go writes for Handle's answer.
func typedResponse(t *testing.T, p *Principal) []byte {
	t.Helper()
	resp := events.APIGatewayV2CustomAuthorizerSimpleResponse{}
	if p != nil {
		resp = events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: p.Context()}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // lambda.NewHandler's default
	if err := enc.Encode(resp); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func TestAppendResponseWritesWhatEncodingJSONWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Principal
	}{
		{"a deny", nil},
		{"an allow", &Principal{Subject: "u-1", Session: "s-1", Scope: "read write"}},
		{"an allow with an auth_time", &Principal{Subject: "u-1", Session: "s-1", Scope: "read write", AuthTime: time.Unix(1_900_000_000, 0)}},
		{"an auth_time before 1970", &Principal{Subject: "u-1", Session: "s-1", AuthTime: time.Unix(-5, 0)}},
		{"an empty scope", &Principal{Subject: "u-1", Session: "s-1"}},
		{"characters encoding/json escapes", &Principal{Subject: "a\"b\\c\x00\x1f\b\f\n\r\t", Session: "<&>\u2028\u2029\x7f", Scope: "\xff\xfe é 😀"}},
	} {
		t.Run(tc.name+" is written as encoding/json writes it", func(t *testing.T) {
			if got, want := appendResponse(nil, tc.p), typedResponse(t, tc.p); !bytes.Equal(got, want) {
				t.Errorf("appendResponse = %s\nencoding/json  = %s", got, want)
			}
		})
	}
}

func FuzzAppendResponse(f *testing.F) {
	f.Add("u-2b7e151628aed2a6abf7158809cf4f3c", "ZpXbQAAAAAAAAAAAAAAAAA", "openid profile")
	f.Add("\"\\", "\x00\u2028", "\xff<>&")
	f.Fuzz(func(t *testing.T, sub, sid, scope string) {
		p := &Principal{Subject: sub, Session: sid, Scope: scope, AuthTime: time.Unix(int64(len(sub))*1_000_003, 0)}
		if got, want := appendResponse(nil, p), typedResponse(t, p); !bytes.Equal(got, want) {
			t.Errorf("appendResponse = %q\nencoding/json  = %q", got, want)
		}
	})
}

func TestSpecialFindsEveryByteThatNeedsALookInAWord(t *testing.T) {
	word := func(fill, at byte, pos int) uint64 {
		var b [8]byte
		for i := range b {
			b[i] = fill
		}
		b[pos] = at
		return binary.LittleEndian.Uint64(b[:])
	}
	for pos := range 8 {
		for _, c := range []byte{'"', '\\', 0x00, 0x01, 0x1f} {
			for _, fill := range []byte{'a', 0x20, 0xff} {
				if !special(word(fill, c, pos)) {
					t.Errorf("byte %#x at %d among %#x: not seen", c, pos, fill)
				}
			}
		}
		for _, c := range []byte{0x20, '!', '#', '[', ']', 0x7f, 0x80, 0xc3, 0xff} {
			if special(word('a', c, pos)) {
				t.Errorf("byte %#x at %d: seen, but it stands for itself", c, pos)
			}
		}
	}
}
