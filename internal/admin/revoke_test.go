package admin_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/admin"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// stillStored fails the test unless the session's item is in the table with its ttl
// in the real future, so that DynamoDB Local (which deletes items within seconds of
// their ttl) cannot remove it while the test looks at it as "expired but stored".
func (f *fixture) stillStored(sid string) {
	f.t.Helper()
	out, err := f.client.GetItem(f.t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(f.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "s#" + sid}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(out.Item) == 0 {
		f.t.Fatalf("session %s is no longer stored; the test needs the expired item present", sid)
	}
	ttl, ok := out.Item["ttl"].(*types.AttributeValueMemberN)
	if !ok {
		f.t.Fatalf("session %s has no ttl", sid)
	}
	if n, _ := strconv.ParseInt(ttl.Value, 10, 64); n <= time.Now().Unix() {
		f.t.Fatalf("session %s has ttl %d, in the real past: DynamoDB Local may delete it at any moment", sid, n)
	}
}

// `user revoke-all` says how many live sessions this run ended, counted from its own
// writes: not the sessions that were already logged out, revoked by an administrator
// or past a deadline, and none on a repeat.
func TestRevokeAllCountsOnlyTheLiveSessionsItEnded(t *testing.T) {
	f := newFixture(t)
	f.createUser("alice", pwAlice)
	expired := f.mustLogin("alice", pwAlice, session.Client{UserAgent: "old browser"})
	// 15 days on: the first session is past its 14-day idle deadline, its item still
	// stored (its ttl lies in the real future; the fixture's clock starts at real time).
	f.clock.Set(f.start.Add(15 * 24 * time.Hour))
	live := []*session.Grant{
		f.mustLogin("alice", pwAlice, session.Client{UserAgent: "phone"}),
		f.mustLogin("alice", pwAlice, session.Client{UserAgent: "laptop"}),
	}
	loggedOut := f.mustLogin("alice", pwAlice, session.Client{})
	if err := f.app.Service.Logout(t.Context(), loggedOut.RefreshToken, session.ScopeSession); err != nil {
		t.Fatal(err)
	}
	// Revoked by an administrator in the same second as the revoke-all below, with
	// the same reason: only the write itself can tell them apart.
	adminRevoked := f.mustLogin("alice", pwAlice, session.Client{})
	f.mustRun("", "sessions", "revoke", adminRevoked.SessionID)
	f.stillStored(expired.SessionID)

	steps := []struct {
		name, want string
	}{
		{"the first run counts the two live sessions only", "revoked every session of alice; 2 live sessions revoked"},
		{"a repeat counts none", "revoked every session of alice; 0 live sessions revoked"},
		{"and neither does a third run", "revoked every session of alice; 0 live sessions revoked"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if out := f.mustRun("", "user", "revoke-all", "alice"); !strings.Contains(out, s.want) {
				t.Fatalf("stdout %q, want %q", out, s.want)
			}
		})
	}
	t.Run("the expired session was still stored, so it was looked at and not counted", func(t *testing.T) {
		f.stillStored(expired.SessionID)
	})
	t.Run("the sessions keep the reason of whoever ended them first", func(t *testing.T) {
		for sid, want := range map[string]string{
			live[0].SessionID: session.ReasonAdminRevoke, live[1].SessionID: session.ReasonAdminRevoke,
			loggedOut.SessionID: session.ReasonLogout, adminRevoked.SessionID: session.ReasonAdminRevoke,
		} {
			if got := f.session(sid).RevokeReason; got != want {
				t.Errorf("session %s: revoke_reason %q, want %q", sid, got, want)
			}
		}
	})
}

// `user disable` ends everything the user had; `user enable` revives none of it.
func TestDisableEndsEverySessionAndEnableRevivesNothing(t *testing.T) {
	f := newFixture(t)
	f.createUser("alice", pwAlice)
	f.createUser("bob", pwAlice)
	g := f.mustLogin("alice", pwAlice, session.Client{})
	other := f.mustLogin("alice", pwAlice, session.Client{})
	bobs := f.mustLogin("bob", pwAlice, session.Client{})
	_, before := f.user("alice")

	refreshRefused := func(t *testing.T, gs ...*session.Grant) {
		t.Helper()
		for _, g := range gs {
			if _, err := f.app.Service.Refresh(t.Context(), g.RefreshToken); !errors.Is(err, session.ErrInvalidGrant) {
				t.Errorf("refresh of session %s: %v, want ErrInvalidGrant", g.SessionID, err)
			}
			if f.authorized(g.AccessToken) {
				t.Errorf("the access token of session %s is accepted", g.SessionID)
			}
		}
	}
	t.Run("disable says what it ended", func(t *testing.T) {
		out := f.mustRun("", "user", "disable", "alice")
		if want := "disabled user alice: logins are refused; 2 live sessions revoked; access tokens issued before now are refused"; !strings.Contains(out, want) {
			t.Fatalf("stdout %q, want %q", out, want)
		}
	})
	t.Run("a disabled user's logins, refreshes and access tokens are refused", func(t *testing.T) {
		if _, err := f.login("alice", pwAlice, session.Client{}); !errors.Is(err, session.ErrInvalidCredentials) {
			t.Fatalf("login: %v, want ErrInvalidCredentials", err)
		}
		refreshRefused(t, g, other)
		for _, sid := range []string{g.SessionID, other.SessionID} {
			if r := f.session(sid).RevokeReason; r != session.ReasonUserDisabled {
				t.Errorf("session %s: revoke_reason %q, want %q", sid, r, session.ReasonUserDisabled)
			}
		}
		if _, u := f.user("alice"); u.Ver != before.Ver+1 || !u.Disabled {
			t.Errorf("user record %+v, want disabled on version %d", u, before.Ver+1)
		}
	})
	t.Run("enable says what it does", func(t *testing.T) {
		out := f.mustRun("", "user", "enable", "alice")
		if !strings.Contains(out, "enabled user alice") {
			t.Fatalf("stdout %q", out)
		}
	})
	t.Run("after enabling, the old sessions and access tokens stay dead", func(t *testing.T) {
		refreshRefused(t, g, other)
		if _, u := f.user("alice"); u.Ver != before.Ver+1 || u.Disabled {
			t.Errorf("user record %+v, want enabled and still on version %d", u, before.Ver+1)
		}
	})
	t.Run("after enabling, the user logs in again", func(t *testing.T) {
		g, err := f.login("alice", pwAlice, session.Client{})
		if err != nil || !f.authorized(g.AccessToken) {
			t.Fatalf("login after enable: %v", err)
		}
	})
	t.Run("another user is untouched", func(t *testing.T) {
		if !f.authorized(bobs.AccessToken) || f.session(bobs.SessionID).Revoked() {
			t.Fatal("bob's session was ended")
		}
	})
}

// withNet routes sessionctl's DynamoDB calls (not the App's) through a fault injector.
func (f *fixture) withNet() *testenv.Net {
	f.t.Helper()
	opts := f.client.Options()
	n := testenv.NewNet(opts.HTTPClient)
	opts.HTTPClient = n
	f.client = dynamodb.New(opts)
	return n
}

// sessionctl reports what storage said, not a guess: a cancelled create is "already
// exists" only when the username's condition failed, and a revoke-all that storage
// refused is a failure of storage, not "changed while sessionctl updated it".
func TestStorageFailuresAreReportedAsWhatTheyAre(t *testing.T) {
	f := newFixture(t)
	net := f.withNet()
	f.createUser("alice", pwAlice)
	g := f.mustLogin("alice", pwAlice, session.Client{})
	cases := []struct {
		name   string
		args   []string
		fault  testenv.Fault
		times  int
		code   int
		stderr string // substring of the error line
		not    string // must not appear
	}{
		{"a throttled create exits 1, not 4", []string{"user", "create", "carol"}, testenv.Cancelled("ThrottlingError", "None"), 1,
			admin.ExitFailure, "creating user carol: ddb create user: session: storage unavailable", "already exists"},
		{"a create cancelled by a conflicting transaction exits 1, not 4", []string{"user", "create", "carol"}, testenv.Cancelled("None", "TransactionConflict"), 1,
			admin.ExitFailure, "conflicting transaction", "already exists"},
		{"a create whose username condition failed (created in between) exits 4", []string{"user", "create", "carol"}, testenv.Cancelled("ConditionalCheckFailed", "None"), 1,
			admin.ExitConflict, `user "carol" already exists`, "unavailable"},
		{"a revoke-all that storage keeps refusing exits 1 as unavailable", []string{"user", "revoke-all", "alice"}, testenv.Cancelled("None", "TransactionConflict"), -1,
			admin.ExitFailure, "revoking the sessions of alice: ddb end sessions: session: storage unavailable: conflicting transaction", "run the command again"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clear := net.Inject("TransactWriteItems", c.times, c.fault)
			r := f.runStdin(pwAlice+"\n", c.args...)
			if clear() == 0 {
				t.Fatal("the fault never fired")
			}
			if r.code != c.code || !strings.Contains(r.stderr, c.stderr) || strings.Contains(r.stderr, c.not) {
				t.Fatalf("exit %d, stderr %q; want %d with %q and without %q", r.code, r.stderr, c.code, c.stderr, c.not)
			}
		})
	}
	t.Run("a revoke-all cancelled once by a conflicting transaction is retried and succeeds", func(t *testing.T) {
		clear := net.Inject("TransactWriteItems", 1, testenv.Cancelled("None", "TransactionConflict"))
		out := f.mustRun("", "user", "revoke-all", "alice")
		if clear() != 1 {
			t.Fatal("the fault never fired")
		}
		if !strings.Contains(out, "1 live session revoked") {
			t.Fatalf("stdout %q", out)
		}
		if f.authorized(g.AccessToken) {
			t.Fatal("the access token still works")
		}
	})
	t.Run("nothing was created by the refused creates", func(t *testing.T) {
		if _, err := f.app.Store.GetLogin(t.Context(), "carol"); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("GetLogin carol: %v", err)
		}
	})
}
