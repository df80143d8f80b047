package history

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/testddb"
)

// The long configurations run through `make check-history SEED=… OPS=…`, which passes
// these flags; `go test` alone runs the short one.
var (
	seedFlag    = flag.Int64("history.seed", 1, "seed of the workload's choices and of the faults")
	opsFlag     = flag.Int("history.ops", 240, "client operations")
	usersFlag   = flag.Int("history.users", 3, "accounts")
	clientsFlag = flag.Int("history.clients", 3, "devices per account")
	faultsFlag  = flag.Float64("history.faults", 0.1, "share of DynamoDB requests that get a fault")
	wallFlag    = flag.Duration("history.wall", 90*time.Second, "bound on the workload's wall-clock time")
)

func TestMain(m *testing.M) { testddb.Main(m) }

// known are the violations found and not fixed yet: the main check accepts them (so it
// still finds any other), and each has a reproduction in known_test.go that fails until
// it is fixed. The five found so far are fixed (known_test.go's tests pass), so none is
// tolerated.
var known Deviation

// htmlDir is where porcupine's visualisations of violations go: .cache/history/ at
// the repository's root.
func htmlDir(tb testing.TB) string {
	root, err := samtemplate.FindRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(root, ".cache", "history")
}

// check runs the workload and checks its history.
func check(t *testing.T, cfg config) (Report, *run) {
	t.Helper()
	start := time.Now()
	hist, r := workload(t, cfg)
	took := time.Since(start)
	rep := Check(hist, CheckOptions{
		Timeout: 5 * time.Minute,
		HTMLDir: htmlDir(t), Name: fmt.Sprintf("%s-seed%d", fileName(t.Name()), cfg.seed),
	})
	t.Logf("seed %d: %d client operations in %d rounds (%s, service clock +%ds), %d users × %d devices, fault rate %.2f; "+
		"%d operations checked in %s: %d violations, %d undecided",
		cfg.seed, r.clientOps.Load(), r.round, took.Round(time.Millisecond), r.clock-r.p.Epoch, cfg.users, cfg.clients, cfg.faultRate,
		rep.Ops, rep.CheckTime.Round(time.Millisecond), len(rep.Violations), len(rep.Undecided))
	t.Logf("faults injected: %v", r.w.counts)
	t.Logf("outcomes: %s", outcomes(r.outcomes))
	return rep, r
}

// fileName keeps letters, digits and dashes of a test name, at most 80 of them.
func fileName(name string) string {
	b := []byte(name)
	out := b[:0]
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			out = append(out, c)
		case c == '_' || c == '/':
			if len(out) > 0 && out[len(out)-1] != '-' {
				out = append(out, '-')
			}
		}
	}
	return string(out[:min(len(out), 80)])
}

func outcomes(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// TestConcurrentHistoriesAreLinearizable runs devices of several accounts at once
// against the wired App (login, refresh with current and old tokens, logout of one,
// the others or all, the device list's sign-out, password changes, the authorizer),
// with faults under the SDK, and checks that some order of the operations, each
// applied at once, explains every answer.
func TestConcurrentHistoriesAreLinearizable(t *testing.T) {
	cfg := config{
		seed: *seedFlag, ops: *opsFlag, users: *usersFlag, clients: *clientsFlag,
		faultRate: *faultsFlag, wall: *wallFlag, opTimeout: time.Second, tolerate: known,
	}
	if cfg.clients > 10 {
		// Each round's operations of one user are explained by trying their orders
		// (at most 63 of them).
		t.Fatalf("-history.clients=%d: at most 10 devices per account", cfg.clients)
	}
	rep, r := check(t, cfg)
	for _, p := range r.problems {
		t.Errorf("the workload refused an answer: %s", p)
	}
	for _, v := range rep.Violations {
		t.Errorf("not linearizable (visualised in %v):\n%s", v.Files, v.Text)
	}
	if len(rep.Undecided) > 0 {
		t.Errorf("the checker ran out of time on %v: neither passed nor failed", rep.Undecided)
	}
	if r.clientOps.Load() < int64(cfg.ops) {
		t.Errorf("only %d of %d client operations within %s", r.clientOps.Load(), cfg.ops, cfg.wall)
	}
}

// TestTheCheckerFindsAPlantedBug plants bugs in the storage writes (by rewriting the
// requests on the wire, so the service's code runs unchanged) and requires the
// checker to find each from the answers alone; and the same workloads without the
// bug pass, so what it finds is the bug.
func TestTheCheckerFindsAPlantedBug(t *testing.T) {
	type workloadShape struct {
		ops, clients int
		logoutAll    float64 // extra share of steps (see config)
		// attempts bounds the workloads (seeds 7, 8, …) run to find the bug: a race
		// shows it only in some histories.
		attempts int
	}
	rotation := workloadShape{ops: 150, clients: 3, attempts: 1}
	// Logouts everywhere send every device of the account to log in again at once,
	// below the cap: the race the cap's condition decides. One such history of 400
	// operations shows the bug about 36 times in 37, so up to three are run.
	cap := workloadShape{ops: 400, clients: 6, logoutAll: 0.15, attempts: 3}
	for _, tc := range []struct {
		name     string
		mutation mutation
		shape    workloadShape
		// An answer the violation must need: one the bug makes, which the model
		// forbids (nil: the workload must pass).
		want func(Op) bool
	}{
		{"a rotation that forgets its condition lets old and revoked tokens refresh", unconditionalRotation{}, rotation,
			func(op Op) bool { return op.In.Kind == Refresh && op.Out.Status == 200 }},
		// The extra sessions' logins come before the failing round; what fails is an
		// answer that needs more live sessions than the cap leaves.
		{"a login that forgets the session cap's condition leaves more live sessions than the cap", uncappedLogins{}, cap,
			func(op Op) bool { return op.Out.Status == 200 || op.Out.Status == 204 || op.Out.Allowed }},
		{"without a planted bug the rotation workload passes", nil, rotation, nil},
		{"without a planted bug the session cap workload passes", nil, cap, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attempt := func(seed int64) (Report, *run) {
				return check(t, config{
					seed: seed, ops: tc.shape.ops, users: 1, clients: tc.shape.clients, logoutAll: tc.shape.logoutAll,
					mutation: tc.mutation, wall: 90 * time.Second, opTimeout: time.Second, tolerate: known,
				})
			}
			rep, r := attempt(7)
			if tc.want == nil {
				for _, v := range rep.Violations {
					t.Errorf("a violation without a planted bug:\n%s", v.Text)
				}
				for _, p := range r.problems {
					t.Errorf("the workload refused an answer: %s", p)
				}
				return
			}
			for seed := int64(8); len(rep.Violations) == 0 && seed < 7+int64(tc.shape.attempts); seed++ {
				rep, _ = attempt(seed)
			}
			if len(rep.Violations) == 0 {
				t.Fatalf("the checker found no violation in %d histories of the planted bug", tc.shape.attempts)
			}
			v := rep.Violations[0]
			t.Logf("found:\n%s", v.Text)
			if !slices.ContainsFunc(v.Witness, func(op Op) bool { return !op.Aside && tc.want(op) }) {
				t.Errorf("the violation needs none of the answers the bug makes")
			}
			for _, f := range v.Files {
				if st, err := os.Stat(f); err != nil || st.Size() == 0 {
					t.Errorf("visualisation %s not written: %v", f, err)
				}
			}
			if len(v.Files) != 2 {
				t.Errorf("visualisations written: %v, want the witness and the failing prefix", v.Files)
			}
		})
	}
}
