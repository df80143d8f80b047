package awsstub

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config describes the endpoint.
type Config struct {
	// Scope is the partition, region and account that ARNs are built in.
	Scope Scope
	// DynamoDB is the endpoint that allowed DynamoDB calls are forwarded to
	// (DynamoDB Local). Without it every DynamoDB call fails.
	DynamoDB string
}

// Principal is a caller: one function's execution role.
type Principal struct {
	// Name is how reports name the caller (the function's logical ID).
	Name string
	// ARN is the caller as IAM names it in a denial (an assumed-role session ARN).
	ARN string
	// Policy is the role's identity-based policy.
	Policy Policy
}

// Call is one authorisation of one request: what a principal asked for and what it
// was answered.
type Call struct {
	// Principal is the caller's Principal.Name ("" for an unknown access key).
	Principal string
	// AccessKeyID is the access key the request was signed with.
	AccessKeyID string
	// Operation is the service and operation ("DynamoDB.GetItem", "SSM.GetParameter").
	Operation string
	// Action and Resource are what IAM checked ("" for an unsupported request).
	Action, Resource string
	// Allowed is IAM's decision on this authorisation.
	Allowed bool
	// Grants are the Allow grants that matched, counted only when the whole request
	// was allowed (a denied request did nothing).
	Grants []Grant
	// Status is the HTTP status of the answer; Error its error code ("" on success).
	Status int
	Error  string
}

// Parameter is an SSM parameter the endpoint serves.
type Parameter struct {
	Value string
	// Type is "String", "StringList" or "SecureString".
	Type string
}

// Server is the endpoint. Its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	srv   *http.Server
	ln    net.Listener
	proxy *httputil.ReverseProxy

	mu         sync.Mutex
	principals map[string]*Principal
	params     map[string]Parameter
	calls      []Call
}

// maxBody bounds request bodies (DynamoDB's own limit is 16 MB).
const maxBody = 16 << 20

// Start listens on a loopback port and serves until Close.
func Start(cfg Config) (*Server, error) {
	s := &Server{cfg: cfg, principals: map[string]*Principal{}, params: map[string]Parameter{}}
	if cfg.DynamoDB != "" {
		target, err := url.Parse(cfg.DynamoDB)
		if err != nil || target.Host == "" {
			return nil, fmt.Errorf("awsstub: DynamoDB endpoint %q is not a URL", cfg.DynamoDB)
		}
		s.proxy = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = target.Host
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				writeJSONError(w, "1.0", http.StatusInternalServerError, "InternalServerError",
					"com.amazonaws.dynamodb.v20120810#InternalServerError", "Message", "awsstub: forwarding to DynamoDB Local failed: "+err.Error())
			},
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awsstub: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the endpoint's base URL, for AWS_ENDPOINT_URL.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// AddPrincipal makes requests signed with accessKeyID come from p.
func (s *Server) AddPrincipal(accessKeyID string, p Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.principals[accessKeyID] = &p
}

// SetParameter stores an SSM parameter under its name (version 1).
func (s *Server) SetParameter(name string, p Parameter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.params[name] = p
}

// Calls returns every call so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func (s *Server) record(calls []Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, calls...)
}

// credential is the access key of a SigV4 Authorization header.
var credential = regexp.MustCompile(`Credential=([^/,\s]+)/`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "awsstub: reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	var service, op, version, typePrefix, messageKey string
	switch {
	case strings.HasPrefix(target, dynamoDBTarget):
		service, op, version = "DynamoDB", strings.TrimPrefix(target, dynamoDBTarget), "1.0"
		typePrefix, messageKey = "com.amazon.coral.service#", "Message"
	case strings.HasPrefix(target, ssmTarget):
		service, op, version = "SSM", strings.TrimPrefix(target, ssmTarget), "1.1"
		messageKey = "message"
	default:
		s.record([]Call{{Operation: target, Status: http.StatusBadRequest, Error: "UnknownOperationException"}})
		writeJSONError(w, "1.0", http.StatusBadRequest, "UnknownOperationException", "UnknownOperationException", "Message",
			fmt.Sprintf("awsstub: no service for X-Amz-Target %q (%s %s)", target, r.Method, r.URL.Path))
		return
	}
	operation := service + "." + op
	key := ""
	if m := credential.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		key = m[1]
	}
	s.mu.Lock()
	p := s.principals[key]
	s.mu.Unlock()
	if p == nil {
		s.record([]Call{{AccessKeyID: key, Operation: operation, Status: http.StatusBadRequest, Error: "UnrecognizedClientException"}})
		writeJSONError(w, version, http.StatusBadRequest, "UnrecognizedClientException", typePrefix+"UnrecognizedClientException",
			messageKey, "The security token included in the request is invalid.")
		return
	}

	var auths []Authorization
	if service == "DynamoDB" {
		auths, err = s.cfg.Scope.DynamoDBAuthorizations(op, body)
	} else {
		auths, err = s.cfg.Scope.SSMAuthorizations(op, body)
	}
	if err != nil {
		code := "ValidationException"
		if errors.Is(err, ErrUnsupported) {
			code = "UnknownOperationException"
		}
		s.record([]Call{{Principal: p.Name, AccessKeyID: key, Operation: operation, Status: http.StatusBadRequest, Error: code}})
		writeJSONError(w, version, http.StatusBadRequest, code, typePrefix+code, messageKey, err.Error())
		return
	}

	calls := make([]Call, len(auths))
	var denied *Call
	var explicit bool
	for i, a := range auths {
		d := p.Policy.Evaluate(a.Action, a.Resource)
		calls[i] = Call{Principal: p.Name, AccessKeyID: key, Operation: operation, Action: a.Action, Resource: a.Resource,
			Allowed: d.Allowed, Grants: d.Grants}
		if !d.Allowed && denied == nil {
			denied, explicit = &calls[i], d.ExplicitDeny
		}
	}
	if denied != nil {
		for i := range calls {
			calls[i].Grants = nil
			calls[i].Status, calls[i].Error = http.StatusBadRequest, "AccessDeniedException"
		}
		s.record(calls)
		writeJSONError(w, version, http.StatusBadRequest, "AccessDeniedException", typePrefix+"AccessDeniedException", messageKey,
			DeniedMessage(p.ARN, denied.Action, denied.Resource, explicit))
		return
	}

	status, code := 0, ""
	if service == "DynamoDB" {
		status, code = s.forward(w, r, body)
	} else {
		status, code = s.ssm(w, op, body)
	}
	for i := range calls {
		calls[i].Status, calls[i].Error = status, code
	}
	s.record(calls)
}

// forward hands an allowed DynamoDB request to DynamoDB Local and copies its answer.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, body []byte) (int, string) {
	if s.proxy == nil {
		writeJSONError(w, "1.0", http.StatusInternalServerError, "InternalServerError", "InternalServerError", "Message",
			"awsstub: no DynamoDB endpoint configured")
		return http.StatusInternalServerError, "InternalServerError"
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	rec := &statusRecorder{ResponseWriter: w}
	s.proxy.ServeHTTP(rec, r)
	code := ""
	if rec.status >= 300 {
		code = rec.Header().Get("X-Amzn-ErrorType")
		if code == "" {
			code = "HTTP " + strconv.Itoa(rec.status)
		}
	}
	return rec.status, code
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// ssmParameter is a Parameter as SSM's JSON shows it.
type ssmParameter struct {
	ARN              string
	DataType         string
	LastModifiedDate float64
	Name             string
	Selector         string `json:",omitempty"`
	Type             string
	Value            string
	Version          int64
}

// ssm serves an allowed SSM request from the stored parameters.
func (s *Server) ssm(w http.ResponseWriter, op string, body []byte) (int, string) {
	var req struct {
		Name           string
		Names          []string
		WithDecryption bool
	}
	_ = json.Unmarshal(body, &req) // SSMAuthorizations has parsed it already
	lookup := func(name string) (*ssmParameter, string) {
		base, selector, hasSelector := strings.Cut(name, ":")
		s.mu.Lock()
		p, ok := s.params[base]
		s.mu.Unlock()
		if !ok {
			return nil, "ParameterNotFound"
		}
		if hasSelector && selector != "1" {
			// Every stored parameter is at version 1 and carries no label.
			return nil, "ParameterVersionNotFound"
		}
		out := &ssmParameter{
			ARN: s.cfg.Scope.ParameterARN(base), DataType: "text", Name: base, Type: p.Type, Value: p.Value,
			Version: 1, LastModifiedDate: float64(time.Now().Unix()),
		}
		if hasSelector {
			out.Selector = ":" + selector
		}
		if p.Type == "SecureString" && !req.WithDecryption {
			// Without decryption SSM returns the KMS ciphertext, never the value.
			sum := crc32.ChecksumIEEE([]byte(p.Value))
			out.Value = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "kms-ciphertext-%08x", sum))
		}
		return out, ""
	}
	switch op {
	case "GetParameter":
		p, code := lookup(req.Name)
		if code != "" {
			// SSM answers these with an empty message.
			writeJSONError(w, "1.1", http.StatusBadRequest, code, code, "message", "")
			return http.StatusBadRequest, code
		}
		writeJSON(w, "1.1", http.StatusOK, map[string]any{"Parameter": p})
		return http.StatusOK, ""
	case "GetParameters":
		out := struct {
			Parameters        []*ssmParameter
			InvalidParameters []string
		}{Parameters: []*ssmParameter{}, InvalidParameters: []string{}}
		for _, n := range req.Names {
			if p, code := lookup(n); code == "" {
				out.Parameters = append(out.Parameters, p)
			} else {
				out.InvalidParameters = append(out.InvalidParameters, n)
			}
		}
		writeJSON(w, "1.1", http.StatusOK, out)
		return http.StatusOK, ""
	}
	// SSMAuthorizations refuses every other operation.
	writeJSONError(w, "1.1", http.StatusBadRequest, "UnknownOperationException", "UnknownOperationException", "message", op)
	return http.StatusBadRequest, "UnknownOperationException"
}

// writeJSON writes an AWS JSON-protocol answer. x-amz-crc32 is set as DynamoDB sets it,
// so the DynamoDB client's checksum check passes on our own answers too.
func writeJSON(w http.ResponseWriter, version string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"__type":"InternalFailure"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-"+version)
	h.Set("X-Amzn-Requestid", requestID())
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSONError writes an AWS JSON-protocol error: the code in x-amzn-ErrorType,
// __type (namespaced as the service does) and the message under the service's key.
func writeJSONError(w http.ResponseWriter, version string, status int, code, typ, messageKey, message string) {
	w.Header().Set("X-Amzn-Errortype", code)
	body := map[string]string{"__type": typ}
	if message != "" {
		body[messageKey] = message
	}
	writeJSON(w, version, status, body)
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return strings.ToUpper(h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:])
}
