package verify_test

import (
	"testing"
	"time"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// The README's rotation, step by step at its waits (add; 11 minutes; promote; 5 minutes
// + ACCESS_TOKEN_TTL + 1 minute; retire), as `sessionctl keys` carries it out on the
// key sets and the jwks function publishes them.
func TestARotationByTheBookIsFollowedWithoutARefusal(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{keys.EdDSA, keys.ES256} {
		t.Run("from "+alg+" to "+alg, func(t *testing.T) {
			t.Parallel()
			s := newService(t, alg)
			v := s.verifier(t)
			old := s.signing()
			mustVerify(t, v, s.mint(t))

			added := s.add(t, alg)
			t.Run("a token of the old key verifies after the add", func(t *testing.T) { mustVerify(t, v, s.mint(t)) })

			s.clock.Advance(11 * time.Minute)
			mustVerify(t, v, s.mint(t)) // the set's max-age has passed: this fetches it again
			fetched := s.fetches.Load()
			s.rotate(t, func(cur *keys.Set) (*keys.Set, error) { return cur.Promote(added.ID, s.clock.Now()) })
			if s.signing().ID != added.ID {
				t.Fatal("setup: the promoted key does not sign")
			}
			t.Run("the first token of the promoted key verifies without another fetch", func(t *testing.T) {
				mustVerify(t, v, s.mint(t))
				if n := s.fetches.Load(); n != fetched {
					t.Errorf("%d fetches, want %d: the new key was not known before it signed", n, fetched)
				}
			})
			oldToken := sign(t, old, header(old), s.claims())
			t.Run("a token of the old key still verifies after the promotion", func(t *testing.T) { mustVerify(t, v, oldToken) })

			s.clock.Advance(5*time.Minute + accessTTL + time.Minute)
			s.rotate(t, func(cur *keys.Set) (*keys.Set, error) { return cur.Retire(old.ID) })
			t.Run("a token of the promoted key verifies after the retirement", func(t *testing.T) { mustVerify(t, v, s.mint(t)) })
			t.Run("a token of the retired key is refused as an unknown kid", func(t *testing.T) {
				mustRefuse(t, v, sign(t, old, header(old), s.claims()), token.ErrUnknownKey)
			})
		})
	}
}

// A promotion sooner than the README's wait (keys promote --force) signs with a kid
// the verifier's cached set lacks: the unknown kid makes it fetch again.
func TestAnEarlyPromotionIsPickedUpByRefetchingOnTheUnknownKid(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	old := s.signing()
	mustVerify(t, v, s.mint(t))
	s.clock.Advance(time.Minute) // past the refetch interval, well inside max-age

	added := s.add(t, keys.ES256) // the next key may be of another type
	s.rotate(t, func(cur *keys.Set) (*keys.Set, error) { return cur.Promote(added.ID, s.clock.Now()) })
	t.Run("the new kid's first token verifies after one refetch", func(t *testing.T) {
		mustVerify(t, v, s.mint(t))
		if n := s.fetches.Load(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}
	})
	t.Run("its next tokens verify without another fetch", func(t *testing.T) {
		for range 5 {
			mustVerify(t, v, s.mint(t))
		}
		if n := s.fetches.Load(); n != 2 {
			t.Errorf("%d fetches, want still 2", n)
		}
	})

	s.rotate(t, func(cur *keys.Set) (*keys.Set, error) { return cur.Retire(old.ID) })
	oldToken := sign(t, old, header(old), s.claims())
	t.Run("a retired key verifies until the cached set's max-age has passed", func(t *testing.T) {
		mustVerify(t, v, oldToken)
	})
	s.clock.Advance(5 * time.Minute)
	t.Run("then its tokens are refused as an unknown kid", func(t *testing.T) {
		mustRefuse(t, v, oldToken, token.ErrUnknownKey)
	})
}

// Inside the refetch interval a new kid waits: the limit that keeps forged kids from
// hammering the endpoint holds for real ones too.
func TestAPromotionInsideTheRefetchIntervalIsPickedUpOnceItHasPassed(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	mustVerify(t, v, s.mint(t))
	added := s.add(t, keys.EdDSA)
	s.rotate(t, func(cur *keys.Set) (*keys.Set, error) { return cur.Promote(added.ID, s.clock.Now()) })
	at := s.mint(t)
	mustRefuse(t, v, at, token.ErrUnknownKey)
	s.clock.Advance(30 * time.Second)
	mustVerify(t, v, at)
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}
