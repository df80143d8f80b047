package token

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// sameClaims fails unless rawClaims.decode reads payload as json.Unmarshal into
// Claims does, for a payload that reaches the decoding in Verify (UTF-8, valid JSON,
// through members' checks).
func sameClaims(t *testing.T, payload []byte) {
	t.Helper()
	var rc rawClaims
	if !utf8.Valid(payload) || members(payload, rc.set) != nil || !json.Valid(payload) {
		return
	}
	var want, got Claims
	wantErr := json.Unmarshal(payload, &want)
	err := rc.decode(&got)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("decode: %v; encoding/json: %v", err, wantErr)
	case err != nil && !errors.Is(err, jwt.ErrTokenMalformed):
		t.Fatalf("decode's error %v does not wrap jwt.ErrTokenMalformed", err)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("decode read %+v\nencoding/json  %+v", got, want)
	}
}

var claimPayloads = []string{
	`{"iss":"https://auth.example.test","sub":"user-1","aud":["https://api.example.test"],"exp":1900000900,"iat":1900000000,"jti":"j","sid":"s","ver":3,"scope":"read write"}`,
	`{"aud":"one","nbf":1900000000,"ver":0}`,
	`{"aud":[],"ver":null,"sub":null,"exp":null}`,
	`{"aud":[ "a" , "b\u0041" ],"sub":"esc\"aped\\\/\n\u00e9\ud83d\ude00","scope":""}`,
	`{"aud":null}`, `{"aud":5}`, `{"aud":["a",5]}`, `{"aud":["a",null]}`, `{"aud":{"aud":"x"}}`, `{"aud":true}`,
	`{"iss":1}`, `{"sub":["user-1"]}`, `{"sid":{}}`, `{"jti":false}`, `{"scope":5}`,
	`{"ver":"1"}`, `{"ver":1.5}`, `{"ver":1e2}`, `{"ver":-0}`, `{"ver":-1}`, `{"ver":true}`, `{"ver":[]}`,
	`{"ver":9223372036854775807}`, `{"ver":9223372036854775808}`, `{"ver":-9223372036854775808}`, `{"ver":-9223372036854775809}`,
	`{"exp":0}`, `{"exp":-0}`, `{"exp":1.5}`, `{"exp":-1.5}`, `{"exp":1e3}`, `{"exp":1E+3}`, `{"exp":1e400}`, `{"exp":-1e400}`,
	`{"exp":999999999999999999}`, `{"exp":9999999999999999999}`, `{"exp":9007199254740993}`, `{"iat":1900000000.999999999}`,
	`{"other":{"iss":5},"list":[1,"x",null],"sub":"u"}`,
	`{"auth_time":1900000000,"amr":["pwd"]}`, `{"auth_time":1.5,"amr":[]}`, `{"auth_time":null,"amr":null}`,
	`{"amr":"pwd"}`, `{"amr":["pwd",null]}`, `{"amr":["pwd",5]}`, `{"amr":[ "a" , "b\u0041" ]}`, `{"amr":{}}`, `{"auth_time":1e400}`,
	`{}`,
}

func TestClaimsDecodeAsEncodingJSONDecodes(t *testing.T) {
	for _, p := range claimPayloads {
		t.Run(p, func(t *testing.T) { sameClaims(t, []byte(p)) })
	}
}

// FuzzDecodeClaims: the payloads Verify decodes are read as encoding/json reads them
// into Claims, value for value and refusal for refusal.
func FuzzDecodeClaims(f *testing.F) {
	for _, p := range claimPayloads {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { sameClaims(t, payload) })
}
