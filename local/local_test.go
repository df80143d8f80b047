package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddblocal"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

// The end-to-end tests share one DynamoDB Local (internal/testddb: the one
// AWS_ENDPOINT_URL_DYNAMODB names, as under make test, or one started for this test
// binary), each test with its own table, and run the server through runWith, as main
// does, on a real listener on 127.0.0.1:0.

func TestMain(m *testing.M) { testddb.Main(m) }

func dynamoDB(t *testing.T) string { return testddb.Endpoint(t) }

// envNames are every variable run reads or sets; each test starts with all of them
// empty (which run treats as unset) and t.Setenv restores them afterwards.
var envNames = append(config.UseAll.Variables(),
	"AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"CORS_ORIGINS", "CORS_PREFLIGHT_CACHE_TTL",
)

var (
	testKeyOnce sync.Once
	testKey     []byte
)

func signingKey(t *testing.T) string {
	testKeyOnce.Do(func() {
		var err error
		if testKey, err = keys.Generate(keys.EdDSA); err != nil {
			panic(err)
		}
	})
	return string(testKey)
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines and the test.
type syncBuffer = testenv.SyncBuffer

type testServer struct {
	URL            string
	stdout, stderr *syncBuffer
	stop           func() error
}

// startServer runs the local server as main does, with env on top of a clean
// environment that points at the shared DynamoDB Local, a fresh table and a test key.
// It is stopped (gracefully, through the context) when the test ends, or by stop.
func startServer(t *testing.T, env map[string]string, o runOptions, args ...string) *testServer {
	t.Helper()
	// Before the environment is cleared: testddb reads AWS_ENDPOINT_URL_DYNAMODB once.
	endpoint := dynamoDB(t)
	for _, name := range envNames {
		t.Setenv(name, "")
	}
	defaults := map[string]string{"TABLE_NAME": randomName("t-"), "SIGNING_KEY": signingKey(t), "AWS_ENDPOINT_URL_DYNAMODB": endpoint}
	for k, v := range defaults {
		if _, ok := env[k]; !ok {
			t.Setenv(k, v)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if o.cacheDir == "" {
		o.cacheDir = t.TempDir()
	}

	s := &testServer{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	o.ready = func(u string) { ready <- u }
	done := make(chan error, 1)
	go func() {
		done <- runWith(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), s.stdout, s.stderr, o)
	}()

	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("run did not return within 30s of cancellation")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("run returned %v", err)
		}
		if t.Failed() {
			t.Logf("server stdout:\n%s\nserver stderr:\n%s", s.stdout, s.stderr)
		}
	})
	select {
	case s.URL = <-ready:
	case err := <-done:
		t.Fatalf("run ended before serving: %v\nstdout:\n%s\nstderr:\n%s", err, s.stdout, s.stderr)
	case <-time.After(3 * time.Minute):
		t.Fatal("server not ready within 3 minutes")
	}
	return s
}

var client = &http.Client{Timeout: 30 * time.Second}

type response struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, method, url string, header map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, cookies: resp.Cookies(), body: b}
}

func wantStatus(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
}

// wantGatewayMessage checks an answer API Gateway itself gives, such as
// 401 {"message":"Unauthorized"}.
func wantGatewayMessage(t *testing.T, what string, r response, status int, message string) {
	t.Helper()
	wantStatus(t, what, r, status)
	if got := r.json(t); len(got) != 1 || got["message"] != message {
		t.Fatalf("%s: body %s, want {\"message\":%q}", what, r.body, message)
	}
}

func wantError(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	wantStatus(t, what, r, status)
	if got := r.json(t)["error"]; got != code {
		t.Fatalf("%s: error %v, want %q; body %s", what, got, code, r.body)
	}
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok || s == "" {
		t.Fatalf("%q missing from %v", key, m)
	}
	return s
}

const alicePassword = "correct horse battery staple"

func TestEndToEndBodyTransport(t *testing.T) {
	s := startServer(t, nil, runOptions{}, "--user", "Alice:"+alicePassword)

	login := do(t, "POST", s.URL+"/auth/login", jsonCT, loginJSON("alice", alicePassword))
	wantStatus(t, "login", login, 200)
	grant := login.json(t)
	access, refresh := str(t, grant, "access_token"), str(t, grant, "refresh_token")
	if grant["token_type"] != "Bearer" || str(t, grant, "session_id") == "" || str(t, grant, "session_expires_at") == "" {
		t.Fatalf("login answer %v", grant)
	}
	if len(login.cookies) != 0 {
		t.Fatalf("body transport set cookies: %v", login.header["Set-Cookie"])
	}

	me := do(t, "GET", s.URL+"/me", bearer(access), "")
	wantStatus(t, "/me", me, 200)
	principal := me.json(t)
	if principal["sid"] != grant["session_id"] || str(t, principal, "sub") == "" {
		t.Fatalf("/me = %v, login = %v", principal, grant)
	}

	ref := do(t, "POST", s.URL+"/auth/refresh", jsonCT, `{"refresh_token":"`+refresh+`"}`)
	wantStatus(t, "refresh", ref, 200)
	grant2 := ref.json(t)
	access2, refresh2 := str(t, grant2, "access_token"), str(t, grant2, "refresh_token")
	if refresh2 == refresh || access2 == access || grant2["session_id"] != grant["session_id"] {
		t.Fatalf("refresh did not rotate within the session: %v -> %v", grant, grant2)
	}
	wantStatus(t, "/me with the refreshed token", do(t, "GET", s.URL+"/me", bearer(access2), ""), 200)

	out := do(t, "POST", s.URL+"/auth/logout", jsonCT, `{"refresh_token":"`+refresh2+`"}`)
	wantStatus(t, "logout", out, 204)
	wantError(t, "refresh after logout", do(t, "POST", s.URL+"/auth/refresh", jsonCT, `{"refresh_token":"`+refresh2+`"}`), 401, "invalid_grant")
	wantGatewayMessage(t, "/me after logout", do(t, "GET", s.URL+"/me", bearer(access2), ""), 403, "Forbidden")

	// The gateway's own answers.
	wantGatewayMessage(t, "/me without Authorization", do(t, "GET", s.URL+"/me", nil, ""), 401, "Unauthorized")
	wantGatewayMessage(t, "/me with an empty Authorization", do(t, "GET", s.URL+"/me", map[string]string{"Authorization": ""}, ""), 401, "Unauthorized")
	wantGatewayMessage(t, "/me with a bad token", do(t, "GET", s.URL+"/me", bearer("not.a.token"), ""), 403, "Forbidden")
	wantGatewayMessage(t, "/me with a non-bearer header", do(t, "GET", s.URL+"/me", map[string]string{"Authorization": "Basic YWxpY2U6eA=="}, ""), 403, "Forbidden")
	wantGatewayMessage(t, "unknown route", do(t, "GET", s.URL+"/nope", nil, ""), 404, "Not Found")
	wantGatewayMessage(t, "known path, other method", do(t, "GET", s.URL+"/auth/login", nil, ""), 404, "Not Found")
	wantGatewayMessage(t, "POST / (the page is GET only)", do(t, "POST", s.URL+"/", jsonCT, "{}"), 404, "Not Found")

	// The handlers' own errors come through unchanged.
	wantError(t, "wrong password", do(t, "POST", s.URL+"/auth/login", jsonCT, loginJSON("alice", "wrong password, long enough")), 401, "invalid_credentials")
	wantError(t, "login without JSON", do(t, "POST", s.URL+"/auth/login", map[string]string{"Content-Type": "text/plain"}, "x"), 415, "unsupported_media_type")

	jwks := do(t, "GET", s.URL+"/.well-known/jwks.json", nil, "")
	wantStatus(t, "JWKS", jwks, 200)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(jwks.body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", jwks.body, err)
	}
	if k := set.Keys[0]; k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["kid"] == "" || k["d"] != "" {
		t.Fatalf("JWKS key %v", k)
	}
	if ct := jwks.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("JWKS Content-Type %q", ct)
	}
	if jwks.header.Get("Apigw-Requestid") == "" {
		t.Fatal("no Apigw-Requestid header: not served through the gateway?")
	}
}

// cookieOf returns the refresh cookie of a response, or nil.
func cookieOf(r response) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == api.CookieName {
			return c
		}
	}
	return nil
}

// TestEndToEndCookieTransport drives the cookie transport through real Set-Cookie and
// Cookie headers. Go's net/http/cookiejar never sends a Secure cookie over plain
// http, not even to 127.0.0.1 (browsers do: loopback is a secure context; the
// headless-Chromium test in local/e2e shows it), so this test keeps the cookie
// itself: it reads Set-Cookie, checks the attributes a browser would enforce, and
// sends the value back in a Cookie header on /auth paths only, as the browser does.
func TestEndToEndCookieTransport(t *testing.T) {
	s := startServer(t, nil, runOptions{}, "--user", "carol:"+alicePassword)
	transport := map[string]string{"X-Session-Transport": "cookie"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range transport {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	login := do(t, "POST", s.URL+"/auth/login", with(jsonCT), loginJSON("carol", alicePassword))
	wantStatus(t, "cookie login", login, 200)
	grant := login.json(t)
	if _, ok := grant["refresh_token"]; ok {
		t.Fatalf("cookie login put the refresh token in the body: %s", login.body)
	}
	c := cookieOf(login)
	if c == nil {
		t.Fatalf("no %s cookie in %v", api.CookieName, login.header["Set-Cookie"])
	}
	if c.Value == "" || c.Path != "/auth" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge <= 0 {
		t.Fatalf("refresh cookie %q: want a value, Path=/auth, Secure, HttpOnly, SameSite=Strict, Max-Age>0", c.Raw)
	}
	wantStatus(t, "/me", do(t, "GET", s.URL+"/me", bearer(str(t, grant, "access_token")), ""), 200)

	sendCookie := func(c *http.Cookie) map[string]string { return map[string]string{"Cookie": c.Name + "=" + c.Value} }

	ref := do(t, "POST", s.URL+"/auth/refresh", with(sendCookie(c)), "")
	wantStatus(t, "cookie refresh", ref, 200)
	c2 := cookieOf(ref)
	if c2 == nil || c2.Value == "" || c2.Value == c.Value || !c2.HttpOnly || !c2.Secure {
		t.Fatalf("refresh did not rotate the cookie: %v", ref.header["Set-Cookie"])
	}
	grant2 := ref.json(t)
	if grant2["session_id"] != grant["session_id"] {
		t.Fatalf("refresh changed the session: %v -> %v", grant, grant2)
	}
	access2 := str(t, grant2, "access_token")
	wantStatus(t, "/me with the refreshed token", do(t, "GET", s.URL+"/me", bearer(access2), ""), 200)

	// The CSRF guard: the cookie alone is refused; the header alone has no token.
	cookieAndJSON := sendCookie(c2)
	cookieAndJSON["Content-Type"] = "application/json"
	wantError(t, "refresh with the cookie but no header", do(t, "POST", s.URL+"/auth/refresh", cookieAndJSON, "{}"), 403, "csrf_header_required")
	wantError(t, "refresh with the cookie, no header, no body", do(t, "POST", s.URL+"/auth/refresh", sendCookie(c2), ""), 403, "csrf_header_required")
	wantError(t, "refresh with the header but no cookie", do(t, "POST", s.URL+"/auth/refresh", transport, ""), 401, "invalid_grant")

	out := do(t, "POST", s.URL+"/auth/logout", with(sendCookie(c2)), "")
	wantStatus(t, "cookie logout", out, 204)
	if cl := cookieOf(out); cl == nil || cl.Value != "" || cl.MaxAge >= 0 || cl.Path != "/auth" {
		t.Fatalf("logout did not clear the cookie: %v", out.header["Set-Cookie"])
	}
	after := do(t, "POST", s.URL+"/auth/refresh", with(sendCookie(c2)), "")
	wantError(t, "refresh after logout", after, 401, "invalid_grant")
	if cl := cookieOf(after); cl == nil || cl.MaxAge >= 0 {
		t.Fatalf("a refused cookie refresh did not clear the cookie: %v", after.header["Set-Cookie"])
	}
	wantGatewayMessage(t, "/me after logout", do(t, "GET", s.URL+"/me", bearer(access2), ""), 403, "Forbidden")
}

func TestDemoPage(t *testing.T) {
	s := startServer(t, nil, runOptions{}, "--user", "dave:"+alicePassword)
	page := do(t, "GET", s.URL+"/", nil, "")
	wantStatus(t, "GET /", page, 200)
	if ct := page.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	for _, want := range []string{`<script type="module" src="/_local/app.js">`, `href="/_local/style.css"`, `id="login-form"`, `id="devices"`, `id="password-form"`} {
		if !bytes.Contains(page.body, []byte(want)) {
			t.Fatalf("page lacks %s", want)
		}
	}
	// Without ACCESS_TOKEN_COOKIE the page keeps app.js's default, the cookie transport
	// (TestEndToEndCookieOnlyMode: cookie-only mode names its own).
	if bytes.Contains(page.body, []byte("sessions-transport")) {
		t.Fatal("the page names a transport outside cookie-only mode")
	}
	if !bytes.Contains(page.body, []byte(`data-transport="cookie-only" hidden`)) {
		t.Fatal("the page's cookie-only explanation is not hidden by default")
	}
	js := do(t, "GET", s.URL+"/_local/app.js", nil, "")
	wantStatus(t, "app.js", js, 200)
	if !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js Content-Type %q", js.header.Get("Content-Type"))
	}
	if !bytes.Contains(js.body, []byte(`from '/sessions.js'`)) {
		t.Fatal("app.js does not import the browser module")
	}

	// The module is served from its one source, clients/browser, byte for byte.
	mod := do(t, "GET", s.URL+"/sessions.js", nil, "")
	wantStatus(t, "sessions.js", mod, 200)
	if !strings.HasPrefix(mod.header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("sessions.js Content-Type %q", mod.header.Get("Content-Type"))
	}
	src, err := os.ReadFile(filepath.Join("..", "clients", "browser", "sessions.js"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mod.body, src) {
		t.Fatal("/sessions.js differs from clients/browser/sessions.js")
	}
	for _, want := range []string{"X-Session-Transport", "/auth/refresh", "Authorization"} {
		if !bytes.Contains(mod.body, []byte(want)) {
			t.Fatalf("sessions.js lacks %s", want)
		}
	}
	for name, body := range map[string][]byte{"app.js": js.body, "sessions.js": mod.body} {
		if bytes.Contains(body, []byte("localStorage")) || bytes.Contains(body, []byte("sessionStorage")) {
			t.Fatalf("%s uses web storage", name)
		}
	}
	wantStatus(t, "style.css", do(t, "GET", s.URL+"/_local/style.css", nil, ""), 200)
	wantGatewayMessage(t, "unknown local file", do(t, "GET", s.URL+"/_local/nope.js", nil, ""), 404, "Not Found")
}

func TestUserIsResetOnTheNextStart(t *testing.T) {
	table := randomName("t-")
	env := map[string]string{"TABLE_NAME": table, "ISSUER": "http://issuer.test"}
	first := startServer(t, env, runOptions{}, "--user", "erin:first password 123")
	login := do(t, "POST", first.URL+"/auth/login", jsonCT, loginJSON("erin", "first password 123"))
	wantStatus(t, "login", login, 200)
	grant := login.json(t)
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.stdout.String(), "erin  password: first password 123  (created)") {
		t.Fatalf("first start did not report the new user:\n%s", first.stdout)
	}

	second := startServer(t, env, runOptions{}, "--user", "erin:second password 456")
	if !strings.Contains(second.stdout.String(), "erin  password: second password 456  (existed; password reset") {
		t.Fatalf("second start did not report the reset:\n%s", second.stdout)
	}
	if !strings.Contains(second.stdout.String(), table+" (exists)") {
		t.Fatalf("second start did not find the table:\n%s", second.stdout)
	}
	wantError(t, "old password", do(t, "POST", second.URL+"/auth/login", jsonCT, loginJSON("erin", "first password 123")), 401, "invalid_credentials")
	wantStatus(t, "new password", do(t, "POST", second.URL+"/auth/login", jsonCT, loginJSON("erin", "second password 456")), 200)
	// The reset bumped the token version and revoked the sessions.
	wantGatewayMessage(t, "old access token", do(t, "GET", second.URL+"/me", bearer(str(t, grant, "access_token")), ""), 403, "Forbidden")
	wantError(t, "old refresh token", do(t, "POST", second.URL+"/auth/refresh", jsonCT, `{"refresh_token":"`+str(t, grant, "refresh_token")+`"}`), 401, "invalid_grant")
}

// TestDemoUserAndCurlLines starts without --user and runs the curl lines it prints.
func TestDemoUserAndCurlLines(t *testing.T) {
	s := startServer(t, nil, runOptions{})
	out := s.stdout.String()
	m := regexp.MustCompile(`(?m)^  demo  password: (\S+)  \(created\)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no demo user in the banner:\n%s", out)
	}
	if len(m[1]) < 16 {
		t.Fatalf("demo password %q is short", m[1])
	}
	wantStatus(t, "demo login", do(t, "POST", s.URL+"/auth/login", jsonCT, loginJSON("demo", m[1])), 200)

	var curls []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  curl ") {
			curls = append(curls, strings.TrimSpace(line))
		}
	}
	if len(curls) != 4 || !strings.Contains(curls[0], "/auth/login") || !strings.Contains(curls[1], "/me") ||
		!strings.Contains(curls[2], "/auth/refresh") || !strings.Contains(curls[3], "/auth/logout") {
		t.Fatalf("want curl lines for login, /me, refresh, logout; got %q", curls)
	}
	for _, c := range curls {
		if strings.Contains(c, "-d") && !strings.Contains(c, "Content-Type: application/json") {
			t.Fatalf("curl line without Content-Type: %s", c)
		}
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: the printed lines were checked but not run")
	}
	env := map[string]string{}
	sh := func(line string) (int, map[string]any) {
		t.Helper()
		cmd := exec.Command("sh", "-c", line+" -sS")
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		head, body, _ := strings.Cut(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n")
		var status int
		if _, err := fmt.Sscanf(head, "HTTP/1.1 %d", &status); err != nil {
			t.Fatalf("%s: no status line in %q", line, b)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return status, m
	}
	status, grant := sh(curls[0])
	if status != 200 {
		t.Fatalf("curl login: %d %v", status, grant)
	}
	env["ACCESS"], env["REFRESH"] = str(t, grant, "access_token"), str(t, grant, "refresh_token")
	if status, me := sh(curls[1]); status != 200 || me["sid"] != grant["session_id"] {
		t.Fatalf("curl /me: %d %v", status, me)
	}
	status, grant2 := sh(curls[2])
	if status != 200 {
		t.Fatalf("curl refresh: %d %v", status, grant2)
	}
	env["REFRESH"] = str(t, grant2, "refresh_token")
	if status, _ := sh(curls[3]); status != 204 {
		t.Fatalf("curl logout: %d", status)
	}
	if status, _ := sh(curls[2]); status != 401 {
		t.Fatalf("curl refresh after logout: %d", status)
	}
}

// TestStartsAndStopsItsOwnDynamoDBLocal takes the path `make run` takes: no
// AWS_ENDPOINT_URL_DYNAMODB, so run starts DynamoDB Local itself, points the SDK at
// it through that variable, and stops it when the context ends.
func TestStartsAndStopsItsOwnDynamoDBLocal(t *testing.T) {
	dynamoDB(t) // installs it, if need be, before the clock of startServer runs
	var started *ddblocal.Server
	cache := t.TempDir()
	s := startServer(t, map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "", "TABLE_NAME": "", "SIGNING_KEY": ""},
		runOptions{cacheDir: cache, startedDDB: func(d *ddblocal.Server) { started = d }})
	if started == nil {
		t.Fatal("run did not start DynamoDB Local")
	}
	if got := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"); got != started.Endpoint() {
		t.Fatalf("AWS_ENDPOINT_URL_DYNAMODB = %q, want %q", got, started.Endpoint())
	}
	out := s.stdout.String()
	for _, want := range []string{DefaultTableName + " (created from template.yaml)", "SIGNING_KEY_FILE=" + cache, "issuer:         " + s.URL} {
		if !strings.Contains(out, want) {
			t.Fatalf("banner lacks %q:\n%s", want, out)
		}
	}
	pw := regexp.MustCompile(`(?m)^  demo  password: (\S+)`).FindStringSubmatch(out)
	if pw == nil {
		t.Fatalf("no demo user:\n%s", out)
	}
	wantStatus(t, "login", do(t, "POST", s.URL+"/auth/login", jsonCT, loginJSON("demo", pw[1])), 200)

	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started.Done():
	default:
		t.Fatal("DynamoDB Local still running after run returned")
	}
	c := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(started.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), RetryMaxAttempts: 1,
	})
	if _, err := c.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err == nil {
		t.Fatal("DynamoDB Local still answers after run returned")
	}
	if !strings.Contains(s.stdout.String(), "DynamoDB Local stopped.") {
		t.Fatalf("no stop message:\n%s", s.stdout)
	}
}

func TestBadStartsFailClearly(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"two key sources", map[string]string{"SIGNING_KEY_FILE": "/nonexistent"}, nil, "set exactly one of SIGNING_KEY_PARAMETER, SIGNING_KEY_FILE, SIGNING_KEY"},
		{"bad duration", map[string]string{"ACCESS_TOKEN_TTL": "15 minutes"}, nil, "ACCESS_TOKEN_TTL"},
		{"short password", nil, []string{"--user", "frank:short"}, "shorter than"},
		{"no password", nil, []string{"--user", "frank"}, "NAME:PASSWORD"},
		{"bad addr", nil, []string{"--addr", "nohost"}, "listen on nohost"},
		{"stray argument", nil, []string{"serve"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range envNames {
				t.Setenv(name, "")
			}
			t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9") // never reached
			t.Setenv("SIGNING_KEY", signingKey(t))
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			args := append([]string{"--addr", "127.0.0.1:0"}, tc.args...)
			err := runWith(t.Context(), args, &stdout, &stderr, runOptions{cacheDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
