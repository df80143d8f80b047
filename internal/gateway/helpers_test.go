package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// recorder is a Handler or Authorizer that remembers what it was called with.
type recorder struct {
	mu        sync.Mutex
	calls     int
	event     events.APIGatewayV2HTTPRequest
	authEvent events.APIGatewayV2CustomAuthorizerV2Request
	ctx       context.Context
}

// handler returns a Handler that records its event and answers resp.
func (r *recorder) handler(resp events.APIGatewayV2HTTPResponse) Handler {
	return func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		r.event = e
		r.ctx = ctx
		return resp, nil
	}
}

// authorizer returns an Authorizer that records its event and answers resp.
func (r *recorder) authorizer(resp events.APIGatewayV2CustomAuthorizerSimpleResponse) Authorizer {
	return func(ctx context.Context, e events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls++
		r.authEvent = e
		return resp, nil
	}
}

func (r *recorder) callCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func (r *recorder) lastEvent() events.APIGatewayV2HTTPRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.event
}

func (r *recorder) lastAuthEvent() events.APIGatewayV2CustomAuthorizerV2Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.authEvent
}

// ok is a plain 200 response.
var ok = events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "ok"}

// echoRouteKey answers with the route key it was invoked for.
func echoRouteKey(_ context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: e.RouteKey}, nil
}

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)

// mustNew builds a gateway or fails the test. Logs are dropped unless cfg has
// a logger.
func mustNew(t *testing.T, cfg Config) *gateway {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h.(*gateway)
}

// serve sends req through h and returns the recorded response.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// newRequest is httptest.NewRequest with a string body.
func newRequest(method, target, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return httptest.NewRequest(method, target, r)
}

// wantMessage checks a gateway answer: status and {"message": ...} body.
func wantMessage(t *testing.T, rec *httptest.ResponseRecorder, status int, message string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d (body %q)", rec.Code, status, rec.Body.String())
	}
	want := `{"message":"` + message + `"}`
	if got := rec.Body.String(); got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

// readFixture decodes testdata/name into v.
func readFixture(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// asJSON round-trips v through JSON into a generic value.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// dataMaps are objects whose keys are data (header names, parameters), not
// fields: their shape is "an object", whatever keys the example has.
var dataMaps = map[string]bool{
	"headers":                          true,
	"queryStringParameters":            true,
	"pathParameters":                   true,
	"stageVariables":                   true,
	"requestContext.authorizer.lambda": true,
}

// missingFields lists the fields that the documented example want sets and
// got does not, or sets with another JSON type. Paths in skip are ignored.
func missingFields(want, got any, skip map[string]bool) []string {
	var problems []string
	var walk func(path string, w, g any)
	walk = func(path string, w, g any) {
		if skip[path] {
			return
		}
		if kind(w) != kind(g) {
			problems = append(problems, path+": "+kind(w)+" in the example, "+kind(g)+" here")
			return
		}
		switch w := w.(type) {
		case map[string]any:
			if dataMaps[path] {
				return
			}
			g := g.(map[string]any)
			for k, wv := range w {
				p := strings.TrimPrefix(path+"."+k, ".")
				gv, ok := g[k]
				if !ok {
					if !skip[p] {
						problems = append(problems, p+": missing")
					}
					continue
				}
				walk(p, wv, gv)
			}
		case []any:
			g := g.([]any)
			if len(w) > 0 && len(g) > 0 {
				walk(path+"[0]", w[0], g[0])
			}
		}
	}
	walk("", want, got)
	sort.Strings(problems)
	return problems
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "absent"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return "unknown"
}

// lowerKeys returns m with lower-cased keys.
func lowerKeys(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// logBuffer is a concurrency-safe buffer for a JSON slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines decodes the JSON log lines.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// fixedNow returns a Now func stopped at the given Unix milliseconds.
func fixedNow(ms int64) func() time.Time {
	return func() time.Time { return time.UnixMilli(ms) }
}

// TestMissingFieldsNoticesDifferences guards the shape check the fixture
// tests rely on.
func TestMissingFieldsNoticesDifferences(t *testing.T) {
	want := map[string]any{
		"a":       "x",
		"b":       map[string]any{"c": 1.0, "d": true},
		"list":    []any{map[string]any{"e": "y"}},
		"headers": map[string]any{"Only-In-Example": "v"},
		"skipped": "z",
	}
	got := map[string]any{
		"a":       "x",
		"b":       map[string]any{"c": "1"},
		"list":    []any{map[string]any{}},
		"headers": map[string]any{"other": "v"},
	}
	problems := missingFields(want, got, map[string]bool{"skipped": true})
	wantProblems := []string{
		"b.c: number in the example, string here",
		"b.d: missing",
		"list[0].e: missing",
	}
	if !slices.Equal(problems, wantProblems) {
		t.Errorf("problems = %q, want %q", problems, wantProblems)
	}
}
