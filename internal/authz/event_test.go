package authz

// Invoke's decoding and encoding held to aws-lambda-go's: the credential eventCredential
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
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// typedCredential is what Handle authorizes for payload after aws-lambda-go decoded
// it: json.NewDecoder(...).Decode into the event struct.
func typedCredential(payload []byte) (string, error) {
	var ev events.APIGatewayV2CustomAuthorizerV2Request
	if err := json.NewDecoder(bytes.NewBuffer(payload)).Decode(&ev); err != nil {
		return "", err
	}
	if len(ev.IdentitySource) > 0 {
		return ev.IdentitySource[0], nil
	}
	return ev.Headers["authorization"], nil
}

// readsField reports whether a type error is in a field Handle reads (or is the
// event's own type), where eventCredential must refuse too.
func readsField(err error) bool {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return true // a syntax error or no value at all
	}
	return te.Field == "" || te.Field == "identitySource" || strings.HasPrefix(te.Field, "identitySource.") ||
		te.Field == "headers" || strings.HasPrefix(te.Field, "headers.")
}

// sameCredential fails unless eventCredential reads payload as the typed path does.
func sameCredential(t *testing.T, payload []byte) {
	t.Helper()
	want, wantErr := typedCredential(payload)
	got, err := eventCredential(payload)
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("eventCredential refused what encoding/json decodes: %v", err)
	case wantErr == nil && got != want:
		t.Fatalf("eventCredential = %q, encoding/json left %q", got, want)
	case wantErr != nil && err == nil && readsField(wantErr):
		t.Fatalf("eventCredential = %q, but encoding/json refuses the event: %v", got, wantErr)
	case err != nil && !errors.Is(err, ErrMalformedEvent):
		t.Fatalf("eventCredential's error %v does not wrap ErrMalformedEvent", err)
	}
}

func eventFixtures(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no testdata/events: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

func TestEventCredentialReadsEveryFixtureAsEncodingJSONDoes(t *testing.T) {
	for name, payload := range eventFixtures(t) {
		t.Run(strings.ReplaceAll(name, "-", " "), func(t *testing.T) {
			sameCredential(t, payload)
			_, err := eventCredential(payload)
			if refused := err != nil; refused != strings.HasPrefix(name, "error-") {
				t.Errorf("refused: %v (%v); the fixture's name says %v", refused, err, !refused)
			}
		})
	}
}

func TestEventCredentialNesting(t *testing.T) {
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
			sameCredential(t, tc.payload)
			if _, err := eventCredential(tc.payload); !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
}

func TestEventCredentialRefusalsSayWhyWithoutTheCredential(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		err           error
	}{
		{"an empty payload has no value", "", errNoEvent},
		{"a cut-off event is truncated", `{"identitySource":["Bearer secret`, errTruncated},
		{"a stray character is invalid JSON", `{"identitySource":["Bearer secret"]x}`, errSyntax},
		{"an array is not an object", `["Bearer secret"]`, errNotObject},
		{"an identity source string is not an array of strings", `{"identitySource":"Bearer secret"}`, errIdentity},
		{"a header number is not a string", `{"headers":{"authorization":"Bearer secret","port":443}}`, errHeaders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eventCredential([]byte(tc.payload))
			if !errors.Is(err, tc.err) || !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error %q quotes the payload", err)
			}
		})
	}
}

// FuzzEventCredential: for any payload, the credential is the one encoding/json's
// decoding gives, and a payload it refuses for its syntax or for a field Handle reads
// is refused.
func FuzzEventCredential(f *testing.F) {
	for _, payload := range eventFixtures(f) {
		f.Add(payload)
	}
	f.Fuzz(func(t *testing.T, payload []byte) { sameCredential(t, payload) })
}

// typedResponse is what aws-lambda-go writes for Handle's answer.
func typedResponse(t *testing.T, p *Principal) []byte {
	t.Helper()
	resp := events.APIGatewayV2CustomAuthorizerSimpleResponse{}
	if p != nil {
		resp = events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true,
			Context: map[string]any{"sub": p.Subject, "sid": p.Session, "scope": p.Scope}}
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
		p := &Principal{Subject: sub, Session: sid, Scope: scope}
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
