// Command e2e is the load generator of `make bench`: it drives the local server
// (go run ./local) over HTTP on loopback and reports throughput and latency
// percentiles of authorize (GET /me through the Lambda authorizer), refresh and login
// at several concurrencies, each a fixed number of requests (see BENCHMARKS.md).
//
//	e2e -base http://127.0.0.1:PORT -endpoint http://127.0.0.1:DDBPORT -table NAME
//
// It first creates its users directly in the server's table (one argon2id hash,
// shared, so seeding is quick), then runs every phase -repeats times and keeps the
// run with the median throughput. It sends traffic only to -base, which must be a
// loopback address, and stops after a bounded number of requests.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/example/sessions/internal/session"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/password"
)

const pw = "correct horse battery staple"

func main() {
	base := flag.String("base", "", "base URL of the local server (loopback only)")
	endpoint := flag.String("endpoint", os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), "DynamoDB Local endpoint the server uses")
	table := flag.String("table", os.Getenv("TABLE_NAME"), "the server's table")
	conc := flag.String("concurrency", "1,8,64", "comma-separated concurrency levels")
	nAuth := flag.Int("authorize", 2000, "GET /me requests per level and run")
	nRefresh := flag.Int("refresh", 1000, "refresh requests per level and run")
	nLogin := flag.Int("login", 64, "login requests per level and run")
	repeats := flag.Int("repeats", 3, "runs per level and operation (the median is kept)")
	out := flag.String("out", "bench/results/e2e.json", "where to write the JSON results")
	flag.Parse()
	levels, err := parseLevels(*conc)
	if err == nil {
		err = run(*base, *endpoint, *table, levels, *nAuth, *nRefresh, *nLogin, *repeats, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

func parseLevels(s string) ([]int, error) {
	var levels []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("bad concurrency %q", f)
		}
		levels = append(levels, n)
	}
	return levels, nil
}

// loopbackOnly refuses any base URL that is not on this machine's loopback.
func loopbackOnly(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-base %s is not a loopback address", base)
	}
	return nil
}

type client struct {
	base string
	hc   *http.Client
}

type grant struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (c *client) post(path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	resp, err := c.hc.Post(c.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func (c *client) me(at string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, c.base+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (c *client) login(user string) (grant, int, error) {
	code, data, err := c.post("/auth/login", map[string]string{"username": user, "password": pw})
	var g grant
	if err == nil && code == http.StatusOK {
		err = json.Unmarshal(data, &g)
	}
	return g, code, err
}

func (c *client) refresh(rt string) (grant, int, error) {
	code, data, err := c.post("/auth/refresh", map[string]string{"refresh_token": rt})
	var g grant
	if err == nil && code == http.StatusOK {
		err = json.Unmarshal(data, &g)
	}
	return g, code, err
}

func userName(i int) string { return fmt.Sprintf("bench-%03d@example.com", i) }

// seed creates the users in the server's table, as every account is created
// (session.Service.CreateUser).
func seed(ctx context.Context, endpoint, table string, n int) error {
	c := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true,
	})
	svc := session.New(session.Deps{Store: ddb.New(c, table), Password: password.OWASP, Log: slog.New(slog.DiscardHandler)})
	for i := range n {
		_, err := svc.CreateUser(ctx, userName(i), pw, "")
		if err != nil && !errors.Is(err, session.ErrExists) {
			return err
		}
	}
	return nil
}

// worker holds one simulated client's tokens.
type worker struct {
	user string
	g    grant
}

// phase runs n requests of op spread over len(ws) goroutines and returns the sorted
// latencies, the error count and the wall time.
func phase(ws []*worker, n int, op func(w *worker) (int, error), want int) ([]float64, int, time.Duration) {
	var next atomic.Int64
	var errs atomic.Int64
	lat := make([][]float64, len(ws))
	var wg sync.WaitGroup
	start := time.Now()
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				code, err := op(w)
				lat[i] = append(lat[i], float64(time.Since(t0).Microseconds())/1000)
				if err != nil || code != want {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	var all []float64
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Float64s(all)
	return all, int(errs.Load()), wall
}

func pct(d []float64, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p/100+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}

func run(base, endpoint, table string, levels []int, nAuth, nRefresh, nLogin, repeats int, out string) error {
	if err := loopbackOnly(base); err != nil {
		return err
	}
	if endpoint == "" || table == "" {
		return errors.New("-endpoint and -table are required (to create the users)")
	}
	maxC := 0
	for _, c := range levels {
		maxC = max(maxC, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := seed(ctx, endpoint, table, maxC); err != nil {
		return fmt.Errorf("seeding users: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 512, 512
	tr.Proxy = nil
	c := &client{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}

	var res results.E2E
	res.Server = "The local server (./local, built as a binary: the real handlers and Lambda authorizer behind internal/gateway) against DynamoDB Local, on loopback"
	res.Repeats = repeats

	mkWorkers := func(n int) []*worker {
		ws := make([]*worker, n)
		for i := range ws {
			ws[i] = &worker{user: userName(i)}
		}
		return ws
	}
	loginOp := func(w *worker) (int, error) {
		g, code, err := c.login(w.user)
		if code == http.StatusOK {
			w.g = g
		}
		return code, err
	}
	meOp := func(w *worker) (int, error) { return c.me(w.g.AccessToken) }
	refreshOp := func(w *worker) (int, error) {
		g, code, err := c.refresh(w.g.RefreshToken)
		if code == http.StatusOK {
			w.g = g
		}
		return code, err
	}

	// Warm-up: JIT of DynamoDB Local, connection pools, the server's dummy hash.
	warm := mkWorkers(8)
	if _, errs, _ := phase(warm, 16, loginOp, http.StatusOK); errs > 0 {
		return fmt.Errorf("warm-up logins failed (%d errors)", errs)
	}
	phase(warm, 300, meOp, http.StatusOK)
	phase(warm, 150, refreshOp, http.StatusOK)

	type opDef struct {
		name string
		n    int
		fn   func(*worker) (int, error)
	}
	ops := []opDef{{"login", nLogin, loginOp}, {"authorize (GET /me)", nAuth, meOp}, {"refresh", nRefresh, refreshOp}}
	for _, level := range levels {
		ws := mkWorkers(level)
		for _, w := range ws { // every worker needs a session before me and refresh
			if code, err := loginOp(w); err != nil || code != http.StatusOK {
				return fmt.Errorf("login for %s: %d %v", w.user, code, err)
			}
		}
		for _, op := range ops {
			n := max(op.n, level)
			var runs []results.E2ERun
			for range repeats {
				lat, errs, wall := phase(ws, n, op.fn, http.StatusOK)
				runs = append(runs, results.E2ERun{
					Op: op.name, Concurrency: level, Requests: n, Errors: errs, Seconds: wall.Seconds(),
					Throughput: float64(n) / wall.Seconds(), P50ms: pct(lat, 50), P95ms: pct(lat, 95), P99ms: pct(lat, 99),
				})
			}
			sort.Slice(runs, func(i, j int) bool { return runs[i].Throughput < runs[j].Throughput })
			med := runs[len(runs)/2]
			for _, r := range runs {
				med.AllRPS = append(med.AllRPS, r.Throughput)
				if r.Errors > med.Errors {
					med.Errors = r.Errors // report the worst run's errors
				}
			}
			res.Runs = append(res.Runs, med)
			fmt.Fprintf(os.Stderr, "e2e: %-20s c=%-3d n=%-5d %7.0f req/s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  errors %d\n",
				op.name, level, n, med.Throughput, med.P50ms, med.P95ms, med.P99ms, med.Errors)
		}
	}
	return results.Write(out, res)
}
