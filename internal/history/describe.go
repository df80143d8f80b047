package history

import (
	"fmt"
	"strings"

	"github.com/example/sessions/internal/session"
)

// short is how a session appears in descriptions: the prefix of its ID the service's
// logs show (session.LogID: its deadline and 40 random bits; IDs are not credentials,
// and the tokens never appear at all).
func short(sid string) string { return session.LogID(sid) }

func (p Params) at(t int64) string { return fmt.Sprintf("+%ds", t-p.Epoch) }

func (p Params) describeOp(in Input, out Output) string {
	var b strings.Builder
	fmt.Fprintf(&b, "c%d %s ", in.Client, p.at(in.T))
	switch in.Kind {
	case LoginTry:
		fmt.Fprintf(&b, "login(%s)", in.Password)
	case LoginOpen:
		fmt.Fprintf(&b, "login-open(%s)", in.Password)
	case Refresh:
		fmt.Fprintf(&b, "refresh(%s g%d)", short(in.SID), in.Gen)
	case Logout:
		fmt.Fprintf(&b, "logout %s(%s g%d)", in.Scope, short(in.SID), in.Gen)
	case Authorize:
		fmt.Fprintf(&b, "authorize(%s v%d exp%s)", short(in.SID), in.Ver, p.at(in.Exp))
	case SignOut:
		foreign := ""
		if in.Foreign {
			foreign = " of another user"
		}
		fmt.Fprintf(&b, "sign-out(%s%s, by %s)", short(in.Target), foreign, short(in.SID))
	case PasswordTry:
		fmt.Fprintf(&b, "password(%s→%s, in %s)", in.Password, in.NewPassword, short(in.SID))
	case PasswordEnd:
		fmt.Fprintf(&b, "password-end(%s→%s, in %s)", in.Password, in.NewPassword, short(in.SID))
	}
	if in.Lost > 0 {
		fmt.Fprintf(&b, " [%d counting answers lost]", in.Lost)
	}
	if in.LostTx {
		b.WriteString(" [a transaction's answer lost]")
	}
	b.WriteString(" → ")
	b.WriteString(p.describeOut(in, out))
	return b.String()
}

func (p Params) describeOut(in Input, out Output) string {
	if in.Kind == Authorize {
		switch {
		case out.Ambiguous:
			return "deny (storage failing)"
		case out.Allowed:
			return "allow"
		}
		return "deny"
	}
	switch out.Status {
	case Unknown:
		return "unknown (503/timeout)"
	case Reserved:
		return "counted, password matched"
	case 200:
		switch in.Kind {
		case PasswordEnd:
			return fmt.Sprintf("200 v%d exp%s", out.Ver, p.at(out.Exp))
		}
		return fmt.Sprintf("200 %s g%d v%d exp%s", short(out.SID), out.Gen, out.Ver, p.at(out.Exp))
	}
	if out.Code != "" {
		return fmt.Sprintf("%d %s", out.Status, out.Code)
	}
	return fmt.Sprint(out.Status)
}

func (p Params) describeState(s *state) string {
	var b strings.Builder
	fmt.Fprintf(&b, "password %s, ver %d", s.pw, s.ver)
	if s.fails > 0 {
		fmt.Fprintf(&b, ", %d counted attempts (last %s)", s.fails, p.at(s.lastFail))
	}
	if len(s.sessions) == 0 {
		b.WriteString(", no live session")
	}
	for _, x := range s.sessions {
		id := short(x.id)
		if id == "" {
			id = "(lost login)"
		}
		fmt.Fprintf(&b, "; %s g%d v%d used %s rotated %s idle %s", id, x.gen, x.ver, p.at(x.lastUsed), p.at(x.rotated), p.at(x.idle))
	}
	return b.String()
}
