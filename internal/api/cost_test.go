package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/example/sessions/internal/testenv"
)

// Costs are measured at the wire: the Meter counts each call's HTTP requests (round
// trips, retries included) and sums the ConsumedCapacity DynamoDB Local reports.
func TestCostsAtTheWire(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	var tok, next testenv.Tokens

	type want struct {
		ops       []string
		maxWrites int
		wcu       float64 // exact, when > 0
	}
	check := func(t *testing.T, name string, got testenv.Usage, w want) {
		t.Helper()
		t.Logf("%s: %s", name, got)
		if !slices.Equal(got.Ops, w.ops) {
			t.Errorf("%s: round trips %v, want %v", name, got.Ops, w.ops)
		}
		if got.Writes > w.maxWrites {
			t.Errorf("%s: %d write operations, want at most %d", name, got.Writes, w.maxWrites)
		}
		if w.wcu > 0 && got.WCU != w.wcu {
			t.Errorf("%s: %.1f WCU, want %.1f", name, got.WCU, w.wcu)
		}
	}

	// A login's first call counts the attempt (a conditional UpdateItem that returns
	// the login record, so there is no read); only a success writes again.
	t.Run("a successful login costs two round trips", func(t *testing.T) {
		got := h.Usage(func() { tok = h.Login(t, u.Name, u.Password) })
		// 1 WCU for the count, 2 x 2 for the transaction's two items and 2 for the
		// session's GSI entry.
		check(t, "login", got, want{ops: []string{"UpdateItem", "TransactWriteItems"}, maxWrites: 2, wcu: 7})
	})
	t.Run("a failed login costs one round trip (the count before the check)", func(t *testing.T) {
		got := h.Usage(func() {
			wantStatus(t, "bad login", testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, "wrong password")), http.StatusUnauthorized)
		})
		check(t, "failed login", got, want{ops: []string{"UpdateItem"}, maxWrites: 1, wcu: 1})
	})
	t.Run("a throttled login costs one refused conditional write", func(t *testing.T) {
		for range 5 {
			testenv.Call(t, h.App.API.Login, testenv.LoginReq("eve", "wrong password"))
		}
		got := h.Usage(func() {
			wantStatus(t, "throttled", testenv.Call(t, h.App.API.Login, testenv.LoginReq("eve", "wrong password")), http.StatusTooManyRequests)
		})
		// The refused UpdateItem reports no capacity; DynamoDB bills it 1 WCU.
		check(t, "throttled login", got, want{ops: []string{"UpdateItem"}, maxWrites: 1})
	})
	t.Run("a refresh costs one UpdateItem and one WCU", func(t *testing.T) {
		h.Clock.Advance(time.Minute)
		got := h.Usage(func() { next = h.MustRefresh(t, tok.RefreshToken) })
		check(t, "refresh", got, want{ops: []string{"UpdateItem"}, maxWrites: 1, wcu: 1})
	})
	t.Run("a replay inside the grace window costs one round trip and writes nothing", func(t *testing.T) {
		before := h.SessionItem(t, tok.SessionID)
		got := h.Usage(func() { h.MustRefresh(t, tok.RefreshToken) })
		// The one UpdateItem fails its condition (no output, so no capacity seen
		// here; DynamoDB bills a failed conditional write 1 WCU).
		check(t, "grace replay", got, want{ops: []string{"UpdateItem"}, maxWrites: 1})
		if after := h.SessionItem(t, tok.SessionID); testenv.N(after, "gen") != testenv.N(before, "gen") {
			t.Error("the replay wrote")
		}
	})
	t.Run("the authorizer costs one round trip and no write", func(t *testing.T) {
		got := h.Usage(func() {
			if !h.Allowed(t, next.AccessToken) {
				t.Fatal("denied")
			}
		})
		check(t, "authorizer", got, want{ops: []string{"BatchGetItem"}})
		if got.RCU > 2 {
			t.Errorf("authorizer: %.1f RCU, want at most 2 (two strongly consistent reads of items under 4 KB)", got.RCU)
		}
	})
	t.Run("a logout costs one round trip", func(t *testing.T) {
		got := h.Usage(func() {
			wantStatus(t, "logout", testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(next.RefreshToken, "")), http.StatusNoContent)
		})
		check(t, "logout", got, want{ops: []string{"UpdateItem"}, maxWrites: 1, wcu: 1})
	})
	t.Run("logging out everywhere costs a fixed set of round trips plus one per session", func(t *testing.T) {
		var toks []testenv.Tokens
		for range 3 {
			toks = append(toks, h.Login(t, u.Name, u.Password))
		}
		got := h.Usage(func() {
			wantStatus(t, "logout all", testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(toks[0].RefreshToken, "all")), http.StatusNoContent)
		})
		t.Logf("logout all with 4 sessions on record (1 already revoked): %s", got)
		// GetSession (own: whose user, which token), GetUser, TransactWriteItems (the
		// bump and the own session's revocation, on condition that it is live), Query
		// (GSI), and one UpdateItem per other listed session (4 on record; the own
		// one is not revoked twice).
		wantOps := []string{"GetItem", "GetItem", "TransactWriteItems", "Query", "UpdateItem", "UpdateItem", "UpdateItem"}
		if !slices.Equal(got.Ops, wantOps) {
			t.Errorf("logout all: %v, want %v", got.Ops, wantOps)
		}
	})
	t.Run("a malformed refresh token costs nothing", func(t *testing.T) {
		got := h.Usage(func() {
			code, _ := h.Refresh(t, "nonsense")
			if code != http.StatusUnauthorized {
				t.Fatalf("status %d", code)
			}
		})
		check(t, "malformed refresh", got, want{})
	})
}
