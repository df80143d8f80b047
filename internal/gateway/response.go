package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// tooLargeBody is what API Gateway answers, with 413, to a body over the
// 10 MB payload quota.
const tooLargeBody = "HTTP content length exceeded 10485760 bytes."

// writeResponse writes a function's payload format 2.0 response. It returns
// an error, having written nothing, if the response is malformed: a status
// code outside 200-599 (an unset statusCode is 0) or a body that claims to be
// base64 and is not. multiValueHeaders is not part of format 2.0 and is
// ignored; ignored is told the names it held.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse, ignored func([]string)) (int, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		return 0, fmt.Errorf("invalid statusCode %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return 0, fmt.Errorf("isBase64Encoded body: %w", err)
		}
	}
	if len(resp.MultiValueHeaders) > 0 && ignored != nil {
		names := make([]string, 0, len(resp.MultiValueHeaders))
		for name := range resp.MultiValueHeaders {
			names = append(names, name)
		}
		slices.Sort(names)
		ignored(names)
	}

	h := w.Header()
	for name, value := range resp.Headers {
		switch strings.ToLower(name) {
		case "content-length", "transfer-encoding", "connection":
			continue // framing is the gateway's business
		}
		h.Add(name, value)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" {
		h["Content-Type"] = nil // no content sniffing: send no Content-Type
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	return resp.StatusCode, nil
}

// writeMessage writes one of API Gateway's own JSON answers, such as 404
// {"message":"Not Found"}, and returns its status.
func writeMessage(w http.ResponseWriter, status int, message string) int {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
	return status
}

// writeTooLarge answers a request whose body is over the payload quota.
func writeTooLarge(w http.ResponseWriter) int {
	h := w.Header()
	h.Set("Content-Type", "text; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(tooLargeBody)))
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	w.Write([]byte(tooLargeBody))
	return http.StatusRequestEntityTooLarge
}
