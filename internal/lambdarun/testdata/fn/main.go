// Command fn is a Lambda function for lambdarun's tests. FN_MODE chooses how it
// starts: "exit" exits at once, "init-error" reports an init error through the
// Runtime API and waits, "hang" never asks for an event; otherwise it serves events
// (see handle).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Fail  bool   `json:"fail"`
	Panic bool   `json:"panic"`
	Echo  string `json:"echo"`
}

type answer struct {
	Echo       string   `json:"echo"`
	RequestID  string   `json:"request_id"`
	ARN        string   `json:"arn"`
	DeadlineMS int64    `json:"deadline_ms"`
	Env        []string `json:"env"`
}

// handle echoes the event with what the Runtime API told the function; {"fail":true}
// returns an error and {"panic":true} panics.
func handle(ctx context.Context, ev event) (answer, error) {
	switch {
	case ev.Fail:
		return answer{}, errors.New("asked to fail")
	case ev.Panic:
		panic("asked to panic")
	}
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	return answer{Echo: ev.Echo, RequestID: lc.AwsRequestID, ARN: lc.InvokedFunctionArn, DeadlineMS: dl.UnixMilli(), Env: os.Environ()}, nil
}

func main() {
	switch os.Getenv("FN_MODE") {
	case "exit":
		fmt.Println("cannot start: no configuration")
		os.Exit(3)
	case "init-error":
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"errorMessage":"bad configuration","errorType":"Runtime.ConfigError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		select {}
	case "hang":
		select {}
	}
	lambda.Start(handle)
}
