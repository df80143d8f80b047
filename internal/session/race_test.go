package session_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// RFC 9700 §4.14.2 and ASVS 5.0 7.4.1: once logout has returned, nothing of the session
// works, whichever of a racing refresh and the logout reached DynamoDB first.
func TestRefreshRacingLogoutNeverLeavesALiveSession(t *testing.T) {
	t.Parallel()
	h := login(t, nil).h
	refreshWon, logoutWon := 0, 0
	// Fresh sessions each round, so both orders occur.
	for round := range 20 {
		u := h.CreateUser(t, fmt.Sprintf("racer%d", round), "", "")
		tok := h.Login(t, u.Name, u.Password)
		var wg sync.WaitGroup
		var code, logoutCode int
		var newAT, newRT string
		wg.Add(2)
		go func() {
			defer wg.Done()
			c, tk := h.Refresh(t, tok.RefreshToken)
			code, newAT, newRT = c, tk.AccessToken, tk.RefreshToken
		}()
		go func() { defer wg.Done(); logoutCode = h.Logout(t, tok.RefreshToken, "") }()
		wg.Wait()
		if logoutCode != http.StatusNoContent || !h.Revoked(t, tok.SessionID) {
			t.Fatalf("round %d: logout %d, revoked %v", round, logoutCode, h.Revoked(t, tok.SessionID))
		}
		if code == http.StatusOK {
			refreshWon++
			wantDenied(t, h, newAT, tok.AccessToken)
			if c, _ := h.Refresh(t, newRT); c != http.StatusUnauthorized {
				t.Fatalf("round %d: the refresh token minted in the race still works (%d)", round, c)
			}
		} else {
			logoutWon++
			wantDenied(t, h, tok.AccessToken)
		}
	}
	t.Logf("refresh reached DynamoDB first %d times, logout %d times", refreshWon, logoutWon)
}
