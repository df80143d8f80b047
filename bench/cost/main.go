// Command cost measures what each operation of the service costs in DynamoDB
// requests and capacity units, against DynamoDB Local, and writes the figures as JSON
// for bench/report (`make bench`, see BENCHMARKS.md).
//
//	go run ./bench/cost [-endpoint URL] [-out bench/results/cost.json]
//
// Every call of the service goes through a DynamoDB client with the meter the tests
// use too (internal/ddbmeter): HTTP attempts and the ConsumedCapacity DynamoDB Local
// reports; meter.go adds the capacity DynamoDB's documented rules charge, from the
// measured sizes of the items involved. Without -endpoint (or AWS_ENDPOINT_URL_DYNAMODB) it
// starts DynamoDB Local itself and stops it on exit.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/authz"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/ddblocal"
	"github.com/example/sessions/internal/ddbmeter"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/token"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), "DynamoDB Local endpoint (empty: start one)")
	out := flag.String("out", "bench/results/cost.json", "where to write the JSON results")
	latencyN := flag.Int("latency-requests", 300, "requests per sequential latency loop")
	flag.Parse()
	if err := run(*endpoint, *out, *latencyN); err != nil {
		fmt.Fprintln(os.Stderr, "cost:", err)
		os.Exit(1)
	}
}

// clock is the App's clock: real time plus an offset the scenario moves forward.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type runner struct {
	ctx    context.Context
	m      *rules
	a      *app.App
	cfg    config.Config
	clk    *clock
	oracle *dynamodb.Client
	plain  *dynamodb.Client
	table  string
	res    results.Cost
	log    *slog.Logger
}

func run(endpoint, out string, latencyN int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The SDK's standard loader is used as the functions use it; a region and dummy
	// credentials keep it local.
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	os.Unsetenv("AWS_PROFILE")
	if endpoint == "" {
		fmt.Fprintln(os.Stderr, "cost: starting DynamoDB Local")
		s, err := ddblocal.Start(ctx, ddblocal.Options{})
		if err != nil {
			return err
		}
		defer s.Stop()
		endpoint = s.Endpoint()
	}
	os.Setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)

	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		return err
	}
	table := "bench-cost-" + randHex(4)
	in, err := tmpl.CreateTableInput(table)
	if err != nil {
		return err
	}
	oracle := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true,
	})
	if _, err := ddb.EnsureTable(ctx, oracle, in, tmpl.TTLAttribute()); err != nil {
		return err
	}

	m := newRules(oracle, table, in)

	// The measured client: the functions' own configuration (app.LoadAWS: bounded
	// retries), with the meter.
	awsCfg, err := app.LoadAWS(ctx)
	if err != nil {
		return err
	}
	client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		m.Install(o)
		// DynamoDB Local sends no x-amz-crc32 on error answers (see local/main.go).
		o.DisableValidateResponseChecksum = true
	})
	plain := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true })

	material, err := keys.NewMaterial(keys.EdDSA, time.Now())
	if err != nil {
		return err
	}
	env, err := material.Env()
	if err != nil {
		return err
	}
	env["TABLE_NAME"], env["ISSUER"], env["AUDIENCE"] = table, "https://sessions.example.com", "my-app"
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.UseAll)
	if err != nil {
		return err
	}
	clk := &clock{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(ctx, cfg, app.Options{DynamoDB: client, Now: clk.Now, Log: log})
	if err != nil {
		return err
	}
	r := &runner{ctx: ctx, m: m, a: a, cfg: cfg, clk: clk, oracle: oracle, plain: plain, table: table, log: log}
	r.res.DynamoDBLocal = "DynamoDB Local from npm " + ddblocal.NPMPackage + " (in memory, -sharedDb)"
	if err := r.scenario(); err != nil {
		return err
	}
	if err := r.probes(); err != nil {
		return err
	}
	if err := r.latency(latencyN); err != nil {
		return err
	}
	_, _ = oracle.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	return results.Write(out, r.res)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

const (
	userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
	sourceIP  = "203.0.113.7"
	goodPW    = "correct horse battery staple"
)

// measure runs fn and records the DynamoDB calls it made as one operation.
func (r *runner) measure(key, name, note string, fn func() (string, error)) (results.Operation, error) {
	mark := r.m.Mark()
	outcome, err := fn()
	if err != nil {
		return results.Operation{}, fmt.Errorf("%s: %w", name, err)
	}
	op := results.Operation{Key: key, Name: name, Note: note, Calls: r.m.charged(mark), Outcome: outcome}
	for _, c := range op.Calls {
		op.RoundTrips++
		op.HTTPAttempts += c.Attempts
		op.MeasuredRCU += c.MeasuredRCU
		op.MeasuredWCU += c.MeasuredWCU
		op.ExpectedRCU += c.ExpectedRCU
		op.ExpectedWCU += c.ExpectedWCU
		op.ExpectedGSI += c.ExpectedGSI
		if !c.Reported {
			op.Unreported++
		}
	}
	r.res.Operations = append(r.res.Operations, op)
	fmt.Fprintf(os.Stderr, "cost: %-48s %d call(s), measured %.1f RCU %.1f WCU, expected %.1f RCU %.1f WCU  [%s]\n",
		name, op.RoundTrips, op.MeasuredRCU, op.MeasuredWCU, op.ExpectedRCU, op.ExpectedWCU, outcome)
	return op, nil
}

// grant is what login and refresh answer.
type grant struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func httpEvent(body any) events.APIGatewayV2HTTPRequest {
	b, _ := json.Marshal(body)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", Body: string(b),
		Headers: map[string]string{"content-type": "application/json", "user-agent": userAgent},
	}
	ev.RequestContext.HTTP.SourceIP = sourceIP
	ev.RequestContext.HTTP.UserAgent = userAgent
	return ev
}

func (r *runner) login(name, pw string) (grant, int, error) {
	return r.grant(r.a.API.Login, map[string]string{"username": name, "password": pw})
}

func (r *runner) refresh(rt string) (grant, int, error) {
	return r.grant(r.a.API.Refresh, map[string]string{"refresh_token": rt})
}

// grant calls a token-issuing handler and decodes its body when it answers 200.
func (r *runner) grant(h func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), body map[string]string) (grant, int, error) {
	resp, err := h(r.ctx, httpEvent(body))
	if err != nil {
		return grant{}, 0, err
	}
	var g grant
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(resp.Body), &g); err != nil {
			return grant{}, 0, err
		}
	}
	return g, resp.StatusCode, nil
}

func (r *runner) logout(rt, scope string) (int, error) {
	body := map[string]string{"refresh_token": rt}
	if scope != "" {
		body["scope"] = scope
	}
	resp, err := r.a.API.Logout(r.ctx, httpEvent(body))
	return resp.StatusCode, err
}

func authorizeWith(ctx context.Context, a *authz.Authorizer, at string) (bool, error) {
	resp, err := a.Handle(ctx, events.APIGatewayV2CustomAuthorizerV2Request{
		Version: "2.0", Type: "REQUEST", IdentitySource: []string{"Bearer " + at},
	})
	return resp.IsAuthorized, err
}

func status(code, want int) (string, error) {
	s := fmt.Sprintf("HTTP %d", code)
	if code != want {
		return s, fmt.Errorf("got %s, want %d", s, want)
	}
	return s, nil
}

func (r *runner) createUser(name string) (string, error) {
	l, err := r.a.Service.CreateUser(r.ctx, name, goodPW, "")
	if err != nil {
		return "", err
	}
	return l.UID, nil
}

func (r *runner) scenario() error {
	var uid string
	if _, err := r.measure("create_user", "create account (sessionctl)", "admin path: login record + token record in one transaction",
		func() (string, error) {
			var err error
			uid, err = r.createUser("alice@example.com")
			return "created", err
		}); err != nil {
		return err
	}

	var g1 grant
	if _, err := r.measure("login", "login", "GetItem of the login record (eventually consistent), then one transaction: put the session, clear the failure counter",
		func() (string, error) {
			var code int
			var err error
			if g1, code, err = r.login("alice@example.com", goodPW); err != nil {
				return "", err
			}
			return status(code, http.StatusOK)
		}); err != nil {
		return err
	}
	r.itemSize("session item after login (s#)", "s#"+sessionOf(g1.RefreshToken), "")
	r.itemSize("user token record (u#)", "u#"+uid, "")
	r.itemSize("login record (n#)", "n#alice@example.com", "argon2id PHC string included")

	if _, err := r.measure("login_bad_password", "login, wrong password", "the failure is counted on the login record",
		func() (string, error) {
			_, code, err := r.login("alice@example.com", "not the password at all")
			if err != nil {
				return "", err
			}
			return status(code, http.StatusUnauthorized)
		}); err != nil {
		return err
	}
	if _, err := r.measure("login_unknown_user", "login, unknown user", "a failures-only stub is written for the name (expires by TTL)",
		func() (string, error) {
			_, code, err := r.login("nobody@example.com", goodPW)
			if err != nil {
				return "", err
			}
			return status(code, http.StatusUnauthorized)
		}); err != nil {
		return err
	}
	r.itemSize("login stub for an unknown name (n#)", "n#nobody@example.com", "")
	// A correct login clears alice's failure counter again.
	if _, _, err := r.login("alice@example.com", goodPW); err != nil {
		return err
	}

	if _, err := r.measure("authorize", "authorize (cache off, default)", "one strongly consistent BatchGetItem: the session and the user's token record",
		func() (string, error) {
			ok, err := authorizeWith(r.ctx, r.a.Authorizer, g1.AccessToken)
			if err != nil || !ok {
				return "", fmt.Errorf("denied (%v)", err)
			}
			return "allowed", nil
		}); err != nil {
		return err
	}
	var g2 grant
	if _, err := r.measure("refresh", "refresh (happy path)", "one conditional UpdateItem rotates the hash and slides the idle deadline; ReturnValues carries the session",
		func() (string, error) {
			var code int
			var err error
			if g2, code, err = r.refresh(g1.RefreshToken); err != nil {
				return "", err
			}
			return status(code, http.StatusOK)
		}); err != nil {
		return err
	}
	r.itemSize("session item after a refresh (s#)", "s#"+sessionOf(g2.RefreshToken), "prev and rotated_at added")
	if _, err := r.measure("refresh_grace", "refresh, previous token inside the grace window", "the condition fails; ALL_OLD on the same round trip shows the parent of the current token: answered without a write",
		func() (string, error) {
			g, code, err := r.refresh(g1.RefreshToken)
			if err != nil {
				return "", err
			}
			if g.RefreshToken != g2.RefreshToken {
				return "", errors.New("the replay did not get the current token")
			}
			return status(code, http.StatusOK)
		}); err != nil {
		return err
	}
	r.clk.Advance(r.cfg.RefreshReuseGrace + time.Second)
	if _, err := r.measure("refresh_reuse", "refresh, reuse detected (old token after the grace window)", "the failed condition returns the item (ALL_OLD); theft is recognised in the same request and the session revoked",
		func() (string, error) {
			_, code, err := r.refresh(g1.RefreshToken)
			if err != nil {
				return "", err
			}
			return status(code, http.StatusUnauthorized)
		}); err != nil {
		return err
	}
	r.itemSize("revoked session item (s#)", "s#"+sessionOf(g2.RefreshToken), "revoked_at and revoke_reason added")

	g3, _, err := r.login("alice@example.com", goodPW)
	if err != nil {
		return err
	}
	if _, err := r.measure("logout", "logout (this session)", "one conditional UpdateItem: revoked_at, proving possession of the current or previous token",
		func() (string, error) {
			code, err := r.logout(g3.RefreshToken, "")
			if err != nil {
				return "", err
			}
			return status(code, http.StatusNoContent)
		}); err != nil {
		return err
	}

	for _, n := range []int{1, 5, 20} {
		name := fmt.Sprintf("bob%d@example.com", n)
		if _, err := r.createUser(name); err != nil {
			return err
		}
		var last grant
		for range n {
			if last, _, err = r.login(name, goodPW); err != nil {
				return err
			}
		}
		if _, err := r.measure(fmt.Sprintf("logout_all_%d", n), fmt.Sprintf("logout everywhere, %d session(s)", n),
			"revoke this session, read the token record, bump the version (transaction of 2), list the sessions (GSI query), revoke each",
			func() (string, error) {
				code, err := r.logout(last.RefreshToken, "all")
				if err != nil {
					return "", err
				}
				return status(code, http.StatusNoContent)
			}); err != nil {
			return err
		}
	}

	// The classic server-side session: one item per session, read whole and written
	// back with its last-seen time on every request.
	csKey := "cs#" + randHex(16)
	if _, err := r.plain.PutItem(r.ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: classicItem(csKey, uid)}); err != nil {
		return err
	}
	r.itemSize("classic server-side session item (baseline)", csKey, "user id, roles, CSRF secret, created/last-seen/expiry, user agent, IP")
	if _, err := r.measure("classic", "classic server-side session (baseline)", "GetItem (strongly consistent) + UpdateItem last_seen, as a session store does per request",
		func() (string, error) { return "found", classicRequest(r.ctx, r.m, r.plain, r.table, csKey, true) }); err != nil {
		return err
	}
	if _, err := r.measure("stateless", "stateless JWT (baseline)", "signature and claims only: no DynamoDB, no revocation",
		func() (string, error) {
			_, err := token.NewVerifier(r.a.Public, r.cfg.Issuer, r.cfg.Audience, r.clk.Now).Verify(g3.AccessToken)
			return "valid", err
		}); err != nil {
		return err
	}

	return nil
}

// sessionOf is the session ID of a refresh token ("<sid>.<secret>").
func sessionOf(rt string) string {
	sid, _, _ := strings.Cut(rt, ".")
	return sid
}

func (r *runner) itemSize(what, pk, note string) {
	out, err := r.oracle.GetItem(r.ctx, &dynamodb.GetItemInput{
		TableName: aws.String(r.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil || len(out.Item) == 0 {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("could not read %s to size it: %v", what, err))
		return
	}
	r.res.ItemSizes = append(r.res.ItemSizes, results.ItemSize{Item: what, Bytes: ddbmeter.ItemSize(out.Item), Note: note})
}

func classicItem(pk, uid string) map[string]types.AttributeValue {
	now := time.Now().Unix()
	n := func(v int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	return map[string]types.AttributeValue{
		"pk": s(pk), "uid": s(uid), "roles": s("user"), "csrf": s(randHex(16)),
		"created": n(now), "last_seen": n(now), "expires": n(now + 30*24*3600),
		"ua": s(userAgent), "ip": s(sourceIP),
	}
}

// classicRequest is one protected request the classic way. metered says whether the
// call goes through the measured client (the scenario) or the plain one (latency).
func classicRequest(ctx context.Context, m *rules, plain *dynamodb.Client, table, pk string, metered bool) error {
	c := plain
	if metered {
		c = meteredClient(m, plain)
	}
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	if err != nil {
		return err
	}
	if len(out.Item) == 0 {
		return errors.New("classic session missing")
	}
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: key, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		UpdateExpression:          aws.String("SET last_seen = :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: fmt.Sprint(time.Now().UnixNano())}},
	})
	return err
}

var meteredCache *dynamodb.Client

// meteredClient is a client like plain with the meter on.
func meteredClient(m *rules, plain *dynamodb.Client) *dynamodb.Client {
	if meteredCache == nil {
		meteredCache = dynamodb.New(plain.Options(), m.Install)
	}
	return meteredCache
}

// latency times sequential protected requests of each kind in process against
// DynamoDB Local, through an unmetered client.
func (r *runner) latency(n int) error {
	store := ddb.New(r.plain, r.table)
	now := time.Now // real time: these are fresh tokens
	verifier := token.NewVerifier(r.a.Public, r.cfg.Issuer, r.cfg.Audience, now)
	uid, err := r.createUser("carol@example.com")
	if err != nil {
		return err
	}
	r.clk.off.Store(0)
	g, code, err := r.login("carol@example.com", goodPW)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("latency login: %d %v", code, err)
	}
	at := g.AccessToken
	csKey := "cs#" + randHex(16)
	if _, err := r.plain.PutItem(r.ctx, &dynamodb.PutItemInput{TableName: aws.String(r.table), Item: classicItem(csKey, uid)}); err != nil {
		return err
	}
	off := authz.New(verifier, store, now, r.log)
	byKey := map[string]results.Operation{}
	for _, op := range r.res.Operations {
		byKey[op.Key] = op
	}
	loops := []struct {
		key, name string
		cost      results.Operation
		fn        func() error
	}{
		{"stateless", "stateless JWT: verify only", byKey["stateless"], func() error { _, err := verifier.Verify(at); return err }},
		{"authorize", "this service, cache off (default)", byKey["authorize"], func() error { return allow(authorizeWith(r.ctx, off, at)) }},
		{"classic", "classic server-side session", byKey["classic"], func() error {
			return classicRequest(r.ctx, r.m, r.plain, r.table, csKey, false)
		}},
	}
	for _, l := range loops {
		for range 50 { // warm up the JVM and the connection pool
			if err := l.fn(); err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
		}
		d := make([]float64, 0, n)
		for range n {
			t0 := time.Now()
			if err := l.fn(); err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
			d = append(d, float64(time.Since(t0).Nanoseconds())/1e3)
		}
		sort.Float64s(d)
		run := results.LatencyRun{Key: l.key, Name: l.name, Requests: n,
			RoundTrips: float64(l.cost.RoundTrips), RCU: l.cost.ExpectedRCU, WCU: l.cost.ExpectedWCU,
			P50us: pct(d, 50), P95us: pct(d, 95), P99us: pct(d, 99)}
		r.res.Latency = append(r.res.Latency, run)
		fmt.Fprintf(os.Stderr, "cost: latency %-44s p50 %8.0f µs  p95 %8.0f µs  p99 %8.0f µs\n", l.name, run.P50us, run.P95us, run.P99us)
	}
	return nil
}

func allow(ok bool, err error) error {
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("denied")
	}
	return nil
}

// pct is the p-th percentile of sorted d (nearest rank).
func pct(d []float64, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p/100+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}
