package api_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/testenv"
)

func TestMalformedRequestsAreRefusedWithAJSONError(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	tok := h.Login(t, u.Name, u.Password)
	big := `{"username":"alice","password":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`
	routes := []struct {
		name    string
		handler testenv.Handler
		valid   string // a valid body for the route
	}{
		{"login", h.App.API.Login, `{"username":"alice","password":"` + u.Password + `"}`},
		{"refresh", h.App.API.Refresh, `{"refresh_token":"` + tok.RefreshToken + `"}`},
		{"logout", h.App.API.Logout, `{"refresh_token":"` + tok.RefreshToken + `"}`},
	}
	cases := []struct {
		name   string
		req    func(valid string) events.APIGatewayV2HTTPRequest
		status int
		code   string
	}{
		{"malformed JSON is a 400", func(string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", `{"username":`)
		}, http.StatusBadRequest, "invalid_request"},
		{"a value of the wrong type is a 400", func(string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", `{"username":1,"password":true,"refresh_token":7}`)
		}, http.StatusBadRequest, "invalid_request"},
		{"an unknown field is a 400", func(v string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", strings.TrimSuffix(v, "}")+`,"admin":true}`)
		}, http.StatusBadRequest, "invalid_request"},
		{"a JSON array is a 400", func(string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", `[]`)
		}, http.StatusBadRequest, "invalid_request"},
		{"data after the object is a 400", func(v string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", v+` {}`)
		}, http.StatusBadRequest, "invalid_request"},
		{"an empty body is a 400", func(string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", "")
		}, http.StatusBadRequest, "invalid_request"},
		{"a blank body is a 400", func(string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", " \n ", "content-type", "application/json")
		}, http.StatusBadRequest, "invalid_request"},
		{"an empty object is a 400", func(string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", `{}`)
		}, http.StatusBadRequest, "invalid_request"},
		{"a body over 8 KiB is a 413", func(string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", big)
		}, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"a base64 body over 8 KiB once decoded is a 413", func(string) events.APIGatewayV2HTTPRequest {
			r := testenv.Post("/auth", base64.StdEncoding.EncodeToString([]byte(big)))
			r.IsBase64Encoded = true
			return r
		}, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"a huge base64 body is a 413 without decoding it", func(string) events.APIGatewayV2HTTPRequest {
			r := testenv.Post("/auth", strings.Repeat("QUFB", 64<<10))
			r.IsBase64Encoded = true
			return r
		}, http.StatusRequestEntityTooLarge, "payload_too_large"},
		{"a body flagged base64 that is not is a 400", func(v string) events.APIGatewayV2HTTPRequest {
			r := testenv.Post("/auth", v)
			r.IsBase64Encoded = true
			return r
		}, http.StatusBadRequest, "invalid_request"},
		{"a body without a content type is a 415", func(v string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", v, "content-type", "")
		}, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"a form body is a 415", func(v string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", v, "content-type", "application/x-www-form-urlencoded")
		}, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"text/plain (a CORS-simple type) is a 415", func(v string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", v, "content-type", "text/plain")
		}, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"a garbled content type is a 415", func(v string) events.APIGatewayV2HTTPRequest {
			return testenv.Post("/auth", v, "content-type", "application/json; =")
		}, http.StatusUnsupportedMediaType, "unsupported_media_type"},
	}
	for _, r := range routes {
		for _, c := range cases {
			t.Run(r.name+": "+c.name, func(t *testing.T) {
				use := h.Usage(func() {
					resp := testenv.Call(t, r.handler, c.req(r.valid))
					wantError(t, resp, c.status, c.code)
					if strings.Contains(resp.Body, u.Password) || strings.Contains(resp.Body, tok.RefreshToken) {
						t.Errorf("error body echoes the input: %s", resp.Body)
					}
				})
				if use.RoundTrips != 0 {
					t.Errorf("a refused request reached DynamoDB: %s", use)
				}
			})
		}
	}
	// Nothing above touched the session.
	if h.Revoked(t, tok.SessionID) {
		t.Fatal("a malformed request revoked the session")
	}
}

func TestWellFormedVariantsOfABodyAreAccepted(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	valid := `{"username":"alice","password":"` + u.Password + `"}`
	for _, tc := range []struct {
		name string
		req  events.APIGatewayV2HTTPRequest
	}{
		{"a base64-encoded body", func() events.APIGatewayV2HTTPRequest {
			r := testenv.Post("/auth/login", base64.StdEncoding.EncodeToString([]byte(valid)))
			r.IsBase64Encoded = true
			return r
		}()},
		{"a content type with a charset", testenv.Post("/auth/login", valid, "content-type", "application/json; charset=utf-8")},
		{"a content type in capitals", testenv.Post("/auth/login", valid, "Content-Type", "Application/JSON")},
		{"surrounding white space", testenv.Post("/auth/login", "\n "+valid+" \n")},
		{"a body of exactly 8 KiB", testenv.Post("/auth/login", valid+strings.Repeat(" ", api.MaxBodyBytes-len(valid)))},
	} {
		t.Run(tc.name+" is accepted", func(t *testing.T) {
			wantStatus(t, tc.name, testenv.Call(t, h.App.API.Login, tc.req), http.StatusOK)
		})
	}
	t.Run("a missing password is a 400", func(t *testing.T) {
		wantError(t, testenv.Call(t, h.App.API.Login, testenv.Post("/auth/login", `{"username":"alice"}`)), http.StatusBadRequest, "invalid_request")
	})
	t.Run("a null password is a 400", func(t *testing.T) {
		wantError(t, testenv.Call(t, h.App.API.Login, testenv.Post("/auth/login", `{"username":"alice","password":null}`)), http.StatusBadRequest, "invalid_request")
	})
	t.Run("an over-long username is a 400", func(t *testing.T) {
		wantError(t, testenv.Call(t, h.App.API.Login, testenv.LoginReq(strings.Repeat("a", 65), u.Password)), http.StatusBadRequest, "invalid_request")
	})
	t.Run("a username with a control character is a 400", func(t *testing.T) {
		wantError(t, testenv.Call(t, h.App.API.Login, testenv.LoginReq("ali\x00ce", u.Password)), http.StatusBadRequest, "invalid_request")
	})
	t.Run("a logout scope other than session or all is a 400", func(t *testing.T) {
		tok := h.Login(t, u.Name, u.Password)
		wantError(t, testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(tok.RefreshToken, "everything")), http.StatusBadRequest, "invalid_request")
		if h.Revoked(t, tok.SessionID) {
			t.Error("a refused logout revoked the session")
		}
		wantStatus(t, "scope session", testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(tok.RefreshToken, "session")), http.StatusNoContent)
		if !h.Revoked(t, tok.SessionID) {
			t.Error("scope session did not revoke the session")
		}
	})
}

// A body that two JSON readers could read differently is refused before it reaches
// the service (issue 9, item 6): encoding/json keeps the last of duplicate members,
// matches names case-insensitively (with Unicode folding) and turns invalid UTF-8 and
// unpaired surrogate escapes into U+FFFD, while a WAF or log reader may take the first
// member, compare names exactly or keep the bytes. Each refusal is a 400
// invalid_request whose message says why (pinned by a phrase) and contains none of the
// client's member names or values.
func TestBodiesThatTwoReadersCouldReadDifferentlyAreRefused(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	tok := h.Login(t, u.Name, u.Password)
	pw, rt := u.Password, tok.RefreshToken
	const (
		repeats     = "repeats a member"
		caseOnly    = "only in letter case"
		unknown     = "not part of this request"
		notScalar   = "an object or an array"
		notUTF8     = "not valid UTF-8"
		surrogate   = "unpaired UTF-16 surrogate"
		notAnObject = "must be a JSON object"
	)
	for _, tc := range []struct {
		name    string
		handler testenv.Handler
		body    string
		why     string
		client  []string // the client's text the message must not contain (case-insensitively)
	}{
		{"a login naming two usernames (encoding/json would log in as the second)", h.App.API.Login,
			`{"username":"mallory","username":"alice","password":"` + pw + `"}`, repeats, []string{"username", "mallory", "alice"}},
		{"a login naming two passwords", h.App.API.Login,
			`{"username":"alice","password":"wrong-guess-1","password":"` + pw + `"}`, repeats, []string{"password", "wrong-guess-1"}},
		{"a login repeating username through a \\u escape", h.App.API.Login,
			`{"username":"mallory","user\u006eame":"alice","password":"` + pw + `"}`, repeats, []string{"user", "mallory", "alice"}},
		{"a login with USERNAME in capitals", h.App.API.Login,
			`{"USERNAME":"alice","password":"` + pw + `"}`, caseOnly, []string{"username", "alice"}},
		{"a login with Password capitalised", h.App.API.Login,
			`{"username":"alice","Password":"` + pw + `"}`, caseOnly, []string{"password", "alice"}},
		{"a login spelling username with a long s (ſ folds to s)", h.App.API.Login,
			`{"uſername":"alice","password":"` + pw + `"}`, caseOnly, []string{"uſername", "alice"}},
		{"a login with an unknown member", h.App.API.Login,
			`{"username":"alice","password":"` + pw + `","xyzzy_is_admin":true}`, unknown, []string{"xyzzy", "is_admin"}},
		{"a login whose username is an object", h.App.API.Login,
			`{"username":{"username":"alice"},"password":"` + pw + `"}`, notScalar, []string{"alice"}},
		{"a login whose username is an array", h.App.API.Login,
			`{"username":["alice","mallory"],"password":"` + pw + `"}`, notScalar, []string{"alice", "mallory"}},
		{"a login with invalid UTF-8 in the username", h.App.API.Login,
			"{\"username\":\"alice\xff\xfe\",\"password\":\"" + pw + "\"}", notUTF8, []string{"alice"}},
		{"a login with an unpaired surrogate escape in the password", h.App.API.Login,
			`{"username":"alice","password":"` + pw + `\ud800"}`, surrogate, []string{"alice", `\ud800`}},
		{"a login with a low surrogate before a high one", h.App.API.Login,
			`{"username":"alice","password":"` + pw + `\ude00\ud83d"}`, surrogate, []string{"alice", `\ude00`}},
		{"a login body that is null", h.App.API.Login, `null`, notAnObject, []string{"null"}},
		{"a refresh naming junk then the real token (encoding/json would rotate the real one)", h.App.API.Refresh,
			`{"refresh_token":"junk-token-value","refresh_token":"` + rt + `"}`, repeats, []string{"refresh_token", "junk-token-value"}},
		{"a refresh naming the real token then junk", h.App.API.Refresh,
			`{"refresh_token":"` + rt + `","refresh_token":"junk-token-value"}`, repeats, []string{"refresh_token", "junk-token-value"}},
		{"a refresh with Refresh_Token capitalised", h.App.API.Refresh,
			`{"Refresh_Token":"` + rt + `"}`, caseOnly, []string{"refresh_token"}},
		{"a refresh spelling refresh_token with a Kelvin sign (K folds to k)", h.App.API.Refresh,
			`{"refresh_to\u212aen":"` + rt + `"}`, caseOnly, []string{"refresh_to", `\u212a`, "\u212a"}},
		{"a logout with scope session then all (encoding/json would log out everywhere)", h.App.API.Logout,
			`{"refresh_token":"` + rt + `","scope":"session","scope":"all"}`, repeats, []string{"scope", "session", "all"}},
		{"a logout with SCOPE in capitals", h.App.API.Logout,
			`{"refresh_token":"` + rt + `","SCOPE":"all"}`, caseOnly, []string{"scope", "all"}},
		{"a logout with a member that is not part of logout", h.App.API.Logout,
			`{"refresh_token":"` + rt + `","username":"alice"}`, unknown, []string{"username", "alice"}},
	} {
		t.Run(tc.name+" is a 400 that says why without echoing the body", func(t *testing.T) {
			var resp events.APIGatewayV2HTTPResponse
			use := h.Usage(func() { resp = testenv.Call(t, tc.handler, testenv.Post("/auth", tc.body)) })
			e := wantError(t, resp, http.StatusBadRequest, "invalid_request")
			if !strings.Contains(e.Message, tc.why) {
				t.Errorf("message %q does not say %q", e.Message, tc.why)
			}
			for _, s := range append(tc.client, pw, rt) {
				if strings.Contains(strings.ToLower(e.Message), strings.ToLower(s)) {
					t.Errorf("message %q echoes the client's %q", e.Message, s)
				}
			}
			if use.RoundTrips != 0 {
				t.Errorf("a refused request reached DynamoDB: %s", use)
			}
		})
	}
	// None of the refused requests rotated or revoked anything: the token still
	// refreshes (a rotated one would be refused as reuse) and the session is live.
	if h.Revoked(t, tok.SessionID) {
		t.Fatal("a refused request revoked the session")
	}
	h.MustRefresh(t, rt)
}

// The strict reading accepts what the contract allows and encoding/json's escapes
// that every reader decodes alike: a name spelt with \u escapes, a surrogate pair, and
// values of any scalar type reach the handler's own checks.
func TestBodiesWithOneReadingAreAccepted(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	for _, tc := range []struct {
		name string
		body string
	}{
		{"members in the other order", `{"password":"` + u.Password + `","username":"alice"}`},
		{"a member name spelt with a \\u escape", `{"user\u006eame":"alice","password":"` + u.Password + `"}`},
		{"a username spelt with \\u escapes", `{"username":"\u0061lice","password":"` + u.Password + `"}`},
	} {
		t.Run(tc.name+" logs in", func(t *testing.T) {
			wantStatus(t, tc.name, testenv.Call(t, h.App.API.Login, testenv.Post("/auth/login", tc.body)), http.StatusOK)
		})
	}
	t.Run("a password with an escaped surrogate pair reaches the password check", func(t *testing.T) {
		resp := testenv.Call(t, h.App.API.Login, testenv.Post("/auth/login", `{"username":"alice","password":"`+u.Password+`\ud83d\ude00"}`))
		wantError(t, resp, http.StatusUnauthorized, "invalid_credentials")
	})
	t.Run("a number where a string belongs names the contract's member", func(t *testing.T) {
		e := wantError(t, testenv.Call(t, h.App.API.Login, testenv.Post("/auth/login", `{"username":1e400,"password":"x"}`)), http.StatusBadRequest, "invalid_request")
		if !strings.Contains(e.Message, `field "username" must be string`) {
			t.Errorf("message %q does not say which member has the wrong type", e.Message)
		}
	})
}
