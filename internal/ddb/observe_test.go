package ddb_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/metrics"
)

// What one failed attempt counts as, for the errors the SDK hands the middleware (the
// fault-injection tests in internal/metrics run the HTTP side of the same).
func TestAnAttemptsFailureIsClassifiedByWhatItMeans(t *testing.T) {
	reasons := func(codes ...string) error {
		var rs []types.CancellationReason
		for _, c := range codes {
			rs = append(rs, types.CancellationReason{Code: aws.String(c)})
		}
		return fmt.Errorf("operation error DynamoDB: TransactWriteItems: %w", &types.TransactionCanceledException{CancellationReasons: rs})
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a success is nothing", nil, ""},
		{"a failed condition is an answer, not a failure", &types.ConditionalCheckFailedException{}, ""},
		{"a transaction cancelled only by conditions is an answer too", reasons("None", "ConditionalCheckFailed"), ""},
		{"a transaction with a throttled item is throttled", reasons("None", "ThrottlingError"), metrics.DynamoDBThrottled},
		{"a throttle wins over a condition and a conflict", reasons("ConditionalCheckFailed", "TransactionConflict", "ProvisionedThroughputExceeded"), metrics.DynamoDBThrottled},
		{"a transaction conflict is a conflict", reasons("TransactionConflict", "None"), metrics.DynamoDBConflict},
		{"a transaction's validation error is rejected", reasons("ValidationError"), metrics.DynamoDBRejected},
		{"a transaction reason this code does not know is a fault", reasons("SomethingNew"), metrics.DynamoDBFault},
		{"a single-item write to an item in a transaction is a conflict", &smithy.GenericAPIError{Code: "TransactionConflictException", Fault: smithy.FaultClient}, metrics.DynamoDBConflict},
		{"ProvisionedThroughputExceeded is throttled", &types.ProvisionedThroughputExceededException{}, metrics.DynamoDBThrottled},
		{"ThrottlingException is throttled", &smithy.GenericAPIError{Code: "ThrottlingException", Fault: smithy.FaultClient}, metrics.DynamoDBThrottled},
		{"a request limit is throttled", &types.RequestLimitExceeded{}, metrics.DynamoDBThrottled},
		{"a validation error is rejected", &smithy.GenericAPIError{Code: "ValidationException", Fault: smithy.FaultClient}, metrics.DynamoDBRejected},
		{"access denied is rejected", &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}, metrics.DynamoDBRejected},
		{"a missing table is rejected", &types.ResourceNotFoundException{}, metrics.DynamoDBRejected},
		{"an internal server error is a fault", &types.InternalServerError{}, metrics.DynamoDBFault},
		{"a network error is a fault", &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("connection reset")}, metrics.DynamoDBFault},
		{"the deadline is a timeout", fmt.Errorf("send: %w", context.DeadlineExceeded), metrics.DynamoDBTimeout},
		{"a cancelled request is a timeout", context.Canceled, metrics.DynamoDBTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ddb.AttemptFailure(tc.err); got != tc.want {
				t.Fatalf("AttemptFailure(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
