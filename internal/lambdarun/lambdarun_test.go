package lambdarun_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sessions/internal/lambdarun"
)

var (
	buildOnce sync.Once
	binDir    string // made and removed by TestMain
	binary    string
	buildErr  error
	buildOut  []byte
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdarun-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// bootstrap builds testdata/fn, a function that uses aws-lambda-go's real runtime
// client, once per test binary.
func bootstrap(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("lambdarun runs Linux function binaries")
	}
	buildOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("testdata", "fn"))
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(binDir, "bootstrap")
		cmd := exec.Command("go", "build", "-tags=lambda.norpc", "-o", binary, ".")
		cmd.Dir = dir
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building testdata/fn: %v\n%s", buildErr, buildOut)
	}
	return binary
}

const arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"

func start(t *testing.T, mode string, initTimeout time.Duration) (*lambdarun.Process, error) {
	t.Helper()
	p, err := lambdarun.Start(t.Context(), lambdarun.Config{
		Path: bootstrap(t), Dir: t.TempDir(), FunctionARN: arn, Timeout: 7 * time.Second, InitTimeout: initTimeout,
		Env: []string{"FN_MODE=" + mode, "TZ=:UTC", "AWS_LAMBDA_RUNTIME_API=overridden"},
	})
	if p != nil {
		t.Cleanup(p.Stop)
	}
	return p, err
}

type answer struct {
	Echo       string   `json:"echo"`
	RequestID  string   `json:"request_id"`
	ARN        string   `json:"arn"`
	DeadlineMS int64    `json:"deadline_ms"`
	Env        []string `json:"env"`
}

func TestAnInvocationGoesThroughTheRuntimeAPI(t *testing.T) {
	before := time.Now()
	p, err := start(t, "serve", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.InitDuration(); d <= 0 || d > time.Since(before) {
		t.Errorf("InitDuration %v, want more than 0 and at most the %v Start took", d, time.Since(before))
	}
	for i, echo := range []string{"first", "second"} {
		before := time.Now()
		res, err := p.Invoke(t.Context(), []byte(`{"echo":"`+echo+`"}`), 10*time.Second)
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if res.Error != nil {
			t.Fatalf("function error: %v", res.Error)
		}
		var a answer
		if err := json.Unmarshal(res.Payload, &a); err != nil {
			t.Fatalf("answer %s: %v", res.Payload, err)
		}
		if a.Echo != echo || a.RequestID != res.RequestID || a.ARN != arn {
			t.Errorf("answer %+v (request id %s), want echo %q, the invocation's request id and ARN %s", a, res.RequestID, echo, arn)
		}
		// The deadline is the hand-over plus Timeout, which lies between before and after.
		if lo, hi := before.Add(7*time.Second).UnixMilli(), after.Add(7*time.Second).UnixMilli(); a.DeadlineMS < lo || a.DeadlineMS > hi {
			t.Errorf("deadline %d, want within [%d, %d]", a.DeadlineMS, lo, hi)
		}
		if i == 0 {
			addr := strings.TrimPrefix(a.Env[slices.IndexFunc(a.Env, func(kv string) bool {
				return strings.HasPrefix(kv, "AWS_LAMBDA_RUNTIME_API=")
			})], "AWS_LAMBDA_RUNTIME_API=")
			want := []string{"AWS_LAMBDA_RUNTIME_API=" + addr, "FN_MODE=serve", "TZ=:UTC"}
			// aws-lambda-go sets _X_AMZN_TRACE_ID itself, from Lambda-Runtime-Trace-Id.
			a.Env = slices.DeleteFunc(a.Env, func(kv string) bool { return strings.HasPrefix(kv, "_X_AMZN_TRACE_ID=Root=1-") })
			slices.Sort(a.Env)
			if !slices.Equal(a.Env, want) || !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Errorf("the process's environment is %q, want exactly %q with a loopback runtime API", a.Env, want)
			}
		}
	}
	if n := p.Invocations(); n != 2 {
		t.Errorf("Invocations() = %d, want 2", n)
	}
}

func TestFunctionErrorsAreResults(t *testing.T) {
	p, err := start(t, "serve", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Invoke(t.Context(), []byte(`{"fail":true}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error == nil || res.Error.Message != "asked to fail" || res.Error.Type != "errorString" || res.Payload != nil {
		t.Errorf("result %+v (error %+v), want the function's error", res, res.Error)
	}

	t.Run("a panic is an error answer, after which the process is gone", func(t *testing.T) {
		res, err := p.Invoke(t.Context(), []byte(`{"panic":true}`), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.Error == nil || !strings.Contains(res.Error.Message, "asked to panic") {
			t.Fatalf("result error %+v, want the panic", res.Error)
		}
		_, err = p.Invoke(t.Context(), []byte(`{}`), 10*time.Second)
		if err == nil || !strings.Contains(err.Error(), "exited") {
			t.Errorf("invoking after the panic: %v, want an error saying the process exited", err)
		}
	})
}

func TestFailedColdStarts(t *testing.T) {
	tests := []struct {
		name, mode  string
		initTimeout time.Duration
		reason      string
		logs        string
	}{
		{"a process that exits before asking for an event", "exit", 30 * time.Second, "exited (exit status 3) before asking for its first event", "cannot start: no configuration"},
		{"an init error reported through the Runtime API", "init-error", 30 * time.Second, "Runtime.ConfigError: bad configuration", ""},
		// The process never asks, so the short guard cannot flake.
		{"a process that never asks for an event", "hang", 300 * time.Millisecond, "no GET /runtime/invocation/next within 300ms", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" fails the start", func(t *testing.T) {
			p, err := start(t, tt.mode, tt.initTimeout)
			var ie *lambdarun.InitError
			if !errors.As(err, &ie) || p != nil {
				t.Fatalf("Start = %v, %v; want no process and an *InitError", p, err)
			}
			if !strings.Contains(ie.Reason, tt.reason) || !strings.Contains(ie.Logs, tt.logs) {
				t.Errorf("reason %q logs %q, want %q and %q", ie.Reason, ie.Logs, tt.reason, tt.logs)
			}
		})
	}
}

func TestStopEndsTheProcess(t *testing.T) {
	p, err := start(t, "serve", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p.Stop()
	p.Stop() // twice is fine
	if !p.Exited() {
		t.Error("the process is still running after Stop")
	}
}
