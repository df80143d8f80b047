package history

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Params are the service settings the model needs, in whole seconds (the harness clock
// moves in whole seconds, and the table stores deadlines in them).
type Params struct {
	AccessTTL, IdleTTL, MaxAge, Grace int64
	MaxSessions                       int
	Leeway                            int64 // the verifier's allowance past exp
	// The login throttle: MaxFailures attempts, then Lockout after the last counted
	// one, doubled per further attempt up to MaxLockout; forgotten after FailureMemory.
	MaxFailures                        int64
	Lockout, MaxLockout, FailureMemory int64
	Epoch                              int64 // the clock's start, only for descriptions
	// Tolerate are known violations of the service the model accepts, so a history
	// check still finds the others while they are being fixed.
	Tolerate Deviation
}

// Deviation is a known violation the model can be told to accept.
type Deviation uint

// None is tolerated today: the five violations the check found are fixed, each with a
// regression test in known_test.go. A new one is added here, with a branch in the
// model that accepts it, until its fix lands.

func secs(d time.Duration) int64 { return int64(d / time.Second) }

// Kind is what an operation does. A login and a password change are two operations
// each when they reached their second write (see the package comment).
type Kind uint8

// The operations of the model.
const (
	// LoginTry counts the attempt on the username's counter and checks the password
	// against the record it returns: a whole login that stopped there (429, 401, or a
	// failure before its session write), or the first half of one that went on.
	LoginTry Kind = iota
	// LoginOpen is the second half: the session write (with the evictions of the
	// session cap and the reset of the counter), decided on the password as it is then.
	LoginOpen
	// Refresh is POST /auth/refresh.
	Refresh
	// Logout is POST /auth/logout, with its scope.
	Logout
	// Authorize is the authorizer's decision on an access token (then GET /me).
	Authorize
	// SignOut is DELETE /auth/sessions/{id}, after the authorizer allowed the caller.
	SignOut
	// PasswordTry is the first half of POST /auth/password, as for login: the counted
	// check of the current password (or a whole change that stopped there).
	PasswordTry
	// PasswordEnd is the second half: the one write that changes the password.
	PasswordEnd
)

var kindNames = [...]string{"login", "login-open", "refresh", "logout", "authorize", "sign-out", "password", "password-end"}

// String names the kind in descriptions.
func (k Kind) String() string { return kindNames[k] }

// Input is one operation as the client issued it. Tokens and passwords never appear:
// a refresh token is its session and its place in the session's chain (the workload
// tracks which token string is which), a password is a label.
type Input struct {
	Kind   Kind
	User   string // the partition
	Client int
	T      int64 // the service clock during the operation (unix seconds)

	Password    string // login: presented; password change: current
	NewPassword string // password change
	SID         string // refresh, logout: the token's session; authorize, routes: the caller's
	Gen         int    // refresh, logout: the token's generation in its chain (0 = the login's)
	Scope       string // logout: session, others, all
	Target      string // sign-out: the session signed out
	Foreign     bool   // sign-out: the target is another user's session
	Ver, Exp    int64  // authorize: the access token's ver and exp claims

	// Lost is how many of its UpdateItem writes (a login's or a password change's
	// counting writes, a sign-out's one write) reached the table but had their answer
	// lost, so the SDK sent them again: each counting one may have counted once more.
	// Reached is how many reached the table at all (a bound for an operation whose
	// outcome is unknown).
	Lost, Reached int
	// LostTx: a transaction of the operation reached the table and its answer was lost.
	LostTx bool
}

// Status of an output besides the HTTP statuses.
const (
	// Unknown: 503, a timeout or a 5xx: the operation may or may not have taken effect.
	Unknown = 0
	// Reserved: the first half of a login or password change: the attempt was counted
	// and the password matched; the second half follows.
	Reserved = 1
)

// Output is what the client saw.
type Output struct {
	Status int    // HTTP status, Unknown or Reserved
	Code   string // the error code of a 4xx
	// A grant (login, refresh, password change): the session, the refresh token's
	// generation, the access token's ver and exp, the session's absolute deadline.
	SID      string
	Gen      int
	Ver, Exp int64
	Abs      int64
	// Authorize: the authorizer allowed the token; Ambiguous: it denied while storage
	// was failing (fails closed, so a deny then says nothing).
	Allowed, Ambiguous bool
}

// sess is one live session of the model. A phantom (id "") is a session a login whose
// answer was lost may have opened: nobody holds its tokens, yet it counts for the
// session cap and is ended by what ends every session.
type sess struct {
	id       string
	gen      int   // generation of the current refresh token
	rotated  int64 // last rotation (or creation)
	lastUsed int64 // last refresh, login, or keep by a logout of the others / password change
	idle     int64
	abs      int64
	ver      int64
}

func (s sess) live(t int64) bool { return t < s.idle && t < s.abs }

// state is one possible state of a user. It is immutable; key is its canonical form.
// Ended sessions are dropped: time only moves forward along a linearization (the
// workload advances the clock between rounds of operations, each round's writes all
// landed), so a session that has ended stays ended; and every session a client names
// came from a login's answer, so a session the state does not hold has ended.
type state struct {
	now      int64
	pw       string
	ver      int64
	fails    int64
	lastFail int64
	sessions []sess // known by id, then phantoms
	key      string
}

func (s *state) clone() *state {
	c := *s
	c.sessions = slices.Clone(s.sessions)
	c.key = ""
	return &c
}

// seal gives a new state its canonical order and key (a state with a key is sealed
// already: every change is made on a clone, which has none).
func (s *state) seal() *state {
	if s.key != "" {
		return s
	}
	slices.SortFunc(s.sessions, func(a, b sess) int {
		if (a.id == "") != (b.id == "") {
			if a.id == "" {
				return 1
			}
			return -1
		}
		return cmp.Or(strings.Compare(a.id, b.id), cmp.Compare(a.lastUsed, b.lastUsed), cmp.Compare(a.rotated, b.rotated),
			cmp.Compare(a.idle, b.idle), cmp.Compare(a.abs, b.abs), cmp.Compare(a.ver, b.ver), cmp.Compare(a.gen, b.gen))
	})
	b := make([]byte, 0, 32+len(s.sessions)*64)
	b = strconv.AppendInt(b, s.now, 10)
	b = append(b, '|')
	b = append(b, s.pw...)
	for _, n := range []int64{s.ver, s.fails, s.lastFail} {
		b = append(b, '|')
		b = strconv.AppendInt(b, n, 10)
	}
	for _, x := range s.sessions {
		b = append(b, '|')
		b = append(b, x.id...)
		for _, n := range []int64{int64(x.gen), x.rotated, x.lastUsed, x.idle, x.abs, x.ver} {
			b = append(b, ',')
			b = strconv.AppendInt(b, n, 10)
		}
	}
	s.key = string(b)
	return s
}

func (s *state) find(id string) int {
	if id == "" {
		return -1
	}
	return slices.IndexFunc(s.sessions, func(x sess) bool { return x.id == id })
}

// model is the sequential specification of one user's account.
type model struct{ p Params }

// porcupine returns the model as porcupine takes it, starting from any of the states
// in init (one: the account as CreateUser makes it, password label pw at token version
// 1; several: what a history prefix can leave, see Check).
func (p Params) porcupine(init []*state) porcupine.Model {
	m := &model{p: p}
	nm := porcupine.NondeterministicModel{
		Init: func() []any {
			out := make([]any, len(init))
			for i, s := range init {
				out[i] = s
			}
			return out
		},
		Step: func(st, in, out any) []any {
			next := m.step(st.(*state), in.(Input), out.(Output))
			res := make([]any, len(next))
			for i, n := range next {
				res[i] = n.seal()
			}
			return res
		},
		Equal: func(a, b any) bool { return a.(*state).key == b.(*state).key },
		Hash: func(s any) uint64 {
			h := fnv.New64a()
			h.Write([]byte(s.(*state).key))
			return h.Sum64()
		},
		DescribeOperation: func(in, out any) string { return p.describeOp(in.(Input), out.(Output)) },
		DescribeState:     func(s any) string { return p.describeState(s.(*state)) },
	}
	return nm.ToModel()
}

func initial(pw string) *state { return (&state{pw: pw, ver: 1}).seal() }

// advance moves a state to the time of the next operation and drops the sessions that
// ended by then.
func (m *model) advance(s *state, t int64) *state {
	if t < s.now {
		// The workload only moves the clock between rounds whose operations have all
		// returned, so this would be a fault of the workload, not of the service.
		panic(fmt.Sprintf("history: operation at %d linearized after one at %d", t, s.now))
	}
	if t == s.now && !slices.ContainsFunc(s.sessions, func(x sess) bool { return !x.live(t) }) {
		return s // states are immutable: no copy until one changes
	}
	c := s.clone()
	c.now = t
	c.sessions = slices.DeleteFunc(c.sessions, func(x sess) bool { return !x.live(t) })
	return c
}

// step returns the states the operation can lead to with this output (none: the
// output is impossible in s).
func (m *model) step(s0 *state, in Input, out Output) []*state {
	s := m.advance(s0, in.T)
	t := in.T
	switch in.Kind {
	case LoginTry, PasswordTry:
		return m.try(s, in, out)
	case LoginOpen:
		return m.open(s, in, out)
	case Refresh:
		return m.refresh(s, in, out)
	case Logout:
		return m.logout(s, in, out)
	case Authorize:
		if out.Ambiguous {
			return []*state{s}
		}
		i := s.find(in.SID)
		allowed := i >= 0 && s.sessions[i].ver == in.Ver && t < in.Exp+m.p.Leeway
		return when(out.Allowed == allowed, s)
	case SignOut:
		i := s.find(in.Target)
		if in.Foreign {
			return when(out.Status == 404 || out.Status == Unknown, s)
		}
		switch {
		case out.Status == Unknown && i >= 0:
			return []*state{s, s.without(i)}
		case out.Status == Unknown:
			return []*state{s}
		case out.Status == 204 && i >= 0:
			return []*state{s.without(i)}
		case (out.Status == 204 || out.Status == 404) && i < 0:
			// One of the user's that has ended: done already (204), or 404 once
			// DynamoDB's TTL has deleted an expired one's item.
			return []*state{s}
		}
		return nil
	case PasswordEnd:
		return m.passwordEnd(s, in, out)
	}
	return nil
}

func when(ok bool, s *state) []*state {
	if ok {
		return []*state{s}
	}
	return nil
}

func (s *state) without(i int) *state {
	c := s.clone()
	c.sessions = slices.Delete(c.sessions, i, i+1)
	return c
}

// allowed is the throttle rule at t: whether one more attempt may be counted.
func (m *model) allowed(s *state, t int64) bool {
	fails := s.fails
	if fails > 0 && t-s.lastFail > m.p.FailureMemory {
		fails = 0
	}
	if fails < m.p.MaxFailures {
		return true
	}
	cd := m.p.MaxLockout
	if steps := fails - m.p.MaxFailures; steps < 16 {
		cd = min(m.p.Lockout<<steps, m.p.MaxLockout)
	}
	return t-s.lastFail >= cd
}

// count counts one attempt (nil if the rule refuses it).
func (m *model) count(s *state, t int64) *state {
	if !m.allowed(s, t) {
		return nil
	}
	c := s.clone()
	if c.fails > 0 && t-c.lastFail > m.p.FailureMemory {
		c.fails = 0 // forgotten: the count starts over
	}
	c.fails++
	c.lastFail = t
	return c
}

// counted returns the states after lo..hi counted attempts at t (each allowed by the
// rule), and, in refused, the states after 0..hi counts in which the next attempt is
// refused.
func (m *model) counted(s *state, t int64, lo, hi int) (counted, refused []*state) {
	cur := s
	for c := 0; c <= hi; c++ {
		if c >= lo {
			counted = append(counted, cur)
		}
		next := m.count(cur, t)
		if next == nil {
			refused = append(refused, cur)
			break
		}
		cur = next
	}
	return counted, refused
}

// try is the counted check of a password: a login's or a password change's first half.
func (m *model) try(s *state, in Input, out Output) []*state {
	t := in.T
	if in.Kind == PasswordTry && out.Status == 401 && out.Code == "invalid_grant" {
		// Refused before the attempt was counted: the caller's session had ended.
		i := s.find(in.SID)
		return when(i < 0, s)
	}
	switch out.Status {
	case 429:
		// The attempts whose answers were lost may have counted first.
		_, refused := m.counted(s, t, 0, in.Lost)
		return refused
	case 401, Reserved:
		if out.Status == 401 && out.Code != "invalid_credentials" {
			return nil
		}
		if (in.Password == s.pw) != (out.Status == Reserved) {
			return nil
		}
		c, _ := m.counted(s, t, 1, 1+in.Lost)
		return c
	case Unknown:
		c, _ := m.counted(s, t, 0, in.Reached)
		return c
	}
	return nil
}

// open is a login's session write.
func (m *model) open(s *state, in Input, out Output) []*state {
	t := in.T
	abs := t + m.p.MaxAge
	idle := min(t+m.p.IdleTTL, abs)
	switch {
	case out.Status == 401 && out.Code == "invalid_credentials":
		return when(in.Password != s.pw, s)
	case out.Status == Unknown:
		if in.Password != s.pw {
			return []*state{s}
		}
		return append([]*state{s}, m.admit(s, sess{rotated: t, lastUsed: t, idle: idle, abs: abs, ver: s.ver})...)
	case out.Status == 200:
		if in.Password != s.pw || s.find(out.SID) >= 0 || out.SID == "" ||
			out.Gen != 0 || out.Ver != s.ver || out.Abs != abs || out.Exp != min(t+m.p.AccessTTL, idle) {
			return nil
		}
		return m.admit(s, sess{id: out.SID, rotated: t, lastUsed: t, idle: idle, abs: abs, ver: s.ver})
	}
	return nil
}

// admit adds a new session as a successful login does: the least recently used live
// sessions beyond the cap end, and the username's counter is reset.
func (m *model) admit(s *state, n sess) []*state {
	base := s.clone()
	base.fails, base.lastFail = 0, 0
	extra := len(base.sessions) + 1 - m.p.MaxSessions
	evicted := m.evict(base, extra)
	var out []*state
	for _, e := range evicted {
		e.sessions = append(e.sessions, n)
		out = append(out, e)
	}
	return out
}

// evict returns the states with the n least recently used sessions ended: ordered by
// last use, then last rotation, then ID, as the service orders them. A phantom's ID is
// unknown, so where it ties with known sessions either may go first.
func (m *model) evict(s *state, n int) []*state {
	if m.p.MaxSessions <= 0 || n <= 0 {
		return []*state{s}
	}
	if len(s.sessions) == 0 {
		return []*state{s}
	}
	least := slices.MinFunc(s.sessions, compareUse)
	candidates := map[int]bool{}
	known, phantom := -1, -1
	for i, x := range s.sessions {
		if x.lastUsed != least.lastUsed || x.rotated != least.rotated {
			continue
		}
		if x.id == "" {
			if phantom < 0 {
				phantom = i
			}
		} else if known < 0 || x.id < s.sessions[known].id {
			known = i
		}
	}
	if known >= 0 {
		candidates[known] = true
	}
	if phantom >= 0 {
		candidates[phantom] = true
	}
	var out []*state
	for i := range candidates {
		out = append(out, m.evict(s.without(i), n-1)...)
	}
	return out
}

func compareUse(a, b sess) int {
	return cmp.Or(cmp.Compare(a.lastUsed, b.lastUsed), cmp.Compare(a.rotated, b.rotated))
}

// refresh is POST /auth/refresh with the token of generation in.Gen of session in.SID.
func (m *model) refresh(s *state, in Input, out Output) []*state {
	t := in.T
	i := s.find(in.SID)
	if i < 0 {
		// Ended (or past the deadline its ID carries): refused, nothing changes.
		return when(out.Status == Unknown || (out.Status == 401 && out.Code == "invalid_grant"), s)
	}
	x := s.sessions[i]
	grant := func(gen int, idle int64) bool {
		return out.Status == 200 && out.SID == x.id && out.Gen == gen && out.Ver == x.ver &&
			out.Exp == min(t+m.p.AccessTTL, x.abs, idle)
	}
	switch {
	case in.Gen > x.gen:
		return nil // a token the session never had: the workload's fault
	case in.Gen == x.gen:
		// The current token: rotate.
		r := s.clone()
		y := &r.sessions[i]
		y.gen, y.rotated, y.lastUsed, y.idle = x.gen+1, t, t, min(t+m.p.IdleTTL, x.abs)
		switch {
		case out.Status == Unknown:
			return []*state{s, r}
		case grant(x.gen+1, y.idle):
			return []*state{r}
		}
		return nil
	case in.Gen == x.gen-1 && t-x.rotated <= m.p.Grace:
		// The previous token inside the grace window: the current token, no write.
		return when(out.Status == Unknown || grant(x.gen, x.idle), s)
	default:
		// An older token, or the previous one after the grace window: theft, the
		// session ends.
		switch {
		case out.Status == Unknown:
			return []*state{s, s.without(i)}
		case out.Status == 401 && out.Code == "invalid_grant":
			return []*state{s.without(i)}
		}
		return nil
	}
}

// logout is POST /auth/logout with the token of generation in.Gen of session in.SID.
func (m *model) logout(s *state, in Input, out Output) []*state {
	i := s.find(in.SID)
	if out.Status != 204 && out.Status != Unknown {
		return nil
	}
	if i < 0 {
		// An ended session's token changes nothing, whatever the scope.
		return []*state{s}
	}
	x := s.sessions[i]
	if in.Gen > x.gen {
		return nil
	}
	held := in.Gen >= x.gen-1 // the current or the previous token: a logout, not theft
	var r *state
	switch {
	case in.Scope == "session" || (in.Scope == "others" && !held):
		// The token's own session ends (as theft if the token is older).
		r = s.without(i)
	case in.Scope == "others":
		r = s.clone()
		r.sessions = []sess{x}
		r.sessions[0].lastUsed = in.T
	case in.Scope == "all":
		r = s.clone()
		r.sessions = nil
		r.ver++
	default:
		return nil
	}
	if out.Status == Unknown {
		return []*state{s, r}
	}
	return []*state{r}
}

// passwordEnd is a password change's one write: every other session ends, the token
// version rises and the caller's session stays at the new version.
func (m *model) passwordEnd(s *state, in Input, out Output) []*state {
	t := in.T
	i := s.find(in.SID)
	var r *state
	var x sess
	if i >= 0 && in.Password == s.pw {
		x = s.sessions[i]
		r = s.clone()
		r.pw, r.ver, r.fails, r.lastFail = in.NewPassword, s.ver+1, 0, 0
		x.ver, x.lastUsed = s.ver+1, t
		r.sessions = []sess{x}
	}
	switch {
	case out.Status == Unknown && r != nil:
		return []*state{s, r}
	case out.Status == Unknown:
		return []*state{s}
	case out.Status == 200:
		if r == nil || out.SID != x.id || out.Ver != x.ver || out.Exp != min(t+m.p.AccessTTL, x.abs, x.idle) {
			return nil
		}
		return []*state{r}
	case out.Status == 401 && out.Code == "invalid_credentials":
		// The password was changed by someone else since it was checked.
		return when(in.Password != s.pw, s)
	case out.Status == 401 && out.Code == "invalid_grant":
		// The caller's session ended since the check (decided on the password as
		// checked, so whatever the password is now).
		return when(i < 0, s)
	}
	return nil
}
