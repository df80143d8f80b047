// Command startup measures the functions' bootstraps for `make bench` (see
// BENCHMARKS.md): the size and zipped size of the linux/arm64 build `sam build` makes,
// and the cold start of the same code built for this machine, from exec to the first
// GET /runtime/invocation/next, under the project's Lambda Runtime API
// (internal/lambdarun) and AWS endpoint (internal/awsstub), as the deployed-shape test
// (functions/deployed_test.go) runs them.
//
//	startup -arm64 .build -native .cache/bench/native -out bench/results/startup.json
//
// Each function runs with its environment from template.yaml and what Lambda adds,
// every AWS client sent to the endpoint, which grants it its policy and records every
// call, and HTTP(S)_PROXY at a listener that counts connections. It starts twice over:
// with the key material in the environment (no network call at init at all), and as
// deployed, the key material in SSM parameters the endpoint serves.
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/awsstub"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/lambdarun"
	"github.com/example/sessions/internal/samtemplate"
)

func main() {
	arm := flag.String("arm64", ".build", "folder with <function>/bootstrap built for linux/arm64 (make build)")
	native := flag.String("native", "", "folder with <function>/bootstrap built the same way for this machine")
	runs := flag.Int("runs", 15, "starts per function with the key material in the environment")
	ssmRuns := flag.Int("ssm-runs", 5, "starts per function with the key material in SSM")
	out := flag.String("out", "bench/results/startup.json", "where to write the JSON results")
	flag.Parse()
	if err := run(*arm, *native, *runs, *ssmRuns, *out); err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

var scope = awsstub.Scope{Partition: "aws", Region: "us-east-1", AccountID: "123456789012"}

// counter is a TCP listener that counts and drops every connection.
type counter struct {
	ln net.Listener
	n  atomic.Int64
}

func newCounter() (*counter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &counter{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			conn.Close()
		}
	}()
	return c, nil
}

func run(armDir, nativeDir string, runs, ssmRuns int, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		return err
	}
	fns, err := tpl.Functions()
	if err != nil {
		return err
	}
	// In app.Functions' order, the template's.
	order := func(f samtemplate.Function) int {
		return slices.IndexFunc(app.Functions, func(af app.Function) bool { return af.Name == path.Base(f.CodeURI) })
	}
	slices.SortFunc(fns, func(a, b samtemplate.Function) int { return order(a) - order(b) })
	km, err := keys.NewMaterial(keys.EdDSA, time.Now())
	if err != nil {
		return err
	}
	material, err := km.Env() // SIGNING_KEY, PUBLIC_KEYS, REFRESH_KEY
	if err != nil {
		return err
	}
	stub, err := awsstub.Start(awsstub.Config{Scope: scope})
	if err != nil {
		return err
	}
	defer stub.Close()
	proxy, err := newCounter()
	if err != nil {
		return err
	}
	defer proxy.ln.Close()
	d := samtemplate.Deployment{Partition: scope.Partition, Region: scope.Region, AccountID: scope.AccountID,
		StackName: "sessions", Names: map[string]string{samtemplate.TableResource: "sessions-SessionsTable-EXAMPLE"}}
	for _, f := range fns {
		d.Names[f.ID] = "sessions-" + f.ID + "-EXAMPLE"
	}

	res := results.Startup{
		Build:   "linux/arm64, CGO_ENABLED=0, -trimpath, -ldflags \"-s -w\", -tags lambda.norpc (make build, as sam build does)",
		RunArch: runtime.GOOS + "/" + runtime.GOARCH + " build of the same code, same flags",
	}
	res.Network.Method = "every AWS client at internal/awsstub (AWS_ENDPOINT_URL), which records each call; HTTP(S)_PROXY at a listener that counts connections"
	for i, f := range fns {
		name := path.Base(f.CodeURI)
		r := results.Function{Name: name}
		armBin := filepath.Join(armDir, name, "bootstrap")
		st, err := os.Stat(armBin)
		if err != nil {
			return err
		}
		r.SizeBytes = st.Size()
		if r.ZipBytes, err = zipSize(armBin); err != nil {
			return err
		}
		if nativeDir == "" {
			res.Functions = append(res.Functions, r)
			continue
		}
		bin, err := filepath.Abs(filepath.Join(nativeDir, name, "bootstrap")) // exec resolves a relative path in the process's folder
		if err != nil {
			return err
		}
		if st, err := os.Stat(bin); err == nil {
			r.AMD64Bytes = st.Size()
		}
		deployed, err := environment(tpl, f, d, stub, proxy, i)
		if err != nil {
			return err
		}
		inline := inlineKeys(deployed, material)
		seedParameters(stub, deployed, material)

		calls0, proxy0 := len(stub.Calls()), proxy.n.Load()
		ms, _, err := starts(ctx, f, bin, inline, runs)
		if err != nil {
			return err
		}
		r.Runs, r.ReadyMedian, r.ReadyP90, r.ReadyMin = runs, pct(ms, 50), pct(ms, 90), ms[0]
		_, logs, err := starts(ctx, f, bin, append(inline, "GODEBUG=inittrace=1"), 1)
		if err != nil {
			return err
		}
		r.InitAllocs, r.InitBytes, r.InitClockMs, r.TopInit = parseInittrace(logs)
		r.AWSCalls = len(stub.Calls()) - calls0
		res.Network.AWSCalls += r.AWSCalls
		res.Network.ProxyConns += int(proxy.n.Load() - proxy0)

		calls0 = len(stub.Calls())
		sms, _, err := starts(ctx, f, bin, deployed, ssmRuns)
		if err != nil {
			return err
		}
		ssm := 0
		for _, c := range stub.Calls()[calls0:] {
			if c.Principal != f.ID || !c.Allowed || c.Status != 200 {
				return fmt.Errorf("%s at init: %s %s answered %d %s", f.ID, c.Operation, c.Resource, c.Status, c.Error)
			}
			ssm++
		}
		res.SSMVariant = append(res.SSMVariant, results.SSMStartRun{Function: name, SSMRequests: ssm / ssmRuns, ReadyMedian: pct(sms, 50)})
		res.Functions = append(res.Functions, r)
		fmt.Fprintf(os.Stderr, "startup: %-10s %5.2f MiB (zip %4.2f MiB)  ready median %6.2f ms (key in SSM %6.2f ms, %d GetParameter)  init %d allocs %d B  AWS calls %d\n",
			name, float64(r.SizeBytes)/(1<<20), float64(r.ZipBytes)/(1<<20), r.ReadyMedian, pct(sms, 50), ssm/ssmRuns, r.InitAllocs, r.InitBytes, r.AWSCalls)
	}
	res.Notes = append(res.Notes, "AWS_CA_BUNDLE is unset in every measured start (this machine sets it; Lambda does not).")
	return results.Write(out, res)
}

// environment is the whole environment of function f's process as deployed: the
// template's variables, what Lambda sets, temporary credentials of its own role
// (registered at the endpoint with its policy), the endpoint and the proxy.
func environment(tpl *samtemplate.Template, f samtemplate.Function, d samtemplate.Deployment, stub *awsstub.Server, proxy *counter, i int) ([]string, error) {
	vars, err := tpl.FunctionEnvironment(f.ID, d)
	if err != nil {
		return nil, err
	}
	statements, err := tpl.FunctionPolicy(f.ID, d)
	if err != nil {
		return nil, err
	}
	var policy awsstub.Policy
	for _, st := range statements {
		policy = append(policy, awsstub.Statement{Effect: st.Effect, Actions: st.Actions, Resources: st.Resources})
	}
	key := fmt.Sprintf("ASIASTARTUPBENCH%04d", i)
	stub.AddPrincipal(key, awsstub.Principal{Name: f.ID, ARN: "arn:aws:sts::" + scope.AccountID + ":assumed-role/" + f.ID + "Role/" + d.Names[f.ID], Policy: policy})
	proxyURL := "http://" + proxy.ln.Addr().String()
	for k, v := range map[string]string{
		"AWS_REGION": scope.Region, "AWS_DEFAULT_REGION": scope.Region,
		"AWS_LAMBDA_FUNCTION_NAME": d.Names[f.ID], "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.FormatInt(f.MemorySize, 10), "AWS_LAMBDA_LOG_FORMAT": f.LogFormat,
		"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": "startup-bench-secret", "AWS_SESSION_TOKEN": "startup-bench-token",
		"TZ": ":UTC", "LANG": "en_US.UTF-8", "PATH": "/usr/local/bin:/usr/bin/:/bin",
		"AWS_ENDPOINT_URL": stub.URL(), "HTTP_PROXY": proxyURL, "HTTPS_PROXY": proxyURL,
	} {
		vars[k] = v
	}
	return envList(vars), nil
}

func envList(vars map[string]string) []string {
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// inlineKeys is env with each key source given inline: X_PARAMETER emptied and X set
// to the material, as `sam local` runs the functions.
func inlineKeys(env []string, material map[string]string) []string {
	vars := map[string]string{}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		vars[name] = value
	}
	for name := range vars {
		if prefix, ok := strings.CutSuffix(name, "_PARAMETER"); ok {
			vars[name], vars[prefix] = "", material[prefix]
		}
	}
	return envList(vars)
}

// seedParameters stores at the endpoint the SSM parameters env names (X_PARAMETER),
// holding the material of X.
func seedParameters(stub *awsstub.Server, env []string, material map[string]string) {
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if prefix, ok := strings.CutSuffix(name, "_PARAMETER"); ok && value != "" {
			stub.SetParameter(value, awsstub.Parameter{Type: "SecureString", Value: material[prefix]})
		}
	}
}

// starts cold-starts the function n times and returns each exec-to-ready time in ms,
// sorted, and the output of the last start.
func starts(ctx context.Context, f samtemplate.Function, bin string, env []string, n int) ([]float64, string, error) {
	var ms []float64
	var logs string
	for range n {
		p, err := lambdarun.Start(ctx, lambdarun.Config{
			Path: bin, Dir: filepath.Dir(bin), Env: env, Timeout: time.Duration(f.Timeout) * time.Second, InitTimeout: 20 * time.Second,
		})
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", f.ID, err)
		}
		ms = append(ms, float64(p.InitDuration().Microseconds())/1000)
		p.Stop()
		logs = p.Logs()
	}
	sort.Float64s(ms)
	return ms, logs, nil
}

// pct is the p-th percentile of sorted v (nearest rank).
func pct(v []float64, p float64) float64 {
	i := int(float64(len(v))*p/100+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}

// zipSize is the size of a zip holding the file as "bootstrap", deflated, the way SAM
// packages a provided.al2023 function.
func zipSize(name string) (int64, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(data); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

var initLine = regexp.MustCompile(`^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock, ([0-9]+) bytes, ([0-9]+) allocs`)

// parseInittrace sums GODEBUG=inittrace=1's lines (one per package init) and names
// the three inits that allocate most.
func parseInittrace(s string) (allocs, bytesTotal int64, clock float64, top string) {
	type pkg struct {
		name          string
		bytes, allocs int64
	}
	var pkgs []pkg
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		c, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseInt(m[3], 10, 64)
		a, _ := strconv.ParseInt(m[4], 10, 64)
		clock += c
		bytesTotal += b
		allocs += a
		pkgs = append(pkgs, pkg{m[1], b, a})
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].bytes > pkgs[j].bytes })
	var parts []string
	for _, p := range pkgs[:min(3, len(pkgs))] {
		parts = append(parts, fmt.Sprintf("%s (%d allocs, %.1f KiB)", p.name, p.allocs, float64(p.bytes)/1024))
	}
	return allocs, bytesTotal, clock, strings.Join(parts, ", ")
}
