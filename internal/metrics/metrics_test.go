package metrics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/metrics"
	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

func TestMain(m *testing.M) { testddb.Main(m) }

// series names one metric time series: the metric and its dimension values ("" for
// a dimension the line does not have).
type series struct {
	Metric, Function, Outcome string
}

func (s series) String() string { return fmt.Sprintf("%s{%s,%s}", s.Metric, s.Function, s.Outcome) }

// emitted reads every EMF line of a log as CloudWatch would and returns the values by
// series (summed) and every AuthorizerLatency value. A line that breaks the
// specification fails the test: the metadata's shape, a namespace other than want, a
// dimension or metric the line does not carry as a string or a number.
func emitted(t *testing.T, logs, namespace string) (map[series]float64, []float64) {
	t.Helper()
	sums := map[series]float64{}
	var latencies []float64
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not a JSON object: %s", sc.Text())
		}
		raw, ok := line["_aws"]
		if !ok {
			continue
		}
		var meta struct {
			Timestamp         *int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&meta); err != nil || meta.Timestamp == nil || len(meta.CloudWatchMetrics) == 0 {
			t.Fatalf("_aws is not EMF metadata (%v): %s", err, raw)
		}
		if age := time.Since(time.UnixMilli(*meta.Timestamp)); age < 0 || age > time.Hour {
			t.Errorf("EMF Timestamp %d is not now (CloudWatch drops old data): %s", *meta.Timestamp, raw)
		}
		str := func(key string) string {
			var s string
			if err := json.Unmarshal(line[key], &s); err != nil || s == "" {
				t.Fatalf("dimension %s is not a non-empty string member of the line: %s", key, sc.Text())
			}
			return s
		}
		for _, d := range meta.CloudWatchMetrics {
			if d.Namespace != namespace {
				t.Errorf("namespace %q, want %q", d.Namespace, namespace)
			}
			if len(d.Dimensions) != 1 {
				t.Fatalf("want one dimension set per line: %s", raw)
			}
			var s series
			for _, k := range d.Dimensions[0] {
				switch k {
				case metrics.DimensionFunction:
					s.Function = str(k)
				case metrics.DimensionOutcome:
					s.Outcome = str(k)
				default:
					t.Fatalf("dimension %q is not one of the service's: %s", k, raw)
				}
			}
			if s.Function == "" {
				t.Fatalf("no Function dimension: %s", raw)
			}
			for _, m := range d.Metrics {
				var v float64
				if err := json.Unmarshal(line[m.Name], &v); err != nil {
					t.Fatalf("metric %s is not a number member of the line: %s", m.Name, sc.Text())
				}
				switch {
				case m.Name == metrics.AuthorizerLatency && m.Unit == "Milliseconds":
					latencies = append(latencies, v)
				case m.Name != metrics.AuthorizerLatency && m.Unit == "Count":
					s.Metric = m.Name
					if why := recordable(s); why != "" {
						t.Errorf("the code wrote %v, which metrics.Definitions does not list: %s", s, why)
					}
					sums[s] += v
				default:
					t.Fatalf("metric %s has unit %q", m.Name, m.Unit)
				}
			}
		}
	}
	return sums, latencies
}

func wantStatus(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// Every outcome of a full flow, each once where it can be: the metrics must add up to
// exactly what happened, no series more or less.
func TestAFullFlowEmitsExactlyTheExpectedMetrics(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{Env: map[string]string{"MAX_SESSIONS_PER_USER": "2"}})
	alice := h.CreateUser(t, "alice", "", "")
	bob := h.CreateUser(t, "bob", "", "")
	carol := h.CreateUser(t, "carol", "", "")
	login := func(u testenv.User) testenv.Tokens { return h.Login(t, u.Name, u.Password) }

	// Logins: a success, a wrong password, five failures that lock bob, and the throttled sixth.
	a := login(alice)
	wantStatus(t, "wrong password", testenv.Call(t, h.App.API.Login, testenv.LoginReq(alice.Name, "not the password")).StatusCode, http.StatusUnauthorized)
	for range 5 {
		wantStatus(t, "bob's guess", testenv.Call(t, h.App.API.Login, testenv.LoginReq(bob.Name, "a guess")).StatusCode, http.StatusUnauthorized)
	}
	wantStatus(t, "bob locked", testenv.Call(t, h.App.API.Login, testenv.LoginReq(bob.Name, bob.Password)).StatusCode, http.StatusTooManyRequests)

	// Refreshes: a rotation, a replay inside the grace window, the same token after it
	// (theft: the session is revoked), the current token of the revoked session, garbage.
	r1 := h.MustRefresh(t, a.RefreshToken)
	h.MustRefresh(t, a.RefreshToken)
	h.Clock.Advance(11 * time.Second)
	if code, _ := h.Refresh(t, a.RefreshToken); code != http.StatusUnauthorized {
		t.Fatalf("theft answered %d", code)
	}
	if code, _ := h.Refresh(t, r1.RefreshToken); code != http.StatusUnauthorized {
		t.Fatalf("the revoked session's current token answered %d", code)
	}
	if code, _ := h.Refresh(t, "not-a-token"); code != http.StatusUnauthorized {
		t.Fatalf("garbage answered %d", code)
	}

	// Logouts: others, all, one session, and a token of no session.
	b, _ := login(alice), login(alice)
	wantStatus(t, "logout others", h.Logout(t, b.RefreshToken, "others"), http.StatusNoContent)
	d := login(alice)
	wantStatus(t, "logout all", h.Logout(t, d.RefreshToken, "all"), http.StatusNoContent)
	e := login(alice)
	wantStatus(t, "logout", h.Logout(t, e.RefreshToken, ""), http.StatusNoContent)
	wantStatus(t, "logout of nothing", h.Logout(t, "not-a-token", ""), http.StatusNoContent)

	// The authorizer: an allow, a deny (the logged-out session), a deny because the table
	// throttles (three attempts: the SDK retries twice).
	f := login(alice)
	if !h.Allowed(t, f.AccessToken) || h.Allowed(t, e.AccessToken) {
		t.Fatal("the authorizer decided wrong")
	}
	clear := h.Net.Inject("GetItem", -1, testenv.Throttle())
	if h.Allowed(t, f.AccessToken) {
		t.Fatal("allowed while the table throttles")
	}
	clear()

	// The account routes (each behind an allow): the list, a device signed out, one that
	// is not there, a reauthentication, a wrong current password, a password change; then
	// the old access token is refused (deny).
	g := login(alice)
	h.ListSessions(t, f.AccessToken)
	wantStatus(t, "sign out", h.SignOut(t, f.AccessToken, g.SessionID), http.StatusNoContent)
	wantStatus(t, "sign out of nothing", h.SignOut(t, f.AccessToken, "s_no_such_session"), http.StatusNotFound)
	wantStatus(t, "reauthenticate", h.Reauthenticate(t, f.AccessToken, alice.Password).StatusCode, http.StatusOK)
	wantStatus(t, "wrong current password", h.ChangePassword(t, f.AccessToken, "not the password", "a brand new passphrase").StatusCode, http.StatusUnauthorized)
	wantStatus(t, "change password", h.ChangePassword(t, f.AccessToken, alice.Password, "a brand new passphrase").StatusCode, http.StatusOK)
	if h.Allowed(t, f.AccessToken) {
		t.Fatal("the access token from before the password change is still allowed")
	}

	// The session limit (2): carol's third login ends her least recently used session.
	login(carol)
	login(carol)
	login(carol)

	got, latencies := emitted(t, h.Logs.String(), "Sessions")
	want := map[series]float64{
		{metrics.Logins, "login", "ok"}:                  10, // alice 7, carol 3
		{metrics.Logins, "login", "invalid_credentials"}: 6,
		{metrics.Logins, "login", "throttled"}:           1,
		{metrics.SessionsEvicted, "login", ""}:           1,

		{metrics.Refreshes, "refresh", "rotated"}:        1,
		{metrics.Refreshes, "refresh", "grace_replay"}:   1,
		{metrics.Refreshes, "refresh", "reuse_detected"}: 1,
		{metrics.Refreshes, "refresh", "revoked"}:        1,
		{metrics.Refreshes, "refresh", "invalid"}:        1,

		{metrics.Logouts, "logout", "others"}:  1,
		{metrics.Logouts, "logout", "all"}:     1,
		{metrics.Logouts, "logout", "session"}: 1,
		{metrics.Logouts, "logout", "invalid"}: 1,

		{metrics.Authorizations, "authorizer", "allow"}:                   7, // one direct, six account requests
		{metrics.Authorizations, "authorizer", "deny"}:                    2,
		{metrics.Authorizations, "authorizer", "deny_fault"}:              1,
		{metrics.DynamoDBErrors, "authorizer", metrics.DynamoDBThrottled}: 3,

		{metrics.SessionListings, "account", "ok"}:                  1,
		{metrics.SignOuts, "account", "ok"}:                         1,
		{metrics.SignOuts, "account", "not_found"}:                  1,
		{metrics.Reauthentications, "account", "ok"}:                1,
		{metrics.PasswordChanges, "account", "invalid_credentials"}: 1,
		{metrics.PasswordChanges, "account", "ok"}:                  1,
	}
	for _, s := range sortedSeries(want, got) {
		if got[s] != want[s] {
			t.Errorf("%v = %v, want %v", s, got[s], want[s])
		}
	}
	if len(latencies) != 10 {
		t.Errorf("%d AuthorizerLatency values, want one per decision (10)", len(latencies))
	}
	for _, ms := range latencies {
		if ms < 0 {
			t.Errorf("AuthorizerLatency %v ms", ms)
		}
	}
}

func sortedSeries(ms ...map[series]float64) []series {
	seen := map[series]bool{}
	for _, m := range ms {
		for s := range maps.Keys(m) {
			seen[s] = true
		}
	}
	out := slices.Collect(maps.Keys(seen))
	slices.SortFunc(out, func(a, b series) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Each kind of DynamoDB failure, injected at the SDK's HTTP layer under a real
// authorizer request, is counted per HTTP attempt as what it is: the SDK's retries
// count, a failed condition does not.
func TestDynamoDBErrorsCountEachFailedAttemptByKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    testenv.Fault
		deadline time.Duration // of the authorizer's invocation
		want     map[series]float64
	}{
		{"a throttled table is three throttled attempts (the SDK retries twice)", testenv.Throttle(), 0,
			map[series]float64{{metrics.DynamoDBErrors, "authorizer", metrics.DynamoDBThrottled}: 3}},
		{"a 500 is three faults", testenv.ServerError(), 0,
			map[series]float64{{metrics.DynamoDBErrors, "authorizer", metrics.DynamoDBFault}: 3}},
		{"a connection reset is three faults", testenv.Reset(), 0,
			map[series]float64{{metrics.DynamoDBErrors, "authorizer", metrics.DynamoDBFault}: 3}},
		{"a validation error is one rejected attempt (no retry helps)", testenv.APIError(http.StatusBadRequest, "ValidationException", "bad"), 0,
			map[series]float64{{metrics.DynamoDBErrors, "authorizer", metrics.DynamoDBRejected}: 1}},
		{"a table that stops answering is one attempt ended by the deadline", testenv.Hang(), time.Second,
			map[series]float64{{metrics.DynamoDBErrors, "authorizer", metrics.DynamoDBTimeout}: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			u := h.CreateUser(t, "alice", "", "")
			tok := h.Login(t, u.Name, u.Password)
			h.Logs.Reset()
			clear := h.Net.Inject("GetItem", -1, tc.fault)
			if tc.deadline == 0 {
				if h.Allowed(t, tok.AccessToken) {
					t.Fatal("allowed while the table fails")
				}
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
				resp, err := h.App.Authorizer.Handle(ctx, events.APIGatewayV2CustomAuthorizerV2Request{
					Type: "REQUEST", IdentitySource: []string{"Bearer " + tok.AccessToken},
				})
				cancel()
				if err != nil || resp.IsAuthorized {
					t.Fatalf("Handle = %+v, %v; want a deny", resp, err)
				}
			}
			clear()
			got, _ := emitted(t, h.Logs.String(), "Sessions")
			want := maps.Clone(tc.want)
			want[series{metrics.Authorizations, "authorizer", metrics.DenyFault}] = 1
			for _, s := range sortedSeries(want, got) {
				if got[s] != want[s] {
					t.Errorf("%v = %v, want %v", s, got[s], want[s])
				}
			}
		})
	}
}

// definition returns the metric called name.
func definition(name string) (metrics.Definition, bool) {
	i := slices.IndexFunc(metrics.Definitions, func(d metrics.Definition) bool { return d.Name == name })
	if i < 0 {
		return metrics.Definition{}, false
	}
	return metrics.Definitions[i], true
}

// recordable reports why a series is not one the code records ("" if it is).
func recordable(s series) string {
	d, ok := definition(s.Metric)
	switch {
	case !ok:
		return "no such metric"
	case !slices.Contains(d.Functions, s.Function):
		return fmt.Sprintf("%s is not recorded by function %q", s.Metric, s.Function)
	case len(d.Outcomes) == 0 && s.Outcome != "":
		return fmt.Sprintf("%s has no Outcome dimension", s.Metric)
	case len(d.Outcomes) > 0 && !slices.Contains(d.Outcomes, s.Outcome):
		return fmt.Sprintf("%s has no outcome %q", s.Metric, s.Outcome)
	}
	return ""
}

// The alarms name the metrics as the code records them: a typo in a metric name, a
// function or an outcome would leave an alarm that never fires.
func TestTheTemplatesAlarmsReadMetricsTheCodeRecords(t *testing.T) {
	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		t.Fatal(err)
	}
	alarms, err := tmpl.Alarms()
	if err != nil {
		t.Fatal(err)
	}
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	errorAlarms := map[string]int{}
	ownAlarms := 0
	for _, a := range alarms {
		for _, m := range a.Metrics {
			t.Run(a.ID+" "+m.ID+" reads a metric that exists", func(t *testing.T) {
				switch {
				case m.Namespace == "AWS/Lambda":
					if m.Name != "Errors" || len(m.Dimensions) != 0 || len(m.DimensionRefs) != 1 || m.DimensionRefs["FunctionName"] == "" {
						t.Fatalf("a Lambda alarm reads Errors by FunctionName (a !Ref to the function): %+v", m)
					}
					errorAlarms[m.DimensionRefs["FunctionName"]]++
				case m.NamespaceRef == "MetricsNamespace":
					ownAlarms++
					if len(m.DimensionRefs) != 0 {
						t.Fatalf("dimensions of the service's metrics are literal: %+v", m)
					}
					s := series{m.Name, m.Dimensions[metrics.DimensionFunction], m.Dimensions[metrics.DimensionOutcome]}
					extra := maps.Clone(m.Dimensions)
					delete(extra, metrics.DimensionFunction)
					delete(extra, metrics.DimensionOutcome)
					if len(extra) != 0 {
						t.Fatalf("dimensions %v are not the service's", extra)
					}
					if why := recordable(s); why != "" {
						t.Fatalf("%v: %s", s, why)
					}
				default:
					t.Fatalf("namespace %q (ref %q) is neither AWS/Lambda nor MetricsNamespace", m.Namespace, m.NamespaceRef)
				}
			})
		}
		// Every metric query feeds the expression; the expression names only them.
		for id, expr := range a.Expressions {
			names := regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`).FindAllString(expr, -1)
			for _, n := range names {
				if n != "FILL" && !slices.ContainsFunc(a.Metrics, func(m samtemplate.AlarmMetric) bool { return m.ID == n }) {
					t.Errorf("%s: expression %s names %q, which is no metric query of the alarm", a.ID, id, n)
				}
			}
			for _, m := range a.Metrics {
				if !slices.Contains(names, m.ID) {
					t.Errorf("%s: metric query %s is not in the expression %q", a.ID, m.ID, expr)
				}
			}
		}
	}
	if ownAlarms == 0 {
		t.Error("no alarm reads the service's metrics")
	}
	for _, f := range fns {
		if errorAlarms[f.ID] != 1 {
			t.Errorf("function %s has %d Errors alarms, want 1", f.ID, errorAlarms[f.ID])
		}
	}
}

// docs/operations.md is the metrics' documentation: a row for each metric that names
// its functions and every outcome it may carry.
func TestTheOperationsPageListsEveryMetricAndOutcome(t *testing.T) {
	root, err := samtemplate.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			if name, _, ok := strings.Cut(name, "`"); ok {
				rows[name] = line
			}
		}
	}
	for _, d := range metrics.Definitions {
		row, ok := rows[d.Name]
		if !ok {
			t.Errorf("docs/operations.md has no row for %s", d.Name)
			continue
		}
		for _, f := range d.Functions {
			if !strings.Contains(row, f) {
				t.Errorf("the row of %s does not name the function %s", d.Name, f)
			}
		}
		if strings.Contains(row, "| as `") {
			continue // "as Authorizations": that row names them
		}
		for _, o := range d.Outcomes {
			if !strings.Contains(row, "`"+o+"`") {
				t.Errorf("the row of %s does not name the outcome %s", d.Name, o)
			}
		}
	}
}

// The Function dimension's values are the functions' names in internal/app, which are
// the deployed functions' folders: the alarms and dashboards can name them.
func TestTheFunctionDimensionNamesTheAppsFunctions(t *testing.T) {
	for _, d := range metrics.Definitions {
		for _, f := range d.Functions {
			if _, ok := app.Lookup(f); !ok {
				t.Errorf("%s is recorded by %q, which is no function of app.Functions", d.Name, f)
			}
		}
	}
}
