package session_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sessions/internal/testenv"
)

func TestRefreshRotatesTheRefreshTokenAndMintsANewAccessToken(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	h.Clock.Advance(time.Minute)

	next := h.MustRefresh(t, s.tok.RefreshToken)

	if next.RefreshToken == s.tok.RefreshToken || next.RefreshToken == "" {
		t.Errorf("refresh token not rotated: got %q", next.RefreshToken)
	}
	if next.AccessToken == s.tok.AccessToken || next.AccessToken == "" {
		t.Error("no new access token")
	}
	if next.SessionID != s.tok.SessionID || !strings.HasPrefix(next.RefreshToken, s.tok.SessionID+".") {
		t.Errorf("rotation changed the session: %q -> %q", s.tok.SessionID, next.SessionID)
	}
	c := testenv.Claims(t, next.AccessToken)
	if c["sid"] != s.tok.SessionID || c["sub"] != s.user.ID {
		t.Errorf("new access token claims sid=%v sub=%v", c["sid"], c["sub"])
	}
	if got, want := int64(c["iat"].(float64)), unix(h.Clock.Now()); got != want {
		t.Errorf("new access token iat = %d, want the refresh time %d", got, want)
	}
	wantAllowed(t, h, next.AccessToken)

	it := h.SessionItem(t, s.tok.SessionID)
	if testenv.N(it, "gen") != 1 {
		t.Errorf("gen = %d after one rotation, want 1", testenv.N(it, "gen"))
	}
	if !sameBytes(testenv.B(it, "cur"), testenv.TokenHash(next.RefreshToken)) {
		t.Error("cur is not the hash of the new refresh token")
	}
	if !sameBytes(testenv.B(it, "prev"), testenv.TokenHash(s.tok.RefreshToken)) {
		t.Error("prev is not the hash of the previous refresh token")
	}
	if got, want := testenv.N(it, "last_used"), unix(h.Clock.Now()); got != want {
		t.Errorf("last_used = %d, want %d", got, want)
	}

	// The chain goes on: the new token rotates in turn.
	h.Clock.Advance(time.Minute)
	third := h.MustRefresh(t, next.RefreshToken)
	if third.RefreshToken == next.RefreshToken {
		t.Error("second rotation returned the same token")
	}
	if testenv.N(h.SessionItem(t, s.tok.SessionID), "gen") != 2 {
		t.Error("gen is not 2 after two rotations")
	}
}

func TestRefreshSlidesTheIdleDeadlineButNeverTheAbsoluteOne(t *testing.T) {
	t.Parallel()
	const idle, maxAge = time.Hour, 3 * time.Hour
	s := login(t, map[string]string{"REFRESH_TOKEN_TTL": "1h", "SESSION_MAX_AGE": "3h", "ACCESS_TOKEN_TTL": "15m"})
	h := s.h
	start := h.Clock.Now()
	absEnd := start.Add(maxAge)

	check := func(t *testing.T, tok testenv.Tokens, wantIdle time.Time) {
		t.Helper()
		now := h.Clock.Now()
		if tok.SessionExpiresAt != absEnd.UTC().Format(time.RFC3339) {
			t.Errorf("session_expires_at = %s, want the absolute end %s", tok.SessionExpiresAt, absEnd.Format(time.RFC3339))
		}
		if got, want := tok.RefreshExpiresIn, int64(wantIdle.Sub(now)/time.Second); got != want {
			t.Errorf("refresh_expires_in = %d, want %d", got, want)
		}
		wantAccess := min(15*time.Minute, absEnd.Sub(now))
		if got := tok.ExpiresIn; got != int64(wantAccess/time.Second) {
			t.Errorf("expires_in = %d, want %d", got, int64(wantAccess/time.Second))
		}
		if exp := int64(testenv.Claims(t, tok.AccessToken)["exp"].(float64)); exp > absEnd.Unix() {
			t.Errorf("access token exp %d is after the session's absolute end %d", exp, absEnd.Unix())
		}
		it := h.SessionItem(t, s.tok.SessionID)
		if got := testenv.N(it, "idle_exp"); got != wantIdle.Unix() {
			t.Errorf("idle_exp = %d, want %d", got, wantIdle.Unix())
		}
		if got := testenv.N(it, "abs_exp"); got != absEnd.Unix() {
			t.Errorf("abs_exp moved: %d, want %d", got, absEnd.Unix())
		}
		if got, want := testenv.N(it, "ttl"), min(wantIdle.Unix(), absEnd.Unix()); got != want {
			t.Errorf("ttl = %d, want min(idle, absolute) = %d", got, want)
		}
	}

	t.Run("after login the idle deadline is one idle lifetime away", func(t *testing.T) {
		check(t, s.tok, start.Add(idle))
	})
	tok := s.tok
	// Refresh every 50 minutes: the idle deadline slides each time until it meets
	// the absolute one, which it never passes.
	for i, step := range []time.Duration{50 * time.Minute, 100 * time.Minute, 150 * time.Minute, 170 * time.Minute} {
		h.Clock.Set(start.Add(step))
		tok = h.MustRefresh(t, tok.RefreshToken)
		wantIdle := start.Add(step).Add(idle)
		if wantIdle.After(absEnd) {
			wantIdle = absEnd
		}
		t.Run("refresh "+string(rune('1'+i))+" slides the idle deadline, capped at the absolute end", func(t *testing.T) {
			check(t, tok, wantIdle)
		})
	}

	t.Run("at the absolute end the session is over although it was just refreshed", func(t *testing.T) {
		h.Clock.Set(absEnd)
		h.StillStored(t, "s#"+s.tok.SessionID) // the refusal must come from the deadline, not a missing item
		code, _ := h.Refresh(t, tok.RefreshToken)
		wantStatus(t, "refresh at the absolute end", code, http.StatusUnauthorized)
		h.StillStored(t, "s#"+s.tok.SessionID)
	})
}

func TestRefreshFailsAfterEachDeadlineWithTheItemStillPresent(t *testing.T) {
	t.Parallel()
	env := map[string]string{"REFRESH_TOKEN_TTL": "1h", "SESSION_MAX_AGE": "2h", "ACCESS_TOKEN_TTL": "1h"}
	for _, tc := range []struct {
		name string
		// wait is how long after login (with refreshes every 50 minutes until then)
		// the final refresh comes.
		refreshEvery time.Duration
		finalAt      time.Duration
	}{
		{"one second past the idle deadline", 0, time.Hour + time.Second},
		{"exactly at the idle deadline", 0, time.Hour},
		{"past the absolute deadline while refreshed on time", 50 * time.Minute, 2*time.Hour + time.Second},
		{"exactly at the absolute deadline while refreshed on time", 50 * time.Minute, 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := login(t, env)
			h := s.h
			start := h.Clock.Now()
			tok := s.tok
			if tc.refreshEvery > 0 {
				for at := tc.refreshEvery; at < tc.finalAt; at += tc.refreshEvery {
					h.Clock.Set(start.Add(at))
					tok = h.MustRefresh(t, tok.RefreshToken)
				}
			}
			h.Clock.Set(start.Add(tc.finalAt))
			// The item is still there: its ttl is on the harness clock, years ahead
			// of the real time by which DynamoDB Local deletes expired items (within
			// seconds), as real DynamoDB keeps them for a while after their ttl. So
			// the refusal comes from the service's own check of the deadlines.
			h.StillStored(t, "s#"+s.tok.SessionID)
			code, _ := h.Refresh(t, tok.RefreshToken)
			wantStatus(t, "refresh after the deadline", code, http.StatusUnauthorized)
			it := h.StillStored(t, "s#"+s.tok.SessionID)
			if testenv.Has(it, "revoked_at") {
				t.Error("an expired session was marked revoked; expiry should need no write")
			}
			if testenv.N(it, "ttl") > h.Clock.Now().Unix() {
				t.Errorf("ttl %d is in the future of a refused refresh", testenv.N(it, "ttl"))
			}
			// The session's last access token is still inside its JWT lifetime (plus
			// the verifier's leeway) here; the authorizer refuses it from the item.
			if exp := int64(testenv.Claims(t, tok.AccessToken)["exp"].(float64)); h.Clock.Now().Unix() > exp+4 {
				t.Fatalf("test setup: the access token (exp %d) is past its own leeway at %d", exp, h.Clock.Now().Unix())
			}
			wantDenied(t, h, tok.AccessToken)
		})
	}
}

func TestReplayOfThePreviousRefreshToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after time.Duration // time between the rotation and the replay
		ok    bool
	}{
		{"replayed at once is answered with the current token", 0, true},
		{"replayed a second later is answered with the current token", time.Second, true},
		{"replayed exactly at the end of the grace window is answered", 10 * time.Second, true},
		{"replayed a millisecond after the grace window revokes the session", 10*time.Second + time.Millisecond, false},
		{"replayed a day later revokes the session", 24 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := login(t, nil) // REFRESH_REUSE_GRACE defaults to 10s
			h := s.h
			h.Clock.Advance(time.Minute)
			cur := h.MustRefresh(t, s.tok.RefreshToken)
			h.Clock.Advance(tc.after)

			code, replay := h.Refresh(t, s.tok.RefreshToken)
			it := h.SessionItem(t, s.tok.SessionID)
			if tc.ok {
				wantStatus(t, "replay", code, http.StatusOK)
				if replay.RefreshToken != cur.RefreshToken {
					t.Errorf("replay got refresh token %q, want the current one %q (no fork)", replay.RefreshToken, cur.RefreshToken)
				}
				if replay.AccessToken == cur.AccessToken {
					t.Error("replay got the old access token, want a fresh one")
				}
				wantAllowed(t, h, replay.AccessToken)
				if testenv.N(it, "gen") != 1 {
					t.Errorf("gen = %d: the replay rotated again", testenv.N(it, "gen"))
				}
				// The current token still works afterwards.
				h.MustRefresh(t, cur.RefreshToken)
				return
			}
			wantStatus(t, "replay after the grace window", code, http.StatusUnauthorized)
			if !testenv.Has(it, "revoked_at") || testenv.S(it, "revoke_reason") != "refresh_token_reuse" {
				t.Fatalf("session not revoked for reuse: revoke_reason=%q", testenv.S(it, "revoke_reason"))
			}
			code, _ = h.Refresh(t, cur.RefreshToken)
			wantStatus(t, "refresh with the current token after theft", code, http.StatusUnauthorized)
			wantDenied(t, h, s.tok.AccessToken, cur.AccessToken)
		})
	}
}

func TestReplayOfAnOlderRefreshTokenRevokesTheSessionEvenInsideTheGraceWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		rotations   int // rotations after the token that is replayed
		advanceEach time.Duration
	}{
		{"the grandparent at once", 2, 0},
		{"the grandparent a second later", 2, 500 * time.Millisecond},
		{"a token five generations old", 5, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := login(t, nil)
			h := s.h
			tok := s.tok
			var ats []string
			for range tc.rotations {
				h.Clock.Advance(tc.advanceEach)
				tok = h.MustRefresh(t, tok.RefreshToken)
				ats = append(ats, tok.AccessToken)
			}
			code, _ := h.Refresh(t, s.tok.RefreshToken)
			wantStatus(t, "replay of an old token", code, http.StatusUnauthorized)
			if !h.Revoked(t, s.tok.SessionID) {
				t.Fatal("session not revoked")
			}
			code, _ = h.Refresh(t, tok.RefreshToken)
			wantStatus(t, "refresh with the newest token after theft", code, http.StatusUnauthorized)
			wantDenied(t, h, append(ats, s.tok.AccessToken)...)
		})
	}
}

func TestConcurrentRefreshesOfOneTokenAllGetTheSameChild(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	h.Clock.Advance(time.Minute)

	const n = 50
	var wg sync.WaitGroup
	codes := make([]int, n)
	toks := make([]testenv.Tokens, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			codes[i], toks[i] = h.Refresh(t, s.tok.RefreshToken)
		})
	}
	close(start)
	wg.Wait()

	for i := range n {
		if codes[i] != http.StatusOK {
			t.Fatalf("refresh %d: status %d", i, codes[i])
		}
		if toks[i].RefreshToken != toks[0].RefreshToken {
			t.Fatalf("refresh %d got %q, refresh 0 got %q: the session forked", i, toks[i].RefreshToken, toks[0].RefreshToken)
		}
	}
	it := h.SessionItem(t, s.tok.SessionID)
	if testenv.N(it, "gen") != 1 {
		t.Errorf("gen = %d, want exactly one rotation", testenv.N(it, "gen"))
	}
	if testenv.Has(it, "revoked_at") {
		t.Error("concurrent refreshes revoked the session")
	}
	if !sameBytes(testenv.B(it, "cur"), testenv.TokenHash(toks[0].RefreshToken)) {
		t.Error("the stored hash is not the child every caller got")
	}
	// The child every tab got keeps working.
	h.Clock.Advance(time.Minute)
	h.MustRefresh(t, toks[0].RefreshToken)
}

func TestAForgedSecretForARealSessionIsRefusedWithoutRevokingIt(t *testing.T) {
	t.Parallel()
	for _, rotations := range []int{0, 1, 3} {
		t.Run("after "+string(rune('0'+rotations))+" rotations", func(t *testing.T) {
			t.Parallel()
			s := login(t, nil)
			h := s.h
			tok := s.tok
			for range rotations {
				h.Clock.Advance(time.Minute)
				tok = h.MustRefresh(t, tok.RefreshToken)
			}
			// A well-formed token: the real session ID, a made-up 256-bit secret.
			forged := s.tok.SessionID + "." + strings.Repeat("A", 42) + "g"
			code, _ := h.Refresh(t, forged)
			wantStatus(t, "forged secret", code, http.StatusUnauthorized)
			if h.Revoked(t, s.tok.SessionID) {
				t.Fatal("a forged secret revoked the session: anyone who learns a session ID could log its owner out")
			}
			wantAllowed(t, h, tok.AccessToken)
			h.MustRefresh(t, tok.RefreshToken)
		})
	}
	t.Run("tokens that are not a session's are refused", func(t *testing.T) {
		t.Parallel()
		s := login(t, nil)
		for name, tok := range map[string]string{
			"an unknown session":                    "c0QJ3SynIs_ZMtCsSzUWiQ.vCk_SPhKnIM2Wk_rNU9s0X4lvWFYj_tI8b7CDrYogxg",
			"a malformed token":                     "not-a-token",
			"the access token":                      s.tok.AccessToken,
			"a token with a non-canonical encoding": s.tok.RefreshToken[:len(s.tok.RefreshToken)-1] + "h",
			"the session ID alone":                  s.tok.SessionID,
		} {
			code, _ := s.h.Refresh(t, tok)
			if code != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, code)
			}
		}
		if s.h.Revoked(t, s.tok.SessionID) {
			t.Error("a bad token revoked the session")
		}
	})
}

func TestRefreshSucceedsWhenTheSDKRetriesARotationWhoseResponseWasLost(t *testing.T) {
	t.Parallel()
	s := login(t, nil)
	h := s.h
	h.Clock.Advance(time.Minute)

	// The first UpdateItem reaches DynamoDB Local and rotates; its response is lost
	// (connection reset), so the SDK's retryer sends the same request again.
	clear := h.Net.Inject("UpdateItem", 1, testenv.LoseResponse())
	h.Net.ResetCounts()
	code, tok := h.Refresh(t, s.tok.RefreshToken)
	if clear() != 1 {
		t.Fatal("the fault never fired")
	}
	wantStatus(t, "refresh with a lost response", code, http.StatusOK)
	if got := h.Net.Requests("UpdateItem"); got != 2 {
		t.Errorf("UpdateItem sent %d times, want 2 (the lost one and the SDK's retry)", got)
	}
	it := h.SessionItem(t, s.tok.SessionID)
	if testenv.Has(it, "revoked_at") {
		t.Fatal("the SDK's retry was taken for theft: session revoked")
	}
	if testenv.N(it, "gen") != 1 {
		t.Errorf("gen = %d, want 1", testenv.N(it, "gen"))
	}
	if !sameBytes(testenv.B(it, "cur"), testenv.TokenHash(tok.RefreshToken)) {
		t.Error("the returned refresh token is not the stored one")
	}
	h.Clock.Advance(time.Minute)
	h.MustRefresh(t, tok.RefreshToken)
}

func TestARotationWhoseEveryResponseIsLostDoesNotLockTheUserOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		later time.Duration
	}{
		{"retried by the client at once", 0},
		{"retried by the client within the grace window", 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := login(t, nil)
			h := s.h
			h.Clock.Advance(time.Minute)

			// Every attempt rotates in DynamoDB and loses its response: the client
			// gets a 503 while the table already holds the child.
			clear := h.Net.Inject("UpdateItem", -1, testenv.LoseResponse())
			resp := testenv.Call(t, h.App.API.Refresh, testenv.RefreshReq(s.tok.RefreshToken))
			attempts := clear()
			wantStatus(t, "refresh while every response is lost", resp.StatusCode, http.StatusServiceUnavailable)
			if resp.Headers["Retry-After"] == "" {
				t.Error("503 without Retry-After")
			}
			if attempts != 3 {
				t.Errorf("%d attempts, want the retryer's bound of 3", attempts)
			}
			if testenv.N(h.SessionItem(t, s.tok.SessionID), "gen") != 1 {
				t.Fatal("the table did not rotate; the test needs the rotated-but-unreturned state")
			}

			// The fault clears; the client retries with the token it holds.
			h.Clock.Advance(tc.later)
			code, tok := h.Refresh(t, s.tok.RefreshToken)
			wantStatus(t, "the same token once the fault clears", code, http.StatusOK)
			if h.Revoked(t, s.tok.SessionID) {
				t.Fatal("session revoked")
			}
			h.Clock.Advance(time.Minute)
			h.MustRefresh(t, tok.RefreshToken)
		})
	}
}
