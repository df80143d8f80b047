package history

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Op is one recorded operation.
type Op struct {
	In  Input
	Out Output
	// Call and Return are nanoseconds since the run started. An operation whose outcome
	// is unknown returns at the end of its round: the workload waits for every request
	// to reach the table and finish before it moves the clock, so nothing it did can
	// land later.
	Call, Return int64
	Round        int
	Note         string // the HTTP status and the faults its DynamoDB requests met
	// Aside marks an operation whose answer a violation's explanation set aside
	// (replaced by "unknown"): the violation does not need it.
	Aside bool
	seen  Output // the answer set aside
}

// History is what a run recorded.
type History struct {
	Params    Params
	Passwords map[string]string // each user's password label when the run started
	Ops       []Op
}

// CheckOptions bound a check.
type CheckOptions struct {
	// Timeout bounds porcupine on one user's history (0: none). A check that runs out
	// is reported as undecided, never as passed.
	Timeout time.Duration
	// HTMLDir, if set, receives porcupine's visualisation of each violation.
	HTMLDir string
	Name    string // prefix of the HTML files
}

// Violation is one user's history that no order of its operations explains.
type Violation struct {
	User string
	Ops  int // operations of the user's history
	// Rounds is the shortest failing prefix, in rounds; Witness its smallest failing
	// part: the operations of its last round, started from every state the rounds
	// before can leave (Start), with the answers it does not need set aside.
	Rounds  int
	Start   []string
	Witness []Op
	Text    string   // all of it, readable
	Files   []string // HTML written

	from []*state
}

// Report is the outcome of a check.
type Report struct {
	Users, Ops int
	Violations []Violation
	Undecided  []string // users whose check ran out of time
	CheckTime  time.Duration
}

// Check checks every user's history for linearizability against the model.
func Check(h History, o CheckOptions) Report {
	start := time.Now()
	byUser := map[string][]Op{}
	for _, op := range h.Ops {
		byUser[op.In.User] = append(byUser[op.In.User], op)
	}
	users := make([]string, 0, len(byUser))
	for u := range byUser {
		users = append(users, u)
	}
	slices.Sort(users)
	r := Report{Users: len(users), Ops: len(h.Ops)}
	for _, u := range users {
		ops := byUser[u]
		slices.SortStableFunc(ops, func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
		c := checker{p: h.Params, init: []*state{initial(h.Passwords[u])}, timeout: o.Timeout}
		switch c.result(c.init, ops) {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			r.Undecided = append(r.Undecided, u)
			continue
		}
		v := c.explain(u, ops)
		if o.HTMLDir != "" {
			v.Files = c.visualize(o.HTMLDir, fmt.Sprintf("%s-%s", o.Name, u), ops, v)
		}
		r.Violations = append(r.Violations, v)
	}
	r.CheckTime = time.Since(start)
	return r
}

type checker struct {
	p       Params
	init    []*state
	timeout time.Duration
}

func operations(ops []Op) []porcupine.Operation {
	out := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		out[i] = porcupine.Operation{ClientId: op.In.Client, Input: op.In, Output: op.Out, Call: op.Call, Return: op.Return, Metadata: op.Note}
	}
	return out
}

func (c *checker) result(from []*state, ops []Op) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(c.p.porcupine(from), operations(ops), c.timeout)
}

// rounds splits a user's operations (sorted by call) into its rounds, in order.
func rounds(ops []Op) [][]Op {
	var out [][]Op
	for i := 0; i < len(ops); {
		j := i
		for j < len(ops) && ops[j].Round == ops[i].Round {
			j++
		}
		out = append(out, ops[i:j])
		i = j
	}
	return out
}

// explain finds the smallest failing part of a history, soundly: each step keeps a
// history that fails only if the original does.
//
//  1. The states the account can be in after each round, exactly: every order of the
//     round's operations their real-time order allows, from every state after the
//     round before (a round's operations start after every operation of the rounds
//     before returned). The first round that leaves no state is the failing one.
//  2. That round alone, from the states before it, fails; authorizer decisions (which
//     change nothing) are dropped from it and answers replaced by "unknown" (which
//     allows more) while it still fails.
func (c *checker) explain(user string, ops []Op) Violation {
	rs := rounds(ops)
	from := c.init
	k := 0
	for ; k < len(rs); k++ {
		next := c.reach(from, rs[k])
		if len(next) == 0 {
			break
		}
		from = next
	}
	if k == len(rs) {
		// porcupine and the round-by-round search disagree: a fault of this package.
		return Violation{User: user, Ops: len(ops), Text: fmt.Sprintf("user %s: porcupine finds no order, "+
			"but every round has one: the checker is inconsistent", user)}
	}
	illegal := func(w []Op) bool { return len(c.reach(from, w)) == 0 }
	witness := slices.Clone(rs[k])
	for i := 0; i < len(witness); {
		if witness[i].In.Kind == Authorize {
			if cand := slices.Delete(slices.Clone(witness), i, i+1); illegal(cand) {
				witness = cand
				continue
			}
		}
		i++
	}
	for i, op := range witness {
		// A login's session keeps its ID only through the answer, so that answer stays.
		if op.Out.Status == Unknown || (op.In.Kind == LoginOpen && op.Out.Status == 200) {
			continue
		}
		cand := slices.Clone(witness)
		cand[i].Out, cand[i].Aside, cand[i].seen = Output{Status: Unknown, Ambiguous: true}, true, op.Out
		if illegal(cand) {
			witness = cand
		}
	}
	v := Violation{User: user, Ops: len(ops), Rounds: k + 1, Witness: witness, from: from}
	for _, s := range from {
		v.Start = append(v.Start, c.p.describeState(s))
	}
	v.Text = c.text(v, rs[k][0].Round)
	return v
}

// reach returns every state that the operations of one round, applied in any order
// their real-time order allows, can lead to from any of the states in from.
func (c *checker) reach(from []*state, ops []Op) []*state {
	if len(ops) > 63 {
		panic("history: a round of more than 63 operations of one user")
	}
	m := &model{p: c.p}
	pred := make([]uint64, len(ops))
	for i := range ops {
		for j := range ops {
			if ops[j].Return < ops[i].Call {
				pred[i] |= 1 << j
			}
		}
	}
	full := uint64(1)<<len(ops) - 1
	type visit struct {
		done uint64
		key  string
	}
	seen := map[visit]bool{}
	out := map[string]*state{}
	var walk func(done uint64, s *state)
	walk = func(done uint64, s *state) {
		if seen[visit{done, s.key}] {
			return
		}
		seen[visit{done, s.key}] = true
		if done == full {
			out[s.key] = s
			return
		}
		for i, op := range ops {
			if done&(1<<i) == 0 && pred[i]&^done == 0 {
				for _, n := range m.step(s, op.In, op.Out) {
					walk(done|1<<i, n.seal())
				}
			}
		}
	}
	for _, s := range from {
		walk(0, s)
	}
	states := make([]*state, 0, len(out))
	for _, s := range out {
		states = append(states, s)
	}
	slices.SortFunc(states, func(a, b *state) int { return strings.Compare(a.key, b.key) })
	return states
}

func (c *checker) text(v Violation, firstRound int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "user %s: the first %d rounds of its %d operations fail; the smallest failing part is round %d,\n",
		v.User, v.Rounds, v.Ops, firstRound)
	fmt.Fprintf(&b, "when the user can be in any of %d states:\n", len(v.Start))
	for _, s := range v.Start {
		fmt.Fprintf(&b, "    %s\n", s)
	}
	var ended []string
	for _, op := range v.Witness {
		for _, id := range []string{op.In.SID, op.In.Target} {
			if id != "" && !op.In.Foreign && !slices.ContainsFunc(v.from, func(s *state) bool { return s.find(id) >= 0 }) &&
				!slices.Contains(ended, short(id)) && !slices.ContainsFunc(v.Witness, func(o Op) bool { return o.Out.SID == id && o.In.Kind == LoginOpen }) {
				ended = append(ended, short(id))
			}
		}
	}
	if len(ended) > 0 {
		fmt.Fprintf(&b, "    (in every one of them these sessions have ended: %s)\n", strings.Join(ended, ", "))
	}
	b.WriteString("and no order of these operations explains their answers (times from the first call):\n")
	t0 := v.Witness[0].Call
	for i, op := range v.Witness {
		desc := c.p.describeOp(op.In, op.Out)
		if op.Aside {
			desc = c.p.describeOp(op.In, op.seen) + "   [answer not needed: set aside]"
		}
		fmt.Fprintf(&b, "  #%-2d round %-4d [%8.3fms, %8.3fms] %s   (%s)\n", i, op.Round,
			float64(op.Call-t0)/1e6, float64(op.Return-t0)/1e6, desc, op.Note)
	}
	return b.String()
}

// visualize writes porcupine's HTML of the witness (from its start states) and of the
// whole failing prefix.
func (c *checker) visualize(dir, name string, ops []Op, v Violation) []string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil
	}
	prefix := slices.Concat(rounds(ops)[:v.Rounds]...)
	var files []string
	for _, x := range []struct {
		suffix string
		from   []*state
		ops    []Op
	}{{"witness", v.from, v.Witness}, {"prefix", c.init, prefix}} {
		m := c.p.porcupine(x.from)
		_, info := porcupine.CheckOperationsVerbose(m, operations(x.ops), c.timeout)
		path := filepath.Join(dir, name+"-"+x.suffix+".html")
		if err := porcupine.VisualizePath(m, info, path); err == nil {
			files = append(files, path)
		}
	}
	return files
}
