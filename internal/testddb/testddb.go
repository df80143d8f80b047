// Package testddb gives tests a real DynamoDB (DynamoDB Local) and tables built from
// template.yaml.
//
// If AWS_ENDPOINT_URL_DYNAMODB is set (make test sets it to one DynamoDB Local shared
// by every package), tests use that endpoint. Otherwise the first call to Endpoint,
// Client or NewTable starts one DynamoDB Local for the whole test binary and sets
// AWS_ENDPOINT_URL_DYNAMODB in the process environment, so code under test that loads
// the standard SDK configuration reaches it too.
//
// A package that uses it should stop that server from TestMain:
//
//	func TestMain(m *testing.M) { testddb.Main(m) }
//
// Without that, on Linux the server still dies with the test binary (ddblocal sets a
// parent-death signal); elsewhere it would outlive it.
//
// Nothing here skips: if DynamoDB Local cannot start, the test fails with the reason.
package testddb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/ddblocal"
	"github.com/example/sessions/internal/samtemplate"
)

// EndpointEnv is the standard SDK variable that points DynamoDB clients elsewhere.
const EndpointEnv = "AWS_ENDPOINT_URL_DYNAMODB"

var (
	startOnce sync.Once
	endpoint  string
	startErr  error

	mu     sync.Mutex
	server *ddblocal.Server

	tplOnce sync.Once
	tpl     *samtemplate.Template
	tplErr  error
)

// Endpoint returns the DynamoDB endpoint for tests: AWS_ENDPOINT_URL_DYNAMODB if set,
// else a DynamoDB Local started once for the test binary. It fails tb if that cannot
// start.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	startOnce.Do(func() {
		if e := os.Getenv(EndpointEnv); e != "" {
			endpoint = e
			return
		}
		s, err := ddblocal.Start(context.Background(), ddblocal.Options{})
		if err != nil {
			startErr = err
			return
		}
		mu.Lock()
		server = s
		mu.Unlock()
		endpoint = s.Endpoint()
		startErr = os.Setenv(EndpointEnv, endpoint)
	})
	if startErr != nil {
		tb.Fatalf("testddb: no DynamoDB for tests (set %s or install java and npm): %v", EndpointEnv, startErr)
	}
	return endpoint
}

// Main runs the tests of a package and then stops the DynamoDB Local that Endpoint
// may have started. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop ends the DynamoDB Local started by Endpoint, if any. Main calls it; a TestMain
// with more to do may call it itself after m.Run.
func Stop() {
	mu.Lock()
	s := server
	server = nil
	mu.Unlock()
	if s != nil {
		s.Stop()
	}
}

// Client returns a DynamoDB client from the standard configuration loader (so it
// honours AWS_ENDPOINT_URL_DYNAMODB like the code under test), with region us-east-1
// when no region is configured and static dummy credentials unless
// AWS_ACCESS_KEY_ID is set.
func Client(tb testing.TB) *dynamodb.Client {
	tb.Helper()
	Endpoint(tb)
	var opts []func(*config.LoadOptions) error
	if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		opts = append(opts, config.WithRegion("us-east-1"))
	}
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		// Dummy credentials keep the SDK from walking the provider chain (which
		// would end at the EC2 metadata endpoint) just to sign local requests.
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		tb.Fatalf("testddb: load AWS config: %v", err)
	}
	return dynamodb.NewFromConfig(cfg)
}

// Template returns the project's template.yaml, parsed once per test binary.
func Template(tb testing.TB) *samtemplate.Template {
	tb.Helper()
	tplOnce.Do(func() {
		root, err := samtemplate.FindRoot()
		if err != nil {
			tplErr = err
			return
		}
		tpl, tplErr = samtemplate.Load(filepath.Join(root, "template.yaml"))
	})
	if tplErr != nil {
		tb.Fatalf("testddb: %v", tplErr)
	}
	return tpl
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// NewTable creates a table with the schema of template.yaml's SessionsTable under a
// name unique to this test, waits until it is ACTIVE, enables TTL on the template's
// TTL attribute, and deletes the table when the test ends. It returns the name.
func NewTable(tb testing.TB) string {
	tb.Helper()
	t := Template(tb)
	c := Client(tb)

	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := unsafeName.ReplaceAllString(tb.Name(), "_")
	if len(prefix) > 180 {
		prefix = prefix[:180]
	}
	name := fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(rnd[:]))

	in, err := t.CreateTableInput(name)
	if err != nil {
		tb.Fatalf("testddb: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.CreateTable(ctx, in); err != nil {
		tb.Fatalf("testddb: create table %s: %v", name, err)
	}
	tb.Cleanup(func() {
		// Not the test's context: that is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			tb.Errorf("testddb: delete table %s: %v", name, err)
		}
	})
	waiter := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 50*time.Second); err != nil {
		tb.Fatalf("testddb: table %s not ACTIVE: %v", name, err)
	}
	if attr := t.TTLAttribute(); attr != "" {
		_, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{
				AttributeName: aws.String(attr),
				Enabled:       aws.Bool(true),
			},
		})
		if err != nil {
			tb.Fatalf("testddb: enable TTL on %s: %v", name, err)
		}
	}
	return name
}
