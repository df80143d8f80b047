package token_test

import (
	"testing"

	"github.com/example/sessions/internal/token"
)

func TestBearerReadsTheAuthorizationHeaderAsTheAuthorizerDoes(t *testing.T) {
	for _, tc := range []struct {
		name, header, want string
		ok                 bool
	}{
		{"Bearer and a token gives the token", "Bearer abc.def.ghi", "abc.def.ghi", true},
		{"the scheme in lower case is accepted", "bearer abc", "abc", true},
		{"the scheme in mixed case is accepted", "BeArEr abc", "abc", true},
		{"white space around the token is trimmed", "Bearer   abc \t", "abc", true},
		{"an empty header gives nothing", "", "", false},
		{"Bearer alone gives nothing", "Bearer", "", false},
		{"Bearer and spaces give nothing", "Bearer   ", "", false},
		{"another scheme gives nothing", "Basic YWxpY2U6cHc=", "", false},
		{"a scheme that only starts with Bearer gives nothing", "Bearerx abc", "", false},
		{"a token without a scheme gives nothing", "abc.def.ghi", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := token.Bearer(tc.header)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Bearer(%q) = %q, %v; want %q, %v", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}
