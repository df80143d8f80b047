package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/admin"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/session"
)

const (
	pwAlice = "correct horse battery staple"
	pwNew   = "a brand new passphrase"
)

func TestCreateTable(t *testing.T) {
	f := newFixture(t)
	name := "sessionctl-create-" + fmt.Sprint(time.Now().UnixNano())
	t.Cleanup(func() {
		_, _ = f.client.DeleteTable(t.Context(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	steps := []struct {
		name   string
		call   call
		stdout string
	}{
		{"a missing table is created, named by --table", call{args: []string{"create-table", "--table", name}, getenv: map[string]string{}}, "created table " + name + " (TTL on attribute ttl)"},
		{"the second time it says the table exists, named by TABLE_NAME", call{args: []string{"create-table"}, getenv: map[string]string{"TABLE_NAME": name}}, "table " + name + " already exists"},
		{"a global --table before the command works too", call{args: []string{"--table", name, "create-table"}, getenv: map[string]string{}}, "table " + name + " already exists"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := f.call(s.call)
			if r.code != admin.ExitOK || !strings.Contains(r.stdout, s.stdout) || r.stderr != "" {
				t.Fatalf("got %d %q %q, want 0 and %q", r.code, r.stdout, r.stderr, s.stdout)
			}
		})
	}
	t.Run("the table has the template's schema and TTL on", func(t *testing.T) {
		d, err := f.client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		tb := d.Table
		if len(tb.KeySchema) != 1 || aws.ToString(tb.KeySchema[0].AttributeName) != "pk" ||
			len(tb.GlobalSecondaryIndexes) != 0 ||
			tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
			t.Fatalf("table %+v", tb)
		}
		ttl, err := f.client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "ttl" {
			t.Fatalf("TTL %+v", d)
		}
	})
	t.Run("a created table holds users", func(t *testing.T) {
		r := f.call(call{args: []string{"user", "create", "alice", "--table", name}, stdin: pwAlice})
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
}

func TestUserCreate(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("x", 129)
	cases := []struct {
		name   string
		call   call
		code   int
		stderr string // substring of the error line
		login  string // if set, this name logs in with password
		pw     string
		scope  string
	}{
		{name: "a user created with the password on stdin logs in with it",
			call: call{args: []string{"user", "create", "alice"}, stdin: pwAlice + "\n"}, login: "alice", pw: pwAlice},
		{name: "the name is normalised, so any spelling of it logs in",
			call: call{args: []string{"user", "create", "  Bob "}, stdin: pwAlice + "\n"}, login: "BOB", pw: pwAlice},
		{name: "only the first line of stdin is the password, without its CRLF",
			call: call{args: []string{"user", "create", "carol"}, stdin: "first line password\r\nsecond line\n"}, login: "carol", pw: "first line password"},
		{name: "a password without a final newline is taken whole",
			call: call{args: []string{"user", "create", "dave"}, stdin: "no newline at the end"}, login: "dave", pw: "no newline at the end"},
		{name: "a scope given after the name is stored normalised",
			call: call{args: []string{"user", "create", "erin", "--scope", " read   write "}, stdin: pwAlice}, login: "erin", pw: pwAlice, scope: "read write"},
		{name: "a scope given before the name is stored too",
			call: call{args: []string{"user", "create", "--scope=admin", "frank"}, stdin: pwAlice}, login: "frank", pw: pwAlice, scope: "admin"},
		{name: "on a terminal the password is asked twice",
			call: call{args: []string{"user", "create", "gina"}, prompts: []string{"typed at the terminal", "typed at the terminal"}}, login: "gina", pw: "typed at the terminal"},
		{name: "two different answers at the terminal are refused",
			call: call{args: []string{"user", "create", "hank"}, prompts: []string{"typed at the terminal", "typed at the terminak"}}, code: admin.ExitUsage, stderr: "the two passwords differ"},
		{name: "a password shorter than 12 characters is refused",
			call: call{args: []string{"user", "create", "ivan"}, stdin: "short\n"}, code: admin.ExitUsage, stderr: "shorter than 12 characters"},
		{name: "a password longer than 128 characters is refused",
			call: call{args: []string{"user", "create", "ivan"}, stdin: long + "\n"}, code: admin.ExitUsage, stderr: "longer than 128 characters"},
		{name: "an empty stdin is refused",
			call: call{args: []string{"user", "create", "ivan"}, stdin: ""}, code: admin.ExitUsage, stderr: "no password on stdin"},
		{name: "a blank username is refused",
			call: call{args: []string{"user", "create", "   "}, stdin: pwAlice}, code: admin.ExitUsage, stderr: "invalid username"},
		{name: "a username with a control character is refused",
			call: call{args: []string{"user", "create", "bad\x07name"}, stdin: pwAlice}, code: admin.ExitUsage, stderr: "invalid username"},
		{name: "a name mixing Latin and a Cyrillic look-alike is refused",
			call: call{args: []string{"user", "create", "h\u0430nk"}, stdin: pwAlice}, code: admin.ExitUsage, stderr: "mixes letters of different scripts"},
		{name: "a name with a zero-width character is refused",
			call: call{args: []string{"user", "create", "ha\u200bnk"}, stdin: pwAlice}, code: admin.ExitUsage, stderr: "invalid username"},
		{name: "a scope with a quote is refused",
			call: call{args: []string{"user", "create", "ivan", "--scope", `a"b`}, stdin: pwAlice}, code: admin.ExitUsage, stderr: "bad scope"},
		{name: "the password is not accepted as a flag",
			call: call{args: []string{"user", "create", "ivan", "--password", pwAlice}, stdin: pwAlice}, code: admin.ExitUsage, stderr: "flag provided but not defined: -password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.call(c.call)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d (stderr %q)", r.code, c.code, r.stderr)
			}
			if c.code != 0 {
				if !strings.HasPrefix(r.stderr, "sessionctl: ") || !strings.Contains(r.stderr, c.stderr) || r.stdout != "" {
					t.Fatalf("stderr %q, stdout %q; want an error containing %q", r.stderr, r.stdout, c.stderr)
				}
				if l, err := f.app.Store.GetLogin(t.Context(), strings.ToLower(strings.TrimSpace(c.call.args[2]))); err == nil {
					t.Fatalf("a refused create stored %+v", l)
				}
				return
			}
			if !strings.HasPrefix(r.stdout, "created user ") || r.stderr != "" {
				t.Fatalf("stdout %q, stderr %q", r.stdout, r.stderr)
			}
			g := f.mustLogin(c.login, c.pw, session.Client{})
			if !f.authorized(g.AccessToken) {
				t.Fatal("the authorizer refuses the new user's access token")
			}
			l, u := f.user(strings.ToLower(c.login))
			if l.Scope != c.scope {
				t.Fatalf("scope %q, want %q", l.Scope, c.scope)
			}
			id, ok := strings.CutPrefix(l.UID, "usr_")
			if !ok || len(id) != 22 || strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" ||
				!strings.Contains(r.stdout, l.UID) || u.Name != l.Name || u.Ver != l.Ver {
				t.Fatalf("login %+v, user %+v, output %q", l, u, r.stdout)
			}
			if !strings.HasPrefix(l.PwHash, "$argon2id$v=19$m=1024,t=1,p=1$") {
				t.Fatalf("hash %q not made with the injected parameters", l.PwHash)
			}
		})
	}
}

func TestUserCreateRefusesAnExistingUser(t *testing.T) {
	f := newFixture(t)
	f.createUser("alice", pwAlice)
	cases := []struct {
		name  string
		call  call
		code  int
		error string
	}{
		{"the same name again exits 4", call{args: []string{"user", "create", "alice"}, stdin: "another password\n"}, admin.ExitConflict, `user "alice" already exists`},
		{"another spelling of the name exits 4", call{args: []string{"user", "create", " ALICE"}, stdin: "another password\n"}, admin.ExitConflict, `user "alice" already exists`},
		{"it says so before reading a password", call{args: []string{"user", "create", "alice"}, stdin: ""}, admin.ExitConflict, "already exists"},
		{"at a terminal it asks nothing", call{args: []string{"user", "create", "alice"}, prompts: []string{}}, admin.ExitConflict, "already exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.call(c.call)
			if r.code != c.code || !strings.Contains(r.stderr, c.error) || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("got %d %q, want %d and one line with %q", r.code, r.stderr, c.code, c.error)
			}
		})
	}
	t.Run("the first user's password still works", func(t *testing.T) {
		f.mustLogin("alice", pwAlice, session.Client{})
		if _, err := f.login("alice", "another password", session.Client{}); !errors.Is(err, session.ErrInvalidCredentials) {
			t.Fatalf("the refused password logs in: %v", err)
		}
	})
}

// userWithSessions creates alice with two live sessions and one logged out.
func userWithSessions(f *fixture) (live []*session.Grant, loggedOut *session.Grant) {
	f.t.Helper()
	f.createUser("alice", pwAlice)
	live = []*session.Grant{
		f.mustLogin("alice", pwAlice, session.Client{UserAgent: "phone"}),
		f.mustLogin("alice", pwAlice, session.Client{UserAgent: "laptop"}),
	}
	loggedOut = f.mustLogin("alice", pwAlice, session.Client{})
	if err := f.app.Service.Logout(f.t.Context(), loggedOut.RefreshToken, session.ScopeSession); err != nil {
		f.t.Fatal(err)
	}
	return live, loggedOut
}

func TestSetPassword(t *testing.T) {
	f := newFixture(t)
	live, loggedOut := userWithSessions(f)
	_, before := f.user("alice")

	r := f.runStdin(pwNew+"\n", "user", "set-password", "Alice")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checks := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"it says how many live sessions it revoked", func(t *testing.T) bool {
			return strings.Contains(r.stdout, "changed the password of alice; 2 live sessions revoked")
		}},
		{"the token version is bumped", func(t *testing.T) bool {
			l, u := f.user("alice")
			return u.Ver == before.Ver+1 && l.Ver == u.Ver
		}},
		{"every live session is revoked for the password change", func(t *testing.T) bool {
			for _, g := range live {
				if s := f.session(g.SessionID); s.RevokeReason != session.ReasonPasswordChange {
					t.Logf("session %s: %+v", g.SessionID, s)
					return false
				}
			}
			return true
		}},
		{"a session logged out before keeps its reason", func(t *testing.T) bool {
			return f.session(loggedOut.SessionID).RevokeReason == "logout"
		}},
		{"the old refresh tokens are refused", func(t *testing.T) bool {
			_, err := f.app.Service.Refresh(t.Context(), live[0].RefreshToken)
			return errors.Is(err, session.ErrInvalidGrant)
		}},
		{"the old access tokens are refused", func(t *testing.T) bool {
			return !f.authorized(live[1].AccessToken)
		}},
		{"the old password is refused", func(t *testing.T) bool {
			_, err := f.login("alice", pwAlice, session.Client{})
			return errors.Is(err, session.ErrInvalidCredentials)
		}},
		{"the new password logs in", func(t *testing.T) bool {
			g, err := f.login("alice", pwNew, session.Client{})
			return err == nil && f.authorized(g.AccessToken)
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok(t) {
				t.Fatal("no")
			}
		})
	}

	refused := []struct {
		name  string
		call  call
		code  int
		error string
	}{
		{"a too short new password changes nothing", call{args: []string{"user", "set-password", "alice"}, stdin: "short\n"}, admin.ExitUsage, "shorter than 12"},
		{"differing answers at the terminal change nothing", call{args: []string{"user", "set-password", "alice"}, prompts: []string{"first new password", "other new password"}}, admin.ExitUsage, "differ"},
		{"an unknown user exits 3 before reading a password", call{args: []string{"user", "set-password", "nobody"}}, admin.ExitNotFound, `no user "nobody"`},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, u0 := f.user("alice")
			r := f.call(c.call)
			if r.code != c.code || !strings.Contains(r.stderr, c.error) {
				t.Fatalf("got %d %q, want %d and %q", r.code, r.stderr, c.code, c.error)
			}
			if _, u := f.user("alice"); u.Ver != u0.Ver {
				t.Fatalf("version moved from %d to %d", u0.Ver, u.Ver)
			}
			f.mustLogin("alice", pwNew, session.Client{})
		})
	}
}

func TestRevokeAll(t *testing.T) {
	f := newFixture(t)
	live, loggedOut := userWithSessions(f)
	f.createUser("bob", pwAlice)
	bobs := f.mustLogin("bob", pwAlice, session.Client{})
	_, before := f.user("alice")

	r := f.run("user", "revoke-all", "alice")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checks := []struct {
		name string
		ok   func(t *testing.T) bool
	}{
		{"it says how many live sessions it revoked", func(t *testing.T) bool {
			return strings.Contains(r.stdout, "revoked every session of alice; 2 live sessions revoked")
		}},
		{"the token version is bumped", func(t *testing.T) bool {
			_, u := f.user("alice")
			return u.Ver == before.Ver+1
		}},
		{"every live session is revoked by the admin", func(t *testing.T) bool {
			return f.session(live[0].SessionID).RevokeReason == session.ReasonAdminRevoke &&
				f.session(live[1].SessionID).RevokeReason == session.ReasonAdminRevoke
		}},
		{"a session logged out before keeps its reason", func(t *testing.T) bool {
			return f.session(loggedOut.SessionID).RevokeReason == "logout"
		}},
		{"refresh and access tokens are refused", func(t *testing.T) bool {
			_, err := f.app.Service.Refresh(t.Context(), live[1].RefreshToken)
			return errors.Is(err, session.ErrInvalidGrant) && !f.authorized(live[0].AccessToken)
		}},
		{"the password still logs in", func(t *testing.T) bool {
			g, err := f.login("alice", pwAlice, session.Client{})
			return err == nil && f.authorized(g.AccessToken)
		}},
		{"another user's session is untouched", func(t *testing.T) bool {
			return f.authorized(bobs.AccessToken) && !f.session(bobs.SessionID).Revoked()
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok(t) {
				t.Fatal("no")
			}
		})
	}
	t.Run("a user without live sessions gets a count of zero", func(t *testing.T) {
		f.createUser("carol", pwAlice)
		if out := f.mustRun("", "user", "revoke-all", "carol"); !strings.Contains(out, "0 live sessions revoked") {
			t.Fatalf("stdout %q", out)
		}
	})
}

func TestSessionsList(t *testing.T) {
	f := newFixture(t)
	f.createUser("alice", pwAlice)
	f.createUser("bob", pwAlice)

	// The list is taken 15 days after the first login, so that session is a day past
	// its idle deadline (14 days) on the clock, while its item's TTL is still in the
	// real future and the item is there, as DynamoDB keeps items for a while after
	// their TTL.
	expired := f.mustLogin("alice", pwAlice, session.Client{UserAgent: "old browser", IP: "192.0.2.1"})
	now := f.start.Add(15 * 24 * time.Hour)
	f.clock.Set(now.Add(-time.Hour))
	loggedOut := f.mustLogin("alice", pwAlice, session.Client{UserAgent: "tablet"})
	if err := f.app.Service.Logout(t.Context(), loggedOut.RefreshToken, session.ScopeSession); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(now.Add(-time.Minute))
	adminRevoked := f.mustLogin("alice", pwAlice, session.Client{})
	f.mustRun("", "sessions", "revoke", adminRevoked.SessionID)
	f.clock.Set(now)
	live := f.mustLogin("alice", pwAlice, session.Client{UserAgent: "Mozilla/5.0 (X11) \x1b[31mred", IP: "198.51.100.7"})
	bobs := f.mustLogin("bob", pwAlice, session.Client{})

	t.Run("the expired session's item is still in the table", func(t *testing.T) {
		f.stillStored(expired.SessionID)
		s := f.session(expired.SessionID)
		if s.Live(now) || s.Revoked() || !now.After(s.IdleExp) {
			t.Fatalf("%+v", s)
		}
	})

	out := f.mustRun("", "sessions", "list", "alice")
	rows := listed(t, out)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4:\n%s", len(rows), out)
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	cases := []struct {
		name  string
		sid   string
		state string
		more  []string // further fields: created, last used, idle, absolute, then IP
	}{
		{"a live session shows as live with its deadlines and IP", live.SessionID, "live",
			[]string{stamp(now), stamp(now), stamp(live.RefreshExp), stamp(live.SessionExp), "198.51.100.7"}},
		{"a logged-out session shows as revoked(logout)", loggedOut.SessionID, "revoked(logout)", nil},
		{"a session revoked by sessionctl shows as revoked(admin_revoke)", adminRevoked.SessionID, "revoked(admin_revoke)", nil},
		{"a session past its idle deadline shows as expired though its item lingers", expired.SessionID, "expired",
			[]string{stamp(f.start), stamp(f.start), stamp(expired.RefreshExp), stamp(expired.SessionExp), "192.0.2.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row, ok := rows[c.sid]
			if !ok {
				t.Fatalf("%s not listed:\n%s", c.sid, out)
			}
			if row[5] != c.state {
				t.Fatalf("state %q, want %q", row[5], c.state)
			}
			for i, want := range c.more {
				if i < 4 && row[1+i] != want || i == 4 && row[6] != want {
					t.Fatalf("row %q, want %q at %d", row, want, i)
				}
			}
		})
	}
	t.Run("sessions are listed newest first", func(t *testing.T) {
		var order []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			order = append(order, strings.Fields(line)[0])
		}
		want := []string{live.SessionID, adminRevoked.SessionID, loggedOut.SessionID, expired.SessionID}
		if strings.Join(order, " ") != strings.Join(want, " ") {
			t.Fatalf("order %q, want %q", order, want)
		}
	})
	t.Run("another user's session is not listed", func(t *testing.T) {
		if strings.Contains(out, bobs.SessionID) {
			t.Fatal(out)
		}
	})
	t.Run("a user agent cannot drive the terminal", func(t *testing.T) {
		if strings.Contains(out, "\x1b") || !strings.Contains(out, "Mozilla/5.0 (X11) ?[31mred") {
			t.Fatalf("%q", out)
		}
	})

	t.Run("--json gives the same sessions to programs", func(t *testing.T) {
		var got []struct {
			SID          string     `json:"sid"`
			UserID       string     `json:"user_id"`
			State        string     `json:"state"`
			RevokeReason string     `json:"revoke_reason"`
			RevokedAt    *time.Time `json:"revoked_at"`
			CreatedAt    time.Time  `json:"created_at"`
			IdleExp      time.Time  `json:"idle_expires_at"`
			AbsExp       time.Time  `json:"expires_at"`
			UserAgent    string     `json:"user_agent"`
			IP           string     `json:"ip"`
		}
		js := f.mustRun("", "sessions", "list", "--json", "alice")
		if err := json.Unmarshal([]byte(js), &got); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		want := map[string]string{
			live.SessionID: "live", loggedOut.SessionID: "revoked logout",
			adminRevoked.SessionID: "revoked admin_revoke", expired.SessionID: "expired",
		}
		if len(got) != len(want) {
			t.Fatalf("%d sessions, want %d", len(got), len(want))
		}
		for _, s := range got {
			if strings.TrimSpace(s.State+" "+s.RevokeReason) != want[s.SID] || (s.RevokedAt != nil) != (s.State == "revoked") {
				t.Fatalf("%+v, want %s", s, want[s.SID])
			}
			if s.SID == live.SessionID && (s.UserAgent != "Mozilla/5.0 (X11) \x1b[31mred" || s.IP != "198.51.100.7" ||
				!s.IdleExp.Equal(live.RefreshExp) || !s.AbsExp.Equal(live.SessionExp) || !s.CreatedAt.Equal(now)) {
				t.Fatalf("%+v", s)
			}
		}
	})
	t.Run("a user without sessions gets an empty JSON array", func(t *testing.T) {
		f.createUser("carol", pwAlice)
		if js := f.mustRun("", "sessions", "list", "carol", "--json"); strings.TrimSpace(js) != "[]" {
			t.Fatalf("%q", js)
		}
	})
	t.Run("a user without sessions is told so in text", func(t *testing.T) {
		if out := f.mustRun("", "sessions", "list", "carol"); out != "carol has no sessions\n" {
			t.Fatalf("%q", out)
		}
	})
	t.Run("a session deadline reached later shows as expired then", func(t *testing.T) {
		f.clock.Set(live.RefreshExp)
		defer f.clock.Set(now)
		f.stillStored(live.SessionID)
		row, ok := listed(t, f.mustRun("", "sessions", "list", "alice"))[live.SessionID]
		if !ok || row[5] != "expired" {
			t.Fatalf("listed %v %q, want the stored session shown as expired", ok, row)
		}
	})
}

func TestSessionsRevoke(t *testing.T) {
	f := newFixture(t)
	f.createUser("alice", pwAlice)
	g := f.mustLogin("alice", pwAlice, session.Client{})
	other := f.mustLogin("alice", pwAlice, session.Client{})
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"a live session is revoked", []string{"sessions", "revoke", g.SessionID}, 0, "revoked session " + g.SessionID + " of alice", ""},
		{"revoking it again says it already was", []string{"sessions", "revoke", g.SessionID}, 0, "was already revoked (admin_revoke)", ""},
		{"an unknown session exits 3", []string{"sessions", "revoke", "AAAAAAAAAAAAAAAAAAAAAA"}, admin.ExitNotFound, "", `no session "AAAAAAAAAAAAAAAAAAAAAA"`},
		{"a refresh token in place of the session ID is a usage error", []string{"sessions", "revoke", other.RefreshToken}, admin.ExitUsage, "", "looks like a refresh token"},
		{"a malformed session ID is a usage error", []string{"sessions", "revoke", "s#abc"}, admin.ExitUsage, "", "is not a session ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.run(c.args...)
			if r.code != c.code || !strings.Contains(r.stdout, c.stdout) || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("got %d %q %q", r.code, r.stdout, r.stderr)
			}
		})
	}
	t.Run("the revoked session's tokens are refused", func(t *testing.T) {
		if _, err := f.app.Service.Refresh(t.Context(), g.RefreshToken); !errors.Is(err, session.ErrInvalidGrant) {
			t.Fatalf("refresh: %v", err)
		}
		if f.authorized(g.AccessToken) {
			t.Fatal("access token accepted")
		}
	})
	t.Run("the user's other session lives on", func(t *testing.T) {
		if _, err := f.app.Service.Refresh(t.Context(), other.RefreshToken); err != nil {
			t.Fatalf("refresh: %v", err)
		}
	})
}

func TestUnknownUser(t *testing.T) {
	f := newFixture(t)
	// Failed logins of an unknown name leave a stub login record without a uid.
	if _, err := f.login("ghost", "some password here", session.Client{}); !errors.Is(err, session.ErrInvalidCredentials) {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"user", "set-password", "nobody"},
		{"user", "revoke-all", "nobody"},
		{"user", "disable", "nobody"},
		{"user", "enable", "nobody"},
		{"sessions", "list", "nobody"},
		{"sessions", "list", "--json", "nobody"},
		{"user", "revoke-all", "ghost"},
		{"sessions", "list", "ghost"},
	} {
		t.Run(fmt.Sprintf("%s of an unknown user exits 3", strings.Join(args, " ")), func(t *testing.T) {
			r := f.runStdin(pwNew, args...)
			name := args[len(args)-1]
			if r.code != admin.ExitNotFound || r.stderr != fmt.Sprintf("sessionctl: no user %q\n", name) || r.stdout != "" {
				t.Fatalf("got %d %q %q", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		call   call
		stderr string // substring of the first line
		hint   string // the second line
	}{
		{"no command at all", call{args: nil}, "no command given", "Run 'sessionctl help' for usage."},
		{"an unknown command", call{args: []string{"frobnicate"}}, `unknown command "frobnicate"`, "Run 'sessionctl help' for usage."},
		{"a group without a subcommand", call{args: []string{"user"}}, "user needs a subcommand: create, set-password, revoke-all, disable, enable", "Run 'sessionctl help' for usage."},
		{"an unknown subcommand", call{args: []string{"sessions", "purge"}}, `unknown command "sessions purge"; sessions has list, revoke`, "Run 'sessionctl help' for usage."},
		{"a missing username", call{args: []string{"user", "create"}}, "user create: missing NAME", "usage: sessionctl user create NAME [--scope SCOPE]"},
		{"a missing session ID", call{args: []string{"sessions", "revoke"}}, "sessions revoke: missing SID", "usage: sessionctl sessions revoke SID"},
		{"two usernames", call{args: []string{"user", "revoke-all", "alice", "bob"}}, "user revoke-all takes one NAME, got 2 arguments", "usage: sessionctl user revoke-all NAME"},
		{"an argument to create-table", call{args: []string{"create-table", "extra"}}, `create-table takes no arguments, got ["extra"]`, "usage: sessionctl create-table"},
		{"an unknown flag", call{args: []string{"sessions", "list", "alice", "--all"}}, "sessions list: flag provided but not defined: -all", "usage: sessionctl sessions list NAME [--json]"},
		{"a flag of another command", call{args: []string{"user", "revoke-all", "alice", "--json"}}, "flag provided but not defined: -json", "usage: sessionctl user revoke-all NAME"},
		{"an unknown global flag", call{args: []string{"--region", "x", "create-table"}}, "flag provided but not defined: -region", "Run 'sessionctl help' for usage."},
		{"--table without a value", call{args: []string{"create-table", "--table"}}, "flag needs an argument: -table", "usage: sessionctl create-table"},
		{"no table named anywhere", call{args: []string{"sessions", "list", "alice"}, getenv: map[string]string{}}, "no table: pass --table NAME or set TABLE_NAME", "Run 'sessionctl help' for usage."},
		{"help for an unknown command", call{args: []string{"help", "user", "delete"}}, `help: unknown command "user delete"`, "Run 'sessionctl help' for usage."},
	}
	for _, c := range cases {
		t.Run(c.name+" exits 2", func(t *testing.T) {
			f.mu.Lock()
			before := f.connects
			f.mu.Unlock()
			r := f.call(c.call)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if r.code != admin.ExitUsage || r.stdout != "" || len(lines) != 2 ||
				!strings.HasPrefix(lines[0], "sessionctl: ") || !strings.Contains(lines[0], c.stderr) || lines[1] != c.hint {
				t.Fatalf("got %d %q %q; want 2, %q and %q", r.code, r.stdout, r.stderr, c.stderr, c.hint)
			}
			if f.connects != before {
				t.Fatal("a usage error reached for DynamoDB")
			}
		})
	}
}

func TestHelp(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"help lists every command and the exit codes", []string{"help"},
			[]string{"Usage:\n  sessionctl [--table NAME] COMMAND [ARGUMENTS]", "create-table", "user create NAME [--scope SCOPE]",
				"user set-password NAME", "user revoke-all NAME", "user disable NAME", "user enable NAME",
				"sessions list NAME [--json]", "sessions revoke SID", "AWS_ENDPOINT_URL_DYNAMODB",
				"Exit codes: 0 done, 1 AWS or DynamoDB failure, 2 usage error or bad input,\n3 unknown user or session, 4 user already exists"}},
		{"-h is the same help", []string{"-h"}, []string{"Usage:", "sessions revoke SID"}},
		{"help with a command shows its usage and flags", []string{"help", "user", "create"},
			[]string{"usage: sessionctl user create NAME [--scope SCOPE]", "--scope SCOPE", "--table NAME", "never a flag"}},
		{"a command's --help shows its usage", []string{"sessions", "list", "--help"},
			[]string{"usage: sessionctl sessions list NAME [--json]", "--json", "revoked(REASON)"}},
		{"help with a group shows each of its commands", []string{"help", "sessions"},
			[]string{"usage: sessionctl sessions list NAME [--json]", "usage: sessionctl sessions revoke SID"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.call(call{args: c.args, getenv: map[string]string{}})
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stdout, w) {
					t.Fatalf("no %q in\n%s", w, r.stdout)
				}
			}
		})
	}
	t.Run("help needs no AWS configuration", func(t *testing.T) {
		if f.connects != 0 {
			t.Fatalf("%d connects", f.connects)
		}
	})
}

func TestOperationalErrors(t *testing.T) {
	f := newFixture(t)
	t.Run("a missing table exits 1 and says how to create it", func(t *testing.T) {
		r := f.call(call{args: []string{"user", "create", "alice", "--table", "no-such-table"}, stdin: pwAlice})
		if r.code != admin.ExitFailure || !strings.Contains(r.stderr, `table "no-such-table" does not exist (create it with `+"`sessionctl create-table`") ||
			strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("got %d %q", r.code, r.stderr)
		}
	})
	t.Run("a failing AWS configuration exits 1", func(t *testing.T) {
		var stderr strings.Builder
		code := admin.Run(t.Context(), admin.Env{
			Stderr: &stderr,
			Getenv: func(string) string { return "t" },
			Connect: func(ctx context.Context) (admin.Client, error) {
				return nil, errors.New("no AWS region")
			},
		}, []string{"sessions", "list", "alice"})
		if code != admin.ExitFailure || stderr.String() != "sessionctl: AWS configuration: no AWS region\n" {
			t.Fatalf("got %d %q", code, stderr.String())
		}
	})
	t.Run("an interrupted command exits 130", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var stderr strings.Builder
		code := admin.Run(ctx, admin.Env{
			Stderr: &stderr, Getenv: func(string) string { return f.table },
			Connect: func(context.Context) (admin.Client, error) { return f.client, nil },
		}, []string{"sessions", "list", "alice"})
		if code != admin.ExitInterrupted || stderr.String() != "sessionctl: interrupted\n" {
			t.Fatalf("got %d %q", code, stderr.String())
		}
	})
}

func TestKeygen(t *testing.T) {
	f := newFixture(t)
	for _, alg := range []string{"EdDSA", "ES256", "RS256"} {
		t.Run("a "+alg+" key parses as a key set of that algorithm", func(t *testing.T) {
			r := f.call(call{args: []string{"keygen", "--alg", alg}, getenv: map[string]string{}})
			if r.code != admin.ExitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			ks, err := keys.Parse([]byte(r.stdout))
			if err != nil || ks.Signing().Alg != alg {
				t.Fatalf("keys.Parse = %v, %v", ks, err)
			}
		})
	}
	t.Run("two runs make two different keys", func(t *testing.T) {
		a := f.call(call{args: []string{"keygen"}, getenv: map[string]string{}})
		b := f.call(call{args: []string{"keygen"}, getenv: map[string]string{}})
		if a.code != 0 || a.stdout == b.stdout {
			t.Fatal("keygen repeated itself")
		}
	})
	t.Run("an HMAC algorithm is a usage error", func(t *testing.T) {
		if r := f.call(call{args: []string{"keygen", "--alg", "HS256"}, getenv: map[string]string{}}); r.code != admin.ExitUsage {
			t.Fatalf("exit %d, want %d", r.code, admin.ExitUsage)
		}
	})
}
