package history

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// The model on its own, on small hand-made histories: what it must accept (the
// service's documented behaviour, with its nondeterminism) and what it must refuse.

// params are the workload's settings (see env in workload_test.go).
var params = Params{
	AccessTTL: 60, IdleTTL: 120, MaxAge: 600, Grace: 5, MaxSessions: 3, Leeway: 5,
	MaxFailures: 5, Lockout: 60, MaxLockout: 900, FailureMemory: 86400, Epoch: t0,
}

const t0 = 1_000_000

// hist builds a history: each operation after the previous one, unless grouped by
// together (then all of them overlap).
type hist struct {
	ops  []Op
	next int64
}

func (h *hist) op(in Input, out Output) *hist { return h.together(op{in, out}) }

type op struct {
	in  Input
	out Output
}

func (h *hist) together(ops ...op) *hist {
	call := h.next
	for _, o := range ops {
		o.in.User = "u"
		h.ops = append(h.ops, Op{In: o.in, Out: o.out, Call: call, Return: call + 10})
	}
	h.next = call + 20
	return h
}

func (h *hist) legal() bool {
	m := params.porcupine([]*state{initial("p0")})
	return porcupine.CheckOperations(m, operations(h.ops))
}

// login is a whole login at t opening session sid (with the exp and ver it must answer).
func (h *hist) login(t int64, sid string, ver int64) *hist {
	h.op(Input{Kind: LoginTry, T: t, Password: "p0"}, Output{Status: Reserved})
	return h.op(Input{Kind: LoginOpen, T: t, Password: "p0"},
		Output{Status: 200, SID: sid, Ver: ver, Exp: t + 60, Abs: t + 600})
}

func refresh(t int64, sid string, gen int, out Output) op {
	return op{Input{Kind: Refresh, T: t, SID: sid, Gen: gen}, out}
}

func granted(sid string, gen int, ver, exp int64) Output {
	return Output{Status: 200, SID: sid, Gen: gen, Ver: ver, Exp: exp}
}

func authorize(t int64, sid string, ver int64, allowed bool) op {
	return op{Input{Kind: Authorize, T: t, SID: sid, Ver: ver, Exp: t0 + 60}, Output{Allowed: allowed}}
}

var (
	unknown      = Output{Status: Unknown}
	invalidGrant = Output{Status: 401, Code: "invalid_grant"}
	noContent    = Output{Status: 204}
)

func (h *hist) do(o op) *hist { return h.together(o) }

func TestTheModel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     *hist
		legal bool
	}{
		{"a replay of the previous token inside the grace window gets the current token without a write",
			new(hist).login(t0, "A", 1).do(refresh(t0, "A", 0, granted("A", 1, 1, t0+60))).
				do(refresh(t0+5, "A", 0, granted("A", 1, 1, t0+65))).do(refresh(t0+5, "A", 1, granted("A", 2, 1, t0+65))), true},
		{"the previous token a second after the grace window is theft and ends the session",
			new(hist).login(t0, "A", 1).do(refresh(t0, "A", 0, granted("A", 1, 1, t0+60))).
				do(refresh(t0+6, "A", 0, invalidGrant)).do(refresh(t0+6, "A", 1, granted("A", 2, 1, t0+66))), false},
		{"an older token is theft even inside the grace window",
			new(hist).login(t0, "A", 1).do(refresh(t0, "A", 0, granted("A", 1, 1, t0+60))).
				do(refresh(t0, "A", 1, granted("A", 2, 1, t0+60))).do(refresh(t0, "A", 0, invalidGrant)).
				do(authorize(t0, "A", 1, true)), false},
		{"a refresh whose answer was lost may have rotated, so the token it presented gets the current one",
			new(hist).login(t0, "A", 1).do(refresh(t0, "A", 0, unknown)).
				do(refresh(t0+3, "A", 0, granted("A", 1, 1, t0+63))).do(refresh(t0+3, "A", 1, granted("A", 2, 1, t0+63))), true},
		{"a refresh of an ended session is refused and changes nothing",
			new(hist).login(t0, "A", 1).do(op{Input{Kind: Logout, T: t0, SID: "A", Scope: "session"}, noContent}).
				do(refresh(t0, "A", 0, granted("A", 1, 1, t0+60))), false},
		{"a login beyond the cap ends the least recently used session",
			new(hist).login(t0, "A", 1).login(t0+1, "B", 1).login(t0+2, "C", 1).login(t0+3, "D", 1).
				do(authorize(t0+3, "A", 1, false)).do(authorize(t0+3, "B", 1, true)), true},
		{"a login beyond the cap does not end a session used more recently than another",
			new(hist).login(t0, "A", 1).login(t0+1, "B", 1).login(t0+2, "C", 1).
				do(refresh(t0+2, "A", 0, granted("A", 1, 1, t0+62))).login(t0+3, "D", 1).
				do(authorize(t0+3, "B", 1, true)), false},
		{"a login whose answer was lost may have taken a place under the cap",
			new(hist).login(t0, "A", 1).do(op{Input{Kind: LoginTry, T: t0 + 1, Password: "p0"}, Output{Status: Reserved}}).
				do(op{Input{Kind: LoginOpen, T: t0 + 1, Password: "p0"}, unknown}).
				login(t0+2, "B", 1).login(t0+3, "C", 1).do(authorize(t0+3, "A", 1, false)), true},
		{"a login whose answer was lost may equally have opened nothing",
			new(hist).login(t0, "A", 1).do(op{Input{Kind: LoginTry, T: t0 + 1, Password: "p0"}, Output{Status: Reserved}}).
				do(op{Input{Kind: LoginOpen, T: t0 + 1, Password: "p0"}, unknown}).
				login(t0+2, "B", 1).login(t0+3, "C", 1).do(authorize(t0+3, "A", 1, true)), true},
		{"logging out everywhere with a token of an ended session changes nothing",
			new(hist).login(t0, "A", 1).login(t0, "B", 1).do(op{Input{Kind: Logout, T: t0, SID: "A", Scope: "session"}, noContent}).
				do(op{Input{Kind: Logout, T: t0, SID: "A", Scope: "all"}, noContent}).do(authorize(t0, "B", 1, true)), true},
		{"logging out everywhere with a live session's token ends every session",
			new(hist).login(t0, "A", 1).login(t0, "B", 1).
				do(op{Input{Kind: Logout, T: t0, SID: "A", Scope: "all"}, noContent}).do(authorize(t0, "B", 1, true)), false},
		{"logging out the others keeps the caller's session",
			new(hist).login(t0, "A", 1).login(t0, "B", 1).
				do(op{Input{Kind: Logout, T: t0, SID: "A", Scope: "others"}, noContent}).
				do(authorize(t0, "A", 1, true)).do(authorize(t0, "B", 1, false)), true},
		{"a burst of logins with the right password can be throttled by each other's counts",
			new(hist).together(
				op{Input{Kind: LoginTry, T: t0, Password: "p0"}, Output{Status: Reserved}},
				op{Input{Kind: LoginTry, T: t0, Password: "p0"}, Output{Status: Reserved}},
				op{Input{Kind: LoginTry, T: t0, Password: "p0"}, Output{Status: Reserved}},
				op{Input{Kind: LoginTry, T: t0, Password: "p0"}, Output{Status: Reserved}},
				op{Input{Kind: LoginTry, T: t0, Password: "p0"}, Output{Status: Reserved}},
				op{Input{Kind: LoginTry, T: t0, Password: "p0"}, Output{Status: 429}}), true},
		{"a sixth wrong guess in a row is refused before the password is checked",
			new(hist).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)), false},
		{"after the cool-down one more guess is checked",
			new(hist).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)).
				do(op{Input{Kind: LoginTry, T: t0 + 59, Password: "x"}, Output{Status: 429}}).do(wrong(t0 + 60)), true},
		{"a guess whose counting answer was lost may have counted twice",
			new(hist).do(wrong(t0)).do(wrong(t0)).do(wrong(t0)).
				do(op{Input{Kind: LoginTry, T: t0, Password: "x", Lost: 1, Reached: 2}, Output{Status: 401, Code: "invalid_credentials"}}).
				do(op{Input{Kind: LoginTry, T: t0, Password: "x"}, Output{Status: 429}}), true},
		{"a password change ends the other sessions and every access token minted before",
			new(hist).login(t0, "A", 1).login(t0, "B", 1).
				do(op{Input{Kind: PasswordTry, T: t0, SID: "A", Password: "p0", NewPassword: "p1"}, Output{Status: Reserved}}).
				do(op{Input{Kind: PasswordEnd, T: t0, SID: "A", Password: "p0", NewPassword: "p1"}, Output{Status: 200, SID: "A", Ver: 2, Exp: t0 + 60}}).
				do(authorize(t0, "A", 2, true)).do(authorize(t0, "A", 1, false)).do(authorize(t0, "B", 1, false)), true},
		{"an access token minted before a password change is refused after it",
			new(hist).login(t0, "A", 1).
				do(op{Input{Kind: PasswordTry, T: t0, SID: "A", Password: "p0", NewPassword: "p1"}, Output{Status: Reserved}}).
				do(op{Input{Kind: PasswordEnd, T: t0, SID: "A", Password: "p0", NewPassword: "p1"}, Output{Status: 200, SID: "A", Ver: 2, Exp: t0 + 60}}).
				do(authorize(t0, "A", 1, true)), false},
		{"an access token is accepted until its exp and the verifier's leeway",
			new(hist).login(t0, "A", 1).do(refresh(t0+50, "A", 0, granted("A", 1, 1, t0+110))).
				do(authorize(t0+64, "A", 1, true)).do(authorize(t0+65, "A", 1, false)), true},
		{"a session ends at its idle deadline unless refreshed",
			new(hist).login(t0, "A", 1).do(refresh(t0+120, "A", 0, granted("A", 1, 1, t0+180))), false},
		{"a sign-out of another user's session is not found",
			new(hist).login(t0, "A", 1).do(op{Input{Kind: SignOut, T: t0, SID: "A", Target: "Z", Foreign: true}, noContent}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.legal(); got != tc.legal {
				t.Errorf("the model finds the history legal: %v, want %v", got, tc.legal)
			}
		})
	}
}

func wrong(t int64) op {
	return op{Input{Kind: LoginTry, T: t, Password: "x"}, Output{Status: 401, Code: "invalid_credentials"}}
}
