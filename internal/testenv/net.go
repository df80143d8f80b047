package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/example/sessions/internal/ddbmeter"
)

// HTTPClient is the interface of dynamodb.Options.HTTPClient.
type HTTPClient = ddbmeter.HTTPClient

// Fault decides what one HTTP request to DynamoDB gets. next sends the request to
// DynamoDB Local and returns its real response; a fault may call it (the request
// reaches the table) or not (it never does).
type Fault func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error)

// Net sits between the SDK and DynamoDB Local, as the client's HTTPClient. It counts
// every request (each is one round trip on the wire, retries included) and applies
// the faults a test injects. The SDK's own code, its retryer included, runs unchanged
// above it.
type Net struct {
	inner HTTPClient

	mu       sync.Mutex
	faults   []*injected
	requests map[string]int // by operation
}

type injected struct {
	op    string // "" matches every operation
	left  int    // requests still to hit; < 0 means unlimited
	fault Fault
	hits  int
}

// NewNet wraps inner.
func NewNet(inner HTTPClient) *Net {
	return &Net{inner: inner, requests: map[string]int{}}
}

// Operation returns the DynamoDB operation a request calls ("GetItem"), from its
// X-Amz-Target header.
func Operation(req *http.Request) string {
	t := req.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// Do implements HTTPClient.
func (n *Net) Do(req *http.Request) (*http.Response, error) {
	op := Operation(req)
	n.mu.Lock()
	n.requests[op]++
	var f Fault
	for _, in := range n.faults {
		if (in.op == "" || in.op == op) && in.left != 0 {
			if in.left > 0 {
				in.left--
			}
			in.hits++
			f = in.fault
			break
		}
	}
	n.mu.Unlock()
	if f == nil {
		return n.inner.Do(req)
	}
	return f(req, n.inner.Do)
}

// Inject applies f to the next times requests for op ("" = any operation; times < 0 =
// until cleared). The earliest injection that matches wins. The returned function
// removes it and reports how many requests it hit.
func (n *Net) Inject(op string, times int, f Fault) (clear func() int) {
	in := &injected{op: op, left: times, fault: f}
	n.mu.Lock()
	n.faults = append(n.faults, in)
	n.mu.Unlock()
	return func() int {
		n.mu.Lock()
		defer n.mu.Unlock()
		for i, x := range n.faults {
			if x == in {
				n.faults = append(n.faults[:i], n.faults[i+1:]...)
				break
			}
		}
		return in.hits
	}
}

// ClearFaults removes every injected fault.
func (n *Net) ClearFaults() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = nil
}

// Requests returns how many HTTP requests went out for op ("" = all) since the last
// ResetCounts.
func (n *Net) Requests(op string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if op != "" {
		return n.requests[op]
	}
	total := 0
	for _, c := range n.requests {
		total += c
	}
	return total
}

// ResetCounts zeroes the request counters.
func (n *Net) ResetCounts() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.requests = map[string]int{}
}

// errorResponse builds a DynamoDB (awsJson1_0) error response as the service sends it.
func errorResponse(req *http.Request, status int, code, message string) *http.Response {
	body, _ := json.Marshal(map[string]string{
		"__type":  "com.amazonaws.dynamodb.v20120810#" + code,
		"message": message,
	})
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Errortype", code)
	h.Set("X-Amzn-Requestid", "FAULTINJECTEDREQUESTID0000000000000000000000000000")
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Request: req,
	}
}

// Throttle answers as DynamoDB does when a table or partition is over its throughput:
// HTTP 400, x-amzn-ErrorType ProvisionedThroughputExceededException and its JSON
// body. The request never reaches the table.
func Throttle() Fault {
	return func(req *http.Request, _ func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		drain(req)
		return errorResponse(req, http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."), nil
	}
}

// ServerError answers HTTP 500 InternalServerError without reaching the table.
func ServerError() Fault {
	return func(req *http.Request, _ func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		drain(req)
		return errorResponse(req, http.StatusInternalServerError, "InternalServerError", "Internal server error"), nil
	}
}

// Hang never answers: it blocks until the request's context ends (the caller's
// deadline), as a DynamoDB that stopped responding would.
func Hang() Fault {
	return func(req *http.Request, _ func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		drain(req)
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
}

// ConnReset is the error a read from a connection the peer reset returns.
func ConnReset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

// Reset fails the request with a connection reset before it reaches the table.
func Reset() Fault {
	return func(req *http.Request, _ func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		drain(req)
		return nil, ConnReset()
	}
}

// LoseResponse lets the request reach DynamoDB Local (its write happens) and then
// fails it with a connection reset, as if the response were lost on the way back.
func LoseResponse() Fault {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		resp, err := next(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, ConnReset()
	}
}

// CommitThenHang lets the request reach DynamoDB Local (its write happens) and then
// withholds the answer until the request's context ends, as a response that is
// delayed past the caller's deadline would.
func CommitThenHang() Fault {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		resp, err := next(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
}

// Unprocessed lets a BatchGetItem reach DynamoDB Local, then rewrites the answer so
// that every requested key comes back in UnprocessedKeys and nothing in Responses,
// as DynamoDB does under throttling or when a response would be too large.
func Unprocessed() Fault {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		var in struct {
			RequestItems map[string]json.RawMessage
		}
		if req.Body != nil {
			raw, err := io.ReadAll(req.Body)
			req.Body.Close()
			if err != nil {
				return nil, err
			}
			_ = json.Unmarshal(raw, &in)
			req.Body = io.NopCloser(bytes.NewReader(raw))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
		}
		resp, err := next(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return nil, err
		}
		responses := map[string][]any{}
		for table := range in.RequestItems {
			responses[table] = []any{}
		}
		body, _ := json.Marshal(map[string]any{"Responses": responses, "UnprocessedKeys": in.RequestItems})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		return resp, nil
	}
}

// drain reads and closes a request body the fault does not forward.
func drain(req *http.Request) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
}

// APIError answers with a DynamoDB error of the given HTTP status and error code
// (e.g. 400 ValidationException) without reaching the table.
func APIError(status int, code, message string) Fault {
	return func(req *http.Request, _ func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		drain(req)
		return errorResponse(req, status, code, message), nil
	}
}

// Jitter forwards each request after a random pause of up to max, shuffling the
// order in which concurrent requests reach the table.
func Jitter(max time.Duration) Fault {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		select {
		case <-time.After(rand.N(max)):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		return next(req)
	}
}
