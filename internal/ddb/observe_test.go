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
		{"a transaction with a throttled item is throttled", reasons("None", "ThrottlingError"), ddb.FailureThrottled},
		{"a throttle wins over a condition and a conflict", reasons("ConditionalCheckFailed", "TransactionConflict", "ProvisionedThroughputExceeded"), ddb.FailureThrottled},
		{"a transaction conflict is a conflict", reasons("TransactionConflict", "None"), ddb.FailureConflict},
		{"a transaction's validation error is rejected", reasons("ValidationError"), ddb.FailureRejected},
		{"a transaction reason this code does not know is a fault", reasons("SomethingNew"), ddb.FailureFault},
		{"a single-item write to an item in a transaction is a conflict", &smithy.GenericAPIError{Code: "TransactionConflictException", Fault: smithy.FaultClient}, ddb.FailureConflict},
		{"ProvisionedThroughputExceeded is throttled", &types.ProvisionedThroughputExceededException{}, ddb.FailureThrottled},
		{"ThrottlingException is throttled", &smithy.GenericAPIError{Code: "ThrottlingException", Fault: smithy.FaultClient}, ddb.FailureThrottled},
		{"a request limit is throttled", &types.RequestLimitExceeded{}, ddb.FailureThrottled},
		{"a validation error is rejected", &smithy.GenericAPIError{Code: "ValidationException", Fault: smithy.FaultClient}, ddb.FailureRejected},
		{"access denied is rejected", &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}, ddb.FailureRejected},
		{"a missing table is rejected", &types.ResourceNotFoundException{}, ddb.FailureRejected},
		{"an internal server error is a fault", &types.InternalServerError{}, ddb.FailureFault},
		{"a network error is a fault", &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("connection reset")}, ddb.FailureFault},
		{"the deadline is a timeout", fmt.Errorf("send: %w", context.DeadlineExceeded), ddb.FailureTimeout},
		{"a cancelled request is a timeout", context.Canceled, ddb.FailureTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ddb.AttemptFailure(tc.err); got != tc.want {
				t.Fatalf("AttemptFailure(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
