package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/sessions/internal/audit"
)

// counter is one failed-login counter: the username's (on its login record) or one
// trusted device's (in the record's device map).
type counter struct {
	fails    int64
	lastFail time.Time
}

func usernameCounter(rec *Login) counter {
	if rec == nil {
		return counter{}
	}
	return counter{rec.Fails, rec.LastFail}
}

func deviceCounter(rec *Login, id string) (counter, bool) {
	if rec == nil {
		return counter{}, false
	}
	d, ok := rec.Devices[id]
	return counter{d.Fails, d.LastFail}, ok
}

// coolDown is the wait after the last counted attempt once a counter holds fails:
// none below MaxFailures, then Lockout, doubled per further failure up to MaxLockout.
func (s *Service) coolDown(fails int64) time.Duration {
	if fails < s.policy.MaxFailures {
		return 0
	}
	if steps := fails - s.policy.MaxFailures; steps < 16 {
		return min(s.policy.Lockout<<steps, s.policy.MaxLockout)
	}
	return s.policy.MaxLockout
}

// lockedFor returns how long a counter is still cooling down at now.
func (s *Service) lockedFor(c counter, now time.Time) time.Duration {
	fails := s.failures(c, now)
	if fails < s.policy.MaxFailures {
		return 0
	}
	return c.lastFail.Add(s.coolDown(fails)).Sub(now)
}

// failures is a counter's count at now: zero once its last attempt is more than
// FailureMemory ago.
func (s *Service) failures(c counter, now time.Time) int64 {
	if s.forgotten(c, now) {
		return 0
	}
	return c.fails
}

func (s *Service) forgotten(c counter, now time.Time) bool {
	return now.Sub(c.lastFail) > s.policy.FailureMemory
}

// rule is the throttle as storage evaluates it when it reserves an attempt at now: the
// same cool-downs as coolDown, listed up to the cap, and the same memory as forgotten.
func (s *Service) rule(now time.Time) ThrottleRule {
	r := ThrottleRule{Below: s.policy.MaxFailures, Forget: now.Add(-s.policy.FailureMemory)}
	for k := int64(0); k <= 16; k++ {
		cd := s.coolDown(s.policy.MaxFailures + k)
		r.CoolDowns = append(r.CoolDowns, cd)
		if cd >= s.policy.MaxLockout {
			break
		}
	}
	return r
}

// maxReserveCalls bounds the reservation calls of one login: a device attempt the
// record does not recognise, then a plain attempt, a restart of a forgotten counter,
// and one more plain attempt if another login restarted it first.
const maxReserveCalls = 4

// reserve counts one attempt before the password is checked and returns the login
// record to check it against. With a device proof the attempt is counted on that
// device's counter; a proof the record does not recognise (another account, a device
// it no longer lists) is ignored and the attempt counts on the username's counter.
// It returns the proof it used (nil if none) or a *ThrottledError.
func (s *Service) reserve(ctx context.Context, name string, dev *deviceProof, now time.Time) (*Login, *deviceProof, error) {
	r := LoginReservation{Name: name, Now: now, Rule: s.rule(now), StubExpiry: now.Add(s.policy.FailureMemory)}
	if dev != nil {
		r.UID, r.Device = dev.UID, dev.ID
	}
	for range maxReserveCalls {
		var rec *Login
		// A login in flight on the same record (its transaction) makes DynamoDB
		// refuse this write with TransactionConflict; nothing was counted, so count
		// again after a pause rather than answer 503.
		err := retryConflict(ctx, func() (err error) { rec, err = s.store.ReserveLogin(ctx, r); return err })
		var conflict *ReserveConflict
		if !errors.As(err, &conflict) {
			if err != nil {
				return nil, nil, err
			}
			if r.Device == "" {
				return rec, nil, nil
			}
			return rec, dev, nil
		}
		old := conflict.Old
		c := usernameCounter(old)
		if r.Device != "" {
			var listed bool
			c, listed = deviceCounter(old, r.Device)
			if !listed || old.UID != r.UID {
				// Not this account's device (any more): an untrusted attempt.
				s.log.InfoContext(ctx, "device token not recognised; counting on the username", "reason", "device not listed for the account")
				r = LoginReservation{Name: name, Now: now, Rule: r.Rule, StubExpiry: r.StubExpiry}
				continue
			}
		}
		switch {
		case c.fails > 0 && s.forgotten(c, now) && !r.Restart:
			r.Restart = true
		case r.Restart:
			r.Restart = false // another login restarted it first; count on top
		default:
			wait := s.lockedFor(c, now)
			if wait <= 0 {
				// The condition and lockedFor disagree: a policy change between the
				// two, never a reason to let the attempt through uncounted.
				return nil, nil, fmt.Errorf("session: login attempt refused by a throttle rule that does not lock: %w", ErrUnavailable)
			}
			rec := audit.Record{Event: audit.LoginThrottled, SessionID: checkedSession(ctx), Reason: ThrottledUsername, Time: now}
			if old != nil {
				rec.UserID = old.UID // "" for a name without an account
			}
			attrs := []any{"retry_after_s", int(wait.Seconds())}
			if r.Device != "" {
				rec.UserID, rec.Reason = r.UID, ThrottledDevice
				attrs = append(attrs, "counter", "device")
			}
			s.emit(ctx, "login throttled", rec, attrs...)
			return nil, nil, &ThrottledError{RetryAfter: wait}
		}
	}
	s.log.WarnContext(ctx, "login attempt not reserved: the counter kept changing")
	return nil, nil, fmt.Errorf("session: login attempt not reserved after %d tries: %w", maxReserveCalls, ErrUnavailable)
}
