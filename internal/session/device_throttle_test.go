package session_test

// The device-token side of the throttle, driven through the service itself (the HTTP
// transports of the token are internal/api's tests): an attempt with a valid device
// token is counted, cleared and throttled on that device's own counter, and the
// username's counter is left exactly as the guesser left it.

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testenv"
)

// deviceID is the device a device token names ("d1.<device ID>.<iat>.<uid>.<MAC>").
func deviceID(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 5 {
		t.Fatalf("device token has %d parts, want 5", len(parts))
	}
	return parts[1]
}

// deviceFails is the count a login record holds on one device's counter.
func deviceFails(t *testing.T, h *testenv.Harness, name, id string) int64 {
	t.Helper()
	devs, ok := h.Item(t, "n#"+name)["devs"].(*types.AttributeValueMemberM)
	if !ok {
		t.Fatal("the login record lists no devices")
	}
	d, ok := devs.Value[id].(*types.AttributeValueMemberM)
	if !ok {
		t.Fatalf("the login record does not list device %s", id)
	}
	return testenv.N(d.Value, "f")
}

// lastLine is the last log line with msg, or "".
func lastLine(h *testenv.Harness, msg string) string {
	last := ""
	for _, l := range strings.Split(h.Logs.String(), "\n") {
		if strings.Contains(l, `"msg":"`+msg+`"`) {
			last = l
		}
	}
	return last
}

func TestADeviceTokenMovesTheCountToItsDeviceAndLeavesTheUsernameLocked(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	svc := h.App.Service
	first, err := svc.Login(testenv.Ctx(t), u.Name, u.Password, session.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if first.DeviceToken == "" {
		t.Fatal("a login issued no device token: the harness has no device keys")
	}
	dev := deviceID(t, first.DeviceToken)
	if _, err := svc.Login(testenv.Ctx(t), u.Name, "wrong password", session.Client{}); !errors.Is(err, session.ErrInvalidCredentials) {
		t.Fatalf("wrong password without a device token: %v, want ErrInvalidCredentials", err)
	}
	if line := lastLine(h, "login failed"); strings.Contains(line, `"counter"`) {
		t.Errorf("a failure without a device token is logged on a device counter: %s", line)
	}
	// A guesser has locked the username.
	setCount(t, h, u.Name, 5, h.Clock.Now())

	t.Run("the owner's device signs in while the username is locked, keeping its device ID", func(t *testing.T) {
		g, err := svc.Login(testenv.Ctx(t), u.Name, u.Password, session.Client{DeviceToken: first.DeviceToken})
		if err != nil {
			t.Fatalf("login with the device token: %v", err)
		}
		if got := deviceID(t, g.DeviceToken); got != dev {
			t.Errorf("the new device token names device %s, want the trusted device %s", got, dev)
		}
		if !strings.Contains(lastLine(h, "login succeeded"), `"trusted_device":true`) {
			t.Errorf("login succeeded without trusted_device:true: %s", lastLine(h, "login succeeded"))
		}
	})
	t.Run("the device's success leaves the username's count standing, so the guesser stays locked", func(t *testing.T) {
		if got := testenv.N(h.Item(t, "n#"+u.Name), "fails"); got != 5 {
			t.Errorf("username fails = %d after the device's success, want 5", got)
		}
		_, err := svc.Login(testenv.Ctx(t), u.Name, u.Password, session.Client{})
		var throttled *session.ThrottledError
		if !errors.As(err, &throttled) || throttled.RetryAfter != time.Minute {
			t.Fatalf("login without the token: %v, want throttled for 60 s", err)
		}
	})
	t.Run("the device's wrong passwords count on its counter, and the fifth locks it with its own wait", func(t *testing.T) {
		for i := range 5 {
			_, err := svc.Login(testenv.Ctx(t), u.Name, "wrong password", session.Client{DeviceToken: first.DeviceToken})
			if !errors.Is(err, session.ErrInvalidCredentials) {
				t.Fatalf("wrong password %d with the device token: %v, want ErrInvalidCredentials", i+1, err)
			}
		}
		if line := lastLine(h, "login failed"); !strings.Contains(line, `"counter":"device"`) {
			t.Errorf("the device's failure is not logged on the device counter: %s", line)
		}
		if got := deviceFails(t, h, u.Name, dev); got != 5 {
			t.Errorf("device fails = %d, want 5", got)
		}
		if got := testenv.N(h.Item(t, "n#"+u.Name), "fails"); got != 5 {
			t.Errorf("username fails = %d, want 5 (untouched by the device's attempts)", got)
		}
		_, err := svc.Login(testenv.Ctx(t), u.Name, u.Password, session.Client{DeviceToken: first.DeviceToken})
		var throttled *session.ThrottledError
		if !errors.As(err, &throttled) || throttled.RetryAfter != time.Minute {
			t.Fatalf("sixth attempt with the device token: %v, want throttled for 60 s", err)
		}
		line := lastLine(h, "login throttled")
		if !strings.Contains(line, `"counter":"device"`) || !strings.Contains(line, `"user_id":"`+u.ID+`"`) {
			t.Errorf("the device's throttle is not logged as the device counter of %s: %s", u.ID, line)
		}
	})
}

// A device token lives 180 days from its issue: honoured one second before, ignored
// (the attempt counts on the username, locked here) at 180 days.
func TestADeviceTokenIsHonouredFor180DaysAndNotASecondMore(t *testing.T) {
	t.Parallel()
	const ttl = 180 * 24 * time.Hour
	for _, tc := range []struct {
		name    string
		age     time.Duration
		honored bool
	}{
		{"one second before 180 days the token still moves the count to its device", ttl - time.Second, true},
		{"at 180 days the token is ignored and the locked username throttles", ttl, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := testenv.New(t, testenv.Options{})
			u := h.CreateUser(t, "alice", "", "")
			first, err := h.App.Service.Login(testenv.Ctx(t), u.Name, u.Password, session.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if want := testenv.Epoch.Add(ttl); !first.DeviceExp.Equal(want) {
				t.Errorf("device token expires at %s, want %s (180 days from the login)", first.DeviceExp, want)
			}
			h.Clock.Advance(tc.age)
			setCount(t, h, u.Name, 5, h.Clock.Now())
			_, err = h.App.Service.Login(testenv.Ctx(t), u.Name, u.Password, session.Client{DeviceToken: first.DeviceToken})
			var throttled *session.ThrottledError
			switch {
			case tc.honored && err != nil:
				t.Fatalf("login with a %s old device token: %v, want a session", tc.age, err)
			case !tc.honored && (!errors.As(err, &throttled) || throttled.RetryAfter != time.Minute):
				t.Fatalf("login with a %s old device token: %v, want the username's 60 s throttle", tc.age, err)
			}
			if !tc.honored && !strings.Contains(lastLine(h, "device token ignored"), `"reason":"expired"`) {
				t.Errorf("the expired token is not logged as expired: %s", lastLine(h, "device token ignored"))
			}
		})
	}
}

// An account remembers its 8 most recently seen devices: each login from a new
// device beyond that forgets the least recently seen one, whatever the IDs' order.
func TestEachNewDeviceBeyondEightForgetsTheLeastRecentlySeen(t *testing.T) {
	t.Parallel()
	h := testenv.New(t, testenv.Options{})
	u := h.CreateUser(t, "alice", "", "")
	var seen []string // device IDs, least recently seen first
	for i := range 16 {
		g, err := h.App.Service.Login(testenv.Ctx(t), u.Name, u.Password, session.Client{})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, deviceID(t, g.DeviceToken))
		h.Clock.Advance(time.Second)
		if len(seen) > 8 {
			seen = seen[1:]
		}
		devs, _ := h.Item(t, "n#"+u.Name)["devs"].(*types.AttributeValueMemberM)
		if devs == nil || len(devs.Value) != len(seen) {
			t.Fatalf("after login %d: devices on record %v, want %d", i+1, devs, len(seen))
		}
		for _, id := range seen {
			if _, ok := devs.Value[id]; !ok {
				t.Fatalf("after login %d: device %s, one of the 8 most recently seen, was forgotten", i+1, id)
			}
		}
	}
}
