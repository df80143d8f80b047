package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddbmeter"
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
		// 1 WCU for the count and the transaction's two items (the new session, the
		// login record with its list), each under 1 KB: DynamoDB Local reports 1 WCU
		// per transactional item, DynamoDB bills 2 (BENCHMARKS.md uses the billing
		// rules: 5 WCU). No index: nothing else is written.
		check(t, "login", got, want{ops: []string{"UpdateItem", "TransactWriteItems"}, maxWrites: 2, wcu: 3})
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
		check(t, "authorizer", got, want{ops: []string{"GetItem"}})
		if got.RCU != 1 {
			t.Errorf("authorizer: %.1f RCU, want 1 (one strongly consistent read of one item under 4 KB)", got.RCU)
		}
	})
	t.Run("a logout costs one round trip", func(t *testing.T) {
		got := h.Usage(func() {
			wantStatus(t, "logout", testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(next.RefreshToken, "")), http.StatusNoContent)
		})
		check(t, "logout", got, want{ops: []string{"UpdateItem"}, maxWrites: 1, wcu: 1})
	})
	var toks []testenv.Tokens
	t.Run("listing the sessions costs three reads", func(t *testing.T) {
		for range 3 {
			toks = append(toks, h.Login(t, u.Name, u.Password))
		}
		got := h.Usage(func() {
			if n := len(h.ListSessions(t, toks[0].AccessToken)); n != 3 {
				t.Errorf("%d sessions listed, want 3", n)
			}
		})
		// The authorizer's GetItem, then the user's token record (GetItem), the login
		// record with the list (GetItem, consistent), the listed sessions (one
		// consistent BatchGetItem of the 4 listed: the one logged out above, 3 live).
		if want := []string{"GetItem", "GetItem", "GetItem", "BatchGetItem"}; !slices.Equal(got.Ops, want) || got.Writes != 0 {
			t.Errorf("list sessions: %s, want %v and no write", got, want)
		}
		if got.RCU != 1+1+1+4 {
			t.Errorf("list sessions: %.1f RCU, want 7 (1 per item read, strongly consistent)", got.RCU)
		}
	})
	t.Run("signing out one session costs one conditional UpdateItem", func(t *testing.T) {
		got := h.Usage(func() {
			if code := h.SignOut(t, toks[0].AccessToken, toks[2].SessionID); code != http.StatusNoContent {
				t.Fatalf("sign out: %d", code)
			}
		})
		if want := []string{"GetItem", "UpdateItem"}; !slices.Equal(got.Ops, want) || got.WCU != 1 {
			t.Errorf("sign out: %s, want %v (the authorizer's read, then 1 WCU)", got, want)
		}
	})
	t.Run("logging out everywhere costs four round trips, one transaction", func(t *testing.T) {
		got := h.Usage(func() {
			wantStatus(t, "logout all", testenv.Call(t, h.App.API.Logout, testenv.LogoutReq(toks[0].RefreshToken, "all")), http.StatusNoContent)
		})
		// GetSession (own: whose user, which token), the login record, the listed
		// sessions, then one transaction: both user records and the live sessions.
		wantOps := []string{"GetItem", "GetItem", "BatchGetItem", "TransactWriteItems"}
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

// At the session limit a login reads the listed sessions (the one extra round trip) and
// ends the least recently used in its own transaction.
func TestALoginAtTheSessionLimitCostsOneMoreRead(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, map[string]string{"MAX_SESSIONS_PER_USER": "2"})
	h.Login(t, u.Name, u.Password)
	h.Login(t, u.Name, u.Password)
	got := h.Usage(func() { h.Login(t, u.Name, u.Password) })
	t.Logf("login at the limit: %s", got)
	if want := []string{"UpdateItem", "BatchGetItem", "TransactWriteItems"}; !slices.Equal(got.Ops, want) {
		t.Errorf("login at the limit: %v, want %v", got.Ops, want)
	}
	if got.RCU != 2 {
		t.Errorf("login at the limit: %.1f RCU, want 2 (the two listed sessions, strongly consistent)", got.RCU)
	}
}

// A user's login record at the default session limit, with every trusted device
// remembered, stays under 4 KB (the bound; docs/design.md says 2 KB), and a
// session item with the largest client fields under 1 KB.
func TestRecordSizesAtTheSessionLimit(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	long := strings.Repeat("Mozilla/5.0 ", 40)
	var last testenv.Tokens
	for range config.DefaultMaxSessionsPerUser {
		resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, u.Password, "user-agent", long))
		wantStatus(t, "login", resp, http.StatusOK)
		testenv.Decode(t, resp, &last)
	}
	rec := h.Item(t, "n#"+u.Name)
	devs, _ := rec["devs"].(*types.AttributeValueMemberM)
	listed, _ := rec["ss"].(*types.AttributeValueMemberM)
	if devs == nil || len(devs.Value) != 8 || listed == nil || len(listed.Value) != config.DefaultMaxSessionsPerUser {
		t.Fatalf("the record does not hold 8 devices and %d sessions: %v", config.DefaultMaxSessionsPerUser, rec)
	}
	size := ddbmeter.ItemSize(rec)
	t.Logf("login record with %d sessions and 8 devices: %d bytes", len(listed.Value), size)
	if size >= 2048 {
		t.Errorf("login record is %d bytes, want < 2 KB (documented) and so < 4 KB", size)
	}
	h.Clock.Advance(time.Minute)
	next := h.MustRefresh(t, last.RefreshToken)
	if size := ddbmeter.ItemSize(h.SessionItem(t, next.SessionID)); size >= 1024 {
		t.Errorf("session item is %d bytes, want < 1 KB", size)
	}
}
