package api_test

// Device tokens (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): the
// owner of an account signs in from a device that signed in before while a guesser
// keeps the username locked; forged or foreign tokens change nothing; a token that
// keeps failing is locked itself. Every case runs in both transports: the cookie
// (browsers) and the body member (native clients).

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

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/testenv"
)

// transportCase is one way a client carries its device token.
type transportCase struct {
	name   string
	cookie bool
}

var transports = []transportCase{{"with the cookie transport", true}, {"with the body transport", false}}

// loginReq is a login request presenting device ("" for none) as the transport does.
func (tc transportCase) loginReq(user, pw, device string) events.APIGatewayV2HTTPRequest {
	if !tc.cookie {
		body := map[string]string{"username": user, "password": pw}
		if device != "" {
			body["device_token"] = device
		}
		return testenv.Post("/auth/login", body)
	}
	hdrs := []string{api.TransportHeader, "cookie"}
	if device != "" {
		hdrs = append(hdrs, "cookie", api.DeviceCookieName+"="+device)
	}
	return testenv.LoginReq(user, pw, hdrs...)
}

// login sends a login and checks its status; on 200 it returns the device token the
// answer carries (the test fails if there is none).
func (tc transportCase) login(t *testing.T, h *testenv.Harness, user, pw, device string, want int) string {
	t.Helper()
	resp := testenv.Call(t, h.App.API.Login, tc.loginReq(user, pw, device))
	if resp.StatusCode != want {
		t.Fatalf("login: %d %s, want %d", resp.StatusCode, resp.Body, want)
	}
	if want != http.StatusOK {
		if len(resp.Cookies) != 0 {
			t.Errorf("a %d answer set cookies %q", want, resp.Cookies)
		}
		return ""
	}
	return deviceToken(t, tc, resp)
}

// deviceToken returns the device token of a 200 login answer, checking that it came
// only the way the transport says.
func deviceToken(t *testing.T, tc transportCase, resp events.APIGatewayV2HTTPResponse) string {
	t.Helper()
	var tok testenv.Tokens
	testenv.Decode(t, resp, &tok)
	cookies := parseSetCookies(t, resp)
	c, hasCookie := cookies[api.DeviceCookieName]
	switch {
	case tc.cookie && (!hasCookie || tok.DeviceToken != ""):
		t.Fatalf("cookie transport: device cookie %v, body member %q; want the cookie only", hasCookie, tok.DeviceToken)
	case !tc.cookie && (len(cookies) != 0 || tok.DeviceToken == ""):
		t.Fatalf("body transport: cookies %q, body member %q; want the body member only", resp.Cookies, tok.DeviceToken)
	case tc.cookie:
		return c.value
	}
	return tok.DeviceToken
}

// lockOut has a guesser fail 5 times on user (no device token), so that the username
// is cooling down for 60 s.
func lockOut(t *testing.T, h *testenv.Harness, user string) {
	t.Helper()
	for range 5 {
		wantStatus(t, "a guess", testenv.Call(t, h.App.API.Login, testenv.LoginReq(user, "a guess")), http.StatusUnauthorized)
	}
	wantError(t, testenv.Call(t, h.App.API.Login, testenv.LoginReq(user, "a guess")), http.StatusTooManyRequests, "too_many_attempts")
}

// deviceID is the device-ID field of a device token.
func deviceID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 5 {
		t.Fatalf("device token %q is not d1.<device>.<issued>.<uid>.<mac>", tok)
	}
	return parts[1]
}

// devices returns the device map of a login record: device ID -> its f (count), t
// (last counted attempt) and s (last seen) members.
func devices(t *testing.T, h *testenv.Harness, user string) map[string]map[string]int64 {
	t.Helper()
	out := map[string]map[string]int64{}
	m, _ := h.Item(t, "n#"+user)["devs"].(*types.AttributeValueMemberM)
	if m == nil {
		return out
	}
	for id, v := range m.Value {
		e, _ := v.(*types.AttributeValueMemberM)
		if e == nil {
			t.Fatalf("device entry %s is %T", id, v)
		}
		out[id] = map[string]int64{"f": testenv.N(e.Value, "f"), "t": testenv.N(e.Value, "t"), "s": testenv.N(e.Value, "s")}
	}
	return out
}

func usernameFails(t *testing.T, h *testenv.Harness, user string) int64 {
	t.Helper()
	return testenv.N(h.Item(t, "n#"+user), "fails")
}

func TestTheOwnersDeviceSignsInWhileAGuesserKeepsTheUsernameLocked(t *testing.T) {
	t.Parallel()
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, u := newUser(t, nil)
			dev := tc.login(t, h, u.Name, u.Password, "", http.StatusOK)
			lockOut(t, h, u.Name)
			tc.login(t, h, u.Name, u.Password, "", http.StatusTooManyRequests) // no device token: the username's lock
			// With the token from the earlier login, the owner gets in, over and over,
			// keeping the same device ID.
			next := dev
			for range 3 {
				next = tc.login(t, h, u.Name, u.Password, next, http.StatusOK)
				if deviceID(t, next) != deviceID(t, dev) {
					t.Fatalf("a trusted login moved the device from %s to %s", deviceID(t, dev), deviceID(t, next))
				}
			}
			tc.login(t, h, u.Name, u.Password, dev, http.StatusOK) // the first token stays valid too
			if n := len(h.Sessions(t)); n != 5 {
				t.Errorf("%d sessions, want 5", n)
			}
			// The guesser is still locked out: the owner's logins did not clear the
			// username's count, and they added nothing to it.
			if got := usernameFails(t, h, u.Name); got != 5 {
				t.Errorf("username count %d after the owner's device logins, want the guesser's 5", got)
			}
			wantError(t, testenv.Call(t, h.App.API.Login, testenv.LoginReq(u.Name, "a guess")), http.StatusTooManyRequests, "too_many_attempts")
			if d := devices(t, h, u.Name); len(d) != 1 || d[deviceID(t, dev)]["f"] != 0 {
				t.Errorf("devices on record %v, want the one, with no failures", d)
			}
		})
	}
}

func TestForgedAndForeignDeviceTokensAreIgnoredAndCountOnTheUsername(t *testing.T) {
	t.Parallel()
	// edit turns alice's token (and bob's, for the foreign cases) into the one presented.
	type tokens struct{ alice, bob, bobUID string }
	cases := []struct {
		name string
		edit func(tokens) string
	}{
		{"a token with a wrong MAC", func(k tokens) string {
			p := strings.Split(k.alice, ".")
			p[4] = flip(p[4])
			return strings.Join(p, ".")
		}},
		{"another account's token", func(k tokens) string { return k.bob }},
		{"a token with its uid changed to another account's", func(k tokens) string {
			p := strings.Split(k.alice, ".")
			p[3] = k.bobUID
			return strings.Join(p, ".")
		}},
		{"a token with its device ID changed", func(k tokens) string {
			p := strings.Split(k.alice, ".")
			p[1] = flip(p[1])
			return strings.Join(p, ".")
		}},
		{"a token with its issue time changed", func(k tokens) string {
			p := strings.Split(k.alice, ".")
			iat, _ := strconv.ParseInt(p[2], 10, 64)
			p[2] = strconv.FormatInt(iat+1, 10)
			return strings.Join(p, ".")
		}},
		{"a token of another format version", func(k tokens) string { return "d2" + strings.TrimPrefix(k.alice, "d1") }},
		{"garbage", func(tokens) string { return "not-a-device-token" }},
		{"an overlong token", func(k tokens) string { return k.alice + strings.Repeat("A", 4000) }},
	}
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			bob := h.CreateUser(t, "bob", "", "")
			bobTok := tc.login(t, h, bob.Name, bob.Password, "", http.StatusOK)
			for i, c := range cases {
				t.Run(c.name+" gets 429 while the username is locked and counts when it is not", func(t *testing.T) {
					// Two accounts per case: one locked, one not.
					locked := h.CreateUser(t, "locked"+strconv.Itoa(i), "", "")
					open := h.CreateUser(t, "open"+strconv.Itoa(i), "", "")
					// Each case edits a token of its own account, so "alice" is that account.
					for _, acct := range []testenv.User{locked, open} {
						own := tc.login(t, h, acct.Name, acct.Password, "", http.StatusOK)
						forged := c.edit(tokens{alice: own, bob: bobTok, bobUID: bob.ID})
						before := devices(t, h, acct.Name)
						if acct == locked {
							lockOut(t, h, acct.Name)
							// Refused by its MAC before DynamoDB: one round trip, the
							// username's refused count, as without a token.
							use := h.Usage(func() { tc.login(t, h, acct.Name, acct.Password, forged, http.StatusTooManyRequests) })
							if use.RoundTrips != 1 {
								t.Errorf("a forged token cost %s, want the one UpdateItem of an untrusted attempt", use)
							}
							if got := usernameFails(t, h, acct.Name); got != 5 {
								t.Errorf("username count %d, want 5", got)
							}
						} else {
							tc.login(t, h, acct.Name, "a wrong password", forged, http.StatusUnauthorized)
							if got := usernameFails(t, h, acct.Name); got != 1 {
								t.Errorf("username count %d after a wrong password with a forged token, want 1", got)
							}
						}
						if after := devices(t, h, acct.Name); !sameDevices(before, after) {
							t.Errorf("a forged token changed the device records: %v -> %v", before, after)
						}
					}
				})
			}
		})
	}
}

// A record that names another account than the token (the name's account replaced,
// its device map kept: a state the service never writes) does not trust the token:
// the attempt counts on the username.
func TestADeviceTokenOfAReplacedAccountIsUntrusted(t *testing.T) {
	t.Parallel()
	tc := transports[1]
	h, u := newUser(t, nil)
	dev := tc.login(t, h, u.Name, u.Password, "", http.StatusOK)
	_, err := h.Raw.UpdateItem(testenv.Ctx(t), &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.Table),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "n#" + u.Name}},
		UpdateExpression:          aws.String("SET uid = :other"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":other": &types.AttributeValueMemberS{Value: "usr_replacement"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	lockOut(t, h, u.Name)
	tc.login(t, h, u.Name, u.Password, dev, http.StatusTooManyRequests)
	if d := devices(t, h, u.Name)[deviceID(t, dev)]; d["f"] != 0 {
		t.Errorf("the device was counted: %v", d)
	}
}

// flip changes the first character of a base64url string to another one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func sameDevices(a, b map[string]map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for id, e := range a {
		for k, v := range e {
			if b[id][k] != v {
				return false
			}
		}
	}
	return true
}

func TestADeviceThatKeepsFailingIsLockedItself(t *testing.T) {
	t.Parallel()
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, u := newUser(t, nil)
			dev := tc.login(t, h, u.Name, u.Password, "", http.StatusOK)
			id := deviceID(t, dev)
			for i := range 5 {
				tc.login(t, h, u.Name, "a wrong password", dev, http.StatusUnauthorized)
				if got := devices(t, h, u.Name)[id]["f"]; got != int64(i+1) {
					t.Fatalf("after device failure %d: device count %d", i+1, got)
				}
			}
			// Locked for 60 s from its fifth failure, even with the right password.
			resp := testenv.Call(t, h.App.API.Login, tc.loginReq(u.Name, u.Password, dev))
			wantError(t, resp, http.StatusTooManyRequests, "too_many_attempts")
			wantHeader(t, resp, "Retry-After", "60")
			// Its failures are its own: the username was never counted, so a login
			// without the token is not throttled.
			if got := usernameFails(t, h, u.Name); got != 0 {
				t.Errorf("username count %d after device failures, want 0", got)
			}
			h.Clock.Advance(59 * time.Second)
			tc.login(t, h, u.Name, u.Password, dev, http.StatusTooManyRequests)
			h.Clock.Advance(time.Second)
			// At 60 s one more guess is checked, and the next cool-down doubles.
			tc.login(t, h, u.Name, "a wrong password", dev, http.StatusUnauthorized)
			resp = testenv.Call(t, h.App.API.Login, tc.loginReq(u.Name, u.Password, dev))
			wantHeader(t, resp, "Retry-After", "120")
			h.Clock.Advance(120 * time.Second)
			// After it, the right password signs in and the device's count restarts.
			tc.login(t, h, u.Name, u.Password, dev, http.StatusOK)
			if got := devices(t, h, u.Name)[id]["f"]; got != 0 {
				t.Errorf("device count %d after its success, want 0", got)
			}
			for range 4 {
				tc.login(t, h, u.Name, "a wrong password", dev, http.StatusUnauthorized)
			}
			tc.login(t, h, u.Name, u.Password, dev, http.StatusOK)
		})
	}
}

func TestABurstOnOneDeviceTokenGetsAtMostFiveGuessesChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range transports {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, u := newUser(t, nil)
			dev := tc.login(t, h, u.Name, u.Password, "", http.StatusOK)
			req := tc.loginReq(u.Name, "a wrong password", dev)
			codes := make([]int, 20)
			testenv.Together(len(codes), func(i int) { codes[i] = testenv.Call(t, h.App.API.Login, req).StatusCode })
			count := map[int]int{}
			for _, c := range codes {
				count[c]++
			}
			if count[http.StatusUnauthorized] != 5 || count[http.StatusTooManyRequests] != 15 {
				t.Errorf("answers %v, want 5 x 401 and 15 x 429", count)
			}
			if got := devices(t, h, u.Name)[deviceID(t, dev)]["f"]; got != 5 {
				t.Errorf("device count %d, want 5", got)
			}
			if got := usernameFails(t, h, u.Name); got != 0 {
				t.Errorf("username count %d, want 0", got)
			}
		})
	}
}

// The MAC keys derive from the private signing key set: a token stays valid while the
// key that made it is in the set (added, promoted) and stops when it is retired. New
// tokens come from the signing key.
func TestDeviceTokensFollowTheSigningKeySet(t *testing.T) {
	t.Parallel()
	tc := transports[0]
	h, u := newUser(t, nil)
	oldTok := tc.login(t, h, u.Name, u.Password, "", http.StatusOK)
	newPEM, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := keys.Parse(append(append([]byte{}, newPEM...), h.PEM...)) // the new key signs, the old one stays
	if err != nil {
		t.Fatal(err)
	}
	retired, err := keys.Parse(newPEM)
	if err != nil {
		t.Fatal(err)
	}
	lockOut(t, h, u.Name)
	h.App.Signing.Store(promoted)
	newTok := tc.login(t, h, u.Name, u.Password, oldTok, http.StatusOK)
	h.App.Signing.Store(retired)
	tc.login(t, h, u.Name, u.Password, newTok, http.StatusOK)
	tc.login(t, h, u.Name, u.Password, oldTok, http.StatusTooManyRequests)
}

func TestDeviceTokensLive180Days(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		age  time.Duration
		want int
	}{
		{"one second before 180 days a token is trusted", 180*24*time.Hour - time.Second, http.StatusOK},
		{"at 180 days a token has expired", 180 * 24 * time.Hour, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := transports[1]
			h, u := newUser(t, nil)
			dev := tr.login(t, h, u.Name, u.Password, "", http.StatusOK)
			h.Clock.Advance(tc.age)
			lockOut(t, h, u.Name)
			tr.login(t, h, u.Name, u.Password, dev, tc.want)
		})
	}
}

func TestAnAccountRemembersItsEightMostRecentlySeenDevices(t *testing.T) {
	t.Parallel()
	tc := transports[1]
	h, u := newUser(t, nil)
	var toks []string
	for range 9 {
		toks = append(toks, tc.login(t, h, u.Name, u.Password, "", http.StatusOK))
		h.Clock.Advance(time.Second)
	}
	d := devices(t, h, u.Name)
	if _, ok := d[deviceID(t, toks[0])]; ok || len(d) != 8 {
		t.Fatalf("%d devices on record (first one kept: %v), want the 8 most recent", len(d), ok)
	}
	// A trusted login is seen again: it adds no device and is now the most recent.
	tc.login(t, h, u.Name, u.Password, toks[1], http.StatusOK)
	h.Clock.Advance(time.Second)
	tc.login(t, h, u.Name, u.Password, "", http.StatusOK) // a tenth device pushes out the third
	d = devices(t, h, u.Name)
	_, second := d[deviceID(t, toks[1])]
	_, third := d[deviceID(t, toks[2])]
	if len(d) != 8 || !second || third {
		t.Errorf("%d devices, second kept %v, third kept %v; want 8, the second (seen again) and not the third", len(d), second, third)
	}
	lockOut(t, h, u.Name)
	tc.login(t, h, u.Name, u.Password, toks[2], http.StatusTooManyRequests) // forgotten: untrusted
	tc.login(t, h, u.Name, u.Password, toks[1], http.StatusOK)
}

func TestTheDeviceTokenTravelsAsItsTransportSays(t *testing.T) {
	t.Parallel()
	h, u := newUser(t, nil)
	t.Run("the cookie transport sets an HttpOnly, Secure, SameSite=Strict cookie for the login route only", func(t *testing.T) {
		resp := testenv.Call(t, h.App.API.Login, transports[0].loginReq(u.Name, u.Password, ""))
		wantStatus(t, "login", resp, http.StatusOK)
		c := parseSetCookies(t, resp)[api.DeviceCookieName]
		for attr, want := range map[string]string{
			"httponly": "", "secure": "", "samesite": "Strict", "path": "/auth/login", "max-age": strconv.Itoa(180 * 24 * 3600),
		} {
			if got, ok := c.attrs[attr]; !ok || got != want {
				t.Errorf("device cookie attribute %s = %q (present %v), want %q", attr, got, ok, want)
			}
		}
		if _, ok := c.attrs["domain"]; ok {
			t.Error("device cookie has a Domain attribute")
		}
		if !strings.HasPrefix(api.DeviceCookieName, "__Secure-") {
			t.Errorf("cookie name %q lacks the __Secure- prefix", api.DeviceCookieName)
		}
		parts := strings.Split(c.value, ".")
		if len(parts) != 5 || parts[0] != "d1" || len(parts[1]) != 22 || parts[2] != strconv.FormatInt(h.Clock.Now().Unix(), 10) ||
			parts[3] != u.ID || len(parts[4]) != 43 || strings.Contains(c.value, u.Name) {
			t.Errorf("device token %q is not d1.<22-char device>.<issued now>.<uid>.<43-char MAC>", c.value)
		}
	})
	t.Run("the body transport answers with a device_token member and no cookie", func(t *testing.T) {
		transports[1].login(t, h, u.Name, u.Password, "", http.StatusOK)
	})
	t.Run("the cookie transport refuses a device token in the body", func(t *testing.T) {
		req := testenv.Post("/auth/login", map[string]string{"username": u.Name, "password": u.Password, "device_token": "x"},
			api.TransportHeader, "cookie")
		e := wantError(t, testenv.Call(t, h.App.API.Login, req), http.StatusBadRequest, "invalid_request")
		if !strings.Contains(e.Message, "device token") {
			t.Errorf("message %q does not say what was refused", e.Message)
		}
	})
	t.Run("a device_token that is not a string is refused", func(t *testing.T) {
		req := testenv.Post("/auth/login", `{"username":"alice","password":"x","device_token":5}`)
		wantError(t, testenv.Call(t, h.App.API.Login, req), http.StatusBadRequest, "invalid_request")
	})
	t.Run("the body transport ignores a device cookie", func(t *testing.T) {
		other := h.CreateUser(t, "carol", "", "")
		dev := transports[0].login(t, h, other.Name, other.Password, "", http.StatusOK)
		lockOut(t, h, other.Name)
		req := testenv.LoginReq(other.Name, other.Password, "cookie", api.DeviceCookieName+"="+dev)
		wantError(t, testenv.Call(t, h.App.API.Login, req), http.StatusTooManyRequests, "too_many_attempts")
	})
	t.Run("a refresh sets no device cookie", func(t *testing.T) {
		resp := testenv.Call(t, h.App.API.Login, transports[0].loginReq(u.Name, u.Password, ""))
		rt := parseSetCookie(t, resp).value
		h.Clock.Advance(time.Minute)
		resp = testenv.Call(t, h.App.API.Refresh, testenv.Post("/auth/refresh", nil, api.TransportHeader, "cookie", "cookie", api.CookieName+"="+rt))
		wantStatus(t, "refresh", resp, http.StatusOK)
		if _, ok := parseSetCookies(t, resp)[api.DeviceCookieName]; ok || strings.Contains(resp.Body, "device_token") {
			t.Errorf("a refresh answered with a device token: %q %s", resp.Cookies, resp.Body)
		}
	})
}
