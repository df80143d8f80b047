package ddb_test

// Store-level tests against DynamoDB Local: every condition of every write, the
// sentinel errors and how SDK errors are classified.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/example/sessions/internal/session"

	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

func TestMain(m *testing.M) { testddb.Main(m) }

var now = testenv.Epoch

func hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func newSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// fixture is a store with one user and one session.
type fixture struct {
	h     *testenv.Harness
	store *ddb.Store
	login *session.Login
	sess  *session.Session
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	l, err := h.Store.GetLogin(testenv.Ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if l.UID != u.ID {
		t.Fatalf("login record uid %q, want %q", l.UID, u.ID)
	}
	s := &session.Session{
		ID: newSID(), UserID: u.ID, Ver: l.Ver, Cur: hash("t0"),
		IdleExp: now.Add(time.Hour), AbsExp: now.Add(3 * time.Hour), CreatedAt: now, LastUsed: now,
	}
	if err := h.Store.CreateSession(testenv.Ctx(t), s, l, session.LoginSuccess{ClearFailures: true}); err != nil {
		t.Fatal(err)
	}
	return fixture{h: h, store: h.Store, login: l, sess: s}
}

// ending is an Ending decided on the login record as it is now: with all, it raises
// the version and revokes the fixture's session (any token); without, it ends nothing.
func (f fixture) ending(t *testing.T, all bool) session.Ending {
	t.Helper()
	l, err := f.store.GetLoginConsistent(testenv.Ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	e := session.Ending{Login: l, Now: now}
	if all {
		e.Bump = true
		e.End = []session.Revocation{{SessionID: f.sess.ID, Reason: session.ReasonLogoutAll, Now: now}}
	}
	return e
}

func (f fixture) rotate(t *testing.T, presented, next string, at time.Time) (*session.Session, error) {
	t.Helper()
	return f.store.Rotate(testenv.Ctx(t), session.RotateInput{
		SessionID: f.sess.ID, Presented: hash(presented), Next: hash(next), Now: at,
		IdleExp: at.Add(time.Hour), AbsExp: f.sess.AbsExp,
	})
}

func TestRotate(t *testing.T) {
	t.Parallel()
	t.Run("the current hash rotates and the updated session comes back", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		at := now.Add(10 * time.Minute)
		s, err := f.rotate(t, "t0", "t1", at)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.Cur, hash("t1")) || !bytes.Equal(s.Prev, hash("t0")) || s.Gen != 1 ||
			!s.IdleExp.Equal(at.Add(time.Hour)) || !s.AbsExp.Equal(f.sess.AbsExp) || s.RotatedAt.UnixMilli() != at.UnixMilli() {
			t.Errorf("rotated session %+v", s)
		}
		it := f.h.SessionItem(t, f.sess.ID)
		if testenv.N(it, "ttl") != at.Add(time.Hour).Unix() || testenv.N(it, "last_used") != at.Unix() {
			t.Errorf("ttl=%d last_used=%d", testenv.N(it, "ttl"), testenv.N(it, "last_used"))
		}
	})
	t.Run("the ttl is the absolute deadline when that comes first", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		at := f.sess.AbsExp.Add(-10 * time.Minute)
		if _, err := f.store.Rotate(testenv.Ctx(t), session.RotateInput{
			SessionID: f.sess.ID, Presented: hash("t0"), Next: hash("t1"), Now: now,
			IdleExp: at.Add(time.Hour), AbsExp: f.sess.AbsExp,
		}); err != nil {
			t.Fatal(err)
		}
		if got := testenv.N(f.h.SessionItem(t, f.sess.ID), "ttl"); got != f.sess.AbsExp.Unix() {
			t.Errorf("ttl = %d, want the absolute deadline %d", got, f.sess.AbsExp.Unix())
		}
	})
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, f fixture) // changes the session first
		present string
		at      time.Duration
	}{
		{"a hash that is not current fails with the old item", nil, "forged", time.Minute},
		{"the previous hash fails with the old item", func(t *testing.T, f fixture) {
			if _, err := f.rotate(t, "t0", "t1", now); err != nil {
				t.Fatal(err)
			}
		}, "t0", time.Minute},
		{"a revoked session fails with the old item", func(t *testing.T, f fixture) {
			if _, err := f.store.RevokeSession(testenv.Ctx(t), f.sess.ID, nil, "test", now); err != nil {
				t.Fatal(err)
			}
		}, "t0", time.Minute},
		{"a session at its idle deadline fails with the old item", nil, "t0", time.Hour},
		{"a session past its absolute deadline fails with the old item", func(t *testing.T, f fixture) {
			// Keep the idle deadline alive past the absolute one.
			for i, at := range []time.Duration{50 * time.Minute, 100 * time.Minute, 150 * time.Minute} {
				prev, next := "t"+string(rune('0'+i)), "t"+string(rune('1'+i))
				if _, err := f.rotate(t, prev, next, now.Add(at)); err != nil {
					t.Fatal(err)
				}
			}
		}, "t3", 3*time.Hour + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if tc.prepare != nil {
				tc.prepare(t, f)
			}
			// The expired cases need the item stored, as DynamoDB keeps it a while
			// past its ttl: its ttl is on the fixture's clock, years ahead of the real
			// time by which DynamoDB Local deletes expired items.
			before := f.h.StillStored(t, "s#"+f.sess.ID)
			_, err := f.rotate(t, tc.present, "child", now.Add(tc.at))
			var c *session.RotateConflict
			if !errors.As(err, &c) || c.Old == nil {
				t.Fatalf("err = %v, want a RotateConflict carrying the item", err)
			}
			if c.Old.ID != f.sess.ID || c.Old.UserID != f.sess.UserID || !bytes.Equal(c.Old.Cur, testenv.B(before, "cur")) {
				t.Errorf("conflict carries %+v, not the item as it was", c.Old)
			}
			if after := f.h.SessionItem(t, f.sess.ID); !bytes.Equal(testenv.B(after, "cur"), testenv.B(before, "cur")) ||
				testenv.N(after, "gen") != testenv.N(before, "gen") || testenv.N(after, "idle_exp") != testenv.N(before, "idle_exp") {
				t.Error("a failed rotation changed the item")
			}
		})
	}
	t.Run("an unknown session is ErrNotFound and creates nothing", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		sid := newSID()
		_, err := f.store.Rotate(testenv.Ctx(t), session.RotateInput{SessionID: sid, Presented: hash("x"), Next: hash("y"), Now: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(time.Hour)})
		if !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if f.h.Item(t, "s#"+sid) != nil {
			t.Error("Rotate created an item")
		}
	})
}

func TestCreateSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testenv.Ctx(t)
	fresh := func() *session.Session {
		s := *f.sess
		s.ID = newSID()
		return &s
	}
	t.Run("a taken session ID is ErrExists", func(t *testing.T) {
		if err := f.store.CreateSession(ctx, f.sess, f.login, session.LoginSuccess{ClearFailures: true}); !errors.Is(err, session.ErrExists) {
			t.Errorf("err = %v, want ErrExists", err)
		}
	})
	for name, edit := range map[string]func(l *session.Login){
		"a login record read before a version bump is ErrStale":       func(l *session.Login) { l.Ver-- },
		"a login record read before a password change is ErrStale":    func(l *session.Login) { l.PwHash = "$argon2id$old" },
		"a login record of another account (uid changed) is ErrStale": func(l *session.Login) { l.UID = "usr_someone_else" },
	} {
		t.Run(name, func(t *testing.T) {
			l := *f.login
			edit(&l)
			s := fresh()
			err := f.store.CreateSession(ctx, s, &l, session.LoginSuccess{ClearFailures: true})
			var stale *session.StaleLogin
			if !errors.Is(err, session.ErrStale) || !errors.As(err, &stale) || stale.Current == nil ||
				stale.Current.UID != f.login.UID || stale.Current.Ver != f.login.Ver || stale.Current.PwHash != f.login.PwHash {
				t.Errorf("err = %v, want ErrStale carrying the stored record", err)
			}
			if f.h.Item(t, "s#"+s.ID) != nil {
				t.Error("the session was written although the transaction failed")
			}
		})
	}
	t.Run("a login clears the failure counter in the same transaction", func(t *testing.T) {
		countFailure(t, f.store, "alice", now)
		if err := f.store.CreateSession(ctx, fresh(), f.login, session.LoginSuccess{ClearFailures: true}); err != nil {
			t.Fatal(err)
		}
		if l := f.h.Item(t, "n#alice"); testenv.Has(l, "fails") || testenv.Has(l, "last_fail") {
			t.Error("failure counter survives a successful login")
		}
	})
	t.Run("session items carry their user and creation time, and no ttl beyond the deadlines", func(t *testing.T) {
		it := f.h.SessionItem(t, f.sess.ID)
		if testenv.S(it, "user_id") != f.sess.UserID || testenv.N(it, "created_at") != now.Unix() || testenv.N(it, "ttl") != f.sess.IdleExp.Unix() {
			t.Errorf("item %v", it)
		}
	})
}

func TestRevokeSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testenv.Ctx(t)
	if _, err := f.rotate(t, "t0", "t1", now); err != nil {
		t.Fatal(err)
	}
	t.Run("a hash that is neither current nor previous is ErrNotFound and changes nothing", func(t *testing.T) {
		if _, err := f.store.RevokeSession(ctx, f.sess.ID, hash("forged"), "logout", now); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if f.h.Revoked(t, f.sess.ID) {
			t.Error("revoked without proof of possession")
		}
	})
	t.Run("an unknown session is ErrNotFound and creates nothing", func(t *testing.T) {
		sid := newSID()
		for _, h := range [][]byte{hash("x"), nil} {
			if _, err := f.store.RevokeSession(ctx, sid, h, "logout", now); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("err = %v", err)
			}
		}
		if f.h.Item(t, "s#"+sid) != nil {
			t.Error("RevokeSession created an item")
		}
	})
	t.Run("the previous hash proves possession, and the session as it was comes back", func(t *testing.T) {
		old, err := f.store.RevokeSession(ctx, f.sess.ID, hash("t0"), "logout", now)
		if err != nil || old.ID != f.sess.ID || old.UserID != f.sess.UserID || old.Revoked() || !old.Live(now) {
			t.Fatalf("RevokeSession = %+v, %v; want the live session as it was before", old, err)
		}
		it := f.h.SessionItem(t, f.sess.ID)
		if testenv.S(it, "revoke_reason") != "logout" || testenv.N(it, "revoked_at") != now.Unix() {
			t.Errorf("stored revoke_reason %q revoked_at %d", testenv.S(it, "revoke_reason"), testenv.N(it, "revoked_at"))
		}
	})
	t.Run("revoking again keeps the first time and reason, and says it was already revoked", func(t *testing.T) {
		old, err := f.store.RevokeSession(ctx, f.sess.ID, nil, "refresh_token_reuse", now.Add(time.Hour))
		if err != nil || !old.Revoked() || old.RevokeReason != "logout" || !old.RevokedAt.Equal(now) {
			t.Fatalf("second revoke = %+v, %v", old, err)
		}
		if old, err := f.store.RevokeSession(ctx, f.sess.ID, hash("t1"), "logout", now.Add(2*time.Hour)); err != nil || !old.RevokedAt.Equal(now) {
			t.Fatalf("third revoke = %+v, %v", old, err)
		}
		if it := f.h.SessionItem(t, f.sess.ID); testenv.S(it, "revoke_reason") != "logout" || testenv.N(it, "revoked_at") != now.Unix() {
			t.Errorf("stored revoke_reason %q revoked_at %d", testenv.S(it, "revoke_reason"), testenv.N(it, "revoked_at"))
		}
	})
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		fault       testenv.Fault
		unavailable bool
	}{
		{"throttling is unavailable", testenv.Throttle(), true},
		{"request-rate throttling is unavailable", testenv.APIError(http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput."), true},
		{"a 500 is unavailable", testenv.ServerError(), true},
		{"a 503 is unavailable", testenv.APIError(http.StatusServiceUnavailable, "ServiceUnavailable", "unavailable"), true},
		{"a connection reset is unavailable", testenv.Reset(), true},
		{"a validation error is not unavailable", testenv.APIError(http.StatusBadRequest, "ValidationException", "bad"), false},
		{"a missing table is not unavailable", testenv.APIError(http.StatusBadRequest, "ResourceNotFoundException", "no table"), false},
		{"denied access is not unavailable", testenv.APIError(http.StatusBadRequest, "AccessDeniedException", "no"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			clear := f.h.Net.Inject("", -1, tc.fault)
			_, err := f.store.GetSession(testenv.Ctx(t), f.sess.ID)
			clear()
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, session.ErrUnavailable) != tc.unavailable {
				t.Errorf("err = %v; unavailable = %v, want %v", err, errors.Is(err, session.ErrUnavailable), tc.unavailable)
			}
			if errors.Is(err, session.ErrNotFound) {
				t.Errorf("a fault classified as not found: %v", err)
			}
		})
	}
}
