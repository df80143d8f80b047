package ddb_test

// Login records against DynamoDB Local: the attempt reservation that counts a login
// before its password is checked (the throttle's condition), stubs of unknown names,
// and the device registry a successful login writes.

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// testRule is a small throttle: 2 attempts, then 60 s, then 120 s for every count
// after; failures forgotten after a day.
func testRule(at time.Time) session.ThrottleRule {
	return session.ThrottleRule{Below: 2, CoolDowns: []time.Duration{time.Minute, 2 * time.Minute}, Forget: at.Add(-24 * time.Hour)}
}

func reserve(t *testing.T, st *ddb.Store, name string, at time.Time, edit ...func(*session.LoginReservation)) (*session.Login, error) {
	t.Helper()
	r := session.LoginReservation{Name: name, Now: at, Rule: testRule(at), StubExpiry: at.Add(24 * time.Hour)}
	for _, e := range edit {
		e(&r)
	}
	return st.ReserveLogin(testenv.Ctx(t), r)
}

// countFailure counts one attempt on the username's counter, whatever its state.
func countFailure(t *testing.T, st *ddb.Store, name string, at time.Time) {
	t.Helper()
	if _, err := reserve(t, st, name, at, func(r *session.LoginReservation) { r.Rule.Below = 1 << 40 }); err != nil {
		t.Fatal(err)
	}
}

func device(id string, uid string) func(*session.LoginReservation) {
	return func(r *session.LoginReservation) { r.Device, r.UID = id, uid }
}

func restart(r *session.LoginReservation) { r.Restart = true }

// refused makes a reservation that must be refused by its condition and returns the
// record as it was.
func refused(t *testing.T, st *ddb.Store, name string, at time.Time, edit ...func(*session.LoginReservation)) *session.Login {
	t.Helper()
	l, err := reserve(t, st, name, at, edit...)
	var c *session.ReserveConflict
	if !errors.As(err, &c) || l != nil {
		t.Fatalf("reservation = %+v, %v; want a *session.ReserveConflict", l, err)
	}
	return c.Old
}

// reserved makes a reservation that must succeed and returns the record after it.
func reserved(t *testing.T, st *ddb.Store, name string, at time.Time, edit ...func(*session.LoginReservation)) *session.Login {
	t.Helper()
	l, err := reserve(t, st, name, at, edit...)
	if err != nil {
		t.Fatalf("reservation refused: %v", err)
	}
	return l
}

func TestReserveLogin(t *testing.T) {
	t.Parallel()
	t.Run("an unknown name gets a stub that counts each attempt and expires by TTL", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		reserved(t, f.store, "nobody", now)
		l := reserved(t, f.store, "nobody", now.Add(time.Second))
		if l.UID != "" || l.Fails != 2 || !l.LastFail.Equal(now.Add(time.Second)) {
			t.Errorf("stub after two attempts: %+v", l)
		}
		it := f.h.Item(t, "n#nobody")
		if _, ok := it["ttl"].(*types.AttributeValueMemberN); !ok || testenv.N(it, "ttl") != now.Add(24*time.Hour+time.Second).Unix() {
			t.Errorf("stub ttl = %v, want the number %d (extended by the last attempt)", it["ttl"], now.Add(24*time.Hour+time.Second).Unix())
		}
	})
	t.Run("an account's attempt returns the record to check and gives it no numeric ttl", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		l := reserved(t, f.store, "alice", now)
		if l.UID != f.login.UID || l.PwHash != f.login.PwHash || l.Ver != f.login.Ver || l.Fails != 1 || !l.LastFail.Equal(now) {
			t.Errorf("record after the reservation: %+v, want the account's with one attempt", l)
		}
		// TTL deletes only items whose TTL attribute is a Number; the account's is its
		// uid, a String, so the record can never expire.
		if v, ok := f.h.Item(t, "n#alice")["ttl"]; ok {
			if _, isNum := v.(*types.AttributeValueMemberN); isNum {
				t.Fatalf("an account's login record got a numeric ttl %v: DynamoDB would delete it", v)
			}
		}
	})
	t.Run("an account created over a stub keeps no ttl and no count", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		reserved(t, f.store, "newcomer", now)
		if err := f.store.CreateUser(testenv.Ctx(t), &session.Login{Name: "newcomer", UID: "usr_newcomer", PwHash: "$argon2id$x", Ver: 1}); err != nil {
			t.Fatal(err)
		}
		it := f.h.Item(t, "n#newcomer")
		if testenv.Has(it, "ttl") || testenv.Has(it, "fails") {
			t.Errorf("account over a stub: %v", it)
		}
	})
	t.Run("the count stops at the rule and a refusal carries the record unchanged", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		for range 2 {
			reserved(t, f.store, "alice", now)
		}
		old := refused(t, f.store, "alice", now)
		if old == nil || old.Fails != 2 || old.UID != f.login.UID {
			t.Errorf("refusal's record %+v, want the account with 2 attempts", old)
		}
		if got := testenv.N(f.h.Item(t, "n#alice"), "fails"); got != 2 {
			t.Errorf("fails = %d after a refusal, want 2", got)
		}
	})
	// Count 2 (= Below) waits 60 s after the last attempt; count 3 and beyond 120 s.
	for _, tc := range []struct {
		name    string
		fails   int64
		after   time.Duration
		allowed bool
	}{
		{"count 1 is allowed at once", 1, 0, true},
		{"count 2 is refused one second before its 60 s", 2, 59 * time.Second, false},
		{"count 2 is allowed at its 60 s", 2, 60 * time.Second, true},
		{"count 2 is allowed one second after its 60 s", 2, 61 * time.Second, true},
		{"count 3 is refused one second before its 120 s", 3, 119 * time.Second, false},
		{"count 3 is allowed at its 120 s", 3, 120 * time.Second, true},
		{"count 9 (past the list) is refused one second before the last cool-down", 9, 119 * time.Second, false},
		{"count 9 (past the list) is allowed at the last cool-down", 9, 120 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			for range tc.fails {
				countFailure(t, f.store, "alice", now)
			}
			if !tc.allowed {
				refused(t, f.store, "alice", now.Add(tc.after))
				return
			}
			l := reserved(t, f.store, "alice", now.Add(tc.after))
			if l.Fails != tc.fails+1 || !l.LastFail.Equal(now.Add(tc.after)) {
				t.Errorf("after the reservation: fails %d at %v, want %d at %v", l.Fails, l.LastFail, tc.fails+1, now.Add(tc.after))
			}
		})
	}
	t.Run("a count is remembered for exactly the memory and restarts only after it", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		for range 3 {
			countFailure(t, f.store, "alice", now)
		}
		day := 24 * time.Hour
		// At the end of the memory the count still stands: a plain reservation counts
		// on top and a restart is refused.
		refused(t, f.store, "alice", now.Add(day), restart)
		// One second later it is forgotten: a plain one is refused (it would count on
		// top of forgotten failures), a restart starts over at 1.
		refused(t, f.store, "alice", now.Add(day+time.Second))
		if l := reserved(t, f.store, "alice", now.Add(day+time.Second), restart); l.Fails != 1 {
			t.Errorf("after a restart: fails = %d, want 1", l.Fails)
		}
		// A second restart finds the fresh count: refused.
		refused(t, f.store, "alice", now.Add(day+time.Second), restart)
	})
	t.Run("at the end of the memory a plain reservation counts on top", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		countFailure(t, f.store, "alice", now)
		if l := reserved(t, f.store, "alice", now.Add(24*time.Hour)); l.Fails != 2 {
			t.Errorf("fails = %d, want 2", l.Fails)
		}
	})
}

func TestDeviceCounters(t *testing.T) {
	t.Parallel()
	// withDevice is the fixture with device "dev1" registered on alice's record.
	withDevice := func(t *testing.T) fixture {
		f := newFixture(t)
		s := *f.sess
		s.ID = newSID()
		if err := f.store.CreateSession(testenv.Ctx(t), &s, f.login, session.LoginSuccess{Device: "dev1", Seen: now}); err != nil {
			t.Fatal(err)
		}
		return f
	}
	t.Run("a listed device of the account counts on its own counter, not the username's", func(t *testing.T) {
		t.Parallel()
		f := withDevice(t)
		l := reserved(t, f.store, "alice", now, device("dev1", f.login.UID))
		if d := l.Devices["dev1"]; d.Fails != 1 || !d.LastFail.Equal(now) || l.Fails != 0 {
			t.Errorf("after a device reservation: device %+v, username fails %d", d, l.Fails)
		}
		if it := f.h.Item(t, "n#alice"); testenv.Has(it, "fails") || testenv.Has(it, "ttl") {
			t.Errorf("the username's counter moved: %v", it)
		}
	})
	t.Run("a device counter follows the same rule", func(t *testing.T) {
		t.Parallel()
		f := withDevice(t)
		for range 2 {
			reserved(t, f.store, "alice", now, device("dev1", f.login.UID))
		}
		old := refused(t, f.store, "alice", now.Add(59*time.Second), device("dev1", f.login.UID))
		if old.Devices["dev1"].Fails != 2 {
			t.Errorf("refusal's record: %+v", old.Devices)
		}
		reserved(t, f.store, "alice", now.Add(60*time.Second), device("dev1", f.login.UID))
		// Forgotten after the memory: a plain reservation is refused, a restart counts 1.
		later := now.Add(60*time.Second + 24*time.Hour + time.Second)
		refused(t, f.store, "alice", later, device("dev1", f.login.UID))
		l := reserved(t, f.store, "alice", later, device("dev1", f.login.UID), restart)
		if l.Devices["dev1"].Fails != 1 {
			t.Errorf("after a restart: %+v", l.Devices["dev1"])
		}
	})
	for _, tc := range []struct {
		name, user, dev, uid string
		wantOld              bool
	}{
		{"a device of another account is refused", "alice", "dev1", "usr_someone_else", true},
		{"a device the account does not list is refused", "alice", "dev2", "", true},
		{"a device on a stub is refused", "stubbed", "dev1", "", true},
		{"a device on a name without a record is refused and creates none", "ghost", "dev1", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := withDevice(t)
			if tc.user == "stubbed" {
				reserved(t, f.store, "stubbed", now)
			}
			uid := tc.uid
			if uid == "" {
				uid = f.login.UID
			}
			before := f.h.Item(t, "n#"+tc.user)
			old := refused(t, f.store, tc.user, now, device(tc.dev, uid))
			if (old != nil) != tc.wantOld {
				t.Errorf("refusal's record = %+v, want one: %v", old, tc.wantOld)
			}
			after := f.h.Item(t, "n#"+tc.user)
			if testenv.N(after, "fails") != testenv.N(before, "fails") || len(after) != len(before) {
				t.Errorf("a refused device reservation changed the record: %v -> %v", before, after)
			}
		})
	}
}

func TestCreateSessionRegistersTheDevice(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T, f fixture, l *session.Login, o session.LoginSuccess) error {
		t.Helper()
		s := *f.sess
		s.ID = newSID()
		return f.store.CreateSession(testenv.Ctx(t), &s, l, o)
	}
	read := func(t *testing.T, f fixture) *session.Login {
		t.Helper()
		l, err := f.store.GetLoginConsistent(testenv.Ctx(t), "alice")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	t.Run("the first device creates the map; a device login leaves the username's counter alone", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		countFailure(t, f.store, "alice", now)
		if err := open(t, f, f.login, session.LoginSuccess{Device: "dev1", Seen: now}); err != nil {
			t.Fatal(err)
		}
		l := read(t, f)
		if d, ok := l.Devices["dev1"]; len(l.Devices) != 1 || !ok || d.Fails != 0 || !d.LastFail.IsZero() || !d.Seen.Equal(now) || l.Fails != 1 {
			t.Errorf("after the first device: devices %+v, fails %d", l.Devices, l.Fails)
		}
	})
	t.Run("clearing the failures removes the count, its time and the ttl", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		countFailure(t, f.store, "alice", now)
		if err := open(t, f, f.login, session.LoginSuccess{ClearFailures: true, Device: "dev1", Seen: now}); err != nil {
			t.Fatal(err)
		}
		it := f.h.Item(t, "n#alice")
		for _, attr := range []string{"fails", "last_fail", "ttl"} {
			if testenv.Has(it, attr) {
				t.Errorf("%s survives a login that clears the failures", attr)
			}
		}
	})
	t.Run("a device seen again restarts its counter; named devices are forgotten, never the one logging in", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		for _, id := range []string{"dev1", "dev2", "dev3"} {
			if err := open(t, f, read(t, f), session.LoginSuccess{Device: id, Seen: now}); err != nil {
				t.Fatal(err)
			}
		}
		reserved(t, f.store, "alice", now, device("dev1", f.login.UID))
		later := now.Add(time.Hour)
		if err := open(t, f, read(t, f), session.LoginSuccess{Device: "dev1", Seen: later, Forget: []string{"dev2", "dev1"}}); err != nil {
			t.Fatal(err)
		}
		l := read(t, f)
		if _, ok := l.Devices["dev2"]; ok || len(l.Devices) != 2 {
			t.Errorf("devices %+v, want dev1 and dev3", l.Devices)
		}
		if d := l.Devices["dev1"]; d.Fails != 0 || !d.Seen.Equal(later) {
			t.Errorf("dev1 after its success: %+v", d)
		}
	})
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, f fixture) *session.Login // returns the record as the login read it
	}{
		{"a record read without the map that has one since is ErrStale", func(t *testing.T, f fixture) *session.Login {
			stale := read(t, f)
			if err := open(t, f, stale, session.LoginSuccess{Device: "other", Seen: now}); err != nil {
				t.Fatal(err)
			}
			return stale
		}},
		{"a record read with a map it no longer has is ErrStale", func(t *testing.T, f fixture) *session.Login {
			l := read(t, f)
			l.Devices = map[string]session.Device{}
			return l
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			l := tc.prepare(t, f)
			sessions := len(f.h.Sessions(t))
			err := open(t, f, l, session.LoginSuccess{Device: "dev1", Seen: now})
			var stale *session.StaleLogin
			if !errors.Is(err, session.ErrStale) || !errors.As(err, &stale) {
				t.Fatalf("err = %v, want a *session.StaleLogin (ErrStale)", err)
			}
			// It carries the record as it is now, for the login to decide again.
			if now := read(t, f); stale.Current == nil || stale.Current.UID != now.UID || len(stale.Current.Devices) != len(now.Devices) || (stale.Current.Devices == nil) != (now.Devices == nil) {
				t.Errorf("stale error carries %+v, want the current record %+v", stale.Current, now)
			}
			if n := len(f.h.Sessions(t)); n != sessions {
				t.Errorf("%d sessions, want %d: the session was written although the transaction failed", n, sessions)
			}
		})
	}
}
