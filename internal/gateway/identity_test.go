package gateway

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// The identity-source check as API Gateway makes it, for the two configurations
// template.yaml has: Authorization (the body transport), where a request without it
// is 401 and the authorizer never runs, whatever cookies it carries; and none
// (cookie-only mode), where every request reaches the authorizer, with an empty
// identitySource, its cookies in cookies and its headers in headers, so the
// authorizer can tell a browser's cookie request from a cross-site one.
func TestIdentitySources(t *testing.T) {
	browser := func(r *http.Request) {
		r.Header.Set("Cookie", "__Host-access_token=tok; theme=dark")
		r.Header.Set("X-Session-Transport", "cookie")
	}
	crossSiteForm := func(r *http.Request) {
		r.Header.Set("Cookie", "__Host-access_token=tok")
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	app := func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }
	tests := []struct {
		name     string
		identity []string
		request  func(*http.Request)
		invoked  bool
		// what the authorizer sees, when it runs
		identitySource []string
		cookies        []string
		transport      string
	}{
		{"Authorization configured: a cookie request is 401 before the authorizer", []string{"Authorization"}, browser, false, nil, nil, ""},
		{"Authorization configured: its value is the identity source", []string{"Authorization"}, app, true, []string{"Bearer tok"}, nil, ""},
		{"none configured: a cookie request reaches the authorizer", nil, browser, true, nil, []string{"__Host-access_token=tok", "theme=dark"}, "cookie"},
		{"none configured: so does a cross-site form, for the authorizer to refuse", nil, crossSiteForm, true, nil, []string{"__Host-access_token=tok"}, ""},
		{"none configured: so does a request with no credential at all", nil, func(*http.Request) {}, true, nil, nil, ""},
		{"none configured: an app's Authorization header comes as a header", nil, app, true, nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var handler, auth recorder
			g := mustNew(t, Config{
				Routes:          []Route{{Method: "POST", Path: "/auth/password", Handler: handler.handler(ok), Protected: true}},
				Authorizer:      auth.authorizer(events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}),
				IdentityHeaders: tc.identity,
			})
			req := newRequest("POST", "/auth/password", "")
			tc.request(req)
			res := serve(g, req)
			if !tc.invoked {
				wantMessage(t, res, http.StatusUnauthorized, "Unauthorized")
				if auth.callCount() != 0 {
					t.Error("the authorizer ran")
				}
				return
			}
			wantMessage(t, res, http.StatusForbidden, "Forbidden")
			if auth.callCount() != 1 || handler.callCount() != 0 {
				t.Fatalf("authorizer ran %d times, handler %d; want 1 and 0", auth.callCount(), handler.callCount())
			}
			ev := auth.lastAuthEvent()
			// With none configured, whether API Gateway sends [] or leaves it out is not
			// documented; the authorizer must treat both as "no identity source".
			sameSource := len(ev.IdentitySource) == len(tc.identitySource) &&
				(len(tc.identitySource) == 0 || reflect.DeepEqual(ev.IdentitySource, tc.identitySource))
			if !sameSource || !reflect.DeepEqual(ev.Cookies, tc.cookies) {
				t.Errorf("identitySource %q, cookies %q; want %q, %q", ev.IdentitySource, ev.Cookies, tc.identitySource, tc.cookies)
			}
			if ev.Headers["x-session-transport"] != tc.transport {
				t.Errorf("x-session-transport header %q, want %q", ev.Headers["x-session-transport"], tc.transport)
			}
			if _, ok := ev.Headers["cookie"]; ok {
				t.Error("the Cookie header is among the headers, not only in cookies")
			}
		})
	}
}
