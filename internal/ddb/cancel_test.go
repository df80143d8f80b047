package ddb_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

var sentinels = map[string]error{
	"ErrExists": session.ErrExists, "ErrStale": session.ErrStale, "ErrNotFound": session.ErrNotFound,
	"ErrConflict": session.ErrConflict, "ErrUnavailable": session.ErrUnavailable,
}

// wantSentinels fails unless err is exactly the named sentinels (errors.Is), none of
// the others.
func wantSentinels(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	for name, s := range sentinels {
		if got := errors.Is(err, s); got != slices.Contains(want, name) {
			t.Errorf("errors.Is(err, %s) = %v; err = %v", name, got, err)
		}
	}
}

// txOp is one transactional write of the store, against a fresh fixture.
type txOp struct {
	name  string
	items int                           // items in its transaction
	run   func(f fixture) error         // the write
	check []string                      // what a failed condition on item i means
	noop  func(t *testing.T, f fixture) // checks nothing was written
}

func txOps(t *testing.T) []txOp {
	unchanged := func(t *testing.T, f fixture) {
		t.Helper()
		if u := f.h.Item(t, "u#"+f.sess.UserID); testenv.N(u, "ver") != 1 || testenv.Has(u, "disabled") {
			t.Errorf("the user record changed: %v", u)
		}
		if l := f.h.Item(t, "n#alice"); testenv.N(l, "ver") != 1 || testenv.N(l, "sg") != 1 || testenv.Has(l, "disabled") {
			t.Errorf("the login record changed: %v", l)
		}
		if testenv.Has(f.h.SessionItem(t, f.sess.ID), "auth_at") {
			t.Error("the session's auth_time was written")
		}
		if f.h.Revoked(t, f.sess.ID) {
			t.Error("the session was revoked")
		}
	}
	return []txOp{
		{"CreateUser", 2, func(f fixture) error {
			return f.store.CreateUser(testenv.Ctx(t), &session.Login{Name: "carol", UID: "usr_carol", PwHash: "$argon2id$x", Ver: 1})
		}, []string{"ErrExists", "ErrExists"}, func(t *testing.T, f fixture) {
			if f.h.Item(t, "n#carol") != nil || f.h.Item(t, "u#usr_carol") != nil {
				t.Error("the account was written")
			}
		}},
		{"CreateSession", 2, func(f fixture) error {
			s := *f.sess
			s.ID = "fresh-session-id-000000"
			return f.store.CreateSession(testenv.Ctx(t), &s, f.login, session.LoginSuccess{ClearFailures: true})
		}, []string{"ErrExists", "ErrStale"}, func(t *testing.T, f fixture) {
			if f.h.Item(t, "s#fresh-session-id-000000") != nil {
				t.Error("the session was written")
			}
		}},
		{"EndSessions ending everything", 3, func(f fixture) error {
			return f.store.EndSessions(testenv.Ctx(t), f.ending(t, true))
		}, []string{"ErrStale", "ErrNotFound", "ErrStale"}, unchanged},
		{"EndSessions keeping the session", 2, func(f fixture) error {
			e := f.ending(t, false)
			e.Keep, e.KeepHash = f.sess, hash("t0")
			return f.store.EndSessions(testenv.Ctx(t), e)
		}, []string{"ErrStale", "ErrStale"}, unchanged},
		{"Reauthenticated", 2, func(f fixture) error {
			return f.store.Reauthenticated(testenv.Ctx(t), f.sess, f.login, now)
		}, []string{"ErrNotFound", "ErrNotFound"}, unchanged},
	}
}

// A cancelled transaction is classified by its cancellation reasons: a failed
// condition by which item's condition it was, and the other reasons as what they
// are. None of them is "exists" or "stale" unless that condition failed.
func TestCancelledTransactionsAreClassifiedByTheirReasons(t *testing.T) {
	t.Parallel()
	for _, op := range txOps(t) {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			reasons := func(at int, code string) []string {
				codes := make([]string, op.items)
				for i := range codes {
					codes[i] = "None"
				}
				codes[at] = code
				return codes
			}
			type injected struct {
				name  string
				codes []string
				want  []string
			}
			var cases []injected
			for i, meaning := range op.check {
				cases = append(cases, injected{
					"a failed condition on item " + string(rune('0'+i)) + " is " + meaning,
					reasons(i, "ConditionalCheckFailed"), []string{meaning}})
			}
			last := op.items - 1
			mixed := reasons(0, "TransactionConflict")
			mixed[last] = "ConditionalCheckFailed"
			cases = append(cases,
				injected{"a transaction conflict is ErrConflict, an ErrUnavailable", reasons(last, "TransactionConflict"), []string{"ErrConflict", "ErrUnavailable"}},
				injected{"throttling is ErrUnavailable", reasons(0, "ThrottlingError"), []string{"ErrUnavailable"}},
				injected{"exceeded provisioned throughput is ErrUnavailable", reasons(last, "ProvisionedThroughputExceeded"), []string{"ErrUnavailable"}},
				injected{"a reason this code does not know is ErrUnavailable", reasons(0, "SomethingNew"), []string{"ErrUnavailable"}},
				injected{"a failed condition wins over a conflict on another item", mixed, []string{op.check[last]}},
			)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					clear := f.h.Net.Inject("TransactWriteItems", 1, testenv.Cancelled(c.codes...))
					err := op.run(f)
					if clear() != 1 {
						t.Fatal("the fault never fired")
					}
					wantSentinels(t, err, c.want...)
					var tce *types.TransactionCanceledException
					if slices.Contains(c.want, "ErrUnavailable") && !errors.As(err, &tce) {
						t.Errorf("the SDK error is not kept for the logs: %v", err)
					}
					op.noop(t, f)
				})
			}
			t.Run("a validation error is none of the sentinels", func(t *testing.T) {
				clear := f.h.Net.Inject("TransactWriteItems", 1, testenv.Cancelled(reasons(0, "ValidationError")...))
				err := op.run(f)
				clear()
				wantSentinels(t, err)
			})
		})
	}
}

// The same classification from DynamoDB Local's own cancellations, not injected ones.
func TestRealCancellationsAreClassified(t *testing.T) {
	t.Parallel()
	t.Run("creating a taken username is ErrExists", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		err := f.store.CreateUser(testenv.Ctx(t), &session.Login{Name: "alice", UID: "usr_new", PwHash: "$argon2id$x", Ver: 1})
		wantSentinels(t, err, "ErrExists")
		if f.h.Item(t, "u#usr_new") != nil {
			t.Error("the token record was written")
		}
	})
	t.Run("creating a user under a taken user ID is ErrExists", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		err := f.store.CreateUser(testenv.Ctx(t), &session.Login{Name: "carol", UID: f.sess.UserID, PwHash: "$argon2id$x", Ver: 1})
		wantSentinels(t, err, "ErrExists")
		if f.h.Item(t, "n#carol") != nil {
			t.Error("the login record was written")
		}
	})
	t.Run("a user record whose login record belongs to another account is ErrNotFound, and nothing changes", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		// A token record naming alice's login record, which carries another uid.
		_, err := f.h.Raw.PutItem(testenv.Ctx(t), &dynamodb.PutItemInput{
			TableName: aws.String(f.h.Table),
			Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "u#usr_impostor"}, "name": &types.AttributeValueMemberS{Value: "alice"},
				"ver": &types.AttributeValueMemberN{Value: "1"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.h.App.Service.RevokeUser(testenv.Ctx(t), "usr_impostor", "", session.ReasonAdminRevoke)
		wantSentinels(t, err, "ErrNotFound")
		_, err = f.h.App.Service.SetDisabled(testenv.Ctx(t), "usr_impostor", true)
		wantSentinels(t, err, "ErrNotFound")
		if f.h.Revoked(t, f.sess.ID) {
			t.Error("alice's session was revoked through another account's token record")
		}
		if l := f.h.Item(t, "n#alice"); testenv.N(l, "ver") != 1 || testenv.Has(l, "disabled") {
			t.Errorf("alice's login record changed: %v", l)
		}
		if u := f.h.Item(t, "u#usr_impostor"); testenv.N(u, "ver") != 1 || testenv.Has(u, "disabled") {
			t.Errorf("the token record changed: %v", u)
		}
	})
}

// An Ending bumps the version if and only if the session it revokes is live (and holds
// the token) at the moment of the write.
func TestEndSessionsRevokingASession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, f fixture) time.Time // returns the time of the bump
		hash    []byte
		ok      bool
	}{
		{"a live session holding the token is revoked with the bump", func(*testing.T, fixture) time.Time { return now }, hash("t0"), true},
		{"a live session, any token (theft), is revoked with the bump", func(*testing.T, fixture) time.Time { return now }, nil, true},
		{"a session holding another token is ErrStale", func(*testing.T, fixture) time.Time { return now }, hash("forged"), false},
		{"a revoked session is ErrStale", func(t *testing.T, f fixture) time.Time {
			if _, err := f.store.RevokeSession(testenv.Ctx(t), f.sess.ID, nil, "refresh_token_reuse", now); err != nil {
				t.Fatal(err)
			}
			return now
		}, hash("t0"), false},
		{"a session at its idle deadline is ErrStale", func(t *testing.T, f fixture) time.Time {
			f.h.StillStored(t, "s#"+f.sess.ID)
			return f.sess.IdleExp
		}, hash("t0"), false},
		{"a session past its absolute deadline is ErrStale", func(t *testing.T, f fixture) time.Time {
			for i, at := range []time.Duration{50 * time.Minute, 100 * time.Minute, 150 * time.Minute} {
				prev, next := "t"+string(rune('0'+i)), "t"+string(rune('1'+i))
				if _, err := f.rotate(t, prev, next, now.Add(at)); err != nil {
					t.Fatal(err)
				}
			}
			f.h.StillStored(t, "s#"+f.sess.ID)
			return f.sess.AbsExp.Add(time.Second)
		}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			at := tc.prepare(t, f)
			before := f.h.SessionItem(t, f.sess.ID)
			e := f.ending(t, true)
			e.End, e.Now = []session.Revocation{{SessionID: f.sess.ID, Hash: tc.hash, Reason: "logout", Now: at}}, at
			err := f.store.EndSessions(testenv.Ctx(t), e)
			after := f.h.SessionItem(t, f.sess.ID)
			ver := testenv.N(f.h.Item(t, "u#"+f.sess.UserID), "ver")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if ver != 2 || testenv.N(f.h.Item(t, "n#alice"), "ver") != 2 {
					t.Errorf("version %d after the bump", ver)
				}
				if testenv.S(after, "revoke_reason") != "logout" || testenv.N(after, "revoked_at") != at.Unix() {
					t.Errorf("session after: revoke_reason %q revoked_at %d", testenv.S(after, "revoke_reason"), testenv.N(after, "revoked_at"))
				}
				return
			}
			wantSentinels(t, err, "ErrStale")
			if ver != 1 {
				t.Errorf("the version moved to %d although the session condition failed", ver)
			}
			if testenv.S(after, "revoke_reason") != testenv.S(before, "revoke_reason") || testenv.N(after, "revoked_at") != testenv.N(before, "revoked_at") {
				t.Error("the session item changed")
			}
		})
	}
}
