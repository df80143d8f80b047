package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/testddb"
)

// CheapPassword are argon2id parameters that make a hash take about a millisecond.
// The App uses them for its dummy hash and CreateUser for users' hashes, so tests
// stay fast; production uses password.OWASP.
var CheapPassword = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Issuer and Audience of the harness's access tokens.
const (
	Issuer   = "https://sessions.test"
	Audience = "sessions-test-api"
)

// Options adjust a Harness.
type Options struct {
	// Env overrides configuration variables by their environment names
	// (REFRESH_REUSE_GRACE, MAX_SESSIONS_PER_USER, ...).
	Env map[string]string
	// Alg is the signing algorithm of the generated key (default EdDSA).
	Alg string
	// Password are the argon2id parameters of the App's dummy hash and of the
	// users CreateUser makes (default CheapPassword).
	Password password.Params
}

// Harness is the App wired against a fresh table in DynamoDB Local.
type Harness struct {
	App    *app.App
	Store  *ddb.Store
	Clock  *Clock
	Table  string
	Client *dynamodb.Client // the App's client: metered, faults injectable through Net
	Raw    *dynamodb.Client // an unmetered, fault-free client for inspecting the table
	Net    *Net
	Meter  *Meter
	Logs   *SyncBuffer // the App's slog output (JSON lines)
	PEM    string      // the signing key set

	params password.Params
}

var (
	retryerOnce sync.Once
	retryer     func() aws.Retryer
	retryerErr  error
)

// productionRetryer returns the retryer the deployed functions use (app.LoadAWS), so
// the fault tests exercise the real retry policy.
func productionRetryer(tb testing.TB) aws.Retryer {
	tb.Helper()
	retryerOnce.Do(func() {
		cfg, err := app.LoadAWS(context.Background())
		if err != nil {
			retryerErr = err
			return
		}
		retryer = cfg.Retryer
	})
	if retryerErr != nil {
		tb.Fatalf("testenv: app.LoadAWS: %v", retryerErr)
	}
	if retryer == nil {
		tb.Fatal("testenv: app.LoadAWS configured no retryer")
	}
	return retryer()
}

// New builds a Harness on its own table. The table is deleted when the test ends.
func New(tb testing.TB, o Options) *Harness {
	tb.Helper()
	table := testddb.NewTable(tb)
	raw := testddb.Client(tb)

	h := &Harness{Table: table, Raw: raw, Clock: NewClock(Epoch), Meter: &Meter{}, Logs: &SyncBuffer{}, params: o.Password}
	if h.params == (password.Params{}) {
		h.params = CheapPassword
	}
	opts := raw.Options()
	// The meter sits above Net, so a request a fault answers counts as sent.
	h.Net = NewNet(opts.HTTPClient)
	opts.HTTPClient = h.Net
	h.Meter.Install(&opts)
	opts.Retryer = productionRetryer(tb)
	h.Client = dynamodb.New(opts)

	alg := o.Alg
	if alg == "" {
		alg = keys.EdDSA
	}
	material, err := keys.NewMaterial(alg, time.Now())
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	env, err := material.Env()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	h.PEM = env["SIGNING_KEY"]
	env["TABLE_NAME"], env["ISSUER"], env["AUDIENCE"] = table, Issuer, Audience
	maps.Copy(env, o.Env)
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.UseAll)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(h.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, app.Options{
		DynamoDB: h.Client, Now: h.Clock.Now, Log: log, Password: h.params,
	})
	if err != nil {
		tb.Fatalf("testenv: app.New: %v", err)
	}
	h.App, h.Store = a, a.Store
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("testenv: the App's log (last 6 KB):\n%s", tail(h.Logs.String(), 6<<10))
		}
	})
	return h
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Ctx returns a context for one call, bounded so a hang fails the test rather than
// the whole run.
func Ctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// User is an account created by CreateUser.
type User struct {
	ID       string
	Name     string // as given (not normalised)
	Password string
}

// DefaultPassword is the password CreateUser gives when none is asked for.
const DefaultPassword = "correct horse battery staple"

// CreateUser creates an account the way every account is created
// (session.Service.CreateUser), with the harness's argon2id parameters. scope is
// optional.
func (h *Harness) CreateUser(tb testing.TB, name, pw, scope string) User {
	tb.Helper()
	if pw == "" {
		pw = DefaultPassword
	}
	l, err := h.App.Service.CreateUser(Ctx(tb), name, pw, scope)
	if err != nil {
		tb.Fatalf("testenv: create user %q: %v", name, err)
	}
	return User{ID: l.UID, Name: name, Password: pw}
}

// Scan returns every item of the table (consistent read, all pages).
func (h *Harness) Scan(tb testing.TB) []map[string]types.AttributeValue {
	tb.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(h.Raw, &dynamodb.ScanInput{TableName: aws.String(h.Table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(Ctx(tb))
		if err != nil {
			tb.Fatalf("testenv: scan: %v", err)
		}
		items = append(items, out.Items...)
	}
	return items
}

// Sessions returns the session items of the table, parsed.
func (h *Harness) Sessions(tb testing.TB) []map[string]types.AttributeValue {
	tb.Helper()
	var out []map[string]types.AttributeValue
	for _, it := range h.Scan(tb) {
		if pk, ok := it["pk"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "s#") {
			out = append(out, it)
		}
	}
	return out
}

// Item reads one item by its key, bypassing the App (consistent read). nil if absent.
func (h *Harness) Item(tb testing.TB, pk string) map[string]types.AttributeValue {
	tb.Helper()
	out, err := h.Raw.GetItem(Ctx(tb), &dynamodb.GetItemInput{
		TableName: aws.String(h.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		tb.Fatalf("testenv: get %s: %v", pk, err)
	}
	if len(out.Item) == 0 {
		return nil
	}
	return out.Item
}

// N returns a number attribute of an item as int64 (0 if absent).
func N(item map[string]types.AttributeValue, name string) int64 {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	var n int64
	_ = json.Unmarshal([]byte(v.Value), &n)
	return n
}

// Has reports whether an item has the attribute.
func Has(item map[string]types.AttributeValue, name string) bool {
	_, ok := item[name]
	return ok
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset empties the buffer.
func (b *SyncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

var _ io.Writer = (*SyncBuffer)(nil)

// Authorize runs the authorizer on a request carrying "Authorization: Bearer <at>".
func (h *Harness) Authorize(tb testing.TB, at string) events.APIGatewayV2CustomAuthorizerSimpleResponse {
	tb.Helper()
	return h.AuthorizeHeader(tb, "Bearer "+at)
}

// AuthorizeHeader runs the authorizer with the given Authorization header value
// ("" = no header), shaped as API Gateway sends a REQUEST authorizer event.
func (h *Harness) AuthorizeHeader(tb testing.TB, header string) events.APIGatewayV2CustomAuthorizerSimpleResponse {
	tb.Helper()
	ev := events.APIGatewayV2CustomAuthorizerV2Request{
		Version: "2.0", Type: "REQUEST", RouteKey: "GET /me", RawPath: "/me",
		RouteArn: "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/me",
		Headers:  map[string]string{},
	}
	if header != "" {
		ev.IdentitySource = []string{header}
		ev.Headers["authorization"] = header
	}
	resp, err := h.App.Authorizer.Handle(Ctx(tb), ev)
	if err != nil {
		tb.Fatalf("authorizer returned an error (it must answer, not fail): %v", err)
	}
	return resp
}

// B returns a binary attribute of an item (nil if absent).
func B(item map[string]types.AttributeValue, name string) []byte {
	if v, ok := item[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

// S returns a string attribute of an item ("" if absent).
func S(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// SessionItem reads a session's item straight from the table; the test fails if it
// is missing.
func (h *Harness) SessionItem(tb testing.TB, sid string) map[string]types.AttributeValue {
	tb.Helper()
	it := h.Item(tb, "s#"+sid)
	if it == nil {
		tb.Fatalf("session %s: no item", sid)
	}
	return it
}

// Revoked reports whether a session's item is marked revoked.
func (h *Harness) Revoked(tb testing.TB, sid string) bool {
	tb.Helper()
	return Has(h.SessionItem(tb, sid), "revoked_at")
}

// Together runs fn(0) … fn(n-1) in n goroutines released at the same moment (each is
// started and waiting before any runs), and returns when all have returned: the start
// gate of every race test.
func Together(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			fn(i)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}
