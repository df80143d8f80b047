package ddbmeter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/ddbmeter"
	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

func TestMain(m *testing.M) { testddb.Main(m) }

// fixture is a metered client on a fresh table, with faults injectable below the
// meter, and an unmetered client on the same table.
type fixture struct {
	table  string
	meter  *ddbmeter.Meter
	net    *testenv.Net
	client *dynamodb.Client
	raw    *dynamodb.Client
}

// maxAttempts is the fixture's retry budget; its retries do not wait, so a test of
// them takes no time.
const maxAttempts = 3

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{table: testddb.NewTable(t), meter: &ddbmeter.Meter{}, raw: testddb.Client(t)}
	f.client = dynamodb.New(f.raw.Options(), func(o *dynamodb.Options) {
		f.net = testenv.NewNet(o.HTTPClient)
		o.HTTPClient = f.net
		f.meter.Install(o)
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = maxAttempts
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			so.RateLimiter = ratelimit.None
		})
		// DynamoDB Local sends no x-amz-crc32 on error answers (see local/main.go).
		o.DisableValidateResponseChecksum = true
	})
	return f
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func (f *fixture) key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": s(pk)}
}

func (f *fixture) put(t *testing.T, pk string) error {
	_, err := f.client.PutItem(ctx(t), &dynamodb.PutItemInput{
		TableName: aws.String(f.table), Item: map[string]types.AttributeValue{"pk": s(pk), "v": s("x")},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	return err
}

func (f *fixture) get(t *testing.T, pk string) error {
	_, err := f.client.GetItem(ctx(t), &dynamodb.GetItemInput{
		TableName: aws.String(f.table), Key: f.key(pk), ConsistentRead: aws.Bool(true),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	return err
}

// firstAttemptFails answers the first attempt of every call HTTP 500 (retryable) and
// lets the retry through, whatever order concurrent calls' requests come in.
func firstAttemptFails() testenv.Fault {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		if strings.HasPrefix(req.Header.Get("Amz-Sdk-Request"), "attempt=1;") {
			return testenv.ServerError()(req, next)
		}
		return next(req)
	}
}

func TestMeterRecordsEachCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, pk := range []string{"present", "other"} {
		if err := f.put(t, pk); err != nil {
			t.Fatal(err)
		}
	}
	_, condErr := f.client.PutItem(ctx(t), &dynamodb.PutItemInput{
		TableName: aws.String(f.table), Item: f.key("present"), ConditionExpression: aws.String("attribute_not_exists(pk)"),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(condErr, &ccf) {
		t.Fatalf("conditional put: %v, want ConditionalCheckFailedException", condErr)
	}
	if err := f.get(t, "present"); err != nil {
		t.Fatal(err)
	}
	if err := f.get(t, "missing"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.BatchGetItem(ctx(t), &dynamodb.BatchGetItemInput{
		RequestItems: map[string]types.KeysAndAttributes{f.table: {
			Keys: []map[string]types.AttributeValue{f.key("present"), f.key("other")}, ConsistentRead: aws.Bool(true)}},
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}); err != nil {
		t.Fatal(err)
	}

	calls := f.meter.Calls()
	tests := []struct {
		name        string
		op          string
		items       int
		read, write float64
		reported    bool
		err         error
	}{
		{"a put is recorded with the write capacity it reported", "PutItem", 0, 0, 1, true, nil},
		{"a second put is a call of its own", "PutItem", 0, 0, 1, true, nil},
		{"a failed condition is recorded with its error and no capacity", "PutItem", 0, 0, 0, false, ccf},
		{"a read of a present item returns one item and its read capacity", "GetItem", 1, 1, 0, true, nil},
		{"a read of a missing item returns none and is still charged", "GetItem", 0, 1, 0, true, nil},
		{"a batch read counts the items it returned", "BatchGetItem", 2, 2, 0, true, nil},
	}
	if len(calls) != len(tests) {
		t.Fatalf("%d calls recorded, want %d: %+v", len(calls), len(tests), calls)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := calls[i]
			if c.Op != tc.op || c.Items != tc.items || c.Attempts != 1 {
				t.Errorf("op %s, %d item(s), %d attempt(s); want %s, %d, 1", c.Op, c.Items, c.Attempts, tc.op, tc.items)
			}
			if c.Capacity.Reported != tc.reported || c.Capacity.Read != tc.read || c.Capacity.Write != tc.write {
				t.Errorf("capacity %+v, want reported %v, read %g, write %g", c.Capacity, tc.reported, tc.read, tc.write)
			}
			if !errors.Is(c.Err, tc.err) {
				t.Errorf("error %v, want %v", c.Err, tc.err)
			}
			if _, ok := c.Input.(*dynamodb.PutItemInput); ok != (tc.op == "PutItem") {
				t.Errorf("input %T kept for %s", c.Input, tc.op)
			}
		})
	}
}

func TestMeterCountsAttempts(t *testing.T) {
	t.Parallel()
	t.Run("a call retried after a 500 counts both attempts, once", func(t *testing.T) {
		f := newFixture(t)
		f.net.Inject("PutItem", 1, testenv.ServerError())
		if err := f.put(t, "a"); err != nil {
			t.Fatal(err)
		}
		calls := f.meter.Calls()
		if len(calls) != 1 || calls[0].Attempts != 2 || calls[0].Err != nil {
			t.Fatalf("calls %+v, want one PutItem of 2 attempts that succeeded", calls)
		}
		if sent := f.net.Requests(""); sent != 2 {
			t.Errorf("%d requests reached the HTTP layer, want 2", sent)
		}
	})
	t.Run("a call that exhausts its retries counts every attempt", func(t *testing.T) {
		f := newFixture(t)
		f.net.Inject("GetItem", -1, testenv.ServerError())
		err := f.get(t, "a")
		if err == nil {
			t.Fatal("GetItem succeeded under a permanent 500")
		}
		calls := f.meter.Calls()
		if len(calls) != 1 || calls[0].Err == nil || calls[0].Attempts != maxAttempts {
			t.Fatalf("calls %+v, want one failed GetItem of %d attempts", calls, maxAttempts)
		}
		if sent := f.net.Requests("GetItem"); sent != maxAttempts {
			t.Errorf("%d requests reached the HTTP layer, want %d", sent, maxAttempts)
		}
	})
	t.Run("concurrent calls each count only their own attempts", func(t *testing.T) {
		f := newFixture(t)
		f.net.Inject("PutItem", -1, firstAttemptFails())
		const n = 6
		start := make(chan struct{})
		errs := make(chan error, 2*n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(2)
			go func() { defer wg.Done(); <-start; errs <- f.put(t, fmt.Sprint("p", i)) }()
			go func() { defer wg.Done(); <-start; errs <- f.get(t, fmt.Sprint("p", i)) }()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		calls := f.meter.Calls()
		if len(calls) != 2*n {
			t.Fatalf("%d calls recorded, want %d", len(calls), 2*n)
		}
		want := map[string]int{"PutItem": 2, "GetItem": 1}
		for _, c := range calls {
			if c.Attempts != want[c.Op] {
				t.Errorf("%s: %d attempt(s), want %d", c.Op, c.Attempts, want[c.Op])
			}
		}
	})
}

func TestMeterAroundSeesBothSidesOfACall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// exists reads the item through the unmetered client.
	exists := func(ctx context.Context) bool {
		out, err := f.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: f.key("a"), ConsistentRead: aws.Bool(true)})
		return err == nil && len(out.Item) > 0
	}
	f.meter.Around = func(ctx context.Context, input any) func() any {
		before := exists(ctx)
		return func() any { return [2]bool{before, exists(ctx)} }
	}
	if err := f.put(t, "a"); err != nil {
		t.Fatal(err)
	}
	calls := f.meter.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls recorded, want 1 (the hook's own reads are not metered)", len(calls))
	}
	if got := calls[0].Extra; got != [2]bool{false, true} {
		t.Errorf("Extra %v, want [false true]: absent before the put, present after", got)
	}
}

func TestMeterMarkSinceReset(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, pk := range []string{"a", "b"} {
		if err := f.get(t, pk); err != nil {
			t.Fatal(err)
		}
	}
	mark := f.meter.Mark()
	if err := f.put(t, "c"); err != nil {
		t.Fatal(err)
	}
	t.Run("Since returns only the calls after the mark", func(t *testing.T) {
		if got := f.meter.Since(mark); len(got) != 1 || got[0].Op != "PutItem" {
			t.Errorf("Since(mark) = %+v, want the one PutItem", got)
		}
	})
	t.Run("Reset forgets every call, and an old mark then returns none", func(t *testing.T) {
		f.meter.Reset()
		if got := len(f.meter.Calls()) + len(f.meter.Since(mark)); got != 0 {
			t.Errorf("%d calls left after Reset", got)
		}
	})
}
