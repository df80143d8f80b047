package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// invocation describes how to invoke one Lambda function.
type invocation struct {
	name    string        // function name, for the ARN and logs
	timeout time.Duration // the function's timeout: its context's deadline
	wait    time.Duration // how long API Gateway waits for it (<= timeout)
}

// gatewayError is an invocation failure and what API Gateway answers for it.
type gatewayError struct {
	status  int
	message string
	cause   error
}

func (e *gatewayError) Error() string { return e.cause.Error() }
func (e *gatewayError) Unwrap() error { return e.cause }

func internalError(format string, args ...any) *gatewayError {
	return &gatewayError{status: 500, message: "Internal Server Error", cause: fmt.Errorf(format, args...)}
}

// panicError is a panic in a function, recovered as the Lambda runtime does.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// invoke calls fn as Lambda would: the event goes through JSON (and Lambda's
// payload limit), the context has a deadline and a LambdaContext, a panic is
// a function error, a function that outlives its timeout is abandoned, and
// the result goes through JSON (and the limit) on its way back. A client
// that goes away does not cancel the invocation.
//
// Errors are *gatewayError: 413 for an event over Lambda's limit, 503 if
// API Gateway stops waiting before the function's timeout, 500 otherwise.
func invoke[In, Out any](ctx context.Context, fn func(context.Context, In) (Out, error), in In, inv invocation) (Out, error) {
	var zero Out
	payload, err := json.Marshal(in)
	if err != nil {
		return zero, internalError("encoding the event for %s: %w", inv.name, err)
	}
	if len(payload) > lambdaMaxRequestBytes {
		return zero, &gatewayError{status: 413, message: "Request Too Long",
			cause: fmt.Errorf("event for %s is %d bytes, over Lambda's %d", inv.name, len(payload), lambdaMaxRequestBytes)}
	}
	var event In
	if err := json.Unmarshal(payload, &event); err != nil {
		return zero, internalError("decoding the event for %s: %w", inv.name, err)
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inv.timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newUUID(),
		InvokedFunctionArn: fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, accountID, inv.name),
	})

	type result struct {
		out Out
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- result{err: &panicError{value: v, stack: debug.Stack()}}
			}
		}()
		out, err := fn(ctx, event)
		done <- result{out: out, err: err}
	}()

	timer := time.NewTimer(inv.wait)
	defer timer.Stop()
	var res result
	select {
	case res = <-done:
	case <-timer.C:
		if inv.wait < inv.timeout {
			return zero, &gatewayError{status: 503, message: "Service Unavailable",
				cause: fmt.Errorf("%s did not answer within the %v integration timeout", inv.name, inv.wait)}
		}
		return zero, internalError("%s timed out after %v", inv.name, inv.timeout)
	}
	if res.err != nil {
		return zero, &gatewayError{status: 500, message: "Internal Server Error",
			cause: fmt.Errorf("%s failed: %w", inv.name, res.err)}
	}

	payload, err = json.Marshal(res.out)
	if err != nil {
		return zero, internalError("encoding the response of %s: %w", inv.name, err)
	}
	if len(payload) > lambdaMaxResponseBytes {
		return zero, internalError("response of %s is %d bytes, over Lambda's %d", inv.name, len(payload), lambdaMaxResponseBytes)
	}
	var out Out
	if err := json.Unmarshal(payload, &out); err != nil {
		return zero, internalError("decoding the response of %s: %w", inv.name, err)
	}
	return out, nil
}
