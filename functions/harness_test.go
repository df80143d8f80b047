package functions_test

// The deployment the deployed-shape test stands in for: the functions built as sam
// build builds them, their environment, their execution roles at the AWS endpoint
// stub, their processes, and the HTTP API in front of them.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/awsstub"
	"github.com/example/sessions/internal/gateway"
	"github.com/example/sessions/internal/lambdarun"
	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/testddb"
)

// ---- build -------------------------------------------------------------------------

// buildFunctions builds every function as sam-build does: SAM's go1.x builder runs
// `go build -o <artifacts>/bootstrap ./<CodeUri>` with the Makefile's BUILD_ENV and
// GOFLAGS (`make build-env`), here for this machine's GOARCH so the binary can run. It
// returns the bootstrap path of each function by logical ID.
func buildFunctions(t *testing.T, root string, fns []samtemplate.Function) map[string]string {
	t.Helper()
	env := buildEnv(t, root, fns)
	dir := t.TempDir()
	bins := map[string]string{}
	for _, f := range fns {
		if f.Runtime != "provided.al2023" && f.Runtime != "provided.al2" {
			t.Fatalf("%s: runtime %s: this test runs OS-only (provided.*) runtimes", f.ID, f.Runtime)
		}
		out := filepath.Join(dir, f.ID, "bootstrap") // the provided runtimes run ./bootstrap
		cmd := exec.Command("go", "build", "-o", out, "./"+f.CodeURI)
		cmd.Dir = root
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s (%s): %v\n%s", f.ID, f.CodeURI, err, b)
		}
		bins[f.ID] = out
	}
	return bins
}

// buildEnv is the environment of the builds: this process's (GOCACHE, GOPATH, PATH
// ...), with the Makefile's build variables on top and GOARCH set to this machine's.
func buildEnv(t *testing.T, root string, fns []samtemplate.Function) []string {
	t.Helper()
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, "build-env")
	// A make running this test must not hand its jobserver or flags down.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL"
	})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make build-env (the Makefile is the one home of the build flags): %v", err)
	}
	vars := map[string]string{}
	for line := range strings.Lines(string(out)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			t.Fatalf("make build-env printed %q, want NAME=value lines", line)
		}
		vars[name] = value
	}
	for _, name := range []string{"GOOS", "GOARCH", "GOFLAGS", "CGO_ENABLED"} {
		if _, ok := vars[name]; !ok {
			t.Fatalf("make build-env sets no %s:\n%s", name, out)
		}
	}
	// The deployed architecture is the template's; the Makefile must build for it.
	goarch := map[string]string{"arm64": "arm64", "x86_64": "amd64"}
	for _, f := range fns {
		if len(f.Architectures) != 1 || goarch[f.Architectures[0]] != vars["GOARCH"] {
			t.Errorf("%s: Architectures %v, but the Makefile builds GOARCH=%s", f.ID, f.Architectures, vars["GOARCH"])
		}
	}
	vars["GOARCH"] = runtime.GOARCH
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		_, set := vars[name]
		return set
	})
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, name+"="+vars[name])
	}
	return env
}

// ---- deployment --------------------------------------------------------------------

// deployment is the stack the test stands in for.
type deployment struct {
	samtemplate.Deployment
	suffix string // CloudFormation's random part of generated names
}

// deploy names the stack's resources: the table is a new one in DynamoDB Local made
// from the template, the functions get the names CloudFormation generates.
func deploy(t *testing.T, tpl *samtemplate.Template, fns []samtemplate.Function) deployment {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	d := deployment{suffix: strings.ToUpper(hex.EncodeToString(b[:]))}
	d.Deployment = samtemplate.Deployment{
		Partition: scope.Partition, Region: scope.Region, AccountID: scope.AccountID, StackName: stackName,
		Names: map[string]string{samtemplate.TableResource: testddb.NewTable(t)},
	}
	for _, f := range fns {
		d.Names[f.ID] = d.physical(f.ID)
	}
	return d
}

// physical is the name CloudFormation gives a resource without an explicit name.
func (d deployment) physical(id string) string {
	return fmt.Sprintf("%s-%s-%s", d.StackName, id, d.suffix)
}

// seedParameters stores the SSM parameters that template parameters name (those
// whose name ends in "ParameterName"), at the names their defaults give.
func seedParameters(t *testing.T, tpl *samtemplate.Template, d deployment, stub *awsstub.Server, m keyMaterial) {
	t.Helper()
	for _, p := range tpl.Parameters() {
		if !strings.HasSuffix(p.Name, "ParameterName") {
			continue
		}
		v, ok := parameterValues[p.Name]
		if !ok {
			t.Fatalf("template parameter %s names an SSM parameter this test cannot fill: add it to parameterValues in functions/deployed_test.go", p.Name)
		}
		if !p.HasDefault {
			t.Fatalf("template parameter %s has no Default", p.Name)
		}
		stub.SetParameter(p.Default, awsstub.Parameter{Type: v.typ, Value: v.value(m)})
	}
}

// ---- functions ---------------------------------------------------------------------

// lambdaFunction is one deployed function and what happened to it.
type lambdaFunction struct {
	fn      samtemplate.Function
	name    string // physical name
	arn     string
	bin     string
	env     []string
	policy  awsstub.Policy
	timeout time.Duration

	mu           sync.Mutex
	proc         *lambdarun.Process
	initFailures []*lambdarun.InitError
	invocations  []invocationRecord
}

// invocationRecord is one invocation: the event and the answer.
type invocationRecord struct {
	event    []byte
	response []byte
	err      error
	logs     string // the function's output during the invocation (and its cold start)
}

// fleet is every function of the template.
type fleet struct {
	fns map[string]*lambdaFunction
}

// initTimeout bounds a cold start. Lambda's limit is 10 s; this is a hang guard on a
// shared 2-core machine, not a measurement.
const initTimeout = 30 * time.Second

func newFleet(t *testing.T, tpl *samtemplate.Template, fns []samtemplate.Function, d deployment, bins map[string]string, stub *awsstub.Server) *fleet {
	t.Helper()
	fl := &fleet{fns: map[string]*lambdaFunction{}}
	for i, f := range fns {
		env, err := tpl.FunctionEnvironment(f.ID, d.Deployment)
		if err != nil {
			t.Fatal(err)
		}
		statements, err := tpl.FunctionPolicy(f.ID, d.Deployment)
		if err != nil {
			t.Fatal(err)
		}
		var policy awsstub.Policy
		for _, st := range statements {
			policy = append(policy, awsstub.Statement{Effect: st.Effect, Actions: st.Actions, Resources: st.Resources})
		}
		lf := &lambdaFunction{
			fn: f, name: d.Names[f.ID], bin: bins[f.ID], policy: policy,
			arn:     fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", scope.Partition, scope.Region, scope.AccountID, d.Names[f.ID]),
			timeout: time.Duration(f.Timeout) * time.Second,
		}
		// The execution role's temporary credentials: the access key tells the AWS
		// endpoint which function calls.
		creds := credentials{
			accessKeyID: fmt.Sprintf("ASIADEPLOYTEST%06d", i),
			secret:      randomBase64(30),
			token:       randomBase64(120),
		}
		role := d.physical(f.ID + "Role") // SAM's generated role <Function>Role
		stub.AddPrincipal(creds.accessKeyID, awsstub.Principal{
			Name:   f.ID,
			ARN:    fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", scope.Partition, scope.AccountID, role, lf.name),
			Policy: policy,
		})
		if lf.env, err = lambdaEnvironment(f, env, lf.name, filepath.Dir(lf.bin), stub.URL(), creds); err != nil {
			t.Fatal(err)
		}
		fl.fns[f.ID] = lf
	}
	t.Cleanup(func() {
		for _, lf := range fl.fns {
			lf.stop()
		}
	})
	return fl
}

// credentials are a function's execution-role credentials.
type credentials struct{ accessKeyID, secret, token string }

// lambdaReserved are the variables Lambda sets itself and refuses in a function's
// configuration (Lambda developer guide, "Defined runtime environment variables").
var lambdaReserved = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
}

// lambdaEnvironment is the whole environment of a function's process: the template's
// variables, then what Lambda sets for an OS-only runtime, then AWS_ENDPOINT_URL, the
// one addition, which sends every SDK client to the AWS endpoint stub. Nothing comes
// from the test process. AWS_LAMBDA_RUNTIME_API is added by lambdarun.
func lambdaEnvironment(f samtemplate.Function, tplEnv map[string]string, name, taskRoot, endpoint string, c credentials) ([]string, error) {
	for _, k := range append(slices.Clone(lambdaReserved), "AWS_ENDPOINT_URL") {
		if _, ok := tplEnv[k]; ok {
			return nil, fmt.Errorf("%s: the template sets %s, which Lambda reserves (or the test needs)", f.ID, k)
		}
	}
	var stream [16]byte
	_, _ = rand.Read(stream[:])
	const runtimeDir = "/var/runtime"
	lambda := map[string]string{
		"_HANDLER":                        f.Handler,
		"AWS_REGION":                      scope.Region,
		"AWS_DEFAULT_REGION":              scope.Region,
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": fmt.Sprint(f.MemorySize),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + hex.EncodeToString(stream[:]),
		"AWS_ACCESS_KEY_ID":               c.accessKeyID,
		"AWS_ACCESS_KEY":                  c.accessKeyID,
		"AWS_SECRET_ACCESS_KEY":           c.secret,
		"AWS_SESSION_TOKEN":               c.token,
		// The task root is where the code is: /var/task on Lambda, here the build
		// folder, which is also the working directory.
		"LAMBDA_TASK_ROOT":   taskRoot,
		"LAMBDA_RUNTIME_DIR": runtimeDir,
		"TZ":                 ":UTC",
		"LANG":               "en_US.UTF-8",
		"PATH":               "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH": fmt.Sprintf("/lib64:/usr/lib64:%s:%s/lib:%s:%s/lib:/opt/lib",
			runtimeDir, runtimeDir, taskRoot, taskRoot),
		"AWS_ENDPOINT_URL": endpoint,
	}
	// Advanced logging controls: Lambda passes the log format, and the level only when
	// one is configured. (No AWS_EXECUTION_ENV: the OS-only runtimes have none.)
	if f.LogFormat != "" {
		lambda["AWS_LAMBDA_LOG_FORMAT"] = f.LogFormat
	}
	if f.ApplicationLogLevel != "" {
		lambda["AWS_LAMBDA_LOG_LEVEL"] = f.ApplicationLogLevel
	}
	all := maps.Clone(tplEnv)
	maps.Copy(all, lambda)
	env := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		env = append(env, k+"="+all[k])
	}
	return env, nil
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// invoke sends one event to the function, cold-starting it first if it has no live
// process (as Lambda does, a failed init is retried on the next invocation).
func (lf *lambdaFunction) invoke(ctx context.Context, event []byte) ([]byte, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	rec := invocationRecord{event: event}
	defer func() { lf.invocations = append(lf.invocations, rec) }()
	offset := 0
	if lf.proc == nil || lf.proc.Exited() {
		p, err := lambdarun.Start(ctx, lambdarun.Config{
			Path: lf.bin, Dir: filepath.Dir(lf.bin), Env: lf.env, FunctionARN: lf.arn,
			Timeout: lf.timeout, InitTimeout: initTimeout,
		})
		if err != nil {
			if ie, ok := errors.AsType[*lambdarun.InitError](err); ok {
				lf.initFailures = append(lf.initFailures, ie)
				rec.logs = ie.Logs
			}
			rec.err = fmt.Errorf("%s: %w", lf.fn.ID, err)
			return nil, rec.err
		}
		lf.proc = p
	} else {
		offset = len(lf.proc.Logs())
	}
	res, err := lf.proc.Invoke(ctx, event, 10*time.Second)
	rec.logs = lf.proc.Logs()[offset:]
	switch {
	case err != nil:
		rec.err = fmt.Errorf("%s: %w", lf.fn.ID, err)
	case res.Error != nil:
		rec.err = fmt.Errorf("%s: %w", lf.fn.ID, res.Error)
	default:
		rec.response = res.Payload
	}
	return rec.response, rec.err
}

// call invokes the function with in as its JSON event and decodes its answer into out.
func (lf *lambdaFunction) call(ctx context.Context, in, out any) error {
	event, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := lf.invoke(ctx, event)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(resp, out); err != nil {
		return fmt.Errorf("%s: answer is not the expected JSON: %w", lf.fn.ID, err)
	}
	return nil
}

func (lf *lambdaFunction) stop() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.proc != nil {
		lf.proc.Stop()
	}
}

// mark is how many invocations each function had: the start of a request.
type mark map[string]int

func (fl *fleet) mark() mark {
	m := mark{}
	for id, lf := range fl.fns {
		lf.mu.Lock()
		m[id] = len(lf.invocations)
		lf.mu.Unlock()
	}
	return m
}

// since returns, for each function invoked after m, its new invocations.
func (fl *fleet) since(m mark) map[string][]invocationRecord {
	out := map[string][]invocationRecord{}
	for id, lf := range fl.fns {
		lf.mu.Lock()
		if n := len(lf.invocations); n > m[id] {
			out[id] = slices.Clone(lf.invocations[m[id]:])
		}
		lf.mu.Unlock()
	}
	return out
}

// ---- the API -----------------------------------------------------------------------

// api is the HTTP API of the template, served by the project's API Gateway emulator
// (internal/gateway builds the payload 2.0 events), each route invoking its function's
// process and protected routes its authorizer's.
type api struct {
	handler http.Handler
	fleet   *fleet
	host    string
	log     *bytes.Buffer
}

// apiID is the HTTP API's id in the host name.
const apiID = "d3pl0y7e5t"

func newAPI(t *testing.T, tpl *samtemplate.Template, d deployment, fl *fleet) *api {
	t.Helper()
	auths, err := tpl.Authorizers(d.Deployment)
	if err != nil {
		t.Fatal(err)
	}
	a := &api{fleet: fl, host: apiID + ".execute-api." + scope.Region + ".amazonaws.com", log: &bytes.Buffer{}}
	cfg := gateway.Config{
		APIID: apiID, Stage: "$default",
		Logger: slog.New(slog.NewJSONHandler(&lockedWriter{w: a.log}, nil)),
	}
	for _, lf := range fl.fns {
		cfg.Timeout = max(cfg.Timeout, lf.timeout)
	}
	switch len(auths) {
	case 0:
	case 1:
		au := auths[0]
		if au.PayloadFormatVersion != "2.0" || !au.SimpleResponses {
			t.Fatalf("authorizer %s: payload format %q, simple responses %v: the gateway emulator speaks 2.0 with simple responses only",
				au.Name, au.PayloadFormatVersion, au.SimpleResponses)
		}
		lf, ok := fl.fns[au.Function]
		if !ok {
			t.Fatalf("authorizer %s: function %s is not in the template", au.Name, au.Function)
		}
		cfg.IdentityHeaders = au.IdentityHeaders
		cfg.Authorizer = func(ctx context.Context, ev events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
			var out events.APIGatewayV2CustomAuthorizerSimpleResponse
			err := lf.call(ctx, ev, &out)
			return out, err
		}
	default:
		t.Fatalf("template.yaml has %d Lambda authorizers; the gateway emulator serves one", len(auths))
	}
	for _, r := range tpl.Routes() {
		lf, ok := fl.fns[r.Function]
		if !ok {
			t.Fatalf("route %s %s: function %s is not in the template", r.Method, r.Path, r.Function)
		}
		cfg.Routes = append(cfg.Routes, gateway.Route{
			Method: r.Method, Path: r.Path, Protected: r.Protected, Name: lf.name,
			Handler: func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				var out events.APIGatewayV2HTTPResponse
				err := lf.call(ctx, ev, &out)
				return out, err
			},
		})
	}
	if a.handler, err = gateway.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("API Gateway emulator log:\n%s", a.log.String())
		}
	})
	return a
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// response is an HTTP answer of the API, with the invocations it caused.
type response struct {
	status  int
	header  http.Header
	body    []byte
	invoked map[string][]invocationRecord
}

// do sends one HTTPS request to the API as a browser or app would, and reports, as a
// failure of the calling test, every function that failed to start or failed while
// answering it, with the function's log.
func (a *api) do(t *testing.T, method, path string, header map[string]string, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, "https://"+a.host+path, strings.NewReader(body))
	req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, ServerName: a.host}
	req.RemoteAddr = "203.0.113.7:52814"
	req.Header.Set("User-Agent", "deployed-shape-test/1.0")
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	before := a.fleet.mark()
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes(), invoked: a.fleet.since(before)}
	for _, id := range slices.Sorted(maps.Keys(r.invoked)) {
		for _, inv := range r.invoked[id] {
			if inv.err == nil {
				continue
			}
			if ie, ok := errors.AsType[*lambdarun.InitError](inv.err); ok {
				t.Errorf("%s %s: %s failed to start: %s\n--- its output ---\n%s", method, path, id, ie.Reason, tail(inv.logs, 8<<10))
			} else {
				t.Errorf("%s %s: %v\n--- its output ---\n%s", method, path, inv.err, tail(inv.logs, 8<<10))
			}
		}
	}
	return r
}

// output is what the functions that served the request logged, for a failure
// message that shows why the answer was not the contract's.
func (r response) output() string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(r.invoked)) {
		for _, inv := range r.invoked[id] {
			// A failed invocation's output is already reported by do.
			if inv.err == nil && inv.logs != "" {
				fmt.Fprintf(&b, "\n--- %s's output ---\n%s", id, tail(inv.logs, 4<<10))
			}
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
