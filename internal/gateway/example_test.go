package gateway_test

import (
	"context"
	"log"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/gateway"
)

// This is how the local server runs the Lambda handlers behind one HTTP API.
func Example() {
	hello := func(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		sub, _ := e.RequestContext.Authorizer.Lambda["sub"].(string)
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "text/plain"},
			Body:       "hello " + sub,
		}, nil
	}
	authorizer := func(ctx context.Context, e events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
		// e.IdentitySource[0] is the Authorization header.
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{
			IsAuthorized: e.IdentitySource[0] == "Bearer let-me-in",
			Context:      map[string]any{"sub": "u1"},
		}, nil
	}
	h, err := gateway.New(gateway.Config{
		Routes: []gateway.Route{
			{Method: "GET", Path: "/me", Handler: hello, Protected: true, Name: "me"},
		},
		Authorizer:      authorizer,
		IdentityHeaders: []string{"Authorization"},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = &http.Server{Addr: "localhost:3000", Handler: h} // then ListenAndServe
}
