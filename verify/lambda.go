package verify

import (
	"context"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// HTTPAPIHandler is an aws-lambda-go handler of API Gateway HTTP API requests (payload
// format 2.0), as lambda.Start takes it.
type HTTPAPIHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// VerifyRequest checks the bearer token of an HTTP API request (payload 2.0). API
// Gateway hands header names in lower case and joins repeated headers with commas (a
// joined value is refused as a token); the name is matched in any case for requests
// built by other means.
func (v *Verifier) VerifyRequest(ctx context.Context, req events.APIGatewayV2HTTPRequest) (*Claims, error) {
	var values []string
	for name, value := range req.Headers {
		if strings.EqualFold(name, "Authorization") {
			values = append(values, value)
		}
	}
	return v.verifyHeaders(ctx, values)
}

// Lambda wraps next so that it runs only for a request with a valid bearer token, its
// claims in the context (ClaimsFrom); other requests get the Middleware's answers.
func (v *Verifier) Lambda(next HTTPAPIHandler) HTTPAPIHandler {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		c, err := v.VerifyRequest(ctx, req)
		if err != nil {
			return v.RefusalResponse(ctx, err), nil
		}
		return next(WithClaims(ctx, c), req)
	}
}

// RefusalResponse is the answer to a request VerifyRequest refused with err, for
// handlers that verify by themselves: 401 or 503 as the Middleware answers, and logged
// the same way.
func (v *Verifier) RefusalResponse(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	ans := v.refusal(ctx, err)
	return events.APIGatewayV2HTTPResponse{StatusCode: ans.status, Headers: ans.headers, Body: string(ans.body)}
}
