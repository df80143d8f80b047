// Package results holds the JSON documents the `make bench` programs write into
// bench/results and bench/report turns into the tables of BENCHMARKS.md.
package results

import (
	"encoding/json"
	"fmt"
	"os"
)

// Write stores v as indented JSON at path.
func Write(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read loads the JSON document at path into v.
func Read(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Cost is bench/cost's output: DynamoDB requests and capacity per operation.
type Cost struct {
	DynamoDBLocal string      `json:"dynamodb_local"` // what answered (package and version)
	ItemSizes     []ItemSize  `json:"item_sizes"`
	Operations    []Operation `json:"operations"`
	Probes        []Probe     `json:"probes"` // how DynamoDB Local reports capacity, case by case
	Notes         []string    `json:"notes"`
}

// ItemSize is one item's size by DynamoDB's documented rules.
type ItemSize struct {
	Item  string `json:"item"`
	Bytes int    `json:"bytes"`
	Note  string `json:"note,omitempty"`
}

// Operation is one measured operation: the DynamoDB calls it made.
type Operation struct {
	Key          string  `json:"key"`  // stable identifier (login, refresh, ...)
	Name         string  `json:"name"` // what a reader sees
	Note         string  `json:"note,omitempty"`
	Calls        []Call  `json:"calls"`
	RoundTrips   int     `json:"round_trips"`   // API operations called
	HTTPAttempts int     `json:"http_attempts"` // HTTP requests on the wire, retries included
	MeasuredRCU  float64 `json:"measured_rcu"`  // ConsumedCapacity as DynamoDB Local reported it
	MeasuredWCU  float64 `json:"measured_wcu"`
	Unreported   int     `json:"unreported"`   // calls whose answer carried no ConsumedCapacity
	ExpectedRCU  float64 `json:"expected_rcu"` // by DynamoDB's documented rules, from measured item sizes
	ExpectedWCU  float64 `json:"expected_wcu"`
	ExpectedGSI  float64 `json:"expected_gsi_wcu"` // part of ExpectedWCU spent on index writes
	Outcome      string  `json:"outcome"`          // what the operation returned
}

// Call is one DynamoDB API call.
type Call struct {
	Op          string  `json:"op"`
	Attempts    int     `json:"attempts"`
	Error       string  `json:"error,omitempty"`
	Reported    bool    `json:"reported"`
	MeasuredRCU float64 `json:"measured_rcu"`
	MeasuredWCU float64 `json:"measured_wcu"`
	ExpectedRCU float64 `json:"expected_rcu"`
	ExpectedWCU float64 `json:"expected_wcu"`
	ExpectedGSI float64 `json:"expected_gsi_wcu"`
	Rule        string  `json:"rule"`          // how the expected figure was computed
	Raw         string  `json:"raw,omitempty"` // ConsumedCapacity as it came back
}

// Probe is one request whose reported capacity is compared with the documented rules.
type Probe struct {
	Case   string  `json:"case"`
	Local  float64 `json:"local"`  // what DynamoDB Local reported (-1: nothing reported)
	Detail string  `json:"detail"` // table and index parts of what it reported
	Rules  float64 `json:"rules"`  // what the documented rules charge
	Note   string  `json:"note"`
}

// E2E is bench/e2e's output: load through the local server.
type E2E struct {
	Server  string   `json:"server"`
	Runs    []E2ERun `json:"runs"`
	Repeats int      `json:"repeats"`
	Notes   []string `json:"notes"`
}

// E2ERun is one operation at one concurrency (the median run of Repeats).
type E2ERun struct {
	Op          string    `json:"op"`
	Concurrency int       `json:"concurrency"`
	Requests    int       `json:"requests"`
	Errors      int       `json:"errors"`
	Seconds     float64   `json:"seconds"`
	Throughput  float64   `json:"throughput_rps"`
	P50ms       float64   `json:"p50_ms"`
	P95ms       float64   `json:"p95_ms"`
	P99ms       float64   `json:"p99_ms"`
	AllRPS      []float64 `json:"all_runs_rps"` // throughput of every repeat
}

// Startup is bench/startup's output: the functions' binaries and their start.
type Startup struct {
	Build      string        `json:"build"`
	RunArch    string        `json:"run_arch"`
	Functions  []Function    `json:"functions"`
	Network    NetworkProof  `json:"network"`
	Notes      []string      `json:"notes"`
	SSMVariant []SSMStartRun `json:"ssm_variant"`
}

// Function is one function's bootstrap.
type Function struct {
	Name        string  `json:"name"`
	SizeBytes   int64   `json:"size_bytes"` // linux/arm64, stripped
	ZipBytes    int64   `json:"zip_bytes"`
	AMD64Bytes  int64   `json:"amd64_bytes"`
	Runs        int     `json:"runs"`
	ReadyMedian float64 `json:"ready_ms_median"` // exec to the first GET /runtime/invocation/next
	ReadyP90    float64 `json:"ready_ms_p90"`
	ReadyMin    float64 `json:"ready_ms_min"`
	InitAllocs  int64   `json:"init_allocs"` // GODEBUG=inittrace=1, summed over packages
	InitBytes   int64   `json:"init_bytes"`
	InitClockMs float64 `json:"init_clock_ms"`
	TopInit     string  `json:"top_init"`  // the package inits that allocate most
	AWSCalls    int     `json:"aws_calls"` // made while starting with the key material inline
}

// NetworkProof says what network the functions touched while starting with the key
// material in the environment.
type NetworkProof struct {
	Method     string `json:"method"`
	AWSCalls   int    `json:"aws_calls"`
	ProxyConns int    `json:"proxy_connections"`
}

// SSMStartRun is a start with the key material in SSM (as deployed), from the endpoint.
type SSMStartRun struct {
	Function    string  `json:"function"`
	SSMRequests int     `json:"ssm_requests"`
	ReadyMedian float64 `json:"ready_ms_median"`
}
