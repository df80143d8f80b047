package authz_test

// CPU benchmarks of the authorizer with DynamoDB taken out (`make bench`, see
// BENCHMARKS.md). One iteration is what a warm Lambda container does per protected
// request: JSON-decode the payload 2.0 authorizer event from bytes (as the
// aws-lambda-go runtime does), verify the access token, decide against the session
// and user records, and JSON-encode the simple response. The DynamoDB client is a
// stub behind ddb.API that hands back canned items, so the store's own request
// building and item parsing are measured while the SDK and the network are not.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sessions/internal/authz"
	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

const (
	benchIssuer   = "https://sessions.example.com"
	benchAudience = "my-app"
	benchUID      = "u-2b7e151628aed2a6abf7158809cf4f3c"
	benchSID      = "ZpXbQAAAAAAAAAAAAAAAAA"
	benchTable    = "sessions"
)

var benchNow = time.Unix(1_790_000_000, 0)

// benchStore is a ddb.API that answers the authorizer's reads with canned items.
type benchStore struct {
	batch *dynamodb.BatchGetItemOutput
	get   *dynamodb.GetItemOutput
}

func (s *benchStore) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return s.get, nil
}
func (s *benchStore) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return s.batch, nil
}
func (s *benchStore) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	panic("not used")
}
func (s *benchStore) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	panic("not used")
}
func (s *benchStore) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	panic("not used")
}
func (s *benchStore) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	panic("not used")
}

func benchN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func benchS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// benchItems returns a session item and a user item shaped as docs/design.md says.
func benchItems() (sess, user map[string]types.AttributeValue) {
	hash := make([]byte, 32)
	sess = map[string]types.AttributeValue{
		"pk":         benchS("s#" + benchSID),
		"user_id":    benchS(benchUID),
		"ver":        benchN(3),
		"scope":      benchS("openid profile"),
		"cur":        &types.AttributeValueMemberB{Value: hash},
		"prev":       &types.AttributeValueMemberB{Value: hash},
		"rotated_at": benchN(benchNow.UnixMilli()),
		"gen":        benchN(12),
		"idle_exp":   benchN(benchNow.Add(14 * 24 * time.Hour).Unix()),
		"abs_exp":    benchN(benchNow.Add(30 * 24 * time.Hour).Unix()),
		"ttl":        benchN(benchNow.Add(14 * 24 * time.Hour).Unix()),
		"created_at": benchN(benchNow.Add(-time.Hour).Unix()),
		"last_used":  benchN(benchNow.Unix()),
		"ua":         benchS("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"),
		"ip":         benchS("203.0.113.7"),
	}
	user = map[string]types.AttributeValue{
		"pk":   benchS("u#" + benchUID),
		"name": benchS("alice@example.com"),
		"ver":  benchN(3),
	}
	return sess, user
}

func benchKeySet(b *testing.B, alg string) *keys.Set {
	b.Helper()
	pem, err := keys.Generate(alg)
	if err != nil {
		b.Fatal(err)
	}
	ks, err := keys.Parse(pem)
	if err != nil {
		b.Fatal(err)
	}
	return ks
}

func benchToken(b *testing.B, ks *keys.Set) string {
	b.Helper()
	m := token.NewMinter(ks, benchIssuer, benchAudience)
	tok, err := m.Mint(benchNow.Add(-time.Minute), benchUID, benchSID, 3, "openid profile", benchNow.Add(14*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// benchEvent is a payload 2.0 authorizer event for GET /me as API Gateway sends it:
// browser-like headers, the identity source and the request context.
func benchEvent(b *testing.B, tok string) []byte {
	b.Helper()
	auth := "Bearer " + tok
	ev := events.APIGatewayV2CustomAuthorizerV2Request{
		Version:        "2.0",
		Type:           "REQUEST",
		RouteArn:       "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/$default/GET/me",
		IdentitySource: []string{auth},
		RouteKey:       "GET /me",
		RawPath:        "/me",
		Cookies:        []string{"theme=dark", "lang=en"},
		Headers: map[string]string{
			"accept":            "application/json",
			"accept-encoding":   "gzip, deflate, br",
			"accept-language":   "en-GB,en;q=0.9",
			"authorization":     auth,
			"content-length":    "0",
			"host":              "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
			"origin":            "https://app.example.com",
			"referer":           "https://app.example.com/",
			"user-agent":        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
			"x-amzn-trace-id":   "Root=1-67891233-abcdef012345678912345678",
			"x-forwarded-for":   "203.0.113.7",
			"x-forwarded-port":  "443",
			"x-forwarded-proto": "https",
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID:    "123456789012",
			APIID:        "a1b2c3d4e5",
			DomainName:   "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
			DomainPrefix: "a1b2c3d4e5",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "GET", Path: "/me", Protocol: "HTTP/1.1", SourceIP: "203.0.113.7",
				UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
			},
			RequestID: "JKJaXmPLvHcESHA=",
			RouteKey:  "GET /me",
			Stage:     "$default",
			Time:      "12/Mar/2026:19:03:58 +0000",
			TimeEpoch: benchNow.UnixMilli(),
		},
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func benchAuthorizer(b *testing.B, ks *keys.Set) *authz.Authorizer {
	b.Helper()
	sess, _ := benchItems()
	st := &benchStore{get: &dynamodb.GetItemOutput{Item: sess}}
	now := func() time.Time { return benchNow }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return authz.New(token.NewVerifier(ks, benchIssuer, benchAudience, now), ddb.New(st, benchTable), now, log)
}

// serveAuthorizer is one invocation: decode, handle, encode.
func serveAuthorizer(b *testing.B, a *authz.Authorizer, raw []byte) []byte {
	var ev events.APIGatewayV2CustomAuthorizerV2Request
	if err := json.Unmarshal(raw, &ev); err != nil {
		b.Fatal(err)
	}
	resp, err := a.Handle(context.Background(), ev)
	if err != nil || !resp.IsAuthorized {
		b.Fatalf("denied: %v", err)
	}
	out, err := json.Marshal(resp)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

var benchAlgs = []string{keys.EdDSA, keys.ES256, keys.RS256}

// BenchmarkAuthorizerPath is the whole CPU path of one authorization with the
// token-version cache off (the default): decode, verify, BatchGetItem stub, Decide,
// encode.
func BenchmarkAuthorizerPath(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			ks := benchKeySet(b, alg)
			a := benchAuthorizer(b, ks)
			raw := benchEvent(b, benchToken(b, ks))
			b.ReportAllocs()
			for b.Loop() {
				serveAuthorizer(b, a, raw)
			}
		})
	}
}

// BenchmarkStatelessPath is the pure-stateless baseline in the same shape: decode the
// event, verify the JWT, encode the response; no session, no revocation.
func BenchmarkStatelessPath(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			ks := benchKeySet(b, alg)
			v := token.NewVerifier(ks, benchIssuer, benchAudience, func() time.Time { return benchNow })
			raw := benchEvent(b, benchToken(b, ks))
			b.ReportAllocs()
			for b.Loop() {
				var ev events.APIGatewayV2CustomAuthorizerV2Request
				if err := json.Unmarshal(raw, &ev); err != nil {
					b.Fatal(err)
				}
				c, err := v.Verify(ev.IdentitySource[0][len("Bearer "):])
				if err != nil {
					b.Fatal(err)
				}
				resp := events.APIGatewayV2CustomAuthorizerSimpleResponse{
					IsAuthorized: true,
					Context:      map[string]any{"sub": c.Subject, "sid": c.SID, "scope": c.Scope},
				}
				if _, err := json.Marshal(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthorizerPathHS256 is what the path would cost with HS256, which the
// service refuses (keys are asymmetric so the JWKS can be public). It replaces
// token.Verifier by golang-jwt's parser with the same options and so omits the
// verifier's own strict header and duplicate-member checks: a lower bound.
func BenchmarkAuthorizerPathHS256(b *testing.B) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	ver := int64(3)
	claims := token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: benchIssuer, Subject: benchUID, Audience: jwt.ClaimStrings{benchAudience},
			ExpiresAt: jwt.NewNumericDate(benchNow.Add(14 * time.Minute)),
			IssuedAt:  jwt.NewNumericDate(benchNow.Add(-time.Minute)), ID: "jti-0123456789abcdef",
		},
		SID: benchSID, Ver: &ver, Scope: "openid profile",
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["typ"] = token.Type
	tok, err := t.SignedString(secret)
	if err != nil {
		b.Fatal(err)
	}
	raw := benchEvent(b, tok)
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithIssuer(benchIssuer), jwt.WithAudience(benchAudience), jwt.WithStrictDecoding(),
		jwt.WithLeeway(token.Leeway), jwt.WithTimeFunc(func() time.Time { return benchNow }))
	sessItem, _ := benchItems()
	st := ddb.New(&benchStore{get: &dynamodb.GetItemOutput{Item: sessItem}}, benchTable)
	keyFunc := func(*jwt.Token) (any, error) { return secret, nil }
	b.ReportAllocs()
	for b.Loop() {
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Fatal(err)
		}
		var c token.Claims
		if _, err := parser.ParseWithClaims(ev.IdentitySource[0][len("Bearer "):], &c, keyFunc); err != nil {
			b.Fatal(err)
		}
		sess, err := st.GetSession(context.Background(), c.SID)
		if err != nil {
			b.Fatal(err)
		}
		if reason := authz.Decide(&c, sess, benchNow); reason != "" {
			b.Fatal(reason)
		}
		resp := events.APIGatewayV2CustomAuthorizerSimpleResponse{
			IsAuthorized: true,
			Context:      map[string]any{"sub": c.Subject, "sid": c.SID, "scope": c.Scope},
		}
		if _, err := json.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizerSteps splits BenchmarkAuthorizerPath/EdDSA into its parts, to
// show where the time and the allocations go.
func BenchmarkAuthorizerSteps(b *testing.B) {
	ks := benchKeySet(b, keys.EdDSA)
	tok := benchToken(b, ks)
	raw := benchEvent(b, tok)
	now := func() time.Time { return benchNow }
	v := token.NewVerifier(ks, benchIssuer, benchAudience, now)
	sessItem, _ := benchItems()
	st := ddb.New(&benchStore{get: &dynamodb.GetItemOutput{Item: sessItem}}, benchTable)
	c, err := v.Verify(tok)
	if err != nil {
		b.Fatal(err)
	}
	sess, err := st.GetSession(context.Background(), benchSID)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DecodeEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var ev events.APIGatewayV2CustomAuthorizerV2Request
			if err := json.Unmarshal(raw, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetSession", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.GetSession(context.Background(), benchSID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decide", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if reason := authz.Decide(c, sess, benchNow); reason != "" {
				b.Fatal(reason)
			}
		}
	})
	b.Run("EncodeResponse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp := events.APIGatewayV2CustomAuthorizerSimpleResponse{
				IsAuthorized: true,
				Context:      map[string]any{"sub": c.Subject, "sid": c.SID, "scope": c.Scope},
			}
			if _, err := json.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
