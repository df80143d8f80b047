package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/gateway"
	"github.com/example/sessions/internal/samtemplate"
)

// templateWithDefault is template.yaml with one parameter's Default changed, so a
// test can tell the limit it sees came from that parameter.
func templateWithDefault(t *testing.T, param, oldDefault, newDefault string) *samtemplate.Template {
	t.Helper()
	old := "  " + param + ":\n    Type: Number\n    Default: " + oldDefault + "\n"
	text := string(sessions.TemplateYAML)
	if strings.Count(text, old) != 1 {
		t.Fatalf("template.yaml has no parameter %s with Default %s written as %q", param, oldDefault, old)
	}
	tmpl, err := samtemplate.Parse([]byte(strings.Replace(text, old, "  "+param+":\n    Type: Number\n    Default: "+newDefault+"\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// The local gateway throttles POST /auth/login at the burst that template.yaml's
// LoginThrottlingBurstLimit gives it, and the other routes keep their own (larger)
// bucket. The clock stands still, so no token comes back during the test.
func TestLocalGatewayThrottlesLoginAtTheTemplatesLimit(t *testing.T) {
	tests := []struct {
		name       string
		tmpl       *samtemplate.Template
		loginBurst int
	}{
		{"the template's default login burst", realTemplate(t), 100},
		{"a login burst lowered in the template", templateWithDefault(t, "LoginThrottlingBurstLimit", "100", "3"), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th, err := throttlingOf(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if th == nil {
				t.Fatal("throttlingOf: nil, want the template's limits")
			}
			var routes []gateway.Route
			for _, r := range tc.tmpl.Routes() {
				routes = append(routes, gateway.Route{Method: r.Method, Path: r.Path, Handler: answer200})
			}
			stopped := time.Unix(1_700_000_000, 0)
			gw, err := gateway.New(gateway.Config{
				Routes:     routes,
				Authorizer: allowAll,
				Throttling: th,
				Now:        func() time.Time { return stopped },
				Logger:     discardLog,
			})
			if err != nil {
				t.Fatal(err)
			}
			send := func(method, path string) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(method, path, strings.NewReader("{}"))
				req.Header.Set("Authorization", "Bearer x")
				gw.ServeHTTP(rec, req)
				return rec
			}
			for i := range tc.loginBurst {
				if rec := send("POST", "/auth/login"); rec.Code != http.StatusOK {
					t.Fatalf("login %d of the burst of %d: status %d, want 200", i+1, tc.loginBurst, rec.Code)
				}
			}
			rec := send("POST", "/auth/login")
			if rec.Code != http.StatusTooManyRequests || rec.Body.String() != `{"message":"Too Many Requests"}` {
				t.Fatalf("login %d: %d %s, want 429 {\"message\":\"Too Many Requests\"}", tc.loginBurst+1, rec.Code, rec.Body)
			}
			for i := range tc.loginBurst + 1 {
				if rec := send("GET", "/me"); rec.Code != http.StatusOK {
					t.Fatalf("GET /me %d, after login ran out: status %d, want 200 (its own bucket)", i+1, rec.Code)
				}
			}
		})
	}
}

// The default limits leave room for the heaviest local load: bench/e2e's runs and the
// local tests must never see a 429 that a deployment at the defaults would not give.
func TestTemplateThrottlingIsGenerousForLocalLoad(t *testing.T) {
	th, err := throttlingOf(realTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	// bench/e2e sends 2000 GET /me per level at up to 64 concurrent; login is bound by
	// argon2id to about 20 a second on two cores (BENCHMARKS.md).
	if th.Default.Burst < 2000 || th.Default.Rate < 1000 {
		t.Errorf("default limit %+v: want a burst of at least 2000 and at least 1000 a second", th.Default)
	}
	login := th.Routes["POST /auth/login"]
	if login.Burst < 64+16 || login.Rate < 20 {
		t.Errorf("login limit %+v: want room for bench/e2e's 64 concurrent logins after its 16 warm-up ones", login)
	}
}

// discardLog drops the gateway's request lines.
var discardLog = slog.New(slog.DiscardHandler)

func answer200(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}"}, nil
}

func allowAll(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true}, nil
}
