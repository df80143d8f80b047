package session_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/ddbmeter"
	"github.com/example/sessions/internal/session"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/testenv"
)

func TestUsernamesAreNormalisedAtCreationAndAtLogin(t *testing.T) {
	t.Parallel()
	const nfc, nfd = "Jos\u00e9", "Jose\u0301" // é precomposed, e + combining acute
	for _, tc := range []struct{ name, created, loginAs string }{
		{"case is ignored", "Alice", "aLiCe"},
		{"surrounding spaces are ignored", "  bob\t", " bob  "},
		{"a decomposed name logs into a precomposed account", nfc, nfd},
		{"a precomposed name logs into a decomposed account", nfd, nfc},
		{"case and composition together", "ÉLODIE", "e\u0301lodie"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			u := h.CreateUser(t, tc.created, "", "")
			tok := h.Login(t, tc.loginAs, u.Password)
			if sub := testenv.Claims(t, tok.AccessToken)["sub"]; sub != u.ID {
				t.Errorf("logged into %v, want %s", sub, u.ID)
			}
			norm, _ := password.NormalizeUsername(tc.created)
			if h.Item(t, "n#"+norm) == nil {
				t.Errorf("no login record under the normalised name %q", norm)
			}
			if n := len(h.Scan(t)); n != 3 {
				t.Errorf("%d items, want login record, user record and session", n)
			}
			// The other spelling names the same account: creating it again fails.
			other, _ := password.NormalizeUsername(tc.loginAs)
			err := h.Store.CreateUser(testenv.Ctx(t), &session.Login{Name: other, UID: "usr_other", PwHash: "x", Ver: 1})
			if !errors.Is(err, session.ErrExists) {
				t.Errorf("creating %q after %q: %v, want ErrExists", tc.loginAs, tc.created, err)
			}
		})
	}
}

func TestTheTableHoldsOnlyAHashOfEachRefreshToken(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	h.Clock.Advance(time.Minute)
	next := h.MustRefresh(t, s.tok.RefreshToken)

	for _, rt := range []string{s.tok.RefreshToken, next.RefreshToken} {
		sid, secret, _ := strings.Cut(rt, ".")
		raw, err := base64.RawURLEncoding.DecodeString(secret)
		if err != nil || sid != s.tok.SessionID {
			t.Fatalf("refresh token %q is not <sid>.<secret>", rt)
		}
		needles := map[string][]byte{
			"the token":             []byte(rt),
			"the secret":            []byte(secret),
			"the secret's bytes":    raw,
			"the secret in hex":     []byte(hex.EncodeToString(raw)),
			"the secret in base64":  []byte(base64.StdEncoding.EncodeToString(raw)),
			"the secret's first 16": raw[:16],
		}
		for _, it := range h.Scan(t) {
			for attr, v := range it {
				for what, needle := range needles {
					if containsValue(v, needle) {
						t.Errorf("%s appears in attribute %q of %s", what, attr, testenv.S(it, "pk"))
					}
				}
			}
		}
	}
	it := h.SessionItem(t, s.tok.SessionID)
	if !bytes.Equal(testenv.B(it, "cur"), testenv.TokenHash(next.RefreshToken)) ||
		!bytes.Equal(testenv.B(it, "prev"), testenv.TokenHash(s.tok.RefreshToken)) {
		t.Error("cur/prev are not the SHA-256 hashes of the current and previous tokens")
	}
}

// containsValue reports whether an attribute value holds needle anywhere.
func containsValue(v types.AttributeValue, needle []byte) bool {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return bytes.Contains([]byte(v.Value), needle)
	case *types.AttributeValueMemberN:
		return bytes.Contains([]byte(v.Value), needle)
	case *types.AttributeValueMemberB:
		return bytes.Contains(v.Value, needle)
	case *types.AttributeValueMemberSS:
		for _, s := range v.Value {
			if bytes.Contains([]byte(s), needle) {
				return true
			}
		}
	case *types.AttributeValueMemberBS:
		for _, b := range v.Value {
			if bytes.Contains(b, needle) {
				return true
			}
		}
	case *types.AttributeValueMemberL:
		for _, e := range v.Value {
			if containsValue(e, needle) {
				return true
			}
		}
	case *types.AttributeValueMemberM:
		for _, e := range v.Value {
			if containsValue(e, needle) {
				return true
			}
		}
	}
	return false
}

func TestLoginRecordsTheSessionItem(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{Env: map[string]string{"REFRESH_TOKEN_TTL": "2h", "SESSION_MAX_AGE": "24h"}})
	u := h.CreateUser(t, "carol", "", "reader writer")
	// A hostile client: a user agent far over the bound, with a multi-byte rune cut
	// at the bound.
	ua := strings.Repeat("x", 255) + "é" + strings.Repeat("y", 4000)
	req := testenv.LoginReq(u.Name, u.Password)
	req.RequestContext.HTTP.UserAgent = ua
	resp := testenv.Call(t, h.App.API.Login, req)
	wantStatus(t, "login", resp.StatusCode, http.StatusOK)
	var tok testenv.Tokens
	testenv.Decode(t, resp, &tok)

	now := h.Clock.Now()
	it := h.SessionItem(t, tok.SessionID)
	for attr, want := range map[string]int64{
		"ver": 1, "gen": 0, "created_at": now.Unix(), "last_used": now.Unix(),
		"idle_exp": now.Add(2 * time.Hour).Unix(), "abs_exp": now.Add(24 * time.Hour).Unix(),
		"ttl": now.Add(2 * time.Hour).Unix(),
	} {
		if got := testenv.N(it, attr); got != want {
			t.Errorf("%s = %d, want %d", attr, got, want)
		}
	}
	if testenv.S(it, "user_id") != u.ID || testenv.S(it, "scope") != "reader writer" || testenv.S(it, "ip") != "203.0.113.7" {
		t.Errorf("user_id=%q scope=%q ip=%q", testenv.S(it, "user_id"), testenv.S(it, "scope"), testenv.S(it, "ip"))
	}
	if got := testenv.S(it, "ua"); len(got) > 256 || !strings.HasPrefix(got, strings.Repeat("x", 255)) || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("ua is %d bytes (%q...), want at most 256 valid UTF-8 bytes", len(got), got[:min(len(got), 20)])
	}
	if testenv.Has(it, "prev") || testenv.Has(it, "revoked_at") {
		t.Error("a new session has prev or revoked_at")
	}
	if c := testenv.Claims(t, tok.AccessToken); c["scope"] != "reader writer" {
		t.Errorf("access token scope = %v", c["scope"])
	}
	// Even with the largest client fields, a refresh writes one WCU: the item stays
	// under 1 KB.
	u2 := h.Usage(func() { h.MustRefresh(t, tok.RefreshToken) })
	if u2.WCU != 1 {
		t.Errorf("refresh of a session with a maximal user agent: %s, want 1 WCU", u2)
	}
	if size := ddbmeter.ItemSize(h.SessionItem(t, tok.SessionID)); size >= 1024 {
		t.Errorf("session item is %d bytes, want < 1 KB", size)
	}
}
