package functions_test

// The deployed-shape test: every function of template.yaml, built as `sam build`
// builds it, runs as its real binary with the environment CloudFormation and Lambda
// would give it, behind the project's API Gateway emulator, against a Lambda Runtime
// API (internal/lambdarun) and an AWS endpoint that grants each function exactly its
// policy from template.yaml (internal/awsstub). It fails when a function cannot start,
// answers against the contract, calls AWS outside its policy, or holds a grant that
// no step uses.
//
// Everything about functions, environment, parameters and policies comes from
// template.yaml; only the steps below, which act as a client, and the two short
// tables parameterValues and unreachableGrants know anything specific.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions"
	"github.com/example/sessions/internal/admin"
	"github.com/example/sessions/internal/awsstub"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/testddb"
)

func TestMain(m *testing.M) { testddb.Main(m) }

// The account the test deploys into.
var scope = awsstub.Scope{Partition: "aws", Region: "us-east-1", AccountID: "123456789012"}

// stackName is the CloudFormation stack the physical names are made in.
const stackName = "sessions"

// parameterValues fills the SSM parameters that the template names: for every
// template parameter whose name ends in "ParameterName", the parameter its Default
// names is seeded with the value made here, keyed by the template parameter's logical
// name. A template parameter missing here fails the test; adding one is one line.
var parameterValues = map[string]struct {
	typ   string // the SSM parameter type
	value func(keyMaterial) string
}{
	"SigningKeyParameterName": {"SecureString", func(m keyMaterial) string { return m.env["SIGNING_KEY"] }},
	"PublicKeysParameterName": {"String", func(m keyMaterial) string { return m.env["PUBLIC_KEYS"] }},
	"RefreshKeyParameterName": {"SecureString", func(m keyMaterial) string { return m.env["REFRESH_KEY"] }},
}

// unreachableGrants are the grants that no step can reach with the template's
// parameters at their defaults, each with the reason; every other grant must be used
// by some step. An entry that is no longer granted, or that a step did use, fails the
// test, so the list cannot go stale.
var unreachableGrants = map[grantKey]string{}

// grantKey names one action pattern a function's policy grants.
type grantKey struct{ function, action string }

// keyMaterial is what the deployment's SSM parameters hold (keys.Material, as
// `sessionctl keys init` stores it), by the plain variable names.
type keyMaterial struct {
	env  map[string]string
	jwks []byte // the public JWKS document
}

func newKeyMaterial(t *testing.T) keyMaterial {
	t.Helper()
	m, err := keys.NewMaterial(keys.EdDSA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	env, err := m.Env()
	if err != nil {
		t.Fatal(err)
	}
	return keyMaterial{env: env, jwks: []byte(env["PUBLIC_KEYS"])}
}

func TestDeployedShape(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the functions are Linux binaries (provided.al2023); they run only on Linux")
	}
	root, err := samtemplate.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl := testddb.Template(t)
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) == 0 {
		t.Fatal("template.yaml declares no AWS::Serverless::Function")
	}

	bins := buildFunctions(t, root, fns)
	d := deploy(t, tpl, fns)
	stub, err := awsstub.Start(awsstub.Config{Scope: scope, DynamoDB: testddb.Endpoint(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stub.Close() })
	mat := newKeyMaterial(t)
	seedParameters(t, tpl, d, stub, mat)
	fl := newFleet(t, tpl, fns, d, bins, stub)
	api := newAPI(t, tpl, d, fl)
	u := createUser(t, d.Names[samtemplate.TableResource])

	s := &scenario{api: api, user: u, keys: mat, table: d.Names[samtemplate.TableResource]}
	s.run(t)

	calls := stub.Calls()
	for _, f := range fns {
		t.Run(f.ID+" starts, is invoked and stays within its policy", func(t *testing.T) {
			checkFunction(t, fl.fns[f.ID], calls)
		})
	}
	t.Run("every AWS call comes from a known function and is one the endpoint understands", func(t *testing.T) {
		for _, c := range calls {
			if c.Principal == "" || c.Action == "" {
				t.Errorf("%s from access key %q: answered %s (unknown caller or unsupported operation; extend internal/awsstub)",
					c.Operation, c.AccessKeyID, c.Error)
			}
		}
	})

	// The same stack deployed with AccessTokenCookie on: the functions get
	// ACCESS_TOKEN_COOKIE=on from the template, the HTTP API's authorizer no identity
	// source (the !If as AWS::LanguageExtensions resolves it). A browser's session
	// from login to logout, never holding a token; the same binaries, new processes.
	t.Run("in cookie-only mode", func(t *testing.T) {
		dc := d
		dc.Parameters = map[string]string{"AccessTokenCookie": "on"}
		before := len(stub.Calls())
		cfl := newFleet(t, tpl, fns, dc, bins, stub)
		cs := &cookieScenario{scenario: &scenario{api: newAPI(t, tpl, dc, cfl), user: u}}
		cs.run(t)
		t.Run("every function it invoked started and stayed within its policy", func(t *testing.T) {
			for _, f := range fns {
				lf := cfl.fns[f.ID]
				lf.mu.Lock()
				for _, ie := range lf.initFailures {
					t.Errorf("%s failed to start: %s", f.ID, ie.Reason)
				}
				lf.mu.Unlock()
			}
			for _, c := range stub.Calls()[before:] {
				if !c.Allowed {
					t.Errorf("%s called %s on %s, which its policy does not allow", c.Principal, c.Action, c.Resource)
				}
			}
		})
	})
}

// cookieScenario is a browser's session in cookie-only mode: the cookie transport,
// the access token only ever as the __Host-access_token cookie.
// Its api, user and contract checks are the scenario's; its own fields shadow the
// scenario's tokens.
type cookieScenario struct {
	*scenario
	access, refresh, sid string // the cookies' values, the session
}

func (s *cookieScenario) run(t *testing.T) {
	t.Run("a cookie login sets the access token as an HttpOnly __Host- cookie, not in the body", s.login)
	t.Run("the authorizer allows the cookie with the transport header, without an identity source", s.me)
	t.Run("the authorizer denies the cookie without the header, as a cross-site form sends it", s.csrf)
	t.Run("logout clears the access cookie and ends its session", s.logout)
}

const transportHeader = "X-Session-Transport"

func cookiesOf(r response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

func (s *cookieScenario) login(t *testing.T) {
	b, _ := json.Marshal(map[string]string{"username": s.user.name, "password": s.user.password})
	r := s.api.do(t, http.MethodPost, "/auth/login", map[string]string{"Content-Type": "application/json", transportHeader: "cookie"}, string(b))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s%s", r.status, r.body, r.output())
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"access_token", "refresh_token"} {
		if _, ok := body[m]; ok {
			t.Errorf("the body has %s", m)
		}
	}
	c := cookiesOf(r)
	ac, rc := c["__Host-access_token"], c["__Secure-refresh_token"]
	if ac == nil || rc == nil {
		t.Fatalf("Set-Cookie %q: want the access and refresh cookies", r.header.Values("Set-Cookie"))
	}
	if ac.Path != "/" || ac.Domain != "" || !ac.Secure || !ac.HttpOnly || ac.SameSite != http.SameSiteStrictMode ||
		float64(ac.MaxAge) != body["expires_in"] {
		t.Errorf("access cookie %q: want Path=/, no Domain, Secure, HttpOnly, SameSite=Strict, Max-Age = expires_in %v", ac.Raw, body["expires_in"])
	}
	s.access, s.refresh = ac.Value, rc.Value
	s.sid, _ = body["session_id"].(string)
}

func (s *cookieScenario) cookieHeaders(transport bool, names ...string) map[string]string {
	values := map[string]string{"__Host-access_token": s.access, "__Secure-refresh_token": s.refresh}
	var parts []string
	for _, n := range names {
		parts = append(parts, n+"="+values[n])
	}
	h := map[string]string{"Cookie": strings.Join(parts, "; ")}
	if transport {
		h[transportHeader] = "cookie"
	}
	return h
}

func (s *cookieScenario) me(t *testing.T) {
	if s.access == "" {
		t.Fatal("no access cookie: an earlier step failed")
	}
	r := s.api.do(t, http.MethodGet, "/me", s.cookieHeaders(true, "__Host-access_token"), "")
	auths := s.authorizations(t, r)
	if len(auths) != 1 || len(auths[0].identitySource) != 0 || !auths[0].answer.IsAuthorized {
		t.Errorf("authorizer invocations %+v, want one allow with no identity source", auths)
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET /me: status %d, want 200; body %s%s", r.status, r.body, r.output())
	}
	var got map[string]any
	if err := strictJSON(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got["sid"] != s.sid || got["sub"] != s.user.id {
		t.Errorf("GET /me = %s, want the login's session and user", r.body)
	}
}

func (s *cookieScenario) csrf(t *testing.T) {
	if s.access == "" {
		t.Fatal("no access cookie: an earlier step failed")
	}
	h := s.cookieHeaders(false, "__Host-access_token", "__Secure-refresh_token")
	h["Content-Type"] = "application/x-www-form-urlencoded"
	r := s.api.do(t, http.MethodPost, "/auth/reauthenticate", h, "password="+s.user.password)
	s.wantDenied(t, r)
}

func (s *cookieScenario) logout(t *testing.T) {
	if s.refresh == "" {
		t.Fatal("no refresh cookie: an earlier step failed")
	}
	r := s.api.do(t, http.MethodPost, "/auth/logout", s.cookieHeaders(true, "__Secure-refresh_token"), "")
	if r.status != http.StatusNoContent {
		t.Fatalf("status %d, want 204; body %s%s", r.status, r.body, r.output())
	}
	if ac := cookiesOf(r)["__Host-access_token"]; ac == nil || ac.Value != "" || ac.MaxAge >= 0 {
		t.Errorf("Set-Cookie %q: want the access cookie cleared", r.header.Values("Set-Cookie"))
	}
	s.wantDenied(t, s.api.do(t, http.MethodGet, "/me", s.cookieHeaders(true, "__Host-access_token"), ""))
}

// ---- the user ----------------------------------------------------------------------

// user is the account the steps log in with.
type user struct {
	name, password, scope, id string
}

// createUser makes the account the way an operator does, with sessionctl's
// `user create` (internal/admin), password on stdin, straight against the table. It is
// the one place that knows how users are made.
func createUser(t *testing.T, table string) user {
	t.Helper()
	u := user{name: "deployed-shape", password: "correct horse battery staple", scope: "profile:read"}
	var stdout, stderr bytes.Buffer
	code := admin.Run(t.Context(), admin.Env{
		Stdin: strings.NewReader(u.password + "\n"), Stdout: &stdout, Stderr: &stderr,
		Connect:  func(context.Context) (admin.Client, error) { return testddb.Client(t), nil },
		Template: sessions.TemplateYAML,
	}, []string{"user", "create", u.name, "--table", table, "--scope", u.scope})
	if code != admin.ExitOK {
		t.Fatalf("sessionctl user create: exit %d: %s", code, stderr.String())
	}
	m := regexp.MustCompile(`\(uid ([^)]+)\)`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("sessionctl user create printed no uid: %q", stdout.String())
	}
	u.id = m[1]
	return u
}

// ---- the steps ---------------------------------------------------------------------

// scenario is a client's session from first login to logout, one request per step,
// each answer checked against the contract (docs/design.md, internal/api).
type scenario struct {
	api   *api
	user  user
	keys  keyMaterial
	table string

	access, refresh, sessionID string // from the login
	access2, refresh2          string // from the refresh
	limited                    []tokenBody
}

// tokenBody is the body of a login or refresh answer (refresh_token only without the
// cookie transport).
type tokenBody struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	SessionID        string `json:"session_id"`
	SessionExpiresAt string `json:"session_expires_at"`
	DeviceToken      string `json:"device_token"` // login only
}

// errorBody is a 4xx answer: {"error","message"}.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func (s *scenario) run(t *testing.T) {
	t.Run("a wrong password is refused as invalid credentials and the failure is counted", s.wrongPassword)
	t.Run("the user logs in with the right password and gets a token pair", s.login)
	t.Run("the JWKS publishes the deployed key set", s.jwks)
	t.Run("the authorizer allows the access token and me answers its principal", s.me)
	t.Run("the authorizer denies a token that is not a JWT", s.garbageToken)
	t.Run("refresh rotates the refresh token within the session", s.rotate)
	t.Run("logout everywhere ends the session", s.logoutAll)
	t.Run("the authorizer denies the access token of the ended session", s.deniedAfterLogout)
	t.Run("refresh with the ended session's token is refused", s.refreshAfterLogout)
	t.Run("logins beyond the session limit end the least recently used", s.sessionLimit)
	t.Run("the device list shows exactly the live sessions", s.deviceList)
	t.Run("signing out a device ends it", s.signOut)
	t.Run("reauthenticating answers an access token with a fresh auth_time", s.reauthenticate)
}

// sessionLimit logs in one more time than MaxSessionsPerUser allows (at its default):
// the last login reads the listed sessions and ends the least recently used.
func (s *scenario) sessionLimit(t *testing.T) {
	var all []tokenBody
	for range config.DefaultMaxSessionsPerUser + 1 {
		all = append(all, wantTokens(t, s.loginRequest(t, s.user.password)))
	}
	r := s.api.do(t, http.MethodGet, "/me", map[string]string{"Authorization": "Bearer " + all[0].AccessToken}, "")
	s.wantDenied(t, r)
	s.limited = all[1:]
}

func (s *scenario) authed(t *testing.T, method, path, at, body string) response {
	h := map[string]string{"Authorization": "Bearer " + at}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return s.api.do(t, method, path, h, body)
}

func (s *scenario) deviceList(t *testing.T) {
	if len(s.limited) == 0 {
		t.Fatal("no sessions: an earlier step failed")
	}
	cur := s.limited[len(s.limited)-1]
	r := s.authed(t, http.MethodGet, "/auth/sessions", cur.AccessToken, "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s%s", r.status, r.body, r.output())
	}
	wantJSON(t, r)
	var list struct {
		Sessions []struct {
			ID         string `json:"id"`
			CreatedAt  string `json:"created_at"`
			LastUsedAt string `json:"last_used_at"`
			ExpiresAt  string `json:"expires_at"`
			UserAgent  string `json:"user_agent"`
			IP         string `json:"ip"`
			Current    bool   `json:"current"`
		} `json:"sessions"`
	}
	if err := strictJSON(r.body, &list); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, tb := range s.limited {
		want[tb.SessionID] = tb.SessionID == cur.SessionID
	}
	if len(list.Sessions) != len(want) {
		t.Fatalf("%d sessions listed, want %d", len(list.Sessions), len(want))
	}
	for _, v := range list.Sessions {
		if current, ok := want[v.ID]; !ok || current != v.Current {
			t.Errorf("listed %+v, want one of the live sessions with current=%v", v, current)
		}
	}
}

func (s *scenario) signOut(t *testing.T) {
	if len(s.limited) < 2 {
		t.Fatal("no sessions: an earlier step failed")
	}
	cur, victim := s.limited[len(s.limited)-1], s.limited[0]
	r := s.authed(t, http.MethodDelete, "/auth/sessions/"+victim.SessionID, cur.AccessToken, "")
	if r.status != http.StatusNoContent {
		t.Fatalf("status %d, want 204; body %s%s", r.status, r.body, r.output())
	}
	s.wantDenied(t, s.authed(t, http.MethodGet, "/me", victim.AccessToken, ""))
}

func (s *scenario) reauthenticate(t *testing.T) {
	if len(s.limited) == 0 {
		t.Fatal("no sessions: an earlier step failed")
	}
	cur := s.limited[len(s.limited)-1]
	b, _ := json.Marshal(map[string]string{"password": s.user.password})
	r := s.authed(t, http.MethodPost, "/auth/reauthenticate", cur.AccessToken, string(b))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s%s", r.status, r.body, r.output())
	}
	var tb struct {
		AccessToken      string `json:"access_token"`
		TokenType        string `json:"token_type"`
		ExpiresIn        int64  `json:"expires_in"`
		RefreshExpiresIn int64  `json:"refresh_expires_in"`
		SessionID        string `json:"session_id"`
		SessionExpiresAt string `json:"session_expires_at"`
	}
	if err := strictJSON(r.body, &tb); err != nil {
		t.Fatal(err)
	}
	if tb.SessionID != cur.SessionID || tb.AccessToken == "" {
		t.Fatalf("answer %+v, want a new access token of the same session", tb)
	}
	me := s.authed(t, http.MethodGet, "/me", tb.AccessToken, "")
	if me.status != http.StatusOK {
		t.Fatalf("GET /me with the new token: %d %s", me.status, me.body)
	}
}

func (s *scenario) need(t *testing.T, what, v string) {
	t.Helper()
	if v == "" {
		t.Fatalf("no %s: an earlier step failed", what)
	}
}

func (s *scenario) loginRequest(t *testing.T, pw string) response {
	b, _ := json.Marshal(map[string]string{"username": s.user.name, "password": pw})
	return s.api.do(t, http.MethodPost, "/auth/login", map[string]string{"Content-Type": "application/json"}, string(b))
}

func (s *scenario) wrongPassword(t *testing.T) {
	r := s.loginRequest(t, "not the password at all")
	wantError(t, r, http.StatusUnauthorized, "invalid_credentials")
	// The failure counter is on the login record (docs/design.md, the table).
	out, err := testddb.Client(t).GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "n#" + s.user.name}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := out.Item["fails"].(*types.AttributeValueMemberN); !ok || n.Value != "1" {
		t.Errorf("login record fails = %v, want 1", out.Item["fails"])
	}
}

func (s *scenario) login(t *testing.T) {
	r := s.loginRequest(t, s.user.password)
	tb := wantTokens(t, r)
	s.access, s.refresh, s.sessionID = tb.AccessToken, tb.RefreshToken, tb.SessionID
}

func (s *scenario) jwks(t *testing.T) {
	r := s.api.do(t, http.MethodGet, "/.well-known/jwks.json", nil, "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s%s", r.status, r.body, r.output())
	}
	wantJSON(t, r)
	var got, want any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	_ = json.Unmarshal(s.keys.jwks, &want)
	if !jsonEqual(got, want) {
		t.Errorf("JWKS %s\nwant the deployed key set's %s", r.body, s.keys.jwks)
	}
	if s.access != "" {
		type jwk struct {
			Kid string `json:"kid"`
		}
		var set struct {
			Keys []jwk `json:"keys"`
		}
		_ = json.Unmarshal(r.body, &set)
		kid := tokenKid(t, s.access)
		if !slices.ContainsFunc(set.Keys, func(k jwk) bool { return k.Kid == kid }) {
			t.Errorf("the access token's kid %q is not published", kid)
		}
	}
}

// authorization is one authorizer invocation: what it was shown and what it answered.
type authorization struct {
	identitySource []string
	answer         events.APIGatewayV2CustomAuthorizerSimpleResponse
}

// authorizations returns the authorizer invocations (REQUEST events) of one request.
func (s *scenario) authorizations(t *testing.T, r response) []authorization {
	t.Helper()
	var out []authorization
	for id, invs := range r.invoked {
		for _, inv := range invs {
			var ev events.APIGatewayV2CustomAuthorizerV2Request
			if json.Unmarshal(inv.event, &ev) != nil || ev.Type != "REQUEST" || inv.response == nil {
				continue
			}
			a := authorization{identitySource: ev.IdentitySource}
			if err := strictJSON(inv.response, &a.answer); err != nil {
				t.Errorf("%s's answer is not a simple authorizer response: %v", id, err)
				continue
			}
			out = append(out, a)
		}
	}
	return out
}

func (s *scenario) me(t *testing.T) {
	s.need(t, "access token", s.access)
	r := s.api.do(t, http.MethodGet, "/me", map[string]string{"Authorization": "Bearer " + s.access}, "")
	wantPrincipal := map[string]any{"sub": s.user.id, "sid": s.sessionID, "scope": s.user.scope, "auth_time": tokenClaim(t, s.access, "auth_time")}
	auths := s.authorizations(t, r)
	if len(auths) != 1 {
		t.Fatalf("the authorizer answered %d times, want once", len(auths))
	}
	if got := auths[0].identitySource; len(got) != 1 || got[0] != "Bearer "+s.access {
		t.Errorf("the authorizer's identitySource (%d values) is not the request's Authorization header", len(got))
	}
	if a := auths[0].answer; !a.IsAuthorized || !jsonEqual(a.Context, wantPrincipal) {
		t.Errorf("authorizer answered isAuthorized=%v context=%v, want true and %v", a.IsAuthorized, a.Context, wantPrincipal)
	}
	if r.status != http.StatusOK {
		t.Fatalf("GET /me: status %d, want 200; body %s%s", r.status, r.body, r.output())
	}
	wantJSON(t, r)
	var got map[string]any
	if err := strictJSON(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(got, wantPrincipal) {
		t.Errorf("GET /me = %s, want %v", r.body, wantPrincipal)
	}
}

func (s *scenario) garbageToken(t *testing.T) {
	r := s.api.do(t, http.MethodGet, "/me", map[string]string{"Authorization": "Bearer not-a-token"}, "")
	s.wantDenied(t, r)
}

// wantDenied checks that the authorizer, and only it, answered the request: with
// isAuthorized false, which API Gateway turns into 403.
func (s *scenario) wantDenied(t *testing.T, r response) {
	t.Helper()
	auths := s.authorizations(t, r)
	if len(auths) != 1 || auths[0].answer.IsAuthorized {
		var answers []events.APIGatewayV2CustomAuthorizerSimpleResponse
		for _, a := range auths {
			answers = append(answers, a.answer)
		}
		t.Errorf("authorizer answers %+v, want one with isAuthorized false", answers)
	}
	if len(r.invoked) != 1 {
		t.Errorf("functions invoked: %v, want the authorizer alone", slices.Sorted(maps.Keys(r.invoked)))
	}
	if r.status != http.StatusForbidden || !bytes.Equal(r.body, []byte(`{"message":"Forbidden"}`)) {
		t.Errorf("status %d body %s, want 403 {\"message\":\"Forbidden\"}%s", r.status, r.body, r.output())
	}
}

func (s *scenario) refreshRequest(t *testing.T, token string) response {
	b, _ := json.Marshal(map[string]string{"refresh_token": token})
	return s.api.do(t, http.MethodPost, "/auth/refresh", map[string]string{"Content-Type": "application/json"}, string(b))
}

func (s *scenario) rotate(t *testing.T) {
	s.need(t, "refresh token", s.refresh)
	tb := wantTokens(t, s.refreshRequest(t, s.refresh))
	if tb.RefreshToken == s.refresh {
		t.Error("refresh answered the same refresh token")
	}
	if tb.SessionID != s.sessionID {
		t.Errorf("session_id %q, want the login's %q", tb.SessionID, s.sessionID)
	}
	s.access2, s.refresh2 = tb.AccessToken, tb.RefreshToken
}

func (s *scenario) logoutAll(t *testing.T) {
	s.need(t, "rotated refresh token", s.refresh2)
	b, _ := json.Marshal(map[string]string{"refresh_token": s.refresh2, "scope": "all"})
	r := s.api.do(t, http.MethodPost, "/auth/logout", map[string]string{"Content-Type": "application/json"}, string(b))
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("status %d body %q, want 204 and no body%s", r.status, r.body, r.output())
	}
}

func (s *scenario) deniedAfterLogout(t *testing.T) {
	s.need(t, "rotated access token", s.access2)
	r := s.api.do(t, http.MethodGet, "/me", map[string]string{"Authorization": "Bearer " + s.access2}, "")
	s.wantDenied(t, r)
}

func (s *scenario) refreshAfterLogout(t *testing.T) {
	s.need(t, "rotated refresh token", s.refresh2)
	wantError(t, s.refreshRequest(t, s.refresh2), http.StatusUnauthorized, "invalid_grant")
}

// ---- contract checks ---------------------------------------------------------------

func wantJSON(t *testing.T, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
}

// strictJSON decodes a JSON object into v, refusing unknown fields.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body %s is not the contract's shape: %w", b, err)
	}
	return nil
}

// wantTokens checks a 200 token answer: JSON, not cacheable, every field of the
// contract present and sane, no cookie (the body transport).
func wantTokens(t *testing.T, r response) tokenBody {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s%s", r.status, r.body, r.output())
	}
	wantJSON(t, r)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if c := r.header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("Set-Cookie %q on a body-transport answer", c)
	}
	var tb tokenBody
	if err := strictJSON(r.body, &tb); err != nil {
		t.Fatal(err)
	}
	if strings.Count(tb.AccessToken, ".") != 2 || tb.TokenType != "Bearer" || tb.ExpiresIn <= 0 ||
		tb.RefreshToken == "" || tb.RefreshExpiresIn <= 0 || tb.SessionID == "" {
		t.Errorf("token answer has a missing or bad field: token_type %q expires_in %d refresh_expires_in %d session_id %q, access token with %d dots, refresh token set %v",
			tb.TokenType, tb.ExpiresIn, tb.RefreshExpiresIn, tb.SessionID, strings.Count(tb.AccessToken, "."), tb.RefreshToken != "")
	}
	if _, err := time.Parse(time.RFC3339, tb.SessionExpiresAt); err != nil {
		t.Errorf("session_expires_at %q is not RFC 3339", tb.SessionExpiresAt)
	}
	return tb
}

// wantError checks a 4xx answer: the status, JSON {"error","message"} with the code.
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s%s", r.status, status, r.body, r.output())
	}
	wantJSON(t, r)
	var e errorBody
	if err := strictJSON(r.body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Error != code || e.Message == "" {
		t.Errorf("error %q message %q, want %q and a message", e.Error, e.Message, code)
	}
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// tokenKid returns the kid of a JWT's header.
func tokenKid(t *testing.T, jwt string) string {
	t.Helper()
	head, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("access token header: %v", err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Kid == "" {
		t.Fatalf("access token header %s has no kid", b)
	}
	return h.Kid
}

// tokenClaim returns one claim of a JWT's payload as JSON decodes it (unverified: the
// test reads what the service put in).
func tokenClaim(t *testing.T, jwt, name string) any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatal("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("access token payload: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c[name]
}

// ---- per-function verdict ----------------------------------------------------------

// checkFunction fails unless the function was invoked, started every time, made no
// AWS call outside its policy, and used every grant of its policy (but those in
// unreachableGrants, which must really be unused).
func checkFunction(t *testing.T, lf *lambdaFunction, calls []awsstub.Call) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	id := lf.fn.ID
	if len(lf.invocations) == 0 {
		t.Errorf("%s was never invoked: add a step that reaches it", id)
	}
	for _, ie := range lf.initFailures {
		t.Errorf("%s failed to start: %s", id, ie.Reason)
	}
	used := map[awsstub.Grant]bool{}
	var summary strings.Builder
	for _, c := range calls {
		if c.Principal != id {
			continue
		}
		fmt.Fprintf(&summary, "  %-28s %-30s %s allowed=%v answer=%d %s\n", c.Operation, c.Action, c.Resource, c.Allowed, c.Status, c.Error)
		if !c.Allowed {
			t.Errorf("%s called %s on %s, which its policy does not allow (answered AccessDeniedException)", id, c.Action, c.Resource)
		}
		for _, g := range c.Grants {
			used[g] = true
		}
	}
	for _, g := range lf.policy.Grants() {
		st := lf.policy[g.Statement]
		key := grantKey{id, g.Action}
		reason, exempt := unreachableGrants[key]
		switch {
		case used[g] && exempt:
			t.Errorf("%s used %s, which unreachableGrants exempts (%s): remove the entry", id, g.Action, reason)
		case !used[g] && !exempt:
			t.Errorf("%s's policy grants %s on %v (statement %d), but no step made such a call: remove the grant, or add a step that needs it",
				id, g.Action, st.Resources, g.Statement)
		}
	}
	for key, reason := range unreachableGrants {
		if key.function != id {
			continue
		}
		granted := false
		for _, g := range lf.policy.Grants() {
			granted = granted || g.Action == key.action
		}
		if !granted {
			t.Errorf("unreachableGrants exempts %s's %s (%s), which its policy no longer grants: remove the entry", id, key.action, reason)
		}
	}
	if t.Failed() {
		t.Logf("%s's AWS calls:\n%s", id, summary.String())
	}
}
