package authz

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// Cookie-only mode (AcceptAccessCookie): which credential a request's authorizer event
// carries, and why each other shape is denied. In this mode template.yaml gives the
// authorizer no identity source, so API Gateway invokes it for every request and the
// events have no identitySource.

func newCookieRig(t *testing.T) *rig {
	t.Helper()
	r := newRig(t)
	r.a = New(r.a.verifier, r.st, r.a.now, r.a.log, AcceptAccessCookie())
	return r
}

// cookieEvent is the authorizer event of a request with the given lower-cased
// headers and Cookie header values (payload 2.0 splits them into cookies).
func cookieEvent(headers map[string]string, cookies ...string) events.APIGatewayV2CustomAuthorizerV2Request {
	return events.APIGatewayV2CustomAuthorizerV2Request{Type: "REQUEST", Headers: headers, Cookies: cookies}
}

var withTransport = map[string]string{TransportHeader: "cookie"}

func TestCookieOnlyMode(t *testing.T) {
	tests := []struct {
		name string
		ev   func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request
		ok   bool
		// deny is the logged reason of a refusal ("": any reason).
		deny string
		// reads is how many session reads the decision may make.
		reads int
	}{
		{"the cookie with the transport header is allowed", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(withTransport, "theme=dark", AccessCookieName+"="+r.good(t))
		}, true, "", 1},
		{"the header's value is read as the API reads it: any case, surrounding blanks", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(map[string]string{TransportHeader: " Cookie "}, AccessCookieName+"="+r.good(t))
		}, true, "", 1},
		{"the same cookie twice with one value is that value", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			c := AccessCookieName + "=" + r.good(t)
			return cookieEvent(withTransport, c, c)
		}, true, "", 1},
		{"the cookie without the header is denied, as a cross-site form's would be", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(map[string]string{"content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site"},
				AccessCookieName+"="+r.good(t))
		}, false, errCookieWithoutHeader.Error(), 0},
		{"the header without the cookie is denied", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(withTransport, "theme=dark")
		}, false, errNoCredential.Error(), 0},
		{"neither header nor cookie is denied", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(nil)
		}, false, errNoCredential.Error(), 0},
		{"a transport header that is not cookie is denied", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(map[string]string{TransportHeader: "cookie,cookie"}, AccessCookieName+"="+r.good(t))
		}, false, errBadTransport.Error(), 0},
		{"two different access-token cookies are trusted neither", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(withTransport, AccessCookieName+"="+r.good(t), AccessCookieName+"="+r.token(t, "user-2", "session-1", 3, "read write"))
		}, false, errAmbiguousCookie.Error(), 0},
		{"an empty access-token cookie is denied", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(withTransport, AccessCookieName+"=")
		}, false, errAmbiguousCookie.Error(), 0},
		{"a cookie under another name is not the access token", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(withTransport, "access_token="+r.good(t))
		}, false, errNoCredential.Error(), 0},
		{"a forged cookie token is denied by the verifier", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(withTransport, AccessCookieName+"="+r.good(t)+"x")
		}, false, "", 0},
		// Precedence: an Authorization header is the credential whenever it is there.
		{"an Authorization header wins over the cookie, which is not even checked", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(map[string]string{"authorization": "Bearer " + r.good(t)}, AccessCookieName+"=garbage")
		}, true, "", 1},
		{"a bad Authorization header never falls back to a good cookie", func(r *rig, t *testing.T) events.APIGatewayV2CustomAuthorizerV2Request {
			return cookieEvent(map[string]string{"authorization": "Basic YWxpY2U6eA==", TransportHeader: "cookie"}, AccessCookieName+"="+r.good(t))
		}, false, errNoBearer.Error(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newCookieRig(t)
			ev := tc.ev(r, t)
			resp, err := r.a.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.IsAuthorized != tc.ok {
				t.Fatalf("isAuthorized %v, want %v", resp.IsAuthorized, tc.ok)
			}
			if r.st.reads > tc.reads {
				t.Errorf("%d session reads, want at most %d: a refusal on the request's shape must cost no read", r.st.reads, tc.reads)
			}
			if tc.ok {
				if resp.Context["sub"] != "user-1" || resp.Context["sid"] != "session-1" {
					t.Errorf("context %v", resp.Context)
				}
				return
			}
			_, attrs := r.logs.last(t)
			if tc.deny != "" && attrs["reason"] != tc.deny {
				t.Errorf("logged reason %q, want %q", attrs["reason"], tc.deny)
			}
			for _, c := range ev.Cookies {
				_, v, _ := strings.Cut(c, "=")
				for k, a := range attrs {
					if len(v) > 8 && strings.Contains(a, v) {
						t.Errorf("the deny log's %s holds the cookie's token", k)
					}
				}
			}
		})
	}
}

// Without AcceptAccessCookie (ACCESS_TOKEN_COOKIE off, the default) a cookie is not a
// credential, whatever headers come with it.
func TestTheCookieIsIgnoredUnlessCookieOnlyModeIsOn(t *testing.T) {
	r := newRig(t)
	resp, err := r.a.Handle(context.Background(), cookieEvent(withTransport, AccessCookieName+"="+r.good(t)))
	if err != nil || resp.IsAuthorized {
		t.Fatalf("Handle = %+v, %v; want a deny", resp, err)
	}
	if _, attrs := r.logs.last(t); attrs["reason"] != errNoBearer.Error() {
		t.Errorf("reason %q, want %q", attrs["reason"], errNoBearer)
	}
	if r.st.reads != 0 {
		t.Errorf("%d session reads, want none", r.st.reads)
	}
}
