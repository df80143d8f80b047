package testenv

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Cancelled answers a TransactWriteItems as DynamoDB does when it cancels the
// transaction: HTTP 400, TransactionCanceledException, and one cancellation reason per
// item of the transaction, in order, with the given codes ("None",
// "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
// "ProvisionedThroughputExceeded", "ValidationError", ...). The request never reaches
// the table. The SDK does not retry this error.
func Cancelled(codes ...string) Fault {
	return func(req *http.Request, _ func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		drain(req)
		reasons := make([]map[string]string, len(codes))
		for i, c := range codes {
			reasons[i] = map[string]string{"Code": c}
			if c != "None" {
				reasons[i]["Message"] = "injected " + c
			}
		}
		const code = "TransactionCanceledException"
		body, _ := json.Marshal(map[string]any{
			"__type":              "com.amazonaws.dynamodb.v20120810#" + code,
			"Message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]",
			"CancellationReasons": reasons,
		})
		h := http.Header{}
		h.Set("Content-Type", "application/x-amz-json-1.0")
		h.Set("X-Amzn-Errortype", code)
		h.Set("X-Amzn-Requestid", "FAULTINJECTEDREQUESTID0000000000000000000000000000")
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		return &http.Response{
			Status: "400 Bad Request", StatusCode: http.StatusBadRequest,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
			Request: req,
		}, nil
	}
}
