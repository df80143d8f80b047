// Command report turns the raw results of `make bench` (bench/results) into the
// generated sections of BENCHMARKS.md: it replaces the text between each
// "<!-- BEGIN generated:NAME -->" and "<!-- END generated:NAME -->" marker and leaves
// the hand-written prose alone.
//
//	report -results bench/results -doc BENCHMARKS.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/samtemplate"
)

func main() {
	dir := flag.String("results", "bench/results", "folder of the raw results")
	doc := flag.String("doc", "BENCHMARKS.md", "the document to update")
	tmpl := flag.String("template", "template.yaml", "the SAM template (for memory sizes)")
	flag.Parse()
	if err := run(*dir, *doc, *tmpl); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// Meta describes the run (written by scripts/bench.sh).
type Meta struct {
	Date        string  `json:"date"`
	Commit      string  `json:"commit"`
	GoVersion   string  `json:"go_version"`
	CPU         string  `json:"cpu"`
	Cores       int     `json:"cores"`
	MemGiB      float64 `json:"mem_gib"`
	LoadBefore  string  `json:"load_before"`
	LoadAfter   string  `json:"load_after"`
	WallSeconds float64 `json:"wall_seconds"`
	Java        string  `json:"java"`
	Command     string  `json:"command"`
	BenchFlags  string  `json:"bench_flags"`
}

type report struct {
	meta    Meta
	cost    results.Cost
	e2e     results.E2E
	startup results.Startup
	bench   map[string]*bstat
	mem     map[string]int // function folder name -> MemorySize (MB)
	ttlDef  string         // the template's default AuthorizerCacheTtl
	ops     map[string]results.Operation
	raw     string // benchstat output
}

func run(dir, doc, tmplPath string) error {
	r := &report{}
	if err := results.Read(filepath.Join(dir, "meta.json"), &r.meta); err != nil {
		return err
	}
	if err := results.Read(filepath.Join(dir, "cost.json"), &r.cost); err != nil {
		return err
	}
	if err := results.Read(filepath.Join(dir, "e2e.json"), &r.e2e); err != nil {
		return err
	}
	if err := results.Read(filepath.Join(dir, "startup.json"), &r.startup); err != nil {
		return err
	}
	var err error
	if r.bench, err = parseGoBench(filepath.Join(dir, "gobench.txt")); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "benchstat.txt"))
	if err != nil {
		return err
	}
	r.raw = string(raw)
	if r.mem, r.ttlDef, err = fromTemplate(tmplPath); err != nil {
		return err
	}
	r.ops = map[string]results.Operation{}
	for _, op := range r.cost.Operations {
		r.ops[op.Key] = op
	}

	sections := map[string]string{
		"meta":      r.metaSection(),
		"targets":   r.targetsSection(),
		"ddb":       r.ddbSection(),
		"probes":    r.probesSection(),
		"items":     r.itemsSection(),
		"cpu":       r.cpuSection(),
		"hotpath":   r.hotPathSection(),
		"benchstat": "```\n" + strings.TrimRight(r.raw, "\n") + "\n```\n",
		"e2e":       r.e2eSection(),
		"startup":   r.startupSection(),
		"baselines": r.baselinesSection(),
		"money":     r.moneySection(),
		"month":     r.monthSection(),
		"curve":     r.curveSection(),
	}
	text, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	out := string(text)
	for name, body := range sections {
		begin, end := "<!-- BEGIN generated:"+name+" -->", "<!-- END generated:"+name+" -->"
		i, j := strings.Index(out, begin), strings.Index(out, end)
		if i < 0 || j < i {
			return fmt.Errorf("%s has no %s ... %s markers", doc, begin, end)
		}
		out = out[:i+len(begin)] + "\n" + strings.TrimRight(body, "\n") + "\n" + out[j:]
	}
	return os.WriteFile(doc, []byte(out), 0o644)
}

// ---- Go benchmarks ----

// bstat is one benchmark's samples, one per -count run: time, bytes and allocations
// per op, and the metrics it reports itself by unit (BenchmarkHotPath's path/sig).
type bstat struct {
	ns, bytes, allocsOp []float64
	metrics             map[string][]float64
}

func (b *bstat) metric(unit string) float64 { return median(b.metrics[unit]) }

func (b *bstat) us() float64     { return median(b.ns) / 1e3 }
func (b *bstat) ms() float64     { return median(b.ns) / 1e6 }
func (b *bstat) allocs() float64 { return median(b.allocsOp) }
func (b *bstat) bytesOp() float64 {
	return median(b.bytes)
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parseGoBench(path string) (map[string]*bstat, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]*bstat{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		g := benchLine.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		b := m[g[1]]
		if b == nil {
			b = &bstat{metrics: map[string][]float64{}}
			m[g[1]] = b
		}
		fields := strings.Fields(g[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "ns/op":
				b.ns = append(b.ns, v)
			case "B/op":
				b.bytes = append(b.bytes, v)
			case "allocs/op":
				b.allocsOp = append(b.allocsOp, v)
			default:
				b.metrics[fields[i+1]] = append(b.metrics[fields[i+1]], v)
			}
		}
	}
	return m, sc.Err()
}

func (r *report) b(name string) *bstat {
	if b, ok := r.bench[name]; ok && len(b.ns) > 0 {
		return b
	}
	return &bstat{metrics: map[string][]float64{}}
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return slices.Min(v)
}

func maxOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return slices.Max(v)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// fromTemplate reads each function's MemorySize (with Globals applied) by its folder
// name, and the default of the AuthorizerCacheTtl parameter.
func fromTemplate(path string) (map[string]int, string, error) {
	tpl, err := samtemplate.Load(path)
	if err != nil {
		return nil, "", err
	}
	fns, err := tpl.Functions()
	if err != nil {
		return nil, "", err
	}
	out := map[string]int{}
	for _, f := range fns {
		out[filepath.Base(f.CodeURI)] = int(f.MemorySize)
	}
	ttl := ""
	for _, p := range tpl.Parameters() {
		if p.Name == "AuthorizerCacheTtl" {
			ttl = p.Default
		}
	}
	if ttl == "" {
		return nil, "", fmt.Errorf("%s: no AuthorizerCacheTtl parameter with a default", path)
	}
	return out, ttl, nil
}

// ---- formatting ----

func f1(v float64) string { return trimZeros(fmt.Sprintf("%.1f", v)) }
func f2(v float64) string { return trimZeros(fmt.Sprintf("%.2f", v)) }
func f3(v float64) string { return trimZeros(fmt.Sprintf("%.3f", v)) }

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func money(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v < 0.01:
		return fmt.Sprintf("$%.4f", v)
	case v < 1:
		return fmt.Sprintf("$%.3f", v)
	default:
		return fmt.Sprintf("$%.2f", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

func metNot(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for range t.head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// ---- sections ----

func (r *report) metaSection() string {
	m := r.meta
	t := &table{head: []string{"", ""}}
	t.add("command", "`"+m.Command+"`")
	t.add("date (UTC)", m.Date)
	t.add("commit", "`"+m.Commit+"` (plus the working tree)")
	t.add("machine", fmt.Sprintf("%s, %d cores, %.0f GiB; shared with other work, so timings are noisy", m.CPU, m.Cores, m.MemGiB))
	t.add("load average before / after", m.LoadBefore+" / "+m.LoadAfter)
	t.add("Go", m.GoVersion)
	t.add("Java (DynamoDB Local)", m.Java)
	t.add("DynamoDB Local", r.cost.DynamoDBLocal)
	t.add("Go benchmark flags", "`"+m.BenchFlags+"`")
	t.add("wall time of `make bench`", fmt.Sprintf("%.0f s (up to the report step)", m.WallSeconds))
	return t.String()
}

// lambdaMs is the modelled billed duration of one invocation: the CPU measured here
// scaled to the function's CPU share, plus the assumed DynamoDB round trips.
func lambdaMs(cpuMs float64, roundTrips int, memMB int) float64 {
	share := math.Min(1, float64(memMB)/fullVCPUMB)
	return math.Ceil(cpuMs/share + float64(roundTrips)*ddbRoundTripMs)
}

type opCost struct {
	name          string
	rrus, wrus    float64
	roundTrips    int
	cpuMs         float64
	cpuFrom       string // the benchmarks summed, "+" between them
	function      string // the function folder, for its memory size; "" = no Lambda
	apiGW         bool
	lambdaBilled  float64
	ddb, lam, api float64 // $ per million operations
}

func (r *report) opCosts() []opCost {
	type def struct {
		key, name, function, bench string
		apiGW                      bool
	}
	// bench names the CPU benchmarks whose medians add up to the operation's own CPU
	// ("" = none: only DynamoDB round trips, no cryptography).
	defs := []def{
		{"login", "login", "login", "ServiceLogin", true},
		{"login_at_limit", "login at the session limit (ends the least recently used)", "login", "ServiceLogin", true},
		{"refresh", "refresh", "refresh", "ServiceRefresh/EdDSA", true},
		{"refresh_reuse", "refresh, reuse detected", "refresh", "ServiceRefresh/EdDSA", true},
		{"logout", "logout", "logout", "RefreshTokenWork", true},
		{"logout_others", "logout others (5 sessions)", "logout", "RefreshTokenWork", true},
		{"logout_all_5", "logout everywhere (5 sessions)", "logout", "RefreshTokenWork", true},
		{"list_sessions", "device list (5 sessions)", "account", "", true},
		{"sign_out", "sign out one session", "account", "", true},
		{"reauthenticate", "reauthenticate", "account", "Argon2idOWASP/Verify+Mint/EdDSA", true},
		{"change_password", "password change (5 sessions)", "account", "Argon2idOWASP/Verify+Argon2idOWASP/Hash+Mint/EdDSA", true},
		{"authorize", "authorize (per protected request)", "authorizer", "AuthorizerPath/EdDSA", true},
		{"classic", "classic session lookup (baseline, per request)", "authorizer", "", true},
		{"stateless", "stateless JWT (baseline, API Gateway's built-in JWT authorizer)", "", "", true},
	}
	var out []opCost
	for _, d := range defs {
		op, ok := r.ops[d.key]
		if !ok {
			continue
		}
		c := opCost{name: d.name, rrus: op.ExpectedRCU, wrus: op.ExpectedWCU, roundTrips: op.RoundTrips, function: d.function, apiGW: d.apiGW}
		if d.bench != "" {
			for _, name := range strings.Split(d.bench, "+") {
				c.cpuMs += r.cpuMs(name)
			}
			c.cpuFrom = d.bench
		}
		c.ddb = c.rrus*priceRRU + c.wrus*priceWRU
		if d.function != "" {
			mem := r.mem[d.function]
			c.lambdaBilled = lambdaMs(c.cpuMs, c.roundTrips, mem)
			c.lam = priceLambdaReq + c.lambdaBilled/1000*float64(mem)/1024*priceLambdaGBs*1e6
		}
		if d.apiGW {
			c.api = priceHTTPAPI
		}
		out = append(out, c)
	}
	return out
}

// cpuMs is a benchmark's median time in ms; the authorizer's come from the
// alternating runs (BenchmarkHotPath), steadier on a loaded machine than their own.
func (r *report) cpuMs(name string) float64 {
	switch name {
	case "AuthorizerPath/EdDSA":
		return r.b("HotPath/EdDSA").metric("path-ns/op") / 1e6
	}
	return r.b(name).ms()
}

func (r *report) targetsSection() string {
	t := &table{head: []string{"target", "measured", "verdict"}}
	a := r.ops["authorize"]
	t.add("authorize: ≤ 1 round trip", fmt.Sprintf("%d (%s)", a.RoundTrips, callNames(a)), metNot(a.RoundTrips <= 1))
	t.add("authorize: ≤ 1 RCU", fmt.Sprintf("%s RCU by the rules (DynamoDB Local reported %s)", f2(a.ExpectedRCU), f2(a.MeasuredRCU)), metNot(a.ExpectedRCU <= 1))
	t.add("authorize: 0 WCU", f2(a.ExpectedWCU), metNot(a.ExpectedWCU == 0))
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		b, hp := r.b("AuthorizerPath/"+alg), r.b("HotPath/"+alg)
		ratio := hp.metric("path/sig")
		t.add("authorizer CPU path within 1.5× of the signature check alone, "+alg,
			fmt.Sprintf("%s× (median of %d alternating runs, %s–%s; %s against %s µs)", f3(ratio), len(hp.metrics["path/sig"]),
				f3(minOf(hp.metrics["path/sig"])), f3(maxOf(hp.metrics["path/sig"])), f1(hp.metric("path-ns/op")/1e3), f1(hp.metric("sig-ns/op")/1e3)),
			metNot(ratio <= 1.5))
		t.add("authorizer CPU path ≤ 100 allocs, "+alg, fmt.Sprintf("%.0f allocs/op", b.allocs()), metNot(b.allocs() <= 100))
		if path := hp.metric("path-ns/op") / 1e3; alg != "RS256" {
			t.add("authorizer CPU path ≤ 70 µs, "+alg, fmt.Sprintf("%s µs (median of the alternating runs' medians)", f1(path)), metNot(path <= 70))
		}
	}
	// HS256 is refused by the service (a shared secret cannot be published in a JWKS):
	// the path less its token check (both from the alternating runs), plus golang-jwt's
	// whole HS256 verification.
	hp := r.b("HotPath/EdDSA")
	hs := (hp.metric("path-ns/op")-hp.metric("verify-ns/op"))/1e3 + r.b("VerifyGolangJWT/HS256").us()
	t.add("authorizer CPU path ≤ 25 µs with HS256 (hypothetical: the service refuses HS256)",
		fmt.Sprintf("%s µs estimated: the EdDSA path less its token check (%s µs), plus golang-jwt's HS256 verification (%s µs)",
			f1(hs), f1((hp.metric("path-ns/op")-hp.metric("verify-ns/op"))/1e3), f1(r.b("VerifyGolangJWT/HS256").us())),
		metNot(hs <= 25))
	var authBin int64
	for _, f := range r.startup.Functions {
		if f.Name == "authorizer" {
			authBin = f.SizeBytes
		}
	}
	t.add("authorizer binary ≤ 9 MiB stripped (arm64)", mib(authBin), metNot(authBin <= 9<<20))
	rf, reuse := r.ops["refresh"], r.ops["refresh_reuse"]
	t.add("refresh: 1 round trip, 1 WCU (happy path)", fmt.Sprintf("%d round trip, %s WCU", rf.RoundTrips, f2(rf.ExpectedWCU)), metNot(rf.RoundTrips == 1 && rf.ExpectedWCU <= 1 && rf.ExpectedRCU == 0))
	t.add("refresh: reuse detected in that same request", fmt.Sprintf("%s in one request: %d round trips (failed conditional UpdateItem returning the old item, then the revoking UpdateItem), %s WCU", reuse.Outcome, reuse.RoundTrips, f2(reuse.ExpectedWCU)), metNot(reuse.Outcome == "HTTP 401" && reuse.RoundTrips <= 2))
	l := r.ops["login"]
	t.add("login: ≤ 2 round trips", fmt.Sprintf("%d", l.RoundTrips), metNot(l.RoundTrips <= 2))
	t.add("login: ≤ 0.5 RCU + 1 WCU besides the hash", fmt.Sprintf("%s RCU + %s WCU by the rules (the counted attempt, then a transaction of 2 items at 2 WCU each; DynamoDB Local reported %s WCU)", f2(l.ExpectedRCU), f2(l.ExpectedWCU), f2(l.MeasuredWCU)), metNot(l.ExpectedRCU <= 0.5 && l.ExpectedWCU <= 1))
	lo := r.ops["logout"]
	t.add("logout: 1 round trip", fmt.Sprintf("%d", lo.RoundTrips), metNot(lo.RoundTrips == 1))
	maxBin, maxZip := int64(0), int64(0)
	for _, f := range r.startup.Functions {
		maxBin, maxZip = max(maxBin, f.SizeBytes), max(maxZip, f.ZipBytes)
	}
	t.add("every function: stripped arm64 binary ≤ 9 MiB", "largest "+mib(maxBin), metNot(maxBin <= 9<<20))
	t.add("every function: ≤ 3.5 MiB zipped", "largest "+mib(maxZip), metNot(maxZip <= 7<<19))
	var initAllocs int64
	for _, f := range r.startup.Functions {
		initAllocs = max(initAllocs, f.InitAllocs)
	}
	t.add("package-init allocations reported (GODEBUG=inittrace=1)", fmt.Sprintf("%d allocs at most (table below)", initAllocs), "reported")
	n := r.startup.Network
	t.add("no network call at init (key material in the environment)", fmt.Sprintf("%d AWS calls, %d connections through the proxy", n.AWSCalls, n.ProxyConns), metNot(n.AWSCalls == 0 && n.ProxyConns == 0))
	ssm := 0
	for _, s := range r.startup.SSMVariant {
		ssm = max(ssm, s.SSMRequests)
	}
	t.add("as deployed (key material in SSM): network at init", fmt.Sprintf("one SSM GetParameter per key set the function reads (at most %d), nothing else", ssm), "by design (see below)")
	return t.String()
}

// callNames lists an operation's DynamoDB calls.
func callNames(op results.Operation) string {
	var names []string
	for _, c := range op.Calls {
		names = append(names, c.Op)
	}
	return strings.Join(names, ", ")
}

func (r *report) ddbSection() string {
	t := &table{head: []string{"operation", "DynamoDB calls", "round trips", "HTTP attempts", "RCU (rules)", "WCU (rules)", "RCU / WCU reported by DynamoDB Local", "on-demand $ per million ops"}}
	for _, op := range r.cost.Operations {
		var names []string
		for _, c := range op.Calls {
			n := c.Op
			if c.Error != "" {
				n += " ✗"
			}
			names = append(names, n)
		}
		calls := strings.Join(names, ", ")
		if len(names) > 6 {
			calls = strings.Join(names[:4], ", ") + fmt.Sprintf(", … (%d more UpdateItem)", len(names)-4)
		}
		if calls == "" {
			calls = "none"
		}
		reported := f2(op.MeasuredRCU) + " / " + f2(op.MeasuredWCU)
		if op.Unreported > 0 {
			reported += fmt.Sprintf(" (%d call(s) reported nothing)", op.Unreported)
		}
		t.add(op.Name, calls, strconv.Itoa(op.RoundTrips), strconv.Itoa(op.HTTPAttempts), f2(op.ExpectedRCU), f2(op.ExpectedWCU), reported,
			money(op.ExpectedRCU*priceRRU+op.ExpectedWCU*priceWRU))
	}
	var b strings.Builder
	b.WriteString(t.String())
	b.WriteString("\n✗ = the call failed its condition (as intended), which DynamoDB still charges but answers without ConsumedCapacity.\n\n")
	b.WriteString("<details><summary>Every call, with the rule applied</summary>\n\n")
	ct := &table{head: []string{"operation", "call", "rule", "RCU", "WCU", "reported"}}
	for _, op := range r.cost.Operations {
		for _, c := range op.Calls {
			rep := "nothing"
			if c.Reported {
				rep = c.Raw
			}
			ct.add(op.Name, c.Op, c.Rule, f2(c.ExpectedRCU), f2(c.ExpectedWCU), rep)
		}
	}
	b.WriteString(ct.String())
	b.WriteString("\n</details>\n")
	return b.String()
}

func (r *report) probesSection() string {
	t := &table{head: []string{"request", "DynamoDB Local reported", "documented rules", "agrees"}}
	for _, p := range r.cost.Probes {
		local := "nothing (" + p.Detail + ")"
		if p.Local >= 0 {
			local = f2(p.Local) + " (" + p.Detail + ")"
		}
		agree := "yes"
		if p.Local != p.Rules {
			agree = "**no**"
		}
		t.add(p.Case, local, f2(p.Rules)+": "+p.Note, agree)
	}
	return t.String()
}

func (r *report) itemsSection() string {
	t := &table{head: []string{"item", "size (DynamoDB's rules)", "note"}}
	for _, it := range r.cost.ItemSizes {
		t.add(it.Item, fmt.Sprintf("%d B", it.Bytes), it.Note)
	}
	return t.String()
}

func (r *report) cpuSection() string {
	rows := []struct{ name, what string }{
		{"AuthorizerPath/EdDSA", "authorizer as Lambda runs it (Invoke): event bytes in, response bytes out"},
		{"AuthorizerPath/ES256", ""},
		{"AuthorizerPath/RS256", ""},
		{"AuthorizerPathTyped", "the same through aws-lambda-go's typed handler (before Invoke; EdDSA)"},
		{"Verify/EdDSA", "token.Verifier.Verify"},
		{"Verify/ES256", ""},
		{"Verify/RS256", ""},
		{"VerifyGolangJWT/HS256", "golang-jwt parser alone"},
		{"VerifyGolangJWT/EdDSA", ""},
		{"VerifyGolangJWT/ES256", ""},
		{"VerifyGolangJWT/RS256", ""},
		{"Mint/EdDSA", "mint an access token"},
		{"Mint/ES256", ""},
		{"Mint/RS256", ""},
		{"RefreshTokenHash", "SHA-256 of a refresh token"},
		{"RefreshChildDerivation", "HMAC-SHA256 child secret"},
		{"RefreshTokenWork", "parse + hash + derive + hash (refresh before its write)"},
		{"ServiceRefresh/EdDSA", "Service.Refresh, store stubbed (includes minting)"},
		{"ServiceRefresh/ES256", ""},
		{"ServiceRefresh/RS256", ""},
		{"Argon2idOWASP/Verify", "argon2id m=19 MiB, t=2, p=1: verify (one login)"},
		{"Argon2idOWASP/Hash", "argon2id: hash (account creation, password change)"},
		{"ServiceLogin", "Service.Login, store stubbed (argon2id + minting)"},
	}
	t := &table{head: []string{"benchmark", "what", "time/op (median)", "B/op", "allocs/op", "runs"}}
	for _, row := range rows {
		b := r.b(row.name)
		if len(b.ns) == 0 {
			continue
		}
		tm := f1(b.us()) + " µs"
		if b.us() >= 1000 {
			tm = f2(b.ms()) + " ms"
		} else if b.us() < 1 {
			tm = f1(median(b.ns)) + " ns"
		}
		t.add("`"+row.name+"`", row.what, tm, fmt.Sprintf("%.0f", b.bytesOp()), fmt.Sprintf("%.0f", b.allocs()), strconv.Itoa(len(b.ns)))
	}
	return t.String()
}

// hotPathSection is BenchmarkHotPath: its four sides, alternated iteration by
// iteration, and each run's ratio of the whole path to the signature check.
func (r *report) hotPathSection() string {
	t := &table{head: []string{"algorithm", "whole path", "token check (Verify)", "signature alone", "path / signature", "each run", "allocs of the path"}}
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		hp := r.b("HotPath/" + alg)
		var each []string
		for _, v := range hp.metrics["path/sig"] {
			each = append(each, f3(v))
		}
		us := func(unit string) string { return f1(hp.metric(unit)/1e3) + " µs" }
		t.add(alg, us("path-ns/op"), us("verify-ns/op"), us("sig-ns/op"), "**"+f3(hp.metric("path/sig"))+"×**",
			strings.Join(each, ", "), fmt.Sprintf("%.0f", r.b("AuthorizerPath/"+alg).allocs()))
	}
	return t.String()
}

func (r *report) e2eSection() string {
	t := &table{head: []string{"operation", "concurrency", "requests / run", "throughput (req/s)", "p50", "p95", "p99", "errors", "throughput of each run"}}
	for _, run := range r.e2e.Runs {
		var all []string
		for _, v := range run.AllRPS {
			all = append(all, fmt.Sprintf("%.0f", v))
		}
		t.add(run.Op, strconv.Itoa(run.Concurrency), strconv.Itoa(run.Requests), fmt.Sprintf("%.0f", run.Throughput),
			f2(run.P50ms)+" ms", f2(run.P95ms)+" ms", f2(run.P99ms)+" ms", strconv.Itoa(run.Errors), strings.Join(all, ", "))
	}
	return fmt.Sprintf("%s; each row is the median-throughput run of %d.\n\n%s", r.e2e.Server, r.e2e.Repeats, t.String())
}

func (r *report) startupSection() string {
	var b strings.Builder
	t := &table{head: []string{"function", "bootstrap (arm64)", "zipped", "≤ 9 MiB / ≤ 3.5 MiB", "exec → ready, median (p90, min)", "package inits: clock", "allocs", "bytes", "AWS calls at init"}}
	for _, f := range r.startup.Functions {
		t.add(f.Name, mib(f.SizeBytes), mib(f.ZipBytes), fmt.Sprintf("%s / %s", yesNo(f.SizeBytes <= 9<<20), yesNo(f.ZipBytes <= 7<<19)),
			fmt.Sprintf("%s ms (%s, %s) over %d starts", f2(f.ReadyMedian), f2(f.ReadyP90), f2(f.ReadyMin), f.Runs),
			f1(f.InitClockMs)+" ms", strconv.FormatInt(f.InitAllocs, 10), fmt.Sprintf("%.0f KiB", float64(f.InitBytes)/1024), strconv.Itoa(f.AWSCalls))
	}
	fmt.Fprintf(&b, "Sizes: %s. Start-up: %s.\n\n%s\n", r.startup.Build, r.startup.RunArch, t.String())
	if len(r.startup.Functions) > 0 {
		fmt.Fprintf(&b, "Package inits that allocate most (%s): %s.\n\n", r.startup.Functions[0].Name, r.startup.Functions[0].TopInit)
	}
	n := r.startup.Network
	fmt.Fprintf(&b, "Network at init, key material in the environment (%s): %d AWS call(s), %d connection(s) through the HTTP(S) proxy.\n\n", n.Method, n.AWSCalls, n.ProxyConns)
	sv := &table{head: []string{"function, key material in SSM (as deployed; internal/awsstub on loopback)", "SSM GetParameter per start", "exec → ready, median"}}
	for _, s := range r.startup.SSMVariant {
		sv.add(s.Function, strconv.Itoa(s.SSMRequests), f2(s.ReadyMedian)+" ms")
	}
	b.WriteString(sv.String())
	for _, note := range r.startup.Notes {
		b.WriteString("\n" + note + "\n")
	}
	return b.String()
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func (r *report) baselinesSection() string {
	hp := r.b("HotPath/EdDSA")
	rows := []struct{ name, key, unit string }{
		{"stateless JWT (verify only, no revocation)", "stateless", "verify-ns/op"},
		{"this service", "authorize", "path-ns/op"},
		{"classic server-side session (GetItem + UpdateItem last-seen)", "classic", ""},
	}
	ours := r.ops["authorize"]
	od := ours.ExpectedRCU*priceRRU + ours.ExpectedWCU*priceWRU
	t := &table{head: []string{"protected request, done as", "round trips", "RCU", "WCU", "DynamoDB $ per million requests", "CPU per request (µs, no DynamoDB; EdDSA, alternating)", "DynamoDB $ vs ours"}}
	for _, rw := range rows {
		op := r.ops[rw.key]
		cpu := "not benchmarked (its own code is trivial)"
		if rw.unit != "" {
			cpu = f1(hp.metric(rw.unit) / 1e3)
			if rw.key != "authorize" {
				cpu += fmt.Sprintf(" (%s× ours)", f2(hp.metric(rw.unit)/hp.metric("path-ns/op")))
			}
		}
		d := op.ExpectedRCU*priceRRU + op.ExpectedWCU*priceWRU
		t.add(rw.name, strconv.Itoa(op.RoundTrips), f2(op.ExpectedRCU), f2(op.ExpectedWCU), money(d), cpu, f2(d/od)+"×")
	}
	return t.String()
}

func (r *report) moneySection() string {
	t := &table{head: []string{"operation", "RRU", "WRU", "DynamoDB", "modelled Lambda duration (memory)", "Lambda (requests + duration)", "API Gateway HTTP API", "total per million"}}
	for _, c := range r.opCosts() {
		lam := "—"
		if c.function != "" {
			lam = fmt.Sprintf("%.0f ms (%d MB)", c.lambdaBilled, r.mem[c.function])
		}
		t.add(c.name, f2(c.rrus), f2(c.wrus), money(c.ddb), lam, money(c.lam), money(c.api), "**"+money(c.ddb+c.lam+c.api)+"**")
	}
	return t.String()
}

// usage is the busy user-month both month tables model.
type usage struct {
	activeS                            float64 // seconds of activity a month
	every                              float64 // seconds between protected requests
	protected, refreshes, logins, outs float64 // per month
}

func busyMonth() usage {
	const days = 30.0
	active := 8 * 3600 * days
	return usage{activeS: active, every: 10, protected: active / 10, refreshes: 8 * 4 * days, logins: days, outs: days}
}

// costs indexes opCosts by name; all and ddb are $ per operation (everything, and
// DynamoDB only), lam the authorizer-style part that a cached decision saves (Lambda
// and DynamoDB, not API Gateway).
type costs map[string]opCost

func (c costs) all(name string) float64   { o := c[name]; return (o.ddb + o.lam + o.api) / 1e6 }
func (c costs) ddb(name string) float64   { return c[name].ddb / 1e6 }
func (c costs) saved(name string) float64 { o := c[name]; return (o.ddb + o.lam) / 1e6 }

func (r *report) costs() costs {
	m := costs{}
	for _, c := range r.opCosts() {
		m[c.name] = c
	}
	return m
}

const (
	opAuthorize = "authorize (per protected request)"
	opClassic   = "classic session lookup (baseline, per request)"
	opStateless = "stateless JWT (baseline, API Gateway's built-in JWT authorizer)"
)

// session is what logins, refreshes and logouts cost a user-month: everything, and
// the DynamoDB part.
func (u usage) session(c costs) (all, ddb float64) {
	all = u.logins*c.all("login") + u.refreshes*c.all("refresh") + u.outs*c.all("logout")
	ddb = u.logins*c.ddb("login") + u.refreshes*c.ddb("refresh") + u.outs*c.ddb("logout")
	return all, ddb
}

// accountUse is the assumed monthly use of the account routes: a device list and a
// reauthentication a week, one password change, one session signed out and one
// "log out others" a month.
var accountUse = []struct {
	op string
	n  float64
}{
	{"device list (5 sessions)", 4}, {"reauthenticate", 4}, {"password change (5 sessions)", 1},
	{"sign out one session", 1}, {"logout others (5 sessions)", 1},
}

func (r *report) monthSection() string {
	u, c := busyMonth(), r.costs()
	session, sessionDDB := u.session(c)
	var account, accountDDB float64
	for _, a := range accountUse {
		account += a.n * c.all(a.op)
		accountDDB += a.n * c.ddb(a.op)
	}
	t := &table{head: []string{"design", "per user-month: DynamoDB", "per user-month: everything (DynamoDB + Lambda model + API Gateway)", "per 10,000 active users"}}
	ours := u.protected*c.all(opAuthorize) + session
	oursDDB := u.protected*c.ddb(opAuthorize) + sessionDDB
	classic := u.protected*c.all(opClassic) + u.logins*c.all("login") + u.outs*c.all("logout")
	classicDDB := u.protected*c.ddb(opClassic) + u.logins*c.ddb("login") + u.outs*c.ddb("logout")
	stateless := u.protected*c.all(opStateless) + u.logins*c.all("login") + u.refreshes*c.all("refresh")
	statelessDDB := u.logins*c.ddb("login") + u.refreshes*c.ddb("refresh")
	t.add("this service", money(oursDDB), money(ours), money(ours*1e4))
	t.add("this service, with the account routes used as stated above", money(oursDDB+accountDDB), money(ours+account), money((ours+account)*1e4))
	t.add("classic server-side session in DynamoDB (Lambda authorizer, same login/logout)", money(classicDDB), money(classic), money(classic*1e4))
	t.add("stateless JWT, API Gateway JWT authorizer (no revocation; logins/refreshes as ours)", money(statelessDDB), money(stateless), money(stateless*1e4))
	var uses []string
	for _, a := range accountUse {
		uses = append(uses, fmt.Sprintf("%s × %.0f", a.op, a.n))
	}
	return fmt.Sprintf("Usage model: active 8 h a day, 30 days; a protected request every %.0f s (%.0f a month), a refresh every 15 min (%.0f), one login and one logout a day (%.0f each). The account routes, where counted: %s a month (%s).\n\n%s",
		u.every, u.protected, u.refreshes, u.logins, strings.Join(uses, ", "), money(account), t.String())
}

// cacheTTLs are the AuthorizerCacheTtl settings the curve compares.
var cacheTTLs = []float64{0, 60, 300}

// curveSection sets the worst-case time a revoked access token keeps working against
// the cost of the busy user-month, for API Gateway's authorizer cache settings and
// the baselines. With a TTL of T seconds API Gateway reuses a decision per
// Authorization header for T seconds, so the authorizer (its Lambda and its DynamoDB
// read) runs once per T of activity instead of once per request; API Gateway still
// charges every request. Each revocation marks the session item the authorizer reads,
// so the decision is stale for at most T.
func (r *report) curveSection() string {
	u, c := busyMonth(), r.costs()
	session, sessionDDB := u.session(c)
	accessTTL := config.DefaultAccessTokenTTL
	t := &table{head: []string{"design and setting", "a revoked access token keeps working, at worst", "authorizer runs per user-month", "per user-month: DynamoDB", "per user-month: everything", "per 10,000 active users"}}
	classic := u.protected*c.all(opClassic) + u.logins*c.all("login") + u.outs*c.all("logout")
	classicDDB := u.protected*c.ddb(opClassic) + u.logins*c.ddb("login") + u.outs*c.ddb("logout")
	t.add("classic server-side session in DynamoDB", "0 (the next request)", fmt.Sprintf("%.0f", u.protected), money(classicDDB), money(classic), money(classic*1e4))
	for _, ttl := range cacheTTLs {
		runs := u.protected
		if ttl > u.every {
			runs = u.activeS / ttl
		}
		all := runs*c.saved(opAuthorize) + u.protected*priceHTTPAPI/1e6 + session
		ddb := runs*c.ddb(opAuthorize) + sessionDDB
		name, late := fmt.Sprintf("this service, `AuthorizerCacheTtl` %.0f", ttl), fmt.Sprintf("%.0f s", ttl)
		if fmt.Sprintf("%.0f", ttl) == r.ttlDef {
			name += " (the default)"
		}
		if ttl == 0 {
			late = "0 (the next request)"
		}
		t.add(name, late, fmt.Sprintf("%.0f", runs), money(ddb), money(all), money(all*1e4))
	}
	stateless := u.protected*c.all(opStateless) + u.logins*c.all("login") + u.refreshes*c.all("refresh")
	statelessDDB := u.logins*c.ddb("login") + u.refreshes*c.ddb("refresh")
	t.add(fmt.Sprintf("stateless JWT, API Gateway JWT authorizer, our %.0f-min access tokens", accessTTL.Minutes()), fmt.Sprintf("%.0f min (the access token's lifetime)", accessTTL.Minutes()), "0", money(statelessDDB), money(stateless), money(stateless*1e4))
	for _, cg := range []struct {
		tier  string
		price float64
	}{{"Lite", priceCognitoLiteMAU}, {"Essentials", priceCognitoEssentialsMAU}} {
		all := cg.price + u.protected*priceHTTPAPI/1e6
		t.add(fmt.Sprintf("Cognito %s ($%g per MAU) + API Gateway JWT authorizer", cg.tier, cg.price), fmt.Sprintf("%.0f min (Cognito's default access token lifetime)", cognitoAccessTTL.Minutes()),
			"0", "$0", money(all), money(all*1e4))
	}
	return fmt.Sprintf("The busy user-month of the table above (%.0f protected requests, %.0f s apart, over %.0f h of activity); this service's logins, refreshes and logouts as there (%s). With a TTL of T s the authorizer runs once per T s of activity and access token (%.0f s ÷ T; a token lives %.0f s, a multiple of each T here), at most once per request. Each run costs the measured `authorize` (DynamoDB %s + modelled Lambda %s per million); API Gateway's %s per million is charged for every request, cached or not.\n\n%s",
		u.protected, u.every, u.activeS/3600, money(session), u.activeS, accessTTL.Seconds(), money(c[opAuthorize].ddb), money(c[opAuthorize].lam), money(priceHTTPAPI), t.String())
}
