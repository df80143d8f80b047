package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/testenv"
)

func TestMeAnswersWithTheAuthorizerContext(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "read:profile")
	tok := h.Login(t, u.Name, u.Password)

	az := h.Authorize(t, tok.AccessToken)
	if !az.IsAuthorized {
		t.Fatal("denied")
	}
	// API Gateway hands the authorizer's context to the route as
	// requestContext.authorizer.lambda.
	req := testenv.Request(http.MethodGet, "/me", nil, "authorization", "Bearer "+tok.AccessToken)
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: az.Context}
	resp := testenv.Call(t, h.App.API.Me, req)
	wantStatus(t, "GET /me", resp, http.StatusOK)
	wantHeader(t, resp, "Cache-Control", "no-store")
	var me map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &me); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sub": u.ID, "sid": tok.SessionID, "scope": "read:profile",
		"auth_time": testenv.Claims(t, tok.AccessToken)["auth_time"]}
	for k, v := range want {
		if me[k] != v {
			t.Errorf("%s = %v, want %v", k, me[k], v)
		}
	}
	if len(me) != len(want) {
		t.Errorf("body %v, want exactly sub, sid, scope and auth_time", me)
	}

	t.Run("without an authorizer context it is a 401", func(t *testing.T) {
		resp := testenv.Call(t, h.App.API.Me, testenv.Request(http.MethodGet, "/me", nil, "authorization", "Bearer "+tok.AccessToken))
		wantError(t, resp, http.StatusUnauthorized, "unauthorized")
	})
}

func TestJWKSListsTheVerificationKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		alg     string
		kty     string
		members []string
	}{
		{keys.EdDSA, "OKP", []string{"crv", "x"}},
		{keys.ES256, "EC", []string{"crv", "x", "y"}},
		{keys.RS256, "RSA", []string{"n", "e"}},
	} {
		t.Run(tc.alg+" keys are published with kid, alg and use", func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{Alg: tc.alg})
			u := h.CreateUser(t, "alice", "", "")
			tok := h.Login(t, u.Name, u.Password)

			resp := testenv.Call(t, h.App.API.JWKS, testenv.Request(http.MethodGet, "/.well-known/jwks.json", nil))
			wantStatus(t, "GET jwks", resp, http.StatusOK)
			wantHeader(t, resp, "Content-Type", "application/json")
			if cc := headerOf(resp, "Cache-Control"); !strings.Contains(cc, "public") || !strings.Contains(cc, "max-age=") {
				t.Errorf("Cache-Control %q: the JWKS should be cacheable", cc)
			}
			var set struct {
				Keys []map[string]string `json:"keys"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != 1 {
				t.Fatalf("%d keys", len(set.Keys))
			}
			k := set.Keys[0]
			hdrJSON, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.AccessToken, ".")[0])
			var hdr map[string]string
			_ = json.Unmarshal(hdrJSON, &hdr)
			if k["kid"] == "" || k["kid"] != hdr["kid"] {
				t.Errorf("JWKS kid %q, access token kid %q", k["kid"], hdr["kid"])
			}
			if k["alg"] != tc.alg || hdr["alg"] != tc.alg || k["use"] != "sig" || k["kty"] != tc.kty {
				t.Errorf("key %v, token header %v", k, hdr)
			}
			for _, m := range tc.members {
				if k[m] == "" {
					t.Errorf("public member %q missing", m)
				}
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("the JWKS publishes the private member %q", private)
				}
			}
			if !h.Allowed(t, tok.AccessToken) {
				t.Error("an access token signed with this key is denied")
			}
		})
	}
}

func TestTokenAnswersAreNeverCached(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	login := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password))
	var tok testenv.Tokens
	testenv.Decode(t, login, &tok)
	refresh := testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(tok.RefreshToken))
	var next testenv.Tokens
	testenv.Decode(t, refresh, &next)
	logout := testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(next.RefreshToken, ""))
	bad := testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(next.RefreshToken))
	for name, resp := range map[string]events.APIGatewayV2HTTPResponse{
		"login": login, "refresh": refresh, "logout": logout, "refused refresh": bad,
	} {
		if got := headerOf(resp, "Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, got)
		}
	}
}
