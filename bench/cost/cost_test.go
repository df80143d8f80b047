package cost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/bench/internal/results"
	"github.com/example/sessions/internal/authz"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddblocal"
	"github.com/example/sessions/internal/ddbmeter"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
	"github.com/example/sessions/internal/token"
)

var out = flag.String("out", "", "where to write the results as JSON (make bench); without it TestCost is skipped")

func TestMain(m *testing.M) { testddb.Main(m) }

const (
	userAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
	goodPW    = "correct horse battery staple"
)

type runner struct {
	t    *testing.T
	h    *testenv.Harness
	m    *rules
	res  results.Cost
	mark int // where the operation being measured starts in the meter's record
}

// TestCost measures every operation's DynamoDB calls for BENCHMARKS.md. It is a test
// for the harness, not a check: scripts/bench.sh runs it with -out.
func TestCost(t *testing.T) {
	if *out == "" {
		t.Skip("measures for make bench: go test ./bench/cost -run '^TestCost$' -args -out FILE")
	}
	// The configured argon2id parameters, so the login record has its deployed size.
	h := testenv.New(t, testenv.Options{Password: password.OWASP})
	in, err := testddb.Template(t).CreateTableInput(h.Table)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{t: t, h: h, m: newRules(h.Meter, h.Raw, h.Table, in)}
	r.res.DynamoDBLocal = "DynamoDB Local from npm " + ddblocal.NPMPackage + " (in memory, -sharedDb)"
	r.scenario()
	r.probes()
	if err := results.Write(*out, r.res); err != nil {
		t.Fatal(err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// measure runs fn and records the DynamoDB calls it made as one operation; fn returns
// what the operation answered.
func (r *runner) measure(key, name, note string, fn func() string) {
	r.t.Helper()
	r.mark = r.m.Mark()
	outcome := fn()
	op := results.Operation{Key: key, Name: name, Note: note, Calls: r.m.charged(r.mark), Outcome: outcome}
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
}

// want fails the measurement unless the status is the expected one.
func (r *runner) want(code, want int) string {
	r.t.Helper()
	if code != want {
		r.t.Fatalf("HTTP %d, want %d", code, want)
	}
	return fmt.Sprintf("HTTP %d", code)
}

// login logs in from a browser (its user agent is stored with the session).
func (r *runner) login(name, pw string) (int, testenv.Tokens) {
	r.t.Helper()
	req := testenv.LoginReq(name, pw)
	req.RequestContext.HTTP.UserAgent = userAgent
	resp := testenv.Call(r.t, r.h.App.API.Login, req)
	var tok testenv.Tokens
	if resp.StatusCode == http.StatusOK {
		testenv.Decode(r.t, resp, &tok)
	}
	return resp.StatusCode, tok
}

func (r *runner) mustLogin(name string) testenv.Tokens {
	r.t.Helper()
	code, tok := r.login(name, goodPW)
	r.want(code, http.StatusOK)
	return tok
}

// logins logs in n times as name, from n browsers, and returns their tokens.
func (r *runner) logins(name string, n int) []testenv.Tokens {
	r.t.Helper()
	var out []testenv.Tokens
	for range n {
		out = append(out, r.mustLogin(name))
	}
	return out
}

// account calls a route of the account function as API Gateway does, the authorizer
// first; the measurement starts when the route is called, so the authorizer's read
// (the "authorize" row, paid by every protected request) is not counted twice.
func (r *runner) account(at, routeKey, path string, body any, params ...string) int {
	r.t.Helper()
	route := func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r.mark = r.m.Mark()
		return r.h.App.API.Account(ctx, req)
	}
	return r.h.Protected(r.t, route, at, routeKey, path, body, params...).StatusCode
}

// accountOps measures the account routes and the operations that end other sessions,
// each for a user with five sessions, and a login at the session limit.
func (r *runner) accountOps() {
	h := r.h
	const n = 5
	h.CreateUser(r.t, "carol@example.com", goodPW, "")
	carol := r.logins("carol@example.com", n)
	me := carol[n-1]
	r.itemSize(fmt.Sprintf("login record (n#) listing %d sessions", n), "n#carol@example.com", "")
	r.measure("list_sessions", fmt.Sprintf("device list (GET /auth/sessions), %d sessions", n), "GetItem the token record and the login record, BatchGetItem the listed sessions",
		func() string {
			return r.want(r.account(me.AccessToken, "GET /auth/sessions", "/auth/sessions", nil), http.StatusOK)
		})
	r.measure("sign_out", "sign out one session (DELETE /auth/sessions/{id})", "one conditional UpdateItem: the session is the caller's and live", func() string {
		sid := carol[0].SessionID
		return r.want(r.account(me.AccessToken, "DELETE /auth/sessions/{id}", "/auth/sessions/"+sid, nil, "id", sid), http.StatusNoContent)
	})
	r.measure("reauthenticate", "reauthenticate (POST /auth/reauthenticate)", "GetItem the session, the counted password check on the login record, one transaction: the session's auth time, the login record", func() string {
		return r.want(r.account(me.AccessToken, "POST /auth/reauthenticate", "/auth/reauthenticate", map[string]string{"password": goodPW}), http.StatusOK)
	})

	h.CreateUser(r.t, "dave@example.com", goodPW, "")
	dave := r.logins("dave@example.com", n)
	r.measure("change_password", fmt.Sprintf("password change (POST /auth/password), %d sessions", n), "GetItem the session, the counted check on the login record, BatchGetItem the listed sessions, one transaction: the login record (new hash), the token record, this session, every other live one",
		func() string {
			body := map[string]string{"current_password": goodPW, "new_password": "another correct horse battery staple"}
			return r.want(r.account(dave[n-1].AccessToken, "POST /auth/password", "/auth/password", body), http.StatusOK)
		})

	h.CreateUser(r.t, "erin@example.com", goodPW, "")
	erin := r.logins("erin@example.com", n)
	r.measure("logout_others", fmt.Sprintf("logout others (scope \"others\"), %d sessions", n), "GetItem the session and the login record, BatchGetItem the listed sessions, one transaction: the login record, this session, every other live one",
		func() string { return r.want(h.Logout(r.t, erin[n-1].RefreshToken, "others"), http.StatusNoContent) })

	limit := h.App.Config.MaxSessionsPerUser
	h.CreateUser(r.t, "frank@example.com", goodPW, "")
	r.logins("frank@example.com", limit)
	r.measure("login_at_limit", fmt.Sprintf("login at the session limit (%d live)", limit), "the counted attempt, BatchGetItem the listed sessions to find the least recently used, one transaction: put the session, the login record, end the victim",
		func() string {
			code, _ := r.login("frank@example.com", goodPW)
			return r.want(code, http.StatusOK)
		})
}

func (r *runner) allow(a *authz.Authorizer, at string) string {
	r.t.Helper()
	if _, err := a.Authorize(testenv.Ctx(r.t), "Bearer "+at); err != nil {
		r.t.Fatalf("denied: %v", err)
	}
	return "allowed"
}

func (r *runner) scenario() {
	h := r.h
	var uid string
	r.measure("create_user", "create account (sessionctl)", "admin path: login record + token record in one transaction", func() string {
		uid = h.CreateUser(r.t, "alice@example.com", goodPW, "").ID
		return "created"
	})
	var g1 testenv.Tokens
	r.measure("login", "login", "count the attempt on the login record (conditional UpdateItem returning it), then one transaction: put the session, list it on the login record (clearing the counter)", func() string {
		var code int
		code, g1 = r.login("alice@example.com", goodPW)
		return r.want(code, http.StatusOK)
	})
	r.itemSize("session item after login (s#)", "s#"+g1.SessionID, "")
	r.itemSize("user token record (u#)", "u#"+uid, "")
	r.itemSize("login record (n#), one session listed", "n#alice@example.com", "argon2id PHC string included")
	r.measure("login_bad_password", "login, wrong password", "the failure is counted on the login record", func() string {
		code, _ := r.login("alice@example.com", "not the password at all")
		return r.want(code, http.StatusUnauthorized)
	})
	r.measure("login_unknown_user", "login, unknown user", "a failures-only stub is written for the name (expires by TTL)", func() string {
		code, _ := r.login("nobody@example.com", goodPW)
		return r.want(code, http.StatusUnauthorized)
	})
	r.itemSize("login stub for an unknown name (n#)", "n#nobody@example.com", "")
	r.mustLogin("alice@example.com") // clears alice's failure counter again

	r.measure("authorize", "authorize", "one strongly consistent GetItem of the session",
		func() string { return r.allow(h.App.Authorizer, g1.AccessToken) })

	var g2 testenv.Tokens
	r.measure("refresh", "refresh (happy path)", "one conditional UpdateItem rotates the hash and slides the idle deadline; ReturnValues carries the session", func() string {
		var code int
		code, g2 = h.Refresh(r.t, g1.RefreshToken)
		return r.want(code, http.StatusOK)
	})
	r.itemSize("session item after a refresh (s#)", "s#"+g2.SessionID, "prev and rotated_at added")
	r.measure("refresh_grace", "refresh, previous token inside the grace window", "the condition fails; ALL_OLD on the same round trip shows the parent of the current token: answered without a write", func() string {
		code, g := h.Refresh(r.t, g1.RefreshToken)
		if g.RefreshToken != g2.RefreshToken {
			r.t.Fatal("the replay did not get the current token")
		}
		return r.want(code, http.StatusOK)
	})
	h.Clock.Advance(h.App.Config.RefreshReuseGrace + time.Second)
	r.measure("refresh_reuse", "refresh, reuse detected (old token after the grace window)", "the failed condition returns the item (ALL_OLD); theft is recognised in the same request and the session revoked", func() string {
		code, _ := h.Refresh(r.t, g1.RefreshToken)
		return r.want(code, http.StatusUnauthorized)
	})
	r.itemSize("revoked session item (s#)", "s#"+g2.SessionID, "revoked_at and revoke_reason added")

	g3 := r.mustLogin("alice@example.com")
	r.measure("logout", "logout (this session)", "one conditional UpdateItem: revoked_at, proving possession of the current or previous token",
		func() string { return r.want(h.Logout(r.t, g3.RefreshToken, ""), http.StatusNoContent) })
	r.accountOps()
	// Logout everywhere up to the default session limit (more logins would end the
	// least recently used session instead of adding one).
	for _, n := range []int{1, 5, config.DefaultMaxSessionsPerUser} {
		name := fmt.Sprintf("bob%d@example.com", n)
		h.CreateUser(r.t, name, goodPW, "")
		last := r.logins(name, n)[n-1]
		if n == config.DefaultMaxSessionsPerUser {
			r.itemSize(fmt.Sprintf("login record (n#) listing %d sessions (the default limit)", n), "n#"+name, "the list `ss`: session id -> created")
		}
		r.measure(fmt.Sprintf("logout_all_%d", n), fmt.Sprintf("logout everywhere, %d session(s)", n),
			"GetItem the session and the login record, BatchGetItem the listed sessions, one transaction: the login record, the token record, every live session",
			func() string { return r.want(h.Logout(r.t, last.RefreshToken, "all"), http.StatusNoContent) })
	}

	// The classic server-side session: one item per session, read whole and written
	// back with its last-seen time on every request.
	csKey := "cs#" + randHex(16)
	if _, err := h.Raw.PutItem(testenv.Ctx(r.t), &dynamodb.PutItemInput{TableName: aws.String(h.Table), Item: classicItem(csKey, uid)}); err != nil {
		r.t.Fatal(err)
	}
	r.itemSize("classic server-side session item (baseline)", csKey, "user id, roles, CSRF secret, created/last-seen/expiry, user agent, IP")
	r.measure("classic", "classic server-side session (baseline)", "GetItem (strongly consistent) + UpdateItem last_seen, as a session store does per request",
		func() string { r.classicRequest(csKey); return "found" })
	r.measure("stateless", "stateless JWT (baseline)", "signature and claims only: no DynamoDB, no revocation", func() string {
		if _, err := token.NewVerifier(h.App.Public, testenv.Issuer, testenv.Audience, h.Clock.Now).Verify(g3.AccessToken); err != nil {
			r.t.Fatal(err)
		}
		return "valid"
	})
}

func (r *runner) itemSize(what, pk, note string) {
	r.t.Helper()
	item := r.h.Item(r.t, pk)
	if item == nil {
		r.t.Fatalf("no item %s to size", what)
	}
	r.res.ItemSizes = append(r.res.ItemSizes, results.ItemSize{Item: what, Bytes: ddbmeter.ItemSize(item), Note: note})
}

func classicItem(pk, uid string) map[string]types.AttributeValue {
	now := time.Now().Unix()
	n := func(v int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	return map[string]types.AttributeValue{
		"pk": s(pk), "uid": s(uid), "roles": s("user"), "csrf": s(randHex(16)),
		"created": n(now), "last_seen": n(now), "expires": n(now + 30*24*3600),
		"ua": s(userAgent), "ip": s("203.0.113.7"),
	}
}

// classicRequest is one protected request the classic way, through the metered client.
func (r *runner) classicRequest(pk string) {
	ctx, c, table := testenv.Ctx(r.t), r.h.Client, aws.String(r.h.Table)
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key, ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal})
	if err == nil && len(got.Item) == 0 {
		err = errors.New("classic session missing")
	}
	if err == nil {
		_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: table, Key: key, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
			UpdateExpression:          aws.String("SET last_seen = :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: fmt.Sprint(time.Now().UnixNano())}},
		})
	}
	if err != nil {
		r.t.Fatal(err)
	}
}
