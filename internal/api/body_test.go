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
