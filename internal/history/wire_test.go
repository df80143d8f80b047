package history

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/example/sessions/internal/testenv"
)

// wire is installed under the App's DynamoDB client (testenv.Net.Inject) for every
// request. It injects a fault into a seeded share of them, records what each
// operation's requests met (through the operation's context), and never abandons a
// request it forwarded: if the SDK gives up (its context ends), the request still runs
// to its end at the table, and drain waits for it, so a round's writes have all
// landed before the clock moves.
type wire struct {
	start    time.Time
	rate     float64
	mutation mutation

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int // fault -> requests it hit

	inflight sync.WaitGroup
}

// The faults, each with its weight among the injected ones.
var faults = []struct {
	name   string
	weight int
}{
	{"throttle", 20},   // 400 ProvisionedThroughputExceeded, not applied; the SDK retries
	{"5xx", 15},        // 500 InternalServerError, not applied; the SDK retries
	{"reset", 15},      // connection reset before the table; the SDK retries
	{"lost", 20},       // applied, then the answer lost (reset); the SDK retries
	{"delay", 15},      // applied, the answer delayed 20-150 ms (past the deadline: a timeout)
	{"commit-hang", 3}, // applied, no answer until the caller's deadline
	{"hang", 3},        // not applied, no answer until the caller's deadline
	{"tx-conflict", 9}, // a transaction cancelled by TransactionConflict, not applied
}

// opWire is what one operation's requests met.
type opWire struct {
	mu   sync.Mutex
	reqs []wireReq
}

type wireReq struct {
	op       string // DynamoDB operation
	fault    string
	reached  bool  // it reached the table: its write may have happened
	answered bool  // the SDK got the table's own answer
	done     int64 // when the table had answered (ns since the start), or the fault had
}

type wireKey struct{}

func withWire(ctx context.Context) (context.Context, *opWire) {
	ow := &opWire{}
	return context.WithValue(ctx, wireKey{}, ow), ow
}

func newWire(seed int64, rate float64, m mutation) *wire {
	return &wire{start: time.Now(), rate: rate, mutation: m, rng: rand.New(rand.NewPCG(uint64(seed), 0xfa017)), counts: map[string]int{}}
}

func (w *wire) now() int64 { return time.Since(w.start).Nanoseconds() }

// drain waits until every request forwarded to the table has finished there.
func (w *wire) drain() { w.inflight.Wait() }

func (w *wire) pick(op string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rng.Float64() >= w.rate {
		return ""
	}
	total := 0
	for _, f := range faults {
		total += f.weight
	}
	n := w.rng.IntN(total)
	for _, f := range faults {
		if n -= f.weight; n < 0 {
			if f.name == "tx-conflict" && op != "TransactWriteItems" {
				return "reset"
			}
			w.counts[f.name]++
			return f.name
		}
	}
	return ""
}

// Fault is the testenv.Fault that handles every request.
func (w *wire) Fault(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	op := testenv.Operation(req)
	r := wireReq{op: op, fault: w.pick(op)}
	if w.mutation != nil {
		w.mutation.rewrite(req, op)
	}
	resp, err := w.apply(&r, req, next)
	if ow, ok := req.Context().Value(wireKey{}).(*opWire); ok {
		ow.mu.Lock()
		ow.reqs = append(ow.reqs, r)
		ow.mu.Unlock()
	}
	return resp, err
}

func (w *wire) apply(r *wireReq, req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	ctx := req.Context()
	notForwarded := func(f testenv.Fault) (*http.Response, error) {
		r.done = w.now()
		return f(req, next)
	}
	switch r.fault {
	case "throttle":
		return notForwarded(testenv.Throttle())
	case "5xx":
		return notForwarded(testenv.ServerError())
	case "reset":
		return notForwarded(testenv.Reset())
	case "hang":
		return notForwarded(testenv.Hang())
	case "tx-conflict":
		codes := make([]string, transactItems(req))
		for i := range codes {
			codes[i] = "None"
		}
		codes[len(codes)-1] = "TransactionConflict"
		return notForwarded(testenv.Cancelled(codes...))
	}
	r.reached = true
	resp, at, err := w.forward(req, next)
	r.done = at
	if err != nil {
		return nil, err
	}
	switch r.fault {
	case "lost":
		return nil, testenv.ConnReset()
	case "commit-hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "delay":
		w.mu.Lock()
		d := time.Duration(20+w.rng.IntN(130)) * time.Millisecond
		w.mu.Unlock()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.answered = true
	return resp, nil
}

// forward sends the request to the table on a context the caller's end does not
// cancel, and returns the table's answer (read whole) with the time it came, or the
// caller's context error if that ends first; the request then runs on to its end.
func (w *wire) forward(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, int64, error) {
	type result struct {
		resp *http.Response
		err  error
		at   int64
	}
	ch := make(chan result, 1)
	w.inflight.Add(1)
	detached := req.Clone(context.WithoutCancel(req.Context()))
	go func() {
		defer w.inflight.Done()
		resp, err := next(detached)
		if err == nil {
			var body []byte
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
		ch <- result{resp, err, w.now()}
	}()
	select {
	case res := <-ch:
		return res.resp, res.at, res.err
	case <-req.Context().Done():
		return nil, w.now(), req.Context().Err()
	}
}

// transactItems counts the items of a TransactWriteItems request (its cancellation
// has one reason per item), leaving the body readable.
func transactItems(req *http.Request) int {
	body := readBody(req)
	var in struct{ TransactItems []json.RawMessage }
	_ = json.Unmarshal(body, &in)
	return max(1, len(in.TransactItems))
}

func readBody(req *http.Request) []byte {
	if req.Body == nil {
		return nil
	}
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	setBody(req, body)
	return body
}

func setBody(req *http.Request, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// summary is what the checker needs from an operation's requests.
type summary struct {
	lost, reached int   // counting writes (UpdateItem) answered lost / reaching the table
	lostTx        bool  // a transaction reached the table and its answer was lost
	split         bool  // requests followed the last counting write: it reached its second write
	t1            int64 // when the last counting write had finished at the table
	failed        bool  // some request did not get the table's own answer
	faults        string
}

func (ow *opWire) summary() summary {
	ow.mu.Lock()
	defer ow.mu.Unlock()
	var s summary
	last := -1
	var notes []string
	for i, r := range ow.reqs {
		if r.op == "UpdateItem" {
			last = i
			s.t1 = max(s.t1, r.done)
			if r.reached {
				s.reached++
				if !r.answered {
					s.lost++
				}
			}
		}
		if !r.answered {
			s.failed = true
			s.lostTx = s.lostTx || (r.op == "TransactWriteItems" && r.reached)
		}
		if r.fault != "" {
			notes = append(notes, r.op+":"+r.fault)
		}
	}
	s.split = last >= 0 && last < len(ow.reqs)-1
	s.faults = strings.Join(notes, ",")
	return s
}

// mutation plants a bug by rewriting requests on their way to the table, so the
// service's own code runs unchanged and the checker must find the bug from the
// answers alone.
type mutation interface {
	rewrite(req *http.Request, op string)
}

// unconditionalRotation makes a refresh rotate whatever token it presents and whatever
// state the session is in: the rotation's UpdateItem loses its condition (the
// presented token is current, the session unrevoked and inside its deadlines).
type unconditionalRotation struct{}

func (unconditionalRotation) rewrite(req *http.Request, op string) {
	if op != "UpdateItem" {
		return
	}
	editJSON(req, func(in map[string]any) bool {
		cond, _ := in["ConditionExpression"].(string)
		if !strings.HasPrefix(cond, "cur = :presented") {
			return false
		}
		in["ConditionExpression"] = "attribute_exists(pk)"
		delete(in["ExpressionAttributeValues"].(map[string]any), ":presented")
		return true
	})
}

// uncappedLogins drops the session cap's condition from a login below the cap (the
// session list must still be shorter than MAX_SESSIONS_PER_USER), so logins racing
// each other at the cap all open a session and none evicts.
type uncappedLogins struct{}

func (uncappedLogins) rewrite(req *http.Request, op string) {
	if op != "TransactWriteItems" {
		return
	}
	editJSON(req, func(in map[string]any) bool {
		changed := false
		items, _ := in["TransactItems"].([]any)
		for _, it := range items {
			u, _ := it.(map[string]any)["Update"].(map[string]any)
			cond, _ := u["ConditionExpression"].(string)
			if strings.Contains(cond, " AND size(#ss) < :limit") {
				u["ConditionExpression"] = strings.Replace(cond, " AND size(#ss) < :limit", "", 1)
				delete(u["ExpressionAttributeValues"].(map[string]any), ":limit")
				changed = true
			}
		}
		return changed
	})
}

// editJSON rewrites a JSON request body (the SDK's signature covers the body;
// DynamoDB Local does not check it).
func editJSON(req *http.Request, edit func(map[string]any) bool) {
	body := readBody(req)
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var in map[string]any
	if dec.Decode(&in) != nil || !edit(in) {
		return
	}
	out, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("history: re-encode a request: %v", err))
	}
	setBody(req, out)
}
