package session

// The throttle is evaluated twice: by storage, atomically, from the ThrottleRule the
// service hands it (ReserveLogin's condition), and by the service, from the record a
// refused reservation returns (coolDown, lockedFor, forgotten), to say how long to
// wait or to restart a forgotten count. The two must agree at every count and at the
// memory's edge, or a login is let through that the service would call locked (or
// refused with a Retry-After that says nothing). These tests pin that agreement
// directly, also for policies whose cap sixteen doublings do not reach, which the
// end-to-end tests (default policy, reached after four) cannot tell apart.
//
// They are internal unit tests: the package's integration harness (internal/testenv)
// imports this package, so a fixed instant stands in for its clock here.

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"
)

// epoch is a fixed whole-second instant, as the harness clock's.
var epoch = time.Date(2031, time.March, 14, 9, 26, 53, 0, time.UTC)

// throttlePolicies are the policies the agreement is checked under.
var throttlePolicies = []struct {
	name   string
	policy Policy
}{
	{"the default policy", Policy{}.DefaultThrottle()},
	{"a cap that sixteen doublings do not reach", Policy{
		MaxFailures: 3, Lockout: time.Second, MaxLockout: 1 << 20 * time.Second, FailureMemory: 30 * 24 * time.Hour,
	}},
	{"a cap reached at the first cool-down", Policy{
		MaxFailures: 1, Lockout: time.Hour, MaxLockout: time.Hour, FailureMemory: 2 * time.Hour,
	}},
}

// storageWait is the cool-down storage applies to a count under r: none below
// r.Below, then CoolDowns[count-Below], the last entry covering every larger count.
func storageWait(r ThrottleRule, count int64) time.Duration {
	if count < r.Below {
		return 0
	}
	return r.CoolDowns[min(count-r.Below, int64(len(r.CoolDowns)-1))]
}

func TestTheRuleStorageEvaluatesHasTheServicesCoolDownAtEveryCount(t *testing.T) {
	for _, tc := range throttlePolicies {
		t.Run("under "+tc.name+", storage and the service wait the same after each count", func(t *testing.T) {
			s := &Service{policy: tc.policy}
			r := s.rule(epoch)
			if r.Below != tc.policy.MaxFailures {
				t.Fatalf("the rule throttles from count %d, want %d", r.Below, tc.policy.MaxFailures)
			}
			if last := r.CoolDowns[len(r.CoolDowns)-1]; last != tc.policy.MaxLockout {
				t.Errorf("the rule's last cool-down is %s, want the cap %s", last, tc.policy.MaxLockout)
			}
			for count := int64(0); count <= tc.policy.MaxFailures+40; count++ {
				if got, want := storageWait(r, count), s.coolDown(count); got != want {
					t.Errorf("count %d: storage waits %s, the service %s", count, got, want)
				}
			}
		})
	}
}

func TestTheCoolDownDoublesUpToTheCapWhateverThePolicy(t *testing.T) {
	for _, tc := range throttlePolicies {
		if tc.policy.Lockout<<16 < tc.policy.MaxLockout {
			// coolDown stops doubling after sixteen steps (its overflow guard) and
			// waits the cap from there; no policy the App builds gets that far (the
			// default reaches its cap in four). Only the agreement with storage's
			// rule is checked for such a policy, above.
			continue
		}
		t.Run("under "+tc.name+", each further failure doubles the wait until the cap", func(t *testing.T) {
			s := &Service{policy: tc.policy}
			for count := int64(0); count < tc.policy.MaxFailures; count++ {
				if got := s.coolDown(count); got != 0 {
					t.Errorf("count %d: cool-down %s before MaxFailures, want none", count, got)
				}
			}
			want := tc.policy.Lockout
			for count := tc.policy.MaxFailures; count <= tc.policy.MaxFailures+40; count++ {
				if got := s.coolDown(count); got != min(want, tc.policy.MaxLockout) {
					t.Errorf("count %d: cool-down %s, want %s", count, got, min(want, tc.policy.MaxLockout))
				}
				want = min(2*want, tc.policy.MaxLockout)
			}
		})
	}
}

func TestStorageAndTheServiceForgetACountAtTheSameSecond(t *testing.T) {
	for _, tc := range throttlePolicies {
		mem := tc.policy.FailureMemory
		for _, age := range []struct {
			name      string
			age       time.Duration
			forgotten bool
		}{
			{"one second before the memory ends it still counts", mem - time.Second, false},
			{"exactly at the memory's end it still counts", mem, false},
			{"one second after the memory ends it is forgotten", mem + time.Second, true},
		} {
			t.Run("under "+tc.name+", "+age.name, func(t *testing.T) {
				s := &Service{policy: tc.policy}
				c := counter{fails: tc.policy.MaxFailures + 2, lastFail: epoch.Add(-age.age)}
				if got := s.forgotten(c, epoch); got != age.forgotten {
					t.Errorf("the service: forgotten = %v at age %s, want %v", got, age.age, age.forgotten)
				}
				if got := c.lastFail.Before(s.rule(epoch).Forget); got != age.forgotten {
					t.Errorf("storage's rule: forgotten = %v at age %s, want %v", got, age.age, age.forgotten)
				}
				wantCount := c.fails
				if age.forgotten {
					wantCount = 0
				}
				if got := s.failures(c, epoch); got != wantCount {
					t.Errorf("count at age %s is %d, want %d", age.age, got, wantCount)
				}
			})
		}
	}
}

// lockedFor is what a refused login's Retry-After says: the rest of the cool-down,
// down to the second, and nothing once the count is forgotten.
func TestLockedForIsTheRestOfTheCoolDown(t *testing.T) {
	p := Policy{}.DefaultThrottle()
	s := &Service{policy: p}
	for _, tc := range []struct {
		fails int64
		age   time.Duration
		want  time.Duration
	}{
		{4, 0, 0},
		{5, 0, time.Minute},
		{5, 59 * time.Second, time.Second},
		{5, time.Minute, 0},
		{6, 30 * time.Second, 90 * time.Second},
		{9, 0, 15 * time.Minute},
		{40, 10 * time.Minute, 5 * time.Minute},
		{40, 24 * time.Hour, -24*time.Hour + 15*time.Minute},
		{40, 24*time.Hour + time.Second, 0},
	} {
		name := strconv.FormatInt(tc.fails, 10) + " failures, the last " + tc.age.String() + " ago, wait " + tc.want.String()
		t.Run(name, func(t *testing.T) {
			if got := s.lockedFor(counter{fails: tc.fails, lastFail: epoch.Add(-tc.age)}, epoch); got != tc.want {
				t.Errorf("lockedFor = %s, want %s", got, tc.want)
			}
		})
	}
}

// The rule lists each cool-down once, up to the first that reaches the cap: storage
// turns every entry into a clause of the reservation's condition, so entries after
// the cap would only lengthen each login's write.
func TestTheRuleListsTheCoolDownsUpToTheCapOnce(t *testing.T) {
	s := &Service{policy: Policy{}.DefaultThrottle()}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute}
	got := s.rule(epoch).CoolDowns
	if len(got) != len(want) {
		t.Fatalf("rule cool-downs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rule cool-down %d is %s, want %s", i, got[i], want[i])
		}
	}
}

// refusingStore is a narrow fake for the reservation alone: it refuses every attempt
// with the record it holds, as storage does when its condition fails.
type refusingStore struct {
	Store // nil: only ReserveLogin is called
	old   *Login
	calls int
}

func (f *refusingStore) ReserveLogin(context.Context, LoginReservation) (*Login, error) {
	f.calls++
	return nil, &ReserveConflict{Old: f.old}
}

// Storage refusing an attempt that the service's own rule says is not locked (a
// cool-down that ended this very second, or a count below MaxFailures) is not a
// throttle the service can name a wait for: the login fails closed as unavailable,
// never as a 429 with Retry-After 0, and never lets the attempt through uncounted.
func TestAReservationRefusedWithoutALockFailsClosedAsUnavailable(t *testing.T) {
	p := Policy{}.DefaultThrottle()
	for _, tc := range []struct {
		name string
		old  Login
	}{
		{"a cool-down that ends exactly now", Login{UID: "usr_a", Fails: 5, LastFail: epoch.Add(-time.Minute)}},
		{"a cool-down that ended a second ago", Login{UID: "usr_a", Fails: 5, LastFail: epoch.Add(-time.Minute - time.Second)}},
		{"a count below MaxFailures", Login{UID: "usr_a", Fails: 4, LastFail: epoch}},
	} {
		t.Run("storage refusing at "+tc.name+" is ErrUnavailable, not a throttle", func(t *testing.T) {
			st := &refusingStore{old: &tc.old}
			s := New(Deps{Store: st, Policy: p, Log: slog.New(slog.DiscardHandler)})
			rec, dev, err := s.reserve(context.Background(), "alice", nil, epoch)
			var throttled *ThrottledError
			if errors.As(err, &throttled) {
				t.Fatalf("answered as throttled, retry after %s", throttled.RetryAfter)
			}
			if !errors.Is(err, ErrUnavailable) || rec != nil || dev != nil {
				t.Fatalf("reserve = %v, %v, %v; want ErrUnavailable and nothing to check", rec, dev, err)
			}
			if st.calls != 1 {
				t.Errorf("%d reservation calls, want 1 (no retry on a rule disagreement)", st.calls)
			}
		})
	}
	t.Run("storage refusing inside a cool-down is a throttle with the rest of it", func(t *testing.T) {
		st := &refusingStore{old: &Login{UID: "usr_a", Fails: 5, LastFail: epoch.Add(-59 * time.Second)}}
		s := New(Deps{Store: st, Policy: p, Log: slog.New(slog.DiscardHandler)})
		_, _, err := s.reserve(context.Background(), "alice", nil, epoch)
		var throttled *ThrottledError
		if !errors.As(err, &throttled) || throttled.RetryAfter != time.Second {
			t.Fatalf("reserve: %v, want a throttle with 1 s left", err)
		}
	})
}
