package password

import (
	"errors"
	"strings"
	"testing"
)

// cheap keeps the tests fast; the OWASP parameters are checked separately.
var cheap = Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndVerify(t *testing.T) {
	h, err := Hash("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pw string
		want     bool
	}{
		{"the right password matches", "correct horse battery staple", true},
		{"a different password does not match", "correct horse battery stapl", false},
		{"case matters", "Correct horse battery staple", false},
		{"surrounding spaces are not trimmed", " correct horse battery staple", false},
		{"the empty password does not match", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := Verify(tc.pw, h)
			if err != nil || ok != tc.want {
				t.Fatalf("Verify = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
	t.Run("two hashes of one password differ by their salt", func(t *testing.T) {
		h2, _ := Hash("correct horse battery staple", cheap)
		if h == h2 {
			t.Fatal("same hash twice: salt is not random")
		}
	})
}

func TestOWASPParametersAreEncoded(t *testing.T) {
	h, err := Hash("a password of some length", OWASP)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the OWASP parameters", h)
	}
	p, err := ParamsOf(h)
	if err != nil || p != OWASP {
		t.Fatalf("ParamsOf = %+v, %v; want %+v", p, err, OWASP)
	}
}

func TestLengthBounds(t *testing.T) {
	tests := []struct {
		name    string
		pw      string
		wantErr error
	}{
		{"128 characters are accepted", strings.Repeat("a", MaxRunes), nil},
		{"64 four-byte characters are accepted", strings.Repeat("😀", 64), nil},
		{"129 characters are refused", strings.Repeat("a", MaxRunes+1), ErrTooLong},
		{"1 KiB is refused", strings.Repeat("a", 1024), ErrTooLong},
		{"1 MB is refused", strings.Repeat("a", 1<<20), ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckLength(tc.pw); !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckLength = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				// Refused before hashing: Hash and Verify return the same error.
				if _, err := Hash(tc.pw, OWASP); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Hash = %v", err)
				}
				if _, err := Verify(tc.pw, "not even a hash"); !errors.Is(err, tc.wantErr) {
					t.Fatalf("Verify = %v", err)
				}
			}
		})
	}
	t.Run("a new password shorter than 12 characters is refused", func(t *testing.T) {
		if err := CheckNew("elevenchars"); !errors.Is(err, ErrTooShort) {
			t.Fatalf("CheckNew = %v", err)
		}
		if err := CheckNew("twelve chars"); err != nil {
			t.Fatalf("CheckNew = %v", err)
		}
	})
}

func TestMalformedHashes(t *testing.T) {
	good, _ := Hash("correct horse battery staple", cheap)
	parts := strings.Split(good, "$")
	for _, tc := range []struct{ name, hash string }{
		{"an empty string", ""},
		{"a bcrypt hash", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i instead of argon2id", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"another version", strings.Replace(good, "v=19", "v=16", 1)},
		{"memory above the bound", strings.Replace(good, "m=1024", "m=4194304", 1)},
		{"zero iterations", strings.Replace(good, "t=1", "t=0", 1)},
		{"a salt that is not base64", strings.Join(append(parts[:4:4], "!!!!", parts[5]), "$")},
		{"a short key", strings.Join(append(parts[:5:5], "AAAA"), "$")},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if ok, err := Verify("correct horse battery staple", tc.hash); ok || !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify = %v, %v; want ErrMalformed", ok, err)
			}
		})
	}
}

func TestDummyCostsWhatARealHashCosts(t *testing.T) {
	d := Dummy(cheap)
	p, err := ParamsOf(d)
	if err != nil || p != cheap {
		t.Fatalf("dummy params = %+v, %v", p, err)
	}
	if ok, _ := Verify("", d); ok {
		t.Fatal("the dummy hash matched an empty password")
	}
}
