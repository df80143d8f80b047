package verify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
	"github.com/example/sessions/verify"
)

// sessionService stands in for the deployed session service: its key set, its JWKS
// endpoint and an access token as login hands it out. In production the URL is
// https://<api>/.well-known/jwks.json and the token comes from the client.
func sessionService() (jwksURL, accessToken string, stop func()) {
	now := time.Now()
	set, err := keys.NewSet(keys.EdDSA, now)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(set.JWKS())
	}))
	at, err := token.NewMinter(set, "https://sessions.example.com", "my-app").
		Mint(now, "user-1", "session-1", 0, "orders:read", now.Add(15*time.Minute))
	if err != nil {
		panic(err)
	}
	return srv.URL + "/.well-known/jwks.json", at, srv.Close
}

// A service with its own HTTP server puts the middleware in front of its routes.
func Example() {
	jwksURL, accessToken, stop := sessionService()
	defer stop()

	// One Verifier per process, shared by every request.
	v, err := verify.New(verify.Config{
		JWKSURL:  jwksURL,
		Issuer:   "https://sessions.example.com", // the service's ISSUER
		Audience: "my-app",                       // and AUDIENCE
	})
	if err != nil {
		panic(err)
	}
	orders := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		if !c.HasScope("orders:read") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "the orders of %s", c.Subject)
	}))

	for _, authorization := range []string{"Bearer " + accessToken, "", "Bearer not-a-token"} {
		req := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		orders.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
		if c := rec.Header().Get("WWW-Authenticate"); c != "" {
			fmt.Println("  WWW-Authenticate:", c)
		}
	}
	// Output:
	// 200 the orders of user-1
	// 401 {"error":"unauthorized","message":"a bearer access token is required"}
	//   WWW-Authenticate: Bearer
	// 401 {"error":"invalid_token","message":"the access token is invalid or expired"}
	//   WWW-Authenticate: Bearer error="invalid_token"
}

// A Lambda function behind its own API Gateway HTTP API wraps its handler; main would
// call lambda.Start(v.Lambda(handler)).
func ExampleVerifier_Lambda() {
	jwksURL, accessToken, stop := sessionService()
	defer stop()

	v, err := verify.New(verify.Config{JWKSURL: jwksURL, Issuer: "https://sessions.example.com", Audience: "my-app"})
	if err != nil {
		panic(err)
	}
	handler := v.Lambda(func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		c, _ := verify.ClaimsFrom(ctx)
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Body: "hello " + c.Subject}, nil
	})

	for _, headers := range []map[string]string{{"authorization": "Bearer " + accessToken}, {}} {
		resp, _ := handler(context.Background(), events.APIGatewayV2HTTPRequest{Headers: headers})
		fmt.Println(resp.StatusCode, resp.Body)
	}
	// Output:
	// 200 hello user-1
	// 401 {"error":"unauthorized","message":"a bearer access token is required"}
}
