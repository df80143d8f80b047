// Package metrics writes the service's CloudWatch metrics as Embedded Metric Format
// (EMF) log lines: one JSON line per event, through the function's own slog logger.
// Lambda sends stdout to CloudWatch Logs, which turns each such line into metric data
// (no agent, no PutMetricData call, no IAM permission, no extra latency).
//
// Every metric lives in one namespace (the template's MetricsNamespace, METRICS_NAMESPACE)
// with two dimensions: Function, the Lambda function that served the request (the names
// of internal/app's Functions), and Outcome, what happened. Each request a metric counts
// is counted once, under exactly one outcome. docs/operations.md lists every metric,
// its outcomes and the alarms on them; the template's alarms name them as they are here
// (a test compares).
package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Function dimension's values: the functions of internal/app that record metrics.
const (
	FunctionLogin      = "login"
	FunctionRefresh    = "refresh"
	FunctionLogout     = "logout"
	FunctionAccount    = "account"
	FunctionAuthorizer = "authorizer"
	// FunctionUnknown is the value for work no function claimed (it should not occur
	// in a deployed function; a test would see it).
	FunctionUnknown = "unknown"
)

// The metrics (unit Count unless said otherwise).
const (
	Logins            = "Logins"            // POST /auth/login, by outcome
	Refreshes         = "Refreshes"         // POST /auth/refresh, by outcome
	Logouts           = "Logouts"           // POST /auth/logout, by scope or outcome
	Authorizations    = "Authorizations"    // authorizer decisions
	AuthorizerLatency = "AuthorizerLatency" // milliseconds per decision, by decision
	DynamoDBErrors    = "DynamoDBErrors"    // failed DynamoDB HTTP attempts, retries included, by kind
	SessionListings   = "SessionListings"   // GET /auth/sessions
	SignOuts          = "SignOuts"          // DELETE /auth/sessions/{id}
	PasswordChanges   = "PasswordChanges"   // POST /auth/password
	Reauthentications = "Reauthentications" // POST /auth/reauthenticate
	SessionsEvicted   = "SessionsEvicted"   // sessions a login ended at MAX_SESSIONS_PER_USER (Function only)
)

// Outcomes shared by several metrics.
const (
	OK                 = "ok"
	InvalidCredentials = "invalid_credentials" // wrong password, unknown or disabled user
	Throttled          = "throttled"           // the failed-login throttle
	InvalidRequest     = "invalid_request"     // refused before any check (a password too long, a bad username)
	InvalidGrant       = "invalid_grant"       // the caller's session is not live
	NotFound           = "not_found"           // no such session of the user's
	Unavailable        = "unavailable"         // storage failed or timed out (503)
	Error              = "error"               // anything else (500)
)

// Refreshes' outcomes (besides Unavailable and Error).
const (
	Rotated       = "rotated"        // a new refresh token
	GraceReplay   = "grace_replay"   // the previous token inside the grace window: answered with the current one
	ReuseDetected = "reuse_detected" // an older token came back: theft, the session is revoked (Logouts too)
	Expired       = "expired"        // past the idle or absolute deadline
	Revoked       = "revoked"        // the session had been ended
	Invalid       = "invalid"        // malformed, unknown session, forged, or from another rotation key
)

// Logouts' outcomes are the scope of a logout done with a token of the session
// ("session", "others", "all"), ReuseDetected, Invalid (nothing done), Unavailable or
// Error.
const (
	ScopeSession = "session"
	ScopeOthers  = "others"
	ScopeAll     = "all"
)

// Authorizations' outcomes.
const (
	Allow = "allow"
	Deny  = "deny"
	// DenyFault is a deny because storage failed or timed out: the authorizer fails
	// closed, so a signed-in user was refused only because DynamoDB was.
	DenyFault = "deny_fault"
)

// DynamoDBErrors' outcomes: what one failed HTTP attempt was, SDK retries included
// (internal/ddb classifies). A failed condition is an answer, not an error, and is not
// counted.
const (
	DynamoDBThrottled = "throttled" // throughput exceeded; the SDK retries it
	DynamoDBConflict  = "conflict"  // a transaction conflict; the service retries it
	DynamoDBTimeout   = "timeout"   // the request's deadline or cancellation ended it
	DynamoDBFault     = "fault"     // a 5xx or a network error; the SDK retries it
	DynamoDBRejected  = "rejected"  // a 4xx no retry helps: validation, access denied, no table
)

// Definition is one metric as the code records it: its unit, the functions that record
// it and every outcome it may carry (none: the Function dimension alone). It is the
// contract the template's alarms and docs/operations.md are checked against, and the
// full-flow test checks every line the code writes against it.
type Definition struct {
	Name      string
	Unit      string
	Functions []string
	Outcomes  []string
}

var (
	allFunctions  = []string{FunctionLogin, FunctionRefresh, FunctionLogout, FunctionAccount, FunctionAuthorizer}
	checkOutcomes = []string{OK, InvalidCredentials, Throttled, InvalidRequest, InvalidGrant, Unavailable, Error}
)

// Definitions are every metric of the service.
var Definitions = []Definition{
	{Logins, unitCount, []string{FunctionLogin}, []string{OK, InvalidCredentials, Throttled, InvalidRequest, Unavailable, Error}},
	{SessionsEvicted, unitCount, []string{FunctionLogin}, nil},
	{Refreshes, unitCount, []string{FunctionRefresh}, []string{Rotated, GraceReplay, ReuseDetected, Expired, Revoked, Invalid, Unavailable, Error}},
	{Logouts, unitCount, []string{FunctionLogout}, []string{ScopeSession, ScopeOthers, ScopeAll, ReuseDetected, Invalid, Unavailable, Error}},
	{Authorizations, unitCount, []string{FunctionAuthorizer}, []string{Allow, Deny, DenyFault}},
	{AuthorizerLatency, unitMilliseconds, []string{FunctionAuthorizer}, []string{Allow, Deny, DenyFault}},
	{SessionListings, unitCount, []string{FunctionAccount}, []string{OK, NotFound, Unavailable, Error}},
	{SignOuts, unitCount, []string{FunctionAccount}, []string{OK, NotFound, Unavailable, Error}},
	{PasswordChanges, unitCount, []string{FunctionAccount}, checkOutcomes},
	{Reauthentications, unitCount, []string{FunctionAccount}, checkOutcomes},
	{DynamoDBErrors, unitCount, allFunctions, []string{DynamoDBThrottled, DynamoDBConflict, DynamoDBTimeout, DynamoDBFault, DynamoDBRejected}},
}

// Recorder writes EMF lines to a logger. A nil *Recorder records nothing, so code
// that runs without metrics (sessionctl) needs no checks.
type Recorder struct {
	log       *slog.Logger
	namespace string
	// directives caches each line shape's EMF directive, encoded: it depends only on
	// the namespace, whether the line has an outcome and its metrics' names and units,
	// so the authorizer's per-request line costs no reflection.
	directives sync.Map // directiveKey -> []byte
}

type directiveKey struct {
	outcome bool
	metrics string // the names and units, in order
}

// New returns a Recorder writing to log (the function's JSON logger, whose lines reach
// CloudWatch Logs) in namespace. It returns nil, which records nothing, if either is
// missing.
func New(log *slog.Logger, namespace string) *Recorder {
	if log == nil || namespace == "" {
		return nil
	}
	return &Recorder{log: log, namespace: namespace}
}

type functionKey struct{}

// WithFunction returns ctx naming the function serving the request, for the Function
// dimension of what is recorded under it (DynamoDB errors included). The service's
// operations and the authorizer set it on entry.
func WithFunction(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, functionKey{}, name)
}

// FunctionOf returns the function ctx names, or FunctionUnknown.
func FunctionOf(ctx context.Context) string {
	if name, _ := ctx.Value(functionKey{}).(string); name != "" {
		return name
	}
	return FunctionUnknown
}

// Count records n of metric with outcome, for the function ctx names. An empty outcome
// records the metric with the Function dimension alone.
func (r *Recorder) Count(ctx context.Context, metric, outcome string, n int) {
	if r == nil || n <= 0 {
		return
	}
	r.write(ctx, outcome, []datum{{metric, unitCount, float64(n)}})
}

// Authorization records one authorizer decision and how long it took, in one line.
func (r *Recorder) Authorization(ctx context.Context, outcome string, took time.Duration) {
	if r == nil {
		return
	}
	ms := float64(took.Microseconds()) / 1000
	r.write(ctx, outcome, []datum{{Authorizations, unitCount, 1}, {AuthorizerLatency, unitMilliseconds, ms}})
}

// Units (CloudWatch's names).
const (
	unitCount        = "Count"
	unitMilliseconds = "Milliseconds"
)

type datum struct {
	name, unit string
	value      float64
}

// Dimension names.
const (
	DimensionFunction = "Function"
	DimensionOutcome  = "Outcome"
)

// The EMF metadata ("_aws") is {"Timestamp": ms, "CloudWatchMetrics": [directive]}, as
// the specification names it (Recorder.write); the directive is:
type (
	emfDirective struct {
		Namespace  string      `json:"Namespace"`
		Dimensions [][]string  `json:"Dimensions"`
		Metrics    []emfMetric `json:"Metrics"`
	}
	emfMetric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
)

// Message is the msg of every metric line.
const Message = "metric"

func (r *Recorder) write(ctx context.Context, outcome string, data []datum) {
	// Info: Lambda's default application log level. A function configured to log
	// only warnings and above drops its metrics with its info lines.
	if !r.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 3+len(data))
	attrs = append(attrs, slog.String(DimensionFunction, FunctionOf(ctx)))
	if outcome != "" {
		attrs = append(attrs, slog.String(DimensionOutcome, outcome))
	}
	for _, x := range data {
		attrs = append(attrs, slog.Float64(x.name, x.value))
	}
	// The timestamp is the real time, whatever clock the service runs on: CloudWatch
	// drops metric data more than two weeks old or two hours ahead.
	dir := r.directive(outcome != "", data)
	meta := make([]byte, 0, 64+len(dir))
	meta = append(meta, `{"Timestamp":`...)
	meta = strconv.AppendInt(meta, time.Now().UnixMilli(), 10)
	meta = append(meta, `,"CloudWatchMetrics":[`...)
	meta = append(meta, dir...)
	meta = append(meta, `]}`...)
	attrs = append(attrs, slog.Any("_aws", json.RawMessage(meta)))
	r.log.LogAttrs(ctx, slog.LevelInfo, Message, attrs...)
}

// directive returns the encoded EMF directive of a line shape (emfDirective), made
// once per shape.
func (r *Recorder) directive(outcome bool, data []datum) []byte {
	var b strings.Builder
	for _, x := range data {
		b.WriteString(x.name)
		b.WriteByte(0)
		b.WriteString(x.unit)
		b.WriteByte(0)
	}
	key := directiveKey{outcome: outcome, metrics: b.String()}
	if v, ok := r.directives.Load(key); ok {
		return v.([]byte)
	}
	dims := []string{DimensionFunction}
	if outcome {
		dims = append(dims, DimensionOutcome)
	}
	d := emfDirective{Namespace: r.namespace, Dimensions: [][]string{dims}}
	for _, x := range data {
		d.Metrics = append(d.Metrics, emfMetric{Name: x.name, Unit: x.unit})
	}
	enc, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("metrics: encoding a directive: %v", err)) // strings and slices only: it cannot fail
	}
	r.directives.Store(key, enc)
	return enc
}
