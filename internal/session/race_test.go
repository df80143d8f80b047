package session_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/example/sessions/internal/testenv"
)

// RFC 9700 §4.14.2 and ASVS 5.0 7.4.1: once logout has returned, nothing of the session
// works, whichever of a racing refresh and the logout reached DynamoDB first. Both are
// released together each round, with random pauses at the wire to shuffle which one
// arrives first, until each order has been seen a few times; each order's end state
// is checked as what it must be.
func TestRefreshRacingLogoutNeverLeavesALiveSession(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	const each, maxRounds = 3, 200
	refreshFirst, logoutFirst := 0, 0
	for round := 0; round < maxRounds && (refreshFirst < each || logoutFirst < each); round++ {
		tok := h.Login(t, u.Name, u.Password)
		var code, logoutCode int
		var next testenv.Tokens
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { <-start; code, next = h.Refresh(t, tok.RefreshToken) })
		wg.Go(func() { <-start; logoutCode = h.Logout(t, tok.RefreshToken, "") })
		clear := h.Net.Inject("UpdateItem", -1, testenv.Jitter(10*time.Millisecond))
		close(start)
		wg.Wait()
		clear()

		// Either way the logout answered 204 and revoked the session as a logout.
		wantStatus(t, "logout", logoutCode, http.StatusNoContent)
		it := h.SessionItem(t, tok.SessionID)
		if testenv.S(it, "revoke_reason") != "logout" {
			t.Fatalf("round %d: revoke_reason %q, want logout", round, testenv.S(it, "revoke_reason"))
		}
		switch code {
		case http.StatusOK:
			// The refresh rotated first; the logout then proved possession with
			// the now previous token.
			refreshFirst++
			if testenv.N(it, "gen") != 1 || !sameBytes(testenv.B(it, "cur"), testenv.TokenHash(next.RefreshToken)) ||
				!sameBytes(testenv.B(it, "prev"), testenv.TokenHash(tok.RefreshToken)) {
				t.Fatalf("round %d (refresh first): the item does not hold the rotation: gen %d", round, testenv.N(it, "gen"))
			}
			wantDenied(t, h, next.AccessToken, tok.AccessToken)
			for _, rt := range []string{next.RefreshToken, tok.RefreshToken} {
				if c, _ := h.Refresh(t, rt); c != http.StatusUnauthorized {
					t.Fatalf("round %d (refresh first): a refresh token of the session still works (%d)", round, c)
				}
			}
		case http.StatusUnauthorized:
			// The logout came first; the refresh found the session revoked and
			// rotated nothing.
			logoutFirst++
			if testenv.N(it, "gen") != 0 || !sameBytes(testenv.B(it, "cur"), testenv.TokenHash(tok.RefreshToken)) || testenv.Has(it, "prev") {
				t.Fatalf("round %d (logout first): the refused refresh rotated: gen %d", round, testenv.N(it, "gen"))
			}
			wantDenied(t, h, tok.AccessToken)
			if c, _ := h.Refresh(t, tok.RefreshToken); c != http.StatusUnauthorized {
				t.Fatalf("round %d (logout first): the refresh token still works (%d)", round, c)
			}
		default:
			t.Fatalf("round %d: the racing refresh answered %d", round, code)
		}
	}
	t.Logf("refresh reached DynamoDB first %d times, logout %d times", refreshFirst, logoutFirst)
	if refreshFirst < each || logoutFirst < each {
		t.Fatalf("in %d rounds refresh came first %d times and logout %d times; the test needs each order %d times", maxRounds, refreshFirst, logoutFirst, each)
	}
}
