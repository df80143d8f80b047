package audit_test

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sessions/internal/audit"
	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testddb"
	"github.com/example/sessions/internal/testenv"
)

func TestMain(m *testing.M) { testddb.Main(m) }

// want is one audit event a trigger must write.
type want struct {
	event  audit.Event
	userID string
	sid    string // the whole session ID; the line holds its prefix
	client bool   // source IP and user agent are the request's (testenv.Request's)
	reason string
}

// flow is one case: a harness, a user, and every secret the case handled.
type flow struct {
	t       *testing.T
	h       *testenv.Harness
	u       testenv.User
	secrets map[string]string
}

func (f *flow) secret(what, s string) {
	if s != "" {
		f.secrets[what] = s
	}
}

// login logs u in through the API and keeps the tokens as secrets.
func (f *flow) login(u testenv.User) testenv.Tokens {
	tok := f.h.Login(f.t, u.Name, u.Password)
	f.keep(tok)
	return tok
}

func (f *flow) keep(tok testenv.Tokens) {
	n := len(f.secrets)
	f.secret("access token "+string(rune('a'+n)), tok.AccessToken)
	if parts := strings.Split(tok.AccessToken, "."); len(parts) == 3 {
		f.secret("access token signature "+string(rune('a'+n)), parts[2])
	}
	f.secret("refresh token "+string(rune('a'+n)), tok.RefreshToken)
	if _, s, ok := strings.Cut(tok.RefreshToken, "."); ok {
		f.secret("refresh secret "+string(rune('a'+n)), s)
	}
	f.secret("device token "+string(rune('a'+n)), tok.DeviceToken)
}

func (f *flow) status(body any, code, want int) {
	f.t.Helper()
	if code != want {
		f.t.Fatalf("status %d, want %d (%v)", code, want, body)
	}
}

// user makes another account, its password a secret.
func (f *flow) user(name string) testenv.User {
	u := f.h.CreateUser(f.t, name, "", "")
	f.secret("password of "+name, u.Password)
	return u
}

// Every audit event, triggered the way it happens, writes one line whose audit object
// has exactly the schema's keys and types, says who, which session, from where and
// why, and holds no token, password or hash. Events are listed in the order written.
func TestEveryAuditEventFollowsTheSchema(t *testing.T) {
	t.Parallel()
	const newPassword = "a brand new passphrase"
	tests := []struct {
		name string
		env  map[string]string
		run  func(f *flow) []want
	}{
		{"a login", nil, func(f *flow) []want {
			tok := f.login(f.u)
			return []want{{event: audit.Login, userID: f.u.ID, sid: tok.SessionID, client: true}}
		}},
		{"a wrong password", nil, func(f *flow) []want {
			f.secret("wrong password", "not the password")
			r := testenv.Call(f.t, f.h.App.API.Login, testenv.LoginReq(f.u.Name, "not the password"))
			f.status(r.Body, r.StatusCode, http.StatusUnauthorized)
			return []want{{event: audit.LoginFailed, userID: f.u.ID, client: true, reason: session.FailWrongPassword}}
		}},
		{"an unknown user", nil, func(f *flow) []want {
			f.secret("mallory's guess", "mallory's guess")
			r := testenv.Call(f.t, f.h.App.API.Login, testenv.LoginReq("mallory", "mallory's guess"))
			f.status(r.Body, r.StatusCode, http.StatusUnauthorized)
			return []want{{event: audit.LoginFailed, client: true, reason: session.FailUnknownUser}}
		}},
		{"a disabled user's right password", nil, func(f *flow) []want {
			if _, err := f.h.App.Service.SetDisabled(testenv.Ctx(f.t), f.u.ID, true); err != nil {
				f.t.Fatal(err)
			}
			f.h.Logs.Reset()
			r := testenv.Call(f.t, f.h.App.API.Login, testenv.LoginReq(f.u.Name, f.u.Password))
			f.status(r.Body, r.StatusCode, http.StatusUnauthorized)
			return []want{{event: audit.LoginFailed, userID: f.u.ID, client: true, reason: session.FailUserDisabled}}
		}},
		{"a throttled login", nil, func(f *flow) []want {
			f.secret("guess", "a guess")
			for range 5 {
				testenv.Call(f.t, f.h.App.API.Login, testenv.LoginReq(f.u.Name, "a guess"))
			}
			f.h.Logs.Reset()
			r := testenv.Call(f.t, f.h.App.API.Login, testenv.LoginReq(f.u.Name, f.u.Password))
			f.status(r.Body, r.StatusCode, http.StatusTooManyRequests)
			return []want{{event: audit.LoginThrottled, userID: f.u.ID, client: true, reason: session.ThrottledUsername}}
		}},
		{"a refresh token replayed after the grace window", nil, func(f *flow) []want {
			tok := f.login(f.u)
			f.keep(f.h.MustRefresh(f.t, tok.RefreshToken))
			f.h.Clock.Advance(11 * time.Second)
			f.h.Logs.Reset()
			code, _ := f.h.Refresh(f.t, tok.RefreshToken)
			f.status(nil, code, http.StatusUnauthorized)
			return []want{{event: audit.RefreshReuse, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReuseAfterGrace}}
		}},
		{"an older refresh token at a logout", nil, func(f *flow) []want {
			tok := f.login(f.u)
			next := f.h.MustRefresh(f.t, tok.RefreshToken)
			f.keep(next)
			f.keep(f.h.MustRefresh(f.t, next.RefreshToken))
			f.h.Logs.Reset()
			f.status(nil, f.h.Logout(f.t, tok.RefreshToken, ""), http.StatusNoContent)
			return []want{{event: audit.RefreshReuse, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReuseAtLogout}}
		}},
		{"an older refresh token at a logout everywhere", nil, func(f *flow) []want {
			tok := f.login(f.u)
			next := f.h.MustRefresh(f.t, tok.RefreshToken)
			f.keep(next)
			f.keep(f.h.MustRefresh(f.t, next.RefreshToken))
			f.h.Logs.Reset()
			f.status(nil, f.h.Logout(f.t, tok.RefreshToken, "all"), http.StatusNoContent)
			return []want{
				{event: audit.RefreshReuse, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReuseAtLogoutAll},
				{event: audit.LogoutAll, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReasonLogoutAll},
			}
		}},
		{"an older refresh token at a logout of the other sessions", nil, func(f *flow) []want {
			tok := f.login(f.u)
			next := f.h.MustRefresh(f.t, tok.RefreshToken)
			f.keep(next)
			f.keep(f.h.MustRefresh(f.t, next.RefreshToken))
			f.h.Logs.Reset()
			f.status(nil, f.h.Logout(f.t, tok.RefreshToken, "others"), http.StatusNoContent)
			return []want{{event: audit.RefreshReuse, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReuseAtLogoutOthers}}
		}},
		{"a logout", nil, func(f *flow) []want {
			tok := f.login(f.u)
			f.h.Logs.Reset()
			f.status(nil, f.h.Logout(f.t, tok.RefreshToken, ""), http.StatusNoContent)
			return []want{{event: audit.Logout, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReasonLogout}}
		}},
		{"a logout of the other sessions", nil, func(f *flow) []want {
			tok, _ := f.login(f.u), f.login(f.u)
			f.h.Logs.Reset()
			f.status(nil, f.h.Logout(f.t, tok.RefreshToken, "others"), http.StatusNoContent)
			return []want{{event: audit.LogoutOthers, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReasonLogoutOthers}}
		}},
		{"a logout everywhere", nil, func(f *flow) []want {
			tok := f.login(f.u)
			f.h.Logs.Reset()
			f.status(nil, f.h.Logout(f.t, tok.RefreshToken, "all"), http.StatusNoContent)
			return []want{{event: audit.LogoutAll, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReasonLogoutAll}}
		}},
		{"a password change", nil, func(f *flow) []want {
			tok := f.login(f.u)
			f.secret("new password", newPassword)
			f.h.Logs.Reset()
			r := f.h.ChangePassword(f.t, tok.AccessToken, f.u.Password, newPassword)
			f.status(r.Body, r.StatusCode, http.StatusOK)
			var next testenv.Tokens
			testenv.Decode(f.t, r, &next)
			f.keep(next)
			return []want{{event: audit.PasswordChanged, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.ReasonPasswordChange}}
		}},
		{"a wrong current password in a session", nil, func(f *flow) []want {
			tok := f.login(f.u)
			f.secret("wrong current password", "not the password")
			f.secret("new password", newPassword)
			f.h.Logs.Reset()
			r := f.h.ChangePassword(f.t, tok.AccessToken, "not the password", newPassword)
			f.status(r.Body, r.StatusCode, http.StatusUnauthorized)
			return []want{{event: audit.LoginFailed, userID: f.u.ID, sid: tok.SessionID, client: true, reason: session.FailWrongPassword}}
		}},
		{"a login beyond the session limit", map[string]string{"MAX_SESSIONS_PER_USER": "1"}, func(f *flow) []want {
			first := f.login(f.u)
			f.h.Logs.Reset()
			second := f.login(f.u)
			return []want{
				{event: audit.SessionEvicted, userID: f.u.ID, sid: first.SessionID, client: true, reason: session.ReasonEvicted},
				{event: audit.Login, userID: f.u.ID, sid: second.SessionID, client: true},
			}
		}},
		{"a device signed out from the list", nil, func(f *flow) []want {
			tok, other := f.login(f.u), f.login(f.u)
			f.h.Logs.Reset()
			f.status(nil, f.h.SignOut(f.t, tok.AccessToken, other.SessionID), http.StatusNoContent)
			return []want{{event: audit.SessionSignedOut, userID: f.u.ID, sid: other.SessionID, client: true, reason: session.ReasonSignedOut}}
		}},
		{"a reauthentication", nil, func(f *flow) []want {
			tok := f.login(f.u)
			f.h.Logs.Reset()
			r := f.h.Reauthenticate(f.t, tok.AccessToken, f.u.Password)
			f.status(r.Body, r.StatusCode, http.StatusOK)
			var next testenv.Tokens
			testenv.Decode(f.t, r, &next)
			f.keep(next)
			return []want{{event: audit.Reauthenticated, userID: f.u.ID, sid: tok.SessionID, client: true}}
		}},
		// What sessionctl does, through the service it runs (sessionctl's own wiring
		// is tested in internal/admin, key rotation with it).
		{"an account created", nil, func(f *flow) []want {
			u := f.user("bob")
			return []want{{event: audit.UserCreated, userID: u.ID}}
		}},
		{"an account disabled", nil, func(f *flow) []want {
			f.login(f.u)
			f.h.Logs.Reset()
			if _, err := f.h.App.Service.SetDisabled(testenv.Ctx(f.t), f.u.ID, true); err != nil {
				f.t.Fatal(err)
			}
			return []want{{event: audit.UserDisabled, userID: f.u.ID, reason: session.ReasonUserDisabled}}
		}},
		{"an account enabled", nil, func(f *flow) []want {
			if _, err := f.h.App.Service.SetDisabled(testenv.Ctx(f.t), f.u.ID, true); err != nil {
				f.t.Fatal(err)
			}
			f.h.Logs.Reset()
			if _, err := f.h.App.Service.SetDisabled(testenv.Ctx(f.t), f.u.ID, false); err != nil {
				f.t.Fatal(err)
			}
			return []want{{event: audit.UserEnabled, userID: f.u.ID}}
		}},
		{"a password set by an administrator", nil, func(f *flow) []want {
			f.secret("new password", newPassword)
			if err := f.h.App.Service.SetPassword(testenv.Ctx(f.t), f.u.ID, newPassword); err != nil {
				f.t.Fatal(err)
			}
			return []want{{event: audit.PasswordReset, userID: f.u.ID, reason: session.ReasonPasswordChange}}
		}},
		{"every session of a user revoked by an administrator", nil, func(f *flow) []want {
			f.login(f.u)
			f.h.Logs.Reset()
			if _, err := f.h.App.Service.RevokeUser(testenv.Ctx(f.t), f.u.ID, "", session.ReasonAdminRevoke); err != nil {
				f.t.Fatal(err)
			}
			return []want{{event: audit.AdminRevoke, userID: f.u.ID, reason: session.ReasonAdminRevoke}}
		}},
		{"one session revoked by an administrator", nil, func(f *flow) []want {
			tok := f.login(f.u)
			f.h.Logs.Reset()
			if _, err := f.h.App.Service.RevokeSession(testenv.Ctx(f.t), tok.SessionID, session.ReasonAdminRevoke); err != nil {
				f.t.Fatal(err)
			}
			return []want{{event: audit.AdminRevoke, userID: f.u.ID, sid: tok.SessionID, reason: session.ReasonAdminRevoke}}
		}},
	}
	var mu sync.Mutex
	covered := map[audit.Event]bool{audit.KeyRotated: true} // sessionctl keys: internal/admin
	reasons := map[string]bool{}
	t.Run("each case", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name+" writes its events by the schema", func(t *testing.T) {
				t.Parallel()
				h := testenv.New(t, testenv.Options{Env: tc.env})
				f := &flow{t: t, h: h, secrets: map[string]string{}}
				f.u = f.user("alice")
				h.Logs.Reset()
				wants := tc.run(f)
				mu.Lock()
				for _, w := range wants {
					covered[w.event] = true
					if w.reason != "" {
						reasons[w.reason] = true
					}
				}
				mu.Unlock()
				lines := auditLines(t, h.Logs.String())
				var got []audit.Line
				for _, l := range lines {
					line, _, err := audit.Decode([]byte(l))
					if err != nil {
						t.Fatalf("%v\n%s", err, l)
					}
					got = append(got, line)
				}
				if len(got) != len(wants) {
					t.Fatalf("%d audit lines, want %d:\n%s", len(got), len(wants), strings.Join(lines, "\n"))
				}
				for i, w := range wants {
					g := got[i]
					sid := w.sid
					if len(sid) > audit.SessionPrefixLen {
						sid = sid[:audit.SessionPrefixLen]
					}
					ip, ua := "", ""
					if w.client {
						ip, ua = "203.0.113.7", "testenv/1.0" // testenv.Request's
					}
					at := h.Clock.Now().UTC().Format(audit.TimeFormat)
					if g.Event != w.event || g.UserID != w.userID || g.SessionIDPrefix != sid || g.SourceIP != ip ||
						g.UserAgent != ua || g.Reason != w.reason || g.Time != at {
						t.Errorf("line %d is %+v\nwant event %s user %q session %q ip %q agent %q reason %q time %s",
							i, g, w.event, w.userID, sid, ip, ua, w.reason, at)
					}
				}
				// The table's secrets too: password hashes and refresh-token hashes.
				for _, it := range h.Scan(t) {
					if hash := testenv.S(it, "pwhash"); hash != "" {
						f.secret("a password hash", hash)
						parts := strings.Split(hash, "$")
						f.secret("a password hash's key", parts[len(parts)-1])
						f.secret("a password hash's salt", parts[len(parts)-2])
					}
					for _, attr := range []string{"cur", "prev"} {
						if b := testenv.B(it, attr); b != nil {
							f.secret(attr+" hash (hex)", hex.EncodeToString(b))
							f.secret(attr+" hash (base64)", base64.StdEncoding.EncodeToString(b))
							f.secret(attr+" hash (base64url)", base64.RawURLEncoding.EncodeToString(b))
						}
					}
				}
				f.secret("signing key", strings.Split(h.PEM, "\n")[1])
				all := strings.Join(lines, "\n")
				for what, s := range f.secrets {
					if strings.Contains(all, s) {
						t.Errorf("an audit line holds %s", what)
					}
				}
			})
		}
	})
	// The parallel cases have all finished here.
	root, err := samtemplate.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range audit.Events {
		if !covered[e] {
			t.Errorf("no case triggers %s", e)
		}
		if !strings.Contains(string(doc), "| `"+string(e)+"` |") {
			t.Errorf("docs/operations.md has no row for the event %s", e)
		}
	}
	for r := range reasons {
		if !strings.Contains(string(doc), "`"+r+"`") {
			t.Errorf("docs/operations.md does not name the reason %s", r)
		}
	}
}

// auditLines returns the log lines that carry an audit object.
func auditLines(t *testing.T, logs string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if _, ok, _ := audit.Decode(sc.Bytes()); ok {
			out = append(out, sc.Text())
		}
	}
	return out
}

// Decode is the schema's check: it refuses every way an audit object can break it, so
// the test above fails on any drift.
func TestDecodeRefusesAnObjectThatBreaksTheSchema(t *testing.T) {
	good := `"v":1,"event":"login","time":"2030-01-02T03:04:05.000Z","user_id":"usr_x","session_id_prefix":"abc","source_ip":"203.0.113.7","user_agent":"ua","reason":""`
	line := func(members string) string { return `{"msg":"login succeeded","audit":{` + members + `}}` }
	tests := []struct {
		name, line, mention string
	}{
		{"a missing key", line(strings.Replace(good, `"reason":""`, `"x":""`, 1)), `key "reason" missing`},
		{"an extra key", line(good + `,"token":"t"`), `unexpected key "token"`},
		{"a number as a string", line(strings.Replace(good, `"user_id":"usr_x"`, `"user_id":7`, 1)), `"user_id" is not a string`},
		{"a version that is not an integer", line(strings.Replace(good, `"v":1`, `"v":1.5`, 1)), `"v" is not an integer`},
		{"another version", line(strings.Replace(good, `"v":1`, `"v":2`, 1)), "version 2"},
		{"an unknown event", line(strings.Replace(good, `"event":"login"`, `"event":"logged_in"`, 1)), `unknown event "logged_in"`},
		{"a time not in UTC milliseconds", line(strings.Replace(good, `.000Z`, `Z`, 1)), "is not RFC 3339 UTC"},
		{"a time in another zone", line(strings.Replace(good, `.000Z`, `.000+01:00`, 1)), "is not RFC 3339 UTC"},
		{"a whole session ID", line(strings.Replace(good, `"abc"`, `"abcdefghijklmnop"`, 1)), "session_id_prefix is longer than 12"},
		{"an audit member that is not an object", `{"audit":true}`, "is not an object"},
	}
	if _, ok, err := audit.Decode([]byte(line(good))); !ok || err != nil {
		t.Fatalf("the good line: ok %v, %v", ok, err)
	}
	if _, ok, err := audit.Decode([]byte(`{"msg":"metric"}`)); ok || err != nil {
		t.Fatalf("a line without an audit object: ok %v, %v", ok, err)
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, ok, err := audit.Decode([]byte(tc.line))
			if !ok || err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("ok %v, err %v; want an error mentioning %q", ok, err, tc.mention)
			}
		})
	}
}
