package session_test

// The failed-login throttle end to end (HTTP handler, service, DynamoDB Local): a
// burst cannot get more guesses checked than the throttle allows, and the schedule
// (count, cool-down, doubling, cap, memory, restart) is exactly the documented one,
// down to the second, on the harness clock.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/ddbmeter"
	"github.com/example/sessions/internal/testenv"
)

// burst releases n logins together (a start gate closed once every goroutine is
// ready) and returns how many answered 401 and 429. Any other answer fails the test.
func burst(t *testing.T, h *testenv.Harness, n int, req events.APIGatewayV2HTTPRequest) (unauthorized, throttled int) {
	t.Helper()
	codes := make([]int, n)
	testenv.Together(n, func(i int) { codes[i] = testenv.Call(t, h.App.API.Login, req).StatusCode })
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			throttled++
		default:
			t.Fatalf("a login of the burst answered %d", c)
		}
	}
	return unauthorized, throttled
}

// checked is how many logins reached the password check and failed it: the service
// logs one "login failed" line for each, and nothing else writes that line.
func checked(h *testenv.Harness) int {
	return strings.Count(h.Logs.String(), `"msg":"login failed"`)
}

func TestABurstOfGuessesReachesThePasswordCheckAtMostMaxFailuresTimes(t *testing.T) {
	t.Parallel()
	for _, known := range []bool{true, false} {
		name := "for an account"
		if !known {
			name = "for a name without an account"
		}
		t.Run(name+", 20 at once get 5 checked, 20 more none, and 20 after the cool-down one", func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			user := "nobody"
			if known {
				user = h.CreateUser(t, "alice", "", "").Name
			}
			req := testenv.LoginReq(user, "wrong password")
			for _, round := range []struct {
				name                 string
				advance              time.Duration
				want401, wantStored  int
				wantCheckedCumulated int
			}{
				{"the first burst", 0, 5, 5, 5},
				{"a second burst at once", 0, 0, 5, 5},
				{"a burst when the 60 s cool-down has passed", time.Minute, 1, 6, 6},
				{"a burst one second before the doubled 120 s cool-down ends", 119 * time.Second, 0, 6, 6},
				{"a burst when the 120 s cool-down has passed", time.Second, 1, 7, 7},
			} {
				h.Clock.Advance(round.advance)
				u, th := burst(t, h, 20, req)
				if u != round.want401 || th != 20-round.want401 {
					t.Errorf("%s: %d x 401 and %d x 429, want %d and %d", round.name, u, th, round.want401, 20-round.want401)
				}
				if got := checked(h); got != round.wantCheckedCumulated {
					t.Errorf("%s: %d guesses reached the password check so far, want %d", round.name, got, round.wantCheckedCumulated)
				}
				if got := testenv.N(h.Item(t, "n#"+user), "fails"); got != int64(round.wantStored) {
					t.Errorf("%s: stored count %d, want %d (one per checked guess)", round.name, got, round.wantStored)
				}
			}
		})
	}
}

// setCount writes a login record's counter as the throttle left it: fails counted
// attempts, the last at last.
func setCount(t *testing.T, h *testenv.Harness, name string, fails int64, last time.Time) {
	t.Helper()
	_, err := h.Raw.UpdateItem(testenv.Ctx(t), &dynamodb.UpdateItemInput{
		TableName:           aws.String(h.Table),
		Key:                 map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "n#" + name}},
		UpdateExpression:    aws.String("SET fails = :f, last_fail = :t"),
		ConditionExpression: aws.String("attribute_exists(uid)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":f": &types.AttributeValueMemberN{Value: strconv.FormatInt(fails, 10)},
			":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(last.Unix(), 10)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// attempt sends one login and checks its answer: 401, or 429 with the Retry-After
// given (seconds).
func attempt(t *testing.T, h *testenv.Harness, user, pw string, want int, retryAfter int) {
	t.Helper()
	resp := testenv.Call(t, h.App.API.Login, testenv.LoginReq(user, pw))
	if resp.StatusCode != want {
		t.Fatalf("login: %d %s, want %d", resp.StatusCode, resp.Body, want)
	}
	if want == http.StatusTooManyRequests {
		if got := resp.Headers["Retry-After"]; got != strconv.Itoa(retryAfter) {
			t.Errorf("Retry-After %q, want %d", got, retryAfter)
		}
	}
}

// The documented schedule: 5 failures, then a cool-down of 60 s from the last one,
// doubled per further failure (120, 240, 480) and capped at 15 min (960 would be
// next), for any count after, however large.
func TestTheCoolDownAfterEachCountIsExact(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	for _, tc := range []struct {
		fails int64
		cool  int // seconds
	}{
		{5, 60}, {6, 120}, {7, 240}, {8, 480}, {9, 900}, {10, 900}, {20, 900}, {21, 900}, {40, 900},
	} {
		for _, at := range []struct {
			name   string
			offset int // seconds after the cool-down ends
		}{{"one second before", -1}, {"at", 0}, {"one second after", 1}} {
			t.Run(strconv.FormatInt(tc.fails, 10)+" failures: "+at.name+" the end of "+strconv.Itoa(tc.cool)+" s", func(t *testing.T) {
				t.Parallel()
				user := "u" + strconv.FormatInt(tc.fails, 10) + "x" + strconv.Itoa(at.offset+1)
				u := h.CreateUser(t, user, "", "")
				last := h.Clock.Now().Add(-time.Duration(tc.cool+at.offset) * time.Second)
				setCount(t, h, user, tc.fails, last)
				if at.offset < 0 {
					// Still cooling down: refused before the check, even for the
					// right password, and nothing is counted.
					attempt(t, h, user, "wrong password", http.StatusTooManyRequests, -at.offset)
					attempt(t, h, user, u.Password, http.StatusTooManyRequests, -at.offset)
					if got := testenv.N(h.Item(t, "n#"+user), "fails"); got != tc.fails {
						t.Errorf("fails = %d after refusals, want %d", got, tc.fails)
					}
					return
				}
				attempt(t, h, user, "wrong password", http.StatusUnauthorized, 0)
				it := h.Item(t, "n#"+user)
				if testenv.N(it, "fails") != tc.fails+1 || testenv.N(it, "last_fail") != h.Clock.Now().Unix() {
					t.Errorf("after the checked guess: fails %d at %d, want %d at %d", testenv.N(it, "fails"), testenv.N(it, "last_fail"), tc.fails+1, h.Clock.Now().Unix())
				}
				// The count it added sets the next cool-down, from now.
				next := min(60<<(tc.fails+1-5), 900)
				attempt(t, h, user, u.Password, http.StatusTooManyRequests, next)
			})
		}
	}
	t.Run("four failures do not throttle; the fifth starts 60 s from itself", func(t *testing.T) {
		t.Parallel()
		u := h.CreateUser(t, "fourfails", "", "")
		setCount(t, h, u.Name, 4, h.Clock.Now().Add(-time.Hour))
		attempt(t, h, u.Name, "wrong password", http.StatusUnauthorized, 0)
		attempt(t, h, u.Name, u.Password, http.StatusTooManyRequests, 60)
	})
}

// Failures are forgotten once the last one is more than 24 h old: at exactly 24 h
// they still count, one second later the count starts over at 1.
func TestFailuresAreForgottenAfterExactly24Hours(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	for _, tc := range []struct {
		name     string
		age      time.Duration
		wantNext int64 // the stored count after one more failure
	}{
		{"one second before 24 h the count goes on", 24*time.Hour - time.Second, 10},
		{"at 24 h the count goes on", 24 * time.Hour, 10},
		{"one second after 24 h the count restarts at 1", 24*time.Hour + time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := h.CreateUser(t, "f"+strconv.Itoa(int(tc.age/time.Second)), "", "")
			setCount(t, h, u.Name, 9, h.Clock.Now().Add(-tc.age))
			attempt(t, h, u.Name, "wrong password", http.StatusUnauthorized, 0)
			if got := testenv.N(h.Item(t, "n#"+u.Name), "fails"); got != tc.wantNext {
				t.Fatalf("fails = %d, want %d", got, tc.wantNext)
			}
			if tc.wantNext == 10 {
				attempt(t, h, u.Name, u.Password, http.StatusTooManyRequests, 900)
				return
			}
			// A restarted count throttles again from the fifth failure on.
			for range 4 {
				attempt(t, h, u.Name, "wrong password", http.StatusUnauthorized, 0)
			}
			attempt(t, h, u.Name, u.Password, http.StatusTooManyRequests, 60)
		})
	}
}

func TestASuccessClearsTheCountAndAFailureAddsToIt(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	for i := range 4 {
		attempt(t, h, u.Name, "wrong password", http.StatusUnauthorized, 0)
		if got := testenv.N(h.Item(t, "n#alice"), "fails"); got != int64(i+1) {
			t.Fatalf("after failure %d: fails = %d", i+1, got)
		}
		h.Clock.Advance(time.Second)
	}
	h.Login(t, u.Name, u.Password)
	it := h.Item(t, "n#alice")
	for _, attr := range []string{"fails", "last_fail", "ttl"} {
		if testenv.Has(it, attr) {
			t.Errorf("%s survives a successful login", attr)
		}
	}
	for range 4 {
		attempt(t, h, u.Name, "wrong password", http.StatusUnauthorized, 0)
	}
	h.Login(t, u.Name, u.Password) // four failures after a reset do not throttle
}

func TestStubsOfUnknownNamesExpireAndAccountsNever(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	for _, name := range []string{"nobody", u.Name} {
		attempt(t, h, name, "wrong password", http.StatusUnauthorized, 0)
	}
	stub := h.Item(t, "n#nobody")
	if v, ok := stub["ttl"].(*types.AttributeValueMemberN); !ok || v.Value != strconv.FormatInt(h.Clock.Now().Add(24*time.Hour).Unix(), 10) {
		t.Errorf("stub ttl = %v, want the number %d", stub["ttl"], h.Clock.Now().Add(24*time.Hour).Unix())
	}
	if testenv.Has(stub, "uid") || testenv.N(stub, "fails") != 1 {
		t.Errorf("stub %v", stub)
	}
	// DynamoDB's TTL deletes only items whose TTL attribute is a Number.
	if _, isNum := h.Item(t, "n#alice")["ttl"].(*types.AttributeValueMemberN); isNum {
		t.Error("an account's login record has a numeric ttl: DynamoDB would delete it")
	}
}

// The login record stays under 1 KB with the longest username (64 three-byte
// characters) and every device an account remembers, so each attempt costs 1 WCU.
func TestALoginRecordWithTheMostDevicesCostsOneWCUPerAttempt(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, strings.Repeat("漢", 64), "", "reader writer admin")
	for range 9 {
		h.Login(t, u.Name, u.Password) // each without a device token: a new device
	}
	it := h.Item(t, "n#"+strings.Repeat("漢", 64))
	devs, _ := it["devs"].(*types.AttributeValueMemberM)
	if devs == nil || len(devs.Value) != 8 {
		t.Fatalf("devices on record: %v, want 8", it["devs"])
	}
	use := h.Usage(func() { attempt(t, h, u.Name, "wrong password", http.StatusUnauthorized, 0) })
	if use.WCU != 1 || use.RoundTrips != 1 {
		t.Errorf("a failed login on the largest record: %s, want 1 round trip, 1 WCU", use)
	}
	if size := ddbmeter.ItemSize(h.Item(t, "n#"+strings.Repeat("漢", 64))); size >= 1024 {
		t.Errorf("login record is %d bytes, want < 1 KB", size)
	}
}
