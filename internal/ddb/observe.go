package ddb

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/example/sessions/internal/metrics"
)

// Observe returns api with every failed HTTP attempt of every call reported to report
// (as AttemptFailure names it), SDK retries included, so a throttle the SDK retried
// into a success still counts: the classify paths see only what is left after the
// retries. A failed condition is an answer about the data, not a failure, and is not
// reported.
func Observe(api API, report func(ctx context.Context, failure string)) API {
	mw := middleware.FinalizeMiddlewareFunc("ObserveAttempt", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleFinalize(ctx, in)
		if f := AttemptFailure(err); f != "" {
			report(ctx, f)
		}
		return out, md, err
	})
	return observed{api, func(o *dynamodb.Options) {
		// A copy: the client's slice is shared by concurrent calls.
		o.APIOptions = append(append([]func(*middleware.Stack) error(nil), o.APIOptions...), func(s *middleware.Stack) error {
			// After the retry middleware, so each attempt passes through it.
			if err := s.Finalize.Insert(mw, "Retry", middleware.After); err != nil {
				return s.Finalize.Add(mw, middleware.After)
			}
			return nil
		})
	}}
}

type observed struct {
	api API
	opt func(*dynamodb.Options)
}

func (o observed) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return o.api.GetItem(ctx, in, append(opts, o.opt)...)
}

func (o observed) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return o.api.PutItem(ctx, in, append(opts, o.opt)...)
}

func (o observed) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return o.api.UpdateItem(ctx, in, append(opts, o.opt)...)
}

func (o observed) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return o.api.BatchGetItem(ctx, in, append(opts, o.opt)...)
}

func (o observed) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return o.api.TransactWriteItems(ctx, in, append(opts, o.opt)...)
}

// AttemptFailure says what one HTTP attempt's error was, as a DynamoDBErrors outcome
// of internal/metrics ("" for none, or for a failed condition). Throttling codes are the SDK's own list (retry.DefaultThrottleErrorCodes),
// and a cancelled transaction is what its worst reason says.
func AttemptFailure(err error) string {
	if err == nil {
		return ""
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ""
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		return cancellationFailure(tce.CancellationReasons)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return metrics.DynamoDBTimeout
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		_, throttle := retry.DefaultThrottleErrorCodes[code]
		switch {
		case throttle:
			return metrics.DynamoDBThrottled
		case code == "TransactionConflictException":
			return metrics.DynamoDBConflict
		case ae.ErrorFault() == smithy.FaultClient:
			return metrics.DynamoDBRejected
		}
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
			return metrics.DynamoDBRejected
		}
	}
	return metrics.DynamoDBFault
}

// cancellationFailure ranks a cancelled transaction's reasons: a throttle or a conflict
// over the rest; only failed conditions (and "None" for the items that had none) is no
// failure at all.
func cancellationFailure(reasons []types.CancellationReason) string {
	worst := ""
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case "", "None", "ConditionalCheckFailed":
		case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			return metrics.DynamoDBThrottled
		case "TransactionConflict":
			worst = metrics.DynamoDBConflict
		case "ValidationError", "ItemCollectionSizeLimitExceeded":
			if worst == "" {
				worst = metrics.DynamoDBRejected
			}
		default:
			if worst == "" || worst == metrics.DynamoDBRejected {
				worst = metrics.DynamoDBFault
			}
		}
	}
	return worst
}
