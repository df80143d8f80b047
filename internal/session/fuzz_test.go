package session

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

// FuzzParseRefreshToken: parseRefreshToken never panics and accepts exactly the
// canonical "<base64url 16 bytes>.<base64url 32 bytes>" tokens: what it returns
// re-joins to the input, and the deadline is the one the sid encodes (as
// SessionDeadline reads it). SessionDeadline itself never panics and accepts exactly
// the canonical 16-byte sids. Pure: no storage. Run with
//
//	go test -run='^$' -fuzz='^FuzzParseRefreshToken$' -fuzztime=60s ./internal/session
func FuzzParseRefreshToken(f *testing.F) {
	// Go's base64 decoders skip CR and LF even in Strict mode; the length checks are
	// what keep them out of an accepted token.
	const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sid, err := newSessionID(t0)
	if err != nil {
		f.Fatal(err)
	}
	secret, err := newSecret()
	if err != nil {
		f.Fatal(err)
	}
	good := sid + "." + secret
	child := sid + "." + childSecret(make([]byte, 32), sid, secret)
	maxSID := b64.EncodeToString(bytes.Repeat([]byte{0xff}, 16))
	zeroSID := b64.EncodeToString(make([]byte, 16))
	// The last character of a 16-byte sid carries 4 padding bits and that of a 32-byte
	// secret 2; a non-zero padding bit is a non-canonical encoding.
	loose := func(s string) string { return s[:len(s)-1] + "B" }
	seeds := []string{
		good,
		child,
		maxSID + "." + secret,
		zeroSID + "." + secret,
		loose(maxSID[:sidLen-1]+"A") + "." + secret,
		sid + "." + loose(secret[:secretLen-1]+"A"),
		strings.ReplaceAll(good, "-", "+"),
		strings.ReplaceAll(good, "_", "/"),
		sid + "=." + secret,
		sid + "." + secret + "=",
		sid + ":" + secret,
		sid + "." + secret[:secretLen-1] + ".",
		good[:len(good)-1],
		good + "A",
		" " + good[1:],
		secret + "." + sid,
		sid,
		sid + sid + sid,
		strings.Repeat("A", tokenLen),
		strings.Repeat(".", tokenLen),
		good[:sidLen] + "\xff" + good[sidLen+1:],
		"",
		".",
	}
	for _, s := range seeds {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, tok string) {
		gotSID, gotSecret, exp, err := parseRefreshToken(tok)
		rawSID, sidErr := b64.Strict().DecodeString(tok[:min(len(tok), sidLen)])
		rawSecret, secretErr := b64.Strict().DecodeString(tok[min(len(tok), sidLen+1):])
		canonical := len(tok) == tokenLen && tok[sidLen] == '.' &&
			sidErr == nil && len(rawSID) == 16 && secretErr == nil && len(rawSecret) == 32
		if err != nil {
			if err != errMalformedToken || gotSID != "" || gotSecret != "" || !exp.IsZero() {
				t.Fatalf("refused with (%q, %q, %v, %v)", gotSID, gotSecret, exp, err)
			}
			if canonical {
				t.Fatalf("refused the canonical token %q", tok)
			}
		} else {
			switch {
			case !canonical:
				t.Fatalf("accepted the non-canonical token %q", tok)
			case strings.Trim(gotSID+gotSecret, b64Alphabet) != "":
				t.Fatalf("accepted %q, which has characters outside the base64url alphabet", tok)
			case gotSID+"."+gotSecret != tok:
				t.Fatalf("%q parsed to sid %q and secret %q", tok, gotSID, gotSecret)
			case b64.EncodeToString(rawSID) != gotSID || b64.EncodeToString(rawSecret) != gotSecret:
				t.Fatalf("%q does not re-encode to itself", tok)
			case !exp.Equal(time.Unix(int64(binary.BigEndian.Uint32(rawSID[:4])), 0)):
				t.Fatalf("%q: deadline %v, the sid encodes %x", tok, exp, rawSID[:4])
			}
			dl, ok := SessionDeadline(gotSID)
			if !ok || !dl.Equal(exp) {
				t.Fatalf("SessionDeadline(%q) = %v, %v; parseRefreshToken said %v", gotSID, dl, ok, exp)
			}
		}

		// SessionDeadline on the raw input, and on its first sidLen bytes.
		for _, s := range []string{tok, tok[:min(len(tok), sidLen)]} {
			dl, ok := SessionDeadline(s)
			raw, decErr := base64.RawURLEncoding.Strict().DecodeString(s)
			want := len(s) == sidLen && decErr == nil && len(raw) == 16
			if ok != want {
				t.Fatalf("SessionDeadline(%q) ok = %v, want %v", s, ok, want)
			}
			if ok && !dl.Equal(time.Unix(int64(binary.BigEndian.Uint32(raw[:4])), 0)) {
				t.Fatalf("SessionDeadline(%q) = %v, the sid encodes %x", s, dl, raw[:4])
			}
			if !ok && !dl.IsZero() {
				t.Fatalf("SessionDeadline(%q) refused with %v", s, dl)
			}
		}
	})
}
