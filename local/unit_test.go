package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
)

func realTemplate(t *testing.T) *samtemplate.Template {
	t.Helper()
	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func TestEveryTemplateRouteHasALocalHandler(t *testing.T) {
	plan, err := planRoutes(realTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range plan {
		key := r.route.Method + " " + r.route.Path
		got[key] = r.route.CodeURI
		if want := r.route.Path == "/me" || r.route.CodeURI == "functions/account"; r.route.Protected != want {
			t.Errorf("%s: Protected = %v, want %v", key, r.route.Protected, want)
		}
	}
	want := map[string]string{
		"POST /auth/login":           "functions/login",
		"POST /auth/refresh":         "functions/refresh",
		"POST /auth/logout":          "functions/logout",
		"GET /.well-known/jwks.json": "functions/jwks",
		"GET /me":                    "functions/me",
		"GET /auth/sessions":         "functions/account",
		"DELETE /auth/sessions/{id}": "functions/account",
		"POST /auth/password":        "functions/account",
		"POST /auth/reauthenticate":  "functions/account",
	}
	if len(got) != len(want) {
		t.Fatalf("routes %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s -> %q, want %q", k, got[k], v)
		}
	}
}

// miniTemplate is a template with the login route and one more function.
func miniTemplate(extraPath, extraCodeURI string) string {
	return `
Resources:
  HttpApi:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: A
        Authorizers:
          A: {FunctionArn: !GetAtt Authz.Arn}
  Login:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/login
      Events:
        E: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: POST, Path: /auth/login, Auth: {Authorizer: NONE}}}
  Extra:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: ` + extraCodeURI + `
      Events:
        E: {Type: HttpApi, Properties: {ApiId: !Ref HttpApi, Method: GET, Path: ` + extraPath + `}}
`
}

func TestPlanRoutesRefusesWhatItCannotServe(t *testing.T) {
	for _, tc := range []struct{ path, codeURI, want string }{
		{"/reports", "functions/reports", `function Extra (CodeUri "functions/reports") is not an HTTP function of app.Functions`},
		{"/", "functions/me", "clashes with the local demo page"},
		{"/_local/x", "functions/me", "clashes with the local demo page"},
		{"/sessions.js", "functions/me", "clashes with the local demo page"},
	} {
		tmpl, err := samtemplate.Parse([]byte(miniTemplate(tc.path, tc.codeURI)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = planRoutes(tmpl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: err %v, want %q", tc.path, tc.codeURI, err, tc.want)
		}
	}
	// The same template with a mapped function is fine.
	tmpl, _ := samtemplate.Parse([]byte(miniTemplate("/me", "functions/me")))
	if plan, err := planRoutes(tmpl); err != nil || len(plan) != 2 || !plan[1].route.Protected {
		t.Fatalf("plan %v, %v", plan, err)
	}
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLocalEnvDefaults(t *testing.T) {
	tmpl := realTemplate(t)
	got := localEnv(mapEnv(nil), tmpl, "http://127.0.0.1:3000")
	want := map[string]string{
		"TABLE_NAME":            "sessions-local",
		"ISSUER":                "http://127.0.0.1:3000",
		"AUDIENCE":              "my-app",
		"ACCESS_TOKEN_TTL":      "15m",
		"REFRESH_TOKEN_TTL":     "336h",
		"SESSION_MAX_AGE":       "720h",
		"REFRESH_REUSE_GRACE":   "10s",
		"MAX_SESSIONS_PER_USER": "10",
		"METRICS_NAMESPACE":     "Sessions",
		"ACCESS_TOKEN_COOKIE":   "off",
		"AWS_REGION":            "us-east-1",
		"AWS_ACCESS_KEY_ID":     "local",
		"AWS_SECRET_ACCESS_KEY": "local",
	}
	if len(got) != len(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// Never from the template: a deployed SSM name, or an endpoint.
	for _, k := range []string{"SIGNING_KEY_PARAMETER", "AWS_ENDPOINT_URL_DYNAMODB"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s defaulted to %q", k, got[k])
		}
	}

	// What is set stays as it is.
	set := map[string]string{"TABLE_NAME": "mine", "ISSUER": "https://x", "AUDIENCE": "aud", "ACCESS_TOKEN_TTL": "5m", "AWS_PROFILE": "dev"}
	got = localEnv(mapEnv(set), tmpl, "http://127.0.0.1:3000")
	for k := range set {
		if _, ok := got[k]; ok {
			t.Errorf("%s overridden with %q", k, got[k])
		}
	}
	for _, k := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s set although AWS_PROFILE is", k)
		}
	}
}

func TestApplyLocalEnvMakesOneDevelopmentKey(t *testing.T) {
	tmpl := realTemplate(t)
	dir := filepath.Join(t.TempDir(), ".cache")
	env := map[string]string{}
	setenv := func(k, v string) error { env[k] = v; return nil }
	names, err := applyLocalEnv(mapEnv(env), setenv, tmpl, "http://127.0.0.1:3000", dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, devKeyFile)
	if env["SIGNING_KEY_FILE"] != path || !strings.Contains(strings.Join(names, " "), "SIGNING_KEY_FILE") {
		t.Fatalf("SIGNING_KEY_FILE = %q (names %v), want %s", env["SIGNING_KEY_FILE"], names, path)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	set, err := keys.Parse(first)
	if err != nil || set.Signing().Alg != keys.EdDSA {
		t.Fatalf("key file: %v", err)
	}
	// The result is a valid configuration for the functions' own reader.
	if _, err := config.FromEnv(mapEnv(env), config.UseAll); err != nil {
		t.Fatal(err)
	}

	// A second start keeps the key (sessions survive restarts against a persistent
	// DynamoDB) and leaves no temporary files.
	env2 := map[string]string{}
	if _, err := applyLocalEnv(mapEnv(env2), func(k, v string) error { env2[k] = v; return nil }, tmpl, "x", dir); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	if !bytes.Equal(first, again) {
		t.Fatal("the development key changed on the second start")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Fatalf("cache dir holds %d entries, want only the key set, its public half and the refresh key", len(entries))
	}

	// Configured key material wins: no file, no SIGNING_KEY_FILE.
	other := filepath.Join(t.TempDir(), "c")
	env3 := map[string]string{"SIGNING_KEY": string(first)}
	if _, err := applyLocalEnv(mapEnv(env3), func(k, v string) error { env3[k] = v; return nil }, tmpl, "x", other); err != nil {
		t.Fatal(err)
	}
	if env3["SIGNING_KEY_FILE"] != "" {
		t.Fatal("SIGNING_KEY_FILE set although SIGNING_KEY is")
	}
	if _, err := os.Stat(filepath.Join(other, devKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key was written although SIGNING_KEY is set: %v", err)
	}
	// Its public half is what the verifying functions get.
	pub, err := os.ReadFile(env3["PUBLIC_KEYS_FILE"])
	if err != nil || string(pub) != string(set.JWKS()) {
		t.Fatalf("PUBLIC_KEYS_FILE holds %q (%v), want the configured set's JWKS", pub, err)
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	f, err := parseFlags([]string{"--addr", "127.0.0.1:8080", "--user", " Alice :pass:with:colons", "--user", "bob:another password"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != "127.0.0.1:8080" || len(f.users) != 2 {
		t.Fatalf("%+v", f)
	}
	if f.users[0].name != "alice" || f.users[0].password != "pass:with:colons" {
		t.Fatalf("user %+v: want the name normalised and the password after the first colon", f.users[0])
	}
	if f, err := parseFlags(nil, &stderr); err != nil || f.addr != DefaultAddr || len(f.users) != 0 {
		t.Fatalf("defaults: %+v %v", f, err)
	}
	if _, err := parseFlags([]string{"-h"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	var ue *usageError
	for _, args := range [][]string{{"--nope"}, {"--user", "x"}, {"--user", ":a long password"}, {"extra"}} {
		if _, err := parseFlags(args, &stderr); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

func TestShellQuote(t *testing.T) {
	if got := shellQuote(`{"password":"it's"}`); got != `'{"password":"it'\''s"}'` {
		t.Fatal(got)
	}
}
