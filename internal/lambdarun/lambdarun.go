// Package lambdarun runs a real Lambda function binary (a provided.al2023 bootstrap)
// the way Lambda does: a process with exactly the environment it is given, serving
// invocations through the Lambda Runtime API (version 2018-06-01), which this package
// implements on a loopback port.
//
// Start is a cold start: it returns once the function has initialised, that is, once
// it first asks for an invocation (GET /runtime/invocation/next), or with an
// *InitError if it reported an init error (POST /runtime/init/error), exited first, or
// hung. Invoke hands it one event and returns what it answered (POST
// /runtime/invocation/{id}/response or /error). The process's stdout and stderr, the
// function's logs, are kept for failure messages.
package lambdarun

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// APIVersion is the Runtime API version served (the path prefix).
const APIVersion = "2018-06-01"

// Config describes one function process.
type Config struct {
	// Path is the bootstrap executable.
	Path string
	// Dir is the working directory (Lambda's is the task root, /var/task).
	Dir string
	// Env is the whole environment of the process, as NAME=value, except
	// AWS_LAMBDA_RUNTIME_API, which Start adds. Nothing is inherited.
	Env []string
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	FunctionARN string
	// Timeout is the function's timeout: each invocation's deadline
	// (Lambda-Runtime-Deadline-Ms) is this far after it is handed over.
	Timeout time.Duration
	// InitTimeout bounds the cold start. Lambda allows 10 s; a test on a loaded
	// machine wants more slack, since this is a guard against a hang, not a check.
	InitTimeout time.Duration
}

// Process is a running function.
type Process struct {
	cfg  Config
	cmd  *exec.Cmd
	ln   net.Listener
	srv  *http.Server
	logs *syncBuffer

	next      chan *invocation // invocations waiting for GET /next
	ready     chan struct{}    // closed at the first GET /next
	readyOnce sync.Once
	started   time.Time // just before exec
	readyAt   time.Time // the first GET /next; set before ready is closed
	initErr   chan FunctionError
	exited    chan struct{} // closed when the process has exited
	exitErr   error
	stopOnce  sync.Once

	mu       sync.Mutex
	inflight map[string]*invocation
	invokes  int
}

// invocation is one event on its way through the Runtime API.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
}

// Result is what the function answered to one invocation.
type Result struct {
	// RequestID is the invocation's Lambda-Runtime-Aws-Request-Id.
	RequestID string
	// Payload is the body of POST /response (nil if the function reported an error).
	Payload []byte
	// Error is the body of POST /error, nil on success.
	Error *FunctionError
}

// FunctionError is an error the function reported through the Runtime API.
type FunctionError struct {
	// Type is errorType of the body, or the Lambda-Runtime-Function-Error-Type
	// header or trailer.
	Type string `json:"errorType"`
	// Message is errorMessage of the body.
	Message string `json:"errorMessage"`
	// Body is the body as sent.
	Body string `json:"-"`
}

func (e *FunctionError) Error() string {
	if e.Message == "" && e.Type == "" {
		return "function error: " + e.Body
	}
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// InitError is a failed cold start.
type InitError struct {
	// Reason says what happened: an init error the function reported, an exit
	// before the first GET /next, or no GET /next within the init timeout.
	Reason string
	// Logs is the function's output up to then.
	Logs string
}

func (e *InitError) Error() string { return "init failed: " + e.Reason }

// Start starts the function and waits for it to initialise. On failure the process
// is gone and the error is an *InitError (or a plain error if nothing could start).
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if cfg.Timeout <= 0 {
		return nil, errors.New("lambdarun: no Timeout")
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lambdarun: %w", err)
	}
	p := &Process{
		cfg: cfg, ln: ln, logs: &syncBuffer{},
		next: make(chan *invocation), ready: make(chan struct{}), initErr: make(chan FunctionError, 1),
		exited: make(chan struct{}), inflight: map[string]*invocation{},
	}
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()

	env := slices.DeleteFunc(slices.Clone(cfg.Env), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_LAMBDA_RUNTIME_API=")
	})
	p.cmd = exec.Command(cfg.Path)
	p.cmd.Dir = cfg.Dir
	p.cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.Stdin = nil
	setParentDeath(p.cmd)
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		_ = p.srv.Close()
		return nil, fmt.Errorf("lambdarun: starting %s: %w", cfg.Path, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()

	timer := time.NewTimer(cfg.InitTimeout)
	defer timer.Stop()
	var reason string
	select {
	case <-p.ready:
		return p, nil
	case fe := <-p.initErr:
		reason = fmt.Sprintf("the function reported an init error (POST /runtime/init/error): %s", fe.Error())
	case <-p.exited:
		reason = fmt.Sprintf("the process exited (%v) before asking for its first event", p.exitErr)
	case <-timer.C:
		reason = fmt.Sprintf("no GET /runtime/invocation/next within %v", cfg.InitTimeout)
	case <-ctx.Done():
		reason = "cancelled: " + ctx.Err().Error()
	}
	p.Stop()
	return nil, &InitError{Reason: reason, Logs: p.Logs()}
}

// Invoke hands payload to the function and waits for its answer, at most until ctx
// ends or the function's deadline plus grace has passed (a guard against a hang).
// An error means there was no answer: the process died, or the wait ended.
func (p *Process) Invoke(ctx context.Context, payload []byte, grace time.Duration) (Result, error) {
	// The deadline runs from the hand-over, which is at once: the function is
	// normally already waiting in GET /next.
	inv := &invocation{id: newUUID(), payload: payload, deadline: time.Now().Add(p.cfg.Timeout), done: make(chan Result, 1)}
	select {
	case p.next <- inv: // the function is waiting in GET /next
	case <-p.exited:
		return Result{}, fmt.Errorf("lambdarun: the process had exited (%v)", p.exitErr)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("lambdarun: the function never asked for the event: %w", ctx.Err())
	}
	wait := time.NewTimer(time.Until(inv.deadline) + grace)
	defer wait.Stop()
	select {
	case r := <-inv.done:
		return r, nil
	case <-p.exited:
		return Result{}, fmt.Errorf("lambdarun: the process exited (%v) during the invocation", p.exitErr)
	case <-wait.C:
		return Result{}, fmt.Errorf("lambdarun: no answer %v after the deadline", grace)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("lambdarun: waiting for the answer: %w", ctx.Err())
	}
}

// InitDuration is the cold start: from just before exec to the function's first GET
// /runtime/invocation/next, as Lambda's Init phase ends when the runtime first asks
// for an event.
func (p *Process) InitDuration() time.Duration { return p.readyAt.Sub(p.started) }

// Invocations returns how many invocations the function has been handed.
func (p *Process) Invocations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.invokes
}

// Logs returns the function's output so far.
func (p *Process) Logs() string { return p.logs.String() }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop kills the process, as Lambda does when it retires an environment, waits for it
// and stops the Runtime API server. It may be called more than once.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		_ = p.srv.Close()
	})
}

func (p *Process) routes() http.Handler {
	mux := http.NewServeMux()
	base := "/" + APIVersion + "/runtime/"
	mux.HandleFunc("GET "+base+"invocation/next", p.handleNext)
	mux.HandleFunc("POST "+base+"invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) {
		p.handleAnswer(w, r, false)
	})
	mux.HandleFunc("POST "+base+"invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) {
		p.handleAnswer(w, r, true)
	})
	mux.HandleFunc("POST "+base+"init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fe := parseError(body, r)
		select {
		case p.initErr <- fe:
		default:
		}
		writeStatus(w, http.StatusAccepted)
	})
	return mux
}

// handleNext blocks until an invocation is handed over, then sends it with the
// headers the runtime client reads.
func (p *Process) handleNext(w http.ResponseWriter, r *http.Request) {
	p.readyOnce.Do(func() {
		p.readyAt = time.Now()
		close(p.ready)
	})
	var inv *invocation
	select {
	case inv = <-p.next:
	case <-r.Context().Done():
		return // the process went away, or Stop closed the server
	}
	p.mu.Lock()
	p.inflight[inv.id] = inv
	p.invokes++
	p.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", p.cfg.FunctionARN)
	h.Set("Lambda-Runtime-Trace-Id", newTraceID())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload)
}

// handleAnswer takes POST /response or /error for an invocation in flight. An error
// type in the Lambda-Runtime-Function-Error-Type trailer (a response that failed while
// streaming) turns a response into an error, as Lambda does.
func (p *Process) handleAnswer(w http.ResponseWriter, r *http.Request, isError bool) {
	id := r.PathValue("id")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	inv := p.inflight[id]
	delete(p.inflight, id)
	p.mu.Unlock()
	if inv == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}`)
		return
	}
	res := Result{RequestID: id}
	if t := r.Trailer.Get("Lambda-Runtime-Function-Error-Type"); t != "" {
		isError = true
		if b, err := base64.StdEncoding.DecodeString(r.Trailer.Get("Lambda-Runtime-Function-Error-Body")); err == nil {
			body = b
		}
	}
	if isError {
		fe := parseError(body, r)
		res.Error = &fe
	} else {
		res.Payload = body
	}
	inv.done <- res
	writeStatus(w, http.StatusAccepted)
}

func parseError(body []byte, r *http.Request) FunctionError {
	fe := FunctionError{Body: string(body)}
	_ = json.Unmarshal(body, &fe)
	if fe.Type == "" {
		fe.Type = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	if fe.Type == "" {
		fe.Type = r.Trailer.Get("Lambda-Runtime-Function-Error-Type")
	}
	return fe
}

func writeStatus(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

// newUUID returns a random (version 4) UUID, the shape of a Lambda request id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newTraceID returns an X-Ray trace header as Lambda sends one (not sampled).
func newTraceID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}

// syncBuffer is a bytes.Buffer safe for the process's two output streams.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
