package ddb_test

import (
	"errors"
	"testing"
	"time"

	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// listed returns the session IDs on alice's login record and its change counter.
func (f fixture) listed(t *testing.T) (map[string]bool, int64) {
	t.Helper()
	l, err := f.store.GetLoginConsistent(testenv.Ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for id := range l.Sessions {
		ids[id] = true
	}
	return ids, l.SetGen
}

// open creates another session of alice's on the record as it is now.
func (f fixture) open(t *testing.T, o session.LoginSuccess) (*session.Session, error) {
	t.Helper()
	l, err := f.store.GetLoginConsistent(testenv.Ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	s := *f.sess
	s.ID = newSID()
	o.ClearFailures = true
	return &s, f.store.CreateSession(testenv.Ctx(t), &s, l, o)
}

func TestALoginListsItsSessionOnTheLoginRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids, gen := f.listed(t)
	if !ids[f.sess.ID] || len(ids) != 1 || gen != 1 {
		t.Fatalf("listed %v at generation %d, want the fixture's session at 1", ids, gen)
	}
	t.Run("below the limit a login adds its session", func(t *testing.T) {
		s, err := f.open(t, session.LoginSuccess{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if ids, gen := f.listed(t); !ids[s.ID] || len(ids) != 2 || gen != 2 {
			t.Fatalf("listed %v at generation %d", ids, gen)
		}
	})
	t.Run("at the limit a login without an eviction is stale and writes nothing", func(t *testing.T) {
		s, err := f.open(t, session.LoginSuccess{Limit: 2})
		var stale *session.StaleLogin
		if !errors.As(err, &stale) || stale.Current == nil || len(stale.Current.Sessions) != 2 {
			t.Fatalf("err = %v, want a StaleLogin carrying the full list", err)
		}
		if f.h.Item(t, "s#"+s.ID) != nil {
			t.Error("the session was written")
		}
	})
}

func TestALoginAtTheLimitEvictsOnlyAnUnusedSession(t *testing.T) {
	t.Parallel()
	t.Run("an unrotated victim is revoked and leaves the list with the login", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		s, err := f.open(t, session.LoginSuccess{Limit: 1, Evict: []*session.Session{f.sess}})
		if err != nil {
			t.Fatal(err)
		}
		ids, gen := f.listed(t)
		if len(ids) != 1 || !ids[s.ID] || gen != 2 {
			t.Fatalf("listed %v at %d, want only the new session", ids, gen)
		}
		if it := f.h.SessionItem(t, f.sess.ID); testenv.S(it, "revoke_reason") != session.ReasonEvicted {
			t.Fatalf("victim %v, want revoked as %s", it, session.ReasonEvicted)
		}
	})
	t.Run("a victim refreshed since it was read is stale, and nothing is written", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		if _, err := f.rotate(t, "t0", "t1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		s, err := f.open(t, session.LoginSuccess{Limit: 1, Evict: []*session.Session{f.sess}}) // f.sess has gen 0
		if !errors.Is(err, session.ErrStale) {
			t.Fatalf("err = %v, want ErrStale", err)
		}
		if f.h.Revoked(t, f.sess.ID) || f.h.Item(t, "s#"+s.ID) != nil {
			t.Error("something was written")
		}
		if ids, gen := f.listed(t); len(ids) != 1 || gen != 1 {
			t.Errorf("the list changed: %v at %d", ids, gen)
		}
	})
	t.Run("an eviction is stale when a session it lets stay ended since the read (it made room)", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		stay, err := f.open(t, session.LoginSuccess{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.SignOut(testenv.Ctx(t), f.sess.UserID, stay.ID, session.ReasonSignedOut, now); err != nil {
			t.Fatal(err)
		}
		s, err := f.open(t, session.LoginSuccess{Limit: 2, Evict: []*session.Session{f.sess}, Stay: []*session.Session{stay}})
		if !errors.Is(err, session.ErrStale) {
			t.Fatalf("err = %v, want ErrStale", err)
		}
		if f.h.Revoked(t, f.sess.ID) || f.h.Item(t, "s#"+s.ID) != nil {
			t.Error("something was written")
		}
	})
	t.Run("an eviction decided on an old list is stale", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		old, _ := f.store.GetLoginConsistent(testenv.Ctx(t), "alice")
		if _, err := f.open(t, session.LoginSuccess{}); err != nil { // a sibling login
			t.Fatal(err)
		}
		s := *f.sess
		s.ID = newSID()
		err := f.store.CreateSession(testenv.Ctx(t), &s, old, session.LoginSuccess{ClearFailures: true, Limit: 2, Evict: []*session.Session{f.sess}})
		if !errors.Is(err, session.ErrStale) {
			t.Fatalf("err = %v, want ErrStale", err)
		}
		if f.h.Revoked(t, f.sess.ID) {
			t.Error("the victim was revoked")
		}
	})
}

func TestGetSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	second, err := f.open(t, session.LoginSuccess{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Ctx(t)
	got, err := f.store.GetSessions(ctx, []string{f.sess.ID, second.ID, newSID()})
	if err != nil || len(got) != 2 || got[f.sess.ID] == nil || got[second.ID] == nil {
		t.Fatalf("GetSessions = %v, %v; want the two stored ones only", got, err)
	}
	t.Run("the reads are strongly consistent", func(t *testing.T) {
		use := f.h.Usage(func() { _, _ = f.store.GetSessions(ctx, []string{f.sess.ID, second.ID}) })
		if use.RoundTrips != 1 || use.RCU != 2 {
			t.Errorf("%s: want one BatchGetItem of 2 RCU (eventually consistent would be 1)", use)
		}
	})
	t.Run("keys left unprocessed are asked for again", func(t *testing.T) {
		clear := f.h.Net.Inject("BatchGetItem", 1, testenv.Unprocessed())
		got, err := f.store.GetSessions(ctx, []string{f.sess.ID, second.ID})
		if clear() != 1 || err != nil || len(got) != 2 {
			t.Fatalf("got %d sessions, %v", len(got), err)
		}
	})
	t.Run("keys that stay unprocessed are ErrUnavailable, never missing sessions", func(t *testing.T) {
		clear := f.h.Net.Inject("BatchGetItem", -1, testenv.Unprocessed())
		_, err := f.store.GetSessions(ctx, []string{f.sess.ID})
		clear()
		if !errors.Is(err, session.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("no IDs is no call", func(t *testing.T) {
		use := f.h.Usage(func() {
			if got, err := f.store.GetSessions(ctx, nil); err != nil || len(got) != 0 {
				t.Errorf("GetSessions(nil) = %v, %v", got, err)
			}
		})
		if use.RoundTrips != 0 {
			t.Errorf("%s", use)
		}
	})
}

func TestEndSessions(t *testing.T) {
	t.Parallel()
	t.Run("ending everything empties the list and raises the version on both records", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		countFailure(t, f.store, "alice", now)
		e := f.ending(t, true)
		e.PwHash = "$argon2id$new"
		if err := f.store.EndSessions(testenv.Ctx(t), e); err != nil {
			t.Fatal(err)
		}
		u, l := f.h.Item(t, "u#"+f.sess.UserID), f.h.Item(t, "n#alice")
		if testenv.N(u, "ver") != 2 || testenv.N(l, "ver") != 2 || testenv.S(l, "pwhash") != "$argon2id$new" || testenv.Has(l, "fails") {
			t.Errorf("user %v login %v", u, l)
		}
		if ids, gen := f.listed(t); len(ids) != 0 || gen != 2 {
			t.Errorf("listed %v at %d, want none at 2", ids, gen)
		}
		if it := f.h.SessionItem(t, f.sess.ID); testenv.S(it, "revoke_reason") != session.ReasonLogoutAll {
			t.Errorf("session %v", it)
		}
		// A login that read the old record can no longer open a session.
		s := *f.sess
		s.ID = newSID()
		if err := f.store.CreateSession(testenv.Ctx(t), &s, f.login, session.LoginSuccess{ClearFailures: true}); !errors.Is(err, session.ErrStale) {
			t.Errorf("CreateSession with the record from before: %v, want ErrStale", err)
		}
	})
	t.Run("an ending decided on an old list is stale, and nothing is written", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		e := f.ending(t, true)
		late, err := f.open(t, session.LoginSuccess{}) // a login after the read
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.EndSessions(testenv.Ctx(t), e); !errors.Is(err, session.ErrStale) {
			t.Fatalf("err = %v, want ErrStale", err)
		}
		if f.h.Revoked(t, f.sess.ID) || f.h.Revoked(t, late.ID) || testenv.N(f.h.Item(t, "n#alice"), "ver") != 1 {
			t.Error("something was written")
		}
	})
	t.Run("a kept session stays listed and takes its new version and auth_time", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		other, err := f.open(t, session.LoginSuccess{})
		if err != nil {
			t.Fatal(err)
		}
		e := f.ending(t, false)
		e.Keep, e.KeepHash, e.KeepVer, e.KeepAuth, e.Bump = f.sess, hash("t0"), 2, now.Add(time.Minute), true
		e.End = []session.Revocation{{SessionID: other.ID, Reason: session.ReasonPasswordChange, Now: now}}
		if err := f.store.EndSessions(testenv.Ctx(t), e); err != nil {
			t.Fatal(err)
		}
		if ids, _ := f.listed(t); len(ids) != 1 || !ids[f.sess.ID] {
			t.Errorf("listed %v, want only the kept session", ids)
		}
		kept := f.h.SessionItem(t, f.sess.ID)
		if testenv.N(kept, "ver") != 2 || testenv.N(kept, "auth_at") != now.Add(time.Minute).Unix() || testenv.Has(kept, "revoked_at") {
			t.Errorf("kept session %v", kept)
		}
		if testenv.S(f.h.SessionItem(t, other.ID), "revoke_reason") != session.ReasonPasswordChange {
			t.Error("the other session was not revoked")
		}
	})
	t.Run("a kept session that no longer holds the token is stale", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		e := f.ending(t, false)
		e.Keep, e.KeepHash = f.sess, hash("forged")
		if err := f.store.EndSessions(testenv.Ctx(t), e); !errors.Is(err, session.ErrStale) {
			t.Fatalf("err = %v, want ErrStale", err)
		}
	})
	t.Run("dropped entries leave the list; live ones not named stay", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		other, err := f.open(t, session.LoginSuccess{})
		if err != nil {
			t.Fatal(err)
		}
		e := f.ending(t, false)
		e.Drop = []string{other.ID}
		disabled := false
		e.Disabled = &disabled
		if err := f.store.EndSessions(testenv.Ctx(t), e); err != nil {
			t.Fatal(err)
		}
		if ids, _ := f.listed(t); len(ids) != 1 || !ids[f.sess.ID] {
			t.Errorf("listed %v, want the fixture's session only", ids)
		}
	})
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testenv.Ctx(t)
	bob := f.h.CreateUser(t, "bob", "", "")
	for _, tc := range []struct{ name, uid, sid string }{
		{"another user's session is ErrNotFound", bob.ID, f.sess.ID},
		{"an unknown session is ErrNotFound", f.sess.UserID, newSID()},
	} {
		t.Run(tc.name+" and changes nothing", func(t *testing.T) {
			if _, err := f.store.SignOut(ctx, tc.uid, tc.sid, session.ReasonSignedOut, now); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if f.h.Revoked(t, f.sess.ID) || f.h.Item(t, "s#"+tc.sid) != nil && tc.sid != f.sess.ID {
				t.Error("something was written")
			}
		})
	}
	if ended, err := f.store.SignOut(ctx, f.sess.UserID, f.sess.ID, session.ReasonSignedOut, now); err != nil || !ended {
		t.Fatalf("SignOut = %v, %v; want it to end the session", ended, err)
	}
	if testenv.S(f.h.SessionItem(t, f.sess.ID), "revoke_reason") != session.ReasonSignedOut {
		t.Fatal("not revoked")
	}
	t.Run("signing out a session of the user's that already ended succeeds and writes nothing", func(t *testing.T) {
		before := f.h.SessionItem(t, f.sess.ID)
		if ended, err := f.store.SignOut(ctx, f.sess.UserID, f.sess.ID, session.ReasonLogout, now.Add(time.Minute)); err != nil || ended {
			t.Fatalf("SignOut = %v, %v; want nil, and not ended by this call", ended, err)
		}
		if after := f.h.SessionItem(t, f.sess.ID); testenv.S(after, "revoke_reason") != testenv.S(before, "revoke_reason") ||
			testenv.N(after, "revoked_at") != testenv.N(before, "revoked_at") {
			t.Errorf("the ended session changed: %v", after)
		}
	})
	t.Run("a sign-out whose answer was lost, retried by the SDK, succeeds", func(t *testing.T) {
		other, err := f.open(t, session.LoginSuccess{})
		if err != nil {
			t.Fatal(err)
		}
		clear := f.h.Net.Inject("UpdateItem", 1, testenv.LoseResponse())
		ended, err := f.store.SignOut(ctx, f.sess.UserID, other.ID, session.ReasonSignedOut, now)
		if clear() != 1 {
			t.Fatal("the fault never fired")
		}
		if err != nil || !ended || testenv.S(f.h.SessionItem(t, other.ID), "revoke_reason") != session.ReasonSignedOut {
			t.Fatalf("err = %v, session %v", err, f.h.SessionItem(t, other.ID))
		}
	})
}

func TestReauthenticated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := testenv.Ctx(t)
	countFailure(t, f.store, "alice", now)
	at := now.Add(time.Minute)
	if err := f.store.Reauthenticated(ctx, f.sess, f.login, at); err != nil {
		t.Fatal(err)
	}
	if testenv.N(f.h.SessionItem(t, f.sess.ID), "auth_at") != at.Unix() || testenv.Has(f.h.Item(t, "n#alice"), "fails") {
		t.Fatal("auth_time not set or the failure counter not reset")
	}
	if _, err := f.store.RevokeSession(ctx, f.sess.ID, nil, session.ReasonLogout, now); err != nil {
		t.Fatal(err)
	}
	t.Run("an ended session is ErrNotFound", func(t *testing.T) {
		if err := f.store.Reauthenticated(ctx, f.sess, f.login, at.Add(time.Minute)); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if testenv.N(f.h.SessionItem(t, f.sess.ID), "auth_at") != at.Unix() {
			t.Error("auth_time moved on an ended session")
		}
	})
}
