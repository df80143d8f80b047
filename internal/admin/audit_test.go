package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/example/sessions/internal/admin"
	"github.com/example/sessions/internal/audit"
	"github.com/example/sessions/internal/session"
)

// decodeAudit reads every line of sessionctl's audit output against the schema.
func decodeAudit(t *testing.T, out string) []audit.Line {
	t.Helper()
	var lines []audit.Line
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		line, ok, err := audit.Decode([]byte(l))
		if !ok || err != nil {
			t.Fatalf("not an audit line by the schema (%v): %s", err, l)
		}
		lines = append(lines, line)
	}
	return lines
}

// Each change an operator makes with sessionctl is one audit line on Env.Audit (stderr
// for sessionctl), with no client (the operator's IAM principal is in CloudTrail) and
// no password; a command that changes nothing writes none.
func TestSessionctlRecordsEachChangeItMakes(t *testing.T) {
	f := newFixture(t)
	const pw, pwNew = "correct horse battery staple", "a brand new passphrase"
	f.mustRun(pw+"\n", "user", "create", "alice")
	l, _ := f.user("alice")
	g := f.mustLogin("alice", pw, session.Client{})
	tests := []struct {
		args   []string
		stdin  string
		event  audit.Event
		sid    string
		reason string
	}{
		{[]string{"user", "create", "bob"}, pw + "\n", audit.UserCreated, "", ""},
		{[]string{"sessions", "revoke", g.SessionID}, "", audit.AdminRevoke, g.SessionID, session.ReasonAdminRevoke},
		{[]string{"user", "revoke-all", "alice"}, "", audit.AdminRevoke, "", session.ReasonAdminRevoke},
		{[]string{"user", "set-password", "alice"}, pwNew + "\n", audit.PasswordReset, "", session.ReasonPasswordChange},
		{[]string{"user", "disable", "alice"}, "", audit.UserDisabled, "", session.ReasonUserDisabled},
		{[]string{"user", "enable", "alice"}, "", audit.UserEnabled, "", ""},
		{[]string{"sessions", "list", "alice"}, "", "", "", ""}, // reads only
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args[:2], " ")+" writes its audit line", func(t *testing.T) {
			f.audit.Reset()
			f.mustRun(tc.stdin, tc.args...)
			out := f.audit.String()
			for _, secret := range []string{pw, pwNew, g.RefreshToken, g.AccessToken} {
				if strings.Contains(out, secret) {
					t.Fatalf("the audit output holds a secret: %s", out)
				}
			}
			lines := decodeAudit(t, out)
			if tc.event == "" {
				if len(lines) != 0 {
					t.Fatalf("a read wrote audit lines: %s", out)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d audit lines, want 1: %s", len(lines), out)
			}
			got := lines[0]
			uid := l.UID
			if tc.event == audit.UserCreated {
				b, _ := f.user("bob")
				uid = b.UID
			}
			sid := tc.sid
			if len(sid) > audit.SessionPrefixLen {
				sid = sid[:audit.SessionPrefixLen]
			}
			if got.Event != tc.event || got.UserID != uid || got.SessionIDPrefix != sid || got.Reason != tc.reason ||
				got.SourceIP != "" || got.UserAgent != "" || got.Time != f.clock.Now().UTC().Format(audit.TimeFormat) {
				t.Fatalf("audit line %+v, want event %s user %s session %q reason %q at %s", got, tc.event, uid, sid, tc.reason, f.clock.Now())
			}
		})
	}
}

// Each keys step that changes the key material is a key_rotated line naming the step
// and the key; no key material ever appears.
func TestKeyRotationStepsAreAuditEvents(t *testing.T) {
	f := newKeysFixture(t)
	step := func(reason string, args ...string) audit.Line {
		t.Helper()
		f.audit.Reset()
		f.mustRun(args...)
		lines := decodeAudit(t, f.audit.String())
		f.noSecrets(f.audit.String())
		if len(lines) != 1 || lines[0].Event != audit.KeyRotated || lines[0].Reason != reason || lines[0].UserID != "" ||
			lines[0].SessionIDPrefix != "" || lines[0].Time != f.clock.Now().UTC().Format(audit.TimeFormat) {
			t.Fatalf("sessionctl %q wrote %+v, want one key_rotated line, reason %q", args, lines, reason)
		}
		return lines[0]
	}
	step("init", "keys", "init")
	a := f.load().private.Signing().ID
	if !strings.Contains(f.audit.String(), `"kid":"`+a+`"`) {
		t.Fatalf("the init line does not name the signing key %s: %s", a, f.audit.String())
	}
	step("add", "keys", "add")
	b := f.load().private.Keys()[1].ID
	f.advance(admin.PromoteAfter)
	step("promote", "keys", "promote", b)
	f.advance(admin.RetireAfter(15*time.Minute) + time.Minute)
	step("retire", "keys", "retire", a)
	f.audit.Reset()
	f.mustRun("keys", "list")
	f.mustRun("keys", "publish") // the public set matches: nothing written
	if out := f.audit.String(); out != "" {
		t.Fatalf("commands that change nothing wrote audit lines: %s", out)
	}
}
