package history

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/example/sessions/internal/authz"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
	"github.com/example/sessions/internal/token"
)

// config is one workload.
type config struct {
	seed      int64
	ops       int // client operations (a protected route with its authorizer call is one)
	users     int
	clients   int // per user: devices sharing the account
	faultRate float64
	mutation  mutation
	wall      time.Duration // bound on the run's wall-clock time
	// opTimeout is each call's deadline, as a Lambda's: the handlers keep 500 ms of it
	// for answering, so storage gets the rest.
	opTimeout time.Duration
	tolerate  Deviation // known violations the check accepts
	// logoutAll is the share of steps that log out everywhere (besides the mix's 2%):
	// every device of the account then logs in again at once, below the cap.
	logoutAll float64
}

// env is the service's configuration for the workload: short lifetimes so rounds
// cross them (access tokens, idle and absolute deadlines, the grace window at its
// minimum) and a small session cap so logins evict.
var env = map[string]string{
	"ACCESS_TOKEN_TTL":      "1m",
	"REFRESH_TOKEN_TTL":     "2m",
	"SESSION_MAX_AGE":       "10m",
	"REFRESH_REUSE_GRACE":   "5s",
	"MAX_SESSIONS_PER_USER": "3",
}

func paramsOf(h *testenv.Harness) Params {
	c := h.App.Config
	pol := session.Policy{}.DefaultThrottle()
	return Params{
		AccessTTL: secs(c.AccessTokenTTL), IdleTTL: secs(c.RefreshTokenTTL), MaxAge: secs(c.SessionMaxAge),
		Grace: secs(c.RefreshReuseGrace), MaxSessions: c.MaxSessionsPerUser, Leeway: secs(token.Leeway),
		MaxFailures: pol.MaxFailures, Lockout: secs(pol.Lockout), MaxLockout: secs(pol.MaxLockout),
		FailureMemory: secs(pol.FailureMemory), Epoch: testenv.Epoch.Unix(),
	}
}

type tokRef struct {
	sid string
	gen int
}

// run is one workload in progress.
type run struct {
	tb  testing.TB
	cfg config
	h   *testenv.Harness
	w   *wire
	p   Params

	round     int   // written between rounds only
	clock     int64 // the service clock of the round (unix s)
	clientOps atomic.Int64

	mu       sync.Mutex
	ops      []Op
	pending  []int // this round's operations whose outcome is unknown
	outcomes map[string]int
	problems []string // answers the workload itself refuses (a fork, a malformed grant)

	tokMu  sync.Mutex
	tokens map[string]tokRef // refresh token -> its session and generation
	chain  map[tokRef]string

	users []*user
}

// user is an account and what its devices know between them.
type user struct {
	name string
	mu   sync.Mutex
	// Passwords by label, and the labels the devices believe current, best first (a
	// password change whose answer was lost leaves two candidates).
	secrets map[string]string
	cands   []string
	next    int
	sids    []string
	rts     []string
	ats     []string
}

// client is one device of a user.
type client struct {
	id  int
	u   *user
	rng *rand.Rand
	rt  string // its refresh token ("" when it has no session)
	at  string
}

// workload runs cfg against a fresh harness and returns what it recorded.
func workload(tb testing.TB, cfg config) (History, *run) {
	h := testenv.New(tb, testenv.Options{Env: env})
	r := &run{
		tb: tb, cfg: cfg, h: h, p: paramsOf(h), w: newWire(cfg.seed, cfg.faultRate, cfg.mutation),
		outcomes: map[string]int{}, tokens: map[string]tokRef{}, chain: map[tokRef]string{},
	}
	r.p.Tolerate = cfg.tolerate
	hist := History{Params: r.p, Passwords: map[string]string{}}
	var clients []*client
	for i := range cfg.users {
		u := &user{name: fmt.Sprintf("user%d", i), secrets: map[string]string{}}
		label := u.newLabel()
		u.cands = []string{label}
		h.CreateUser(tb, u.name, u.secrets[label], "")
		hist.Passwords[u.name] = label
		r.users = append(r.users, u)
		for range cfg.clients {
			id := len(clients)
			clients = append(clients, &client{id: id, u: u, rng: rand.New(rand.NewPCG(uint64(cfg.seed), uint64(id)))})
		}
	}
	// Faults only from here: the accounts exist.
	h.Net.Inject("", -1, r.w.Fault)
	defer h.Net.ClearFaults()

	rounds := rand.New(rand.NewPCG(uint64(cfg.seed), 1<<40))
	start := time.Now()
	for ; r.clientOps.Load() < int64(cfg.ops) && time.Since(start) < cfg.wall; r.round++ {
		r.clock = h.Clock.Now().Unix()
		testenv.Together(len(clients), func(i int) {
			c := clients[i]
			for range 1 + c.rng.IntN(2) {
				r.step(c)
				r.clientOps.Add(1)
			}
		})
		// Every request of the round has finished at the table: an unknown outcome
		// took effect by now or never.
		r.w.drain()
		end := r.w.now()
		for _, i := range r.pending {
			r.ops[i].Return = end
		}
		r.pending = nil
		h.Clock.Advance(delta(rounds))
	}
	hist.Ops = r.ops
	return hist, r
}

// delta is how far the clock moves between rounds: mostly not at all or a second (so
// replays land inside the grace window), sometimes across it (5 s: still inside; 6 s:
// out), and now and then past the access tokens' minute, the idle deadline and the
// throttle's cool-downs.
func delta(rng *rand.Rand) time.Duration {
	x := rng.Float64()
	s := 0
	switch {
	case x < 0.35:
	case x < 0.65:
		s = 1
	case x < 0.80:
		s = 2 + rng.IntN(3)
	case x < 0.88:
		s = 5 + rng.IntN(2)
	case x < 0.95:
		s = 7 + rng.IntN(24)
	default:
		s = 55 + rng.IntN(76)
	}
	return time.Duration(s) * time.Second
}

// step is one client operation, chosen by the client's own seeded generator.
func (r *run) step(c *client) {
	if c.rt == "" {
		r.login(c)
		return
	}
	if c.rng.Float64() < r.cfg.logoutAll {
		r.logout(c, c.rt, "all")
		return
	}
	x := c.rng.Float64()
	switch {
	case x < 0.27:
		r.refresh(c, c.rt)
	case x < 0.33:
		r.refresh(c, c.u.pick(c.rng, &c.u.rts)) // a tab with an old token, or a thief
	case x < 0.54:
		r.authorize(c, c.at)
	case x < 0.59:
		r.authorize(c, c.u.pick(c.rng, &c.u.ats))
	case x < 0.65:
		r.login(c) // another session; the old one is left to the cap and the deadlines
	case x < 0.70:
		r.logout(c, c.rt, "session")
	case x < 0.73:
		r.logout(c, c.rt, "others")
	case x < 0.75:
		r.logout(c, c.rt, "all")
	case x < 0.77:
		r.logout(c, c.u.pick(c.rng, &c.u.rts), []string{"session", "others", "all"}[c.rng.IntN(3)])
	case x < 0.85:
		r.signOut(c)
	case x < 0.90:
		r.changePassword(c)
	default:
		r.authorize(c, c.at)
	}
}

// invoke runs one call under the operation's deadline, with its requests recorded.
func invoke[T any](r *run, fn func(context.Context) (T, error)) (T, error, summary, int64, int64) {
	ctx, ow := withWire(context.Background())
	ctx, cancel := context.WithTimeout(ctx, r.cfg.opTimeout)
	defer cancel()
	call := r.w.now()
	v, err := fn(ctx)
	ret := r.w.now()
	return v, err, ow.summary(), call, ret
}

// noSecond marks an operation recorded whole.
const noSecond Kind = 255

// record appends an operation; one that reached its second write (second != noSecond)
// is recorded as two (see the package comment).
func (r *run) record(c *client, in Input, out Output, call, ret int64, s summary, second Kind, status int) {
	in.User, in.Client, in.T = c.u.name, c.id, r.clock
	in.Lost, in.Reached, in.LostTx = s.lost, s.reached, s.lostTx
	note := fmt.Sprintf("HTTP %d", status)
	if s.faults != "" {
		note += "; " + s.faults
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes[fmt.Sprintf("%s %d", in.Kind, status)]++
	if status == http.StatusInternalServerError {
		r.problems = append(r.problems, fmt.Sprintf("%s answered 500 (round %d): %s", in.Kind, r.round, note))
	}
	add := func(op Op) {
		if op.Out.Status == Unknown {
			r.pending = append(r.pending, len(r.ops))
			op.Return = -1
		}
		r.ops = append(r.ops, op)
	}
	if second != noSecond && s.split {
		// The counting writes are the first half's, the transactions the second's.
		in1, in2 := in, in
		in1.LostTx = false
		add(Op{In: in1, Out: Output{Status: Reserved}, Call: call, Return: s.t1, Round: r.round, Note: note})
		in2.Kind, in2.Lost, in2.Reached = second, 0, 0
		add(Op{In: in2, Out: out, Call: s.t1 + 1, Return: ret, Round: r.round, Note: note})
		return
	}
	add(Op{In: in, Out: out, Call: call, Return: ret, Round: r.round, Note: note})
}

func (r *run) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// statusOf maps an answer that grants nothing: a 4xx as such, a 5xx or a failed call
// as unknown (the operation may have happened).
func statusOf(resp events.APIGatewayV2HTTPResponse, err error) Output {
	if err != nil || resp.StatusCode >= 500 || resp.StatusCode == 0 {
		return Output{Status: Unknown}
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(resp.Body), &e)
	return Output{Status: resp.StatusCode, Code: e.Error}
}

type claims struct {
	Sub string `json:"sub"`
	SID string `json:"sid"`
	Ver int64  `json:"ver"`
	Exp int64  `json:"exp"`
}

// claimsOf reads an access token's payload (the authorizer verifies it; the workload
// only needs to know what the service put in).
func claimsOf(jwt string) (claims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return claims{}, fmt.Errorf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, err
	}
	var c claims
	return c, json.Unmarshal(raw, &c)
}

// grantOf decodes a 200 with tokens.
func (r *run) grantOf(what string, resp events.APIGatewayV2HTTPResponse) (testenv.Tokens, claims, bool) {
	var tok testenv.Tokens
	if err := json.Unmarshal([]byte(resp.Body), &tok); err != nil {
		r.problem("%s: 200 with a body that is not a grant: %v", what, err)
		return tok, claims{}, false
	}
	cl, err := claimsOf(tok.AccessToken)
	if err != nil {
		r.problem("%s: an access token that is not a JWT: %v", what, err)
		return tok, claims{}, false
	}
	return tok, cl, true
}

func (r *run) place(rt string) (tokRef, bool) {
	r.tokMu.Lock()
	defer r.tokMu.Unlock()
	ref, ok := r.tokens[rt]
	return ref, ok
}

// learn records a refresh token's place in its chain. Children are derived, so a
// place has one token: another one is a fork.
func (r *run) learn(rt string, ref tokRef) {
	r.tokMu.Lock()
	defer r.tokMu.Unlock()
	if old, ok := r.chain[ref]; ok && old != rt {
		r.problem("fork: session %s has two different refresh tokens of generation %d", short(ref.sid), ref.gen)
		return
	}
	if old, ok := r.tokens[rt]; ok && old != ref {
		r.problem("one refresh token at two places: %s g%d and %s g%d", short(old.sid), old.gen, short(ref.sid), ref.gen)
		return
	}
	r.chain[ref], r.tokens[rt] = rt, ref
}

func (r *run) login(c *client) {
	label, secret := c.u.choose(c.rng)
	resp, err, s, call, ret := invoke(r, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		return r.h.App.API.Login(ctx, testenv.LoginReq(c.u.name, secret))
	})
	out := statusOf(resp, err)
	if out.Status == http.StatusOK {
		tok, cl, ok := r.grantOf("login", resp)
		if !ok {
			return
		}
		abs, _ := session.SessionDeadline(tok.SessionID)
		out = Output{Status: http.StatusOK, SID: tok.SessionID, Ver: cl.Ver, Exp: cl.Exp, Abs: abs.Unix()}
		r.learn(tok.RefreshToken, tokRef{tok.SessionID, 0})
		c.rt, c.at = tok.RefreshToken, tok.AccessToken
		c.u.saw(tok.SessionID, tok.RefreshToken, tok.AccessToken)
		c.u.believe(label)
	} else if out.Code == "invalid_credentials" {
		c.u.doubt(label)
	}
	r.record(c, Input{Kind: LoginTry, Password: label}, out, call, ret, s, LoginOpen, resp.StatusCode)
}

func (r *run) refresh(c *client, rt string) {
	ref, ok := r.place(rt)
	if !ok {
		return
	}
	resp, err, s, call, ret := invoke(r, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		return r.h.App.API.Refresh(ctx, testenv.RefreshReq(rt))
	})
	out := statusOf(resp, err)
	switch out.Status {
	case http.StatusOK:
		tok, cl, ok := r.grantOf("refresh", resp)
		if !ok {
			return
		}
		// The answer is the presented token's child, whichever path gave it.
		out = Output{Status: http.StatusOK, SID: tok.SessionID, Gen: ref.gen + 1, Ver: cl.Ver, Exp: cl.Exp}
		if tok.SessionID == ref.sid {
			r.learn(tok.RefreshToken, tokRef{ref.sid, ref.gen + 1})
		}
		c.rt, c.at = tok.RefreshToken, tok.AccessToken
		c.u.saw("", tok.RefreshToken, tok.AccessToken)
	case http.StatusUnauthorized:
		if rt == c.rt {
			c.rt = ""
		}
	}
	r.record(c, Input{Kind: Refresh, SID: ref.sid, Gen: ref.gen}, out, call, ret, s, noSecond, resp.StatusCode)
}

func (r *run) logout(c *client, rt, scope string) {
	ref, ok := r.place(rt)
	if !ok {
		return
	}
	resp, err, s, call, ret := invoke(r, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		return r.h.App.API.Logout(ctx, testenv.LogoutReq(rt, scope))
	})
	out := statusOf(resp, err)
	if out.Status == http.StatusNoContent && rt == c.rt && scope != "others" {
		c.rt = ""
	}
	r.record(c, Input{Kind: Logout, SID: ref.sid, Gen: ref.gen, Scope: scope}, out, call, ret, s, noSecond, resp.StatusCode)
}

// authorize runs the authorizer on an access token as API Gateway does for GET /me,
// then the route if it allowed. It returns the authorizer context for a protected
// route, or nil if the caller was denied.
//
// It calls Authorizer.Authorize, the decision Handle wraps (Handle only shortens the
// deadline by handlerReserve and turns an error into a deny), with the deadline Handle
// would give it, because the error says why it denied: a deny because storage failed
// (it fails closed) says nothing about the session.
func (r *run) authorize(c *client, at string) (map[string]any, claims) {
	cl, err := claimsOf(at)
	if err != nil || at == "" {
		return nil, cl
	}
	p, err, s, call, ret := invoke(r, func(ctx context.Context) (*authz.Principal, error) {
		dl, _ := ctx.Deadline()
		ctx, cancel := context.WithDeadline(ctx, dl.Add(-authorizerReserve))
		defer cancel()
		return r.h.App.Authorizer.Authorize(ctx, "Bearer "+at)
	})
	out := Output{Allowed: err == nil}
	status := http.StatusForbidden
	var lambda map[string]any
	if err != nil {
		out.Ambiguous = errors.Is(err, session.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
		s.faults = strings.TrimPrefix(s.faults+"; denied: "+err.Error(), "; ")
	} else {
		// Through JSON, as API Gateway hands the context over.
		raw, _ := json.Marshal(p.Context())
		_ = json.Unmarshal(raw, &lambda)
		req := testenv.Request(http.MethodGet, "/me", nil, "authorization", "Bearer "+at)
		req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: lambda}
		me, err := r.h.App.API.Me(context.Background(), req)
		var body struct {
			SID string `json:"sid"`
		}
		_ = json.Unmarshal([]byte(me.Body), &body)
		if err != nil || me.StatusCode != http.StatusOK || body.SID != cl.SID {
			r.problem("GET /me after an allow: %d %q, want 200 for session %s", me.StatusCode, me.Body, short(cl.SID))
		}
		status = me.StatusCode
	}
	r.record(c, Input{Kind: Authorize, SID: cl.SID, Ver: cl.Ver, Exp: cl.Exp}, out, call, ret, s, noSecond, status)
	return lambda, cl
}

// authorizerReserve is what authz.Authorizer.Handle keeps of the Lambda's deadline.
const authorizerReserve = 500 * time.Millisecond

// protected runs an account route with the authorizer context.
func (r *run) protected(lambda map[string]any, at, routeKey, path string, body any, params ...string) (events.APIGatewayV2HTTPResponse, error, summary, int64, int64) {
	method, _, _ := strings.Cut(routeKey, " ")
	req := testenv.Request(method, path, body, "authorization", "Bearer "+at)
	req.RouteKey = routeKey
	if len(params) > 0 {
		req.PathParameters = map[string]string{params[0]: params[1]}
	}
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: lambda}
	return invoke(r, func(ctx context.Context) (events.APIGatewayV2HTTPResponse, error) {
		return r.h.App.API.Account(ctx, req)
	})
}

func (r *run) signOut(c *client) {
	target, foreign := "", false
	if c.rng.IntN(10) == 0 {
		other := r.users[c.rng.IntN(len(r.users))]
		if other != c.u {
			target, foreign = other.pick(c.rng, &other.sids), true
		}
	}
	if target == "" {
		target = c.u.pick(c.rng, &c.u.sids)
	}
	if target == "" {
		return
	}
	at := c.at
	lambda, cl := r.authorize(c, at)
	if lambda == nil {
		return
	}
	resp, err, s, call, ret := r.protected(lambda, at, "DELETE /auth/sessions/{id}", "/auth/sessions/"+target, nil, "id", target)
	out := statusOf(resp, err)
	r.record(c, Input{Kind: SignOut, SID: cl.SID, Target: target, Foreign: foreign}, out, call, ret, s, noSecond, resp.StatusCode)
}

func (r *run) changePassword(c *client) {
	cur, curSecret := c.u.choose(c.rng)
	next := c.u.newLabel()
	at := c.at
	lambda, cl := r.authorize(c, at)
	if lambda == nil {
		return
	}
	c.u.mu.Lock()
	nextSecret := c.u.secrets[next]
	c.u.mu.Unlock()
	resp, err, s, call, ret := r.protected(lambda, at, "POST /auth/password", "/auth/password",
		map[string]string{"current_password": curSecret, "new_password": nextSecret})
	out := statusOf(resp, err)
	switch {
	case out.Status == http.StatusOK:
		var body struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal([]byte(resp.Body), &body)
		cl2, err := claimsOf(body.AccessToken)
		if err != nil {
			r.problem("password change: 200 without an access token")
			return
		}
		out = Output{Status: http.StatusOK, SID: cl2.SID, Ver: cl2.Ver, Exp: cl2.Exp}
		c.at = body.AccessToken
		c.u.saw("", "", body.AccessToken)
		c.u.believe(next)
	case out.Status == Unknown:
		c.u.maybe(next)
	case out.Code == "invalid_credentials":
		c.u.doubt(cur)
	}
	r.record(c, Input{Kind: PasswordTry, SID: cl.SID, Password: cur, NewPassword: next}, out, call, ret, s, PasswordEnd, resp.StatusCode)
}

func (u *user) newLabel() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	label := fmt.Sprintf("p%d", u.next)
	u.secrets[label] = fmt.Sprintf("%s's password number %d", u.name, u.next)
	u.next++
	return label
}

// choose picks the password a device tries: usually the one it believes current,
// sometimes the runner-up, rarely a wrong guess.
func (u *user) choose(rng *rand.Rand) (label, secret string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch x := rng.Float64(); {
	case x < 0.02:
		return "wrong", "a wrong password guess"
	case x < 0.12 && len(u.cands) > 1:
		label = u.cands[1]
	default:
		label = u.cands[0]
	}
	return label, u.secrets[label]
}

// believe moves a password that just worked to the front.
func (u *user) believe(label string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cands = slices.DeleteFunc(u.cands, func(l string) bool { return l == label })
	u.cands = append([]string{label}, u.cands...)
}

// maybe adds a password that may have been set, as the runner-up.
func (u *user) maybe(label string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cands = slices.Insert(u.cands, min(1, len(u.cands)), label)
	u.cands = u.cands[:min(len(u.cands), 4)]
}

// doubt moves a password that was refused to the back.
func (u *user) doubt(label string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i := slices.Index(u.cands, label); i >= 0 && len(u.cands) > 1 {
		u.cands = append(slices.Delete(u.cands, i, i+1), label)
	}
}

func (u *user) saw(sid, rt, at string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if sid != "" {
		u.sids = append(u.sids, sid)
	}
	if rt != "" {
		u.rts = append(u.rts, rt)
	}
	if at != "" {
		u.ats = append(u.ats, at)
	}
}

// pick returns one of the user's recent values (recent ones more often).
func (u *user) pick(rng *rand.Rand, list *[]string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	l := *list
	if len(l) == 0 {
		return ""
	}
	window := min(len(l), 12)
	return l[len(l)-1-rng.IntN(window)]
}
