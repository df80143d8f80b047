package admin_test

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/admin"
	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/testddb"
)

func TestMain(m *testing.M) { testddb.Main(m) }

// cheap argon2id parameters keep hashing at about a millisecond.
var cheap = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a settable clock shared by sessionctl and the App in a fixture.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// fixture is a fresh table in DynamoDB Local, the whole App on it (to log in, refresh
// and authorize as the functions do) and sessionctl pointed at it.
type fixture struct {
	t      *testing.T
	table  string
	client *dynamodb.Client
	app    *app.App
	clock  *clock
	start  time.Time // where the clock starts: the real time, in whole seconds

	mu       sync.Mutex
	connects int // how often sessionctl asked for a DynamoDB client

	audit strings.Builder // sessionctl's audit lines (Env.Audit)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, table: testddb.NewTable(t), client: testddb.Client(t)}
	// Real time, so the items' TTLs lie in the real future: DynamoDB Local deletes
	// items past their TTL within seconds. Tests move the clock forward to see
	// sessions past their deadlines whose items are still there, as in DynamoDB, which
	// deletes them only some time after their TTL.
	f.start = time.Now().Truncate(time.Second)
	f.clock = &clock{now: f.start}
	material, err := keys.NewMaterial(keys.EdDSA, f.start)
	if err != nil {
		t.Fatal(err)
	}
	env, err := material.Env()
	if err != nil {
		t.Fatal(err)
	}
	env["TABLE_NAME"], env["ISSUER"], env["AUDIENCE"] = f.table, "https://sessions.test", "sessionctl-test"
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.UseAll)
	if err != nil {
		t.Fatal(err)
	}
	f.app, err = app.New(t.Context(), cfg, app.Options{
		DynamoDB: f.client, Now: f.clock.Now, Password: cheap, Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// result is what one run of sessionctl did.
type result struct {
	code           int
	stdout, stderr string
}

// call describes one run of sessionctl.
type call struct {
	args    []string
	stdin   string
	prompts []string          // answers typed at a terminal; nil means stdin is not one
	getenv  map[string]string // the environment; nil means TABLE_NAME = the fixture's table
}

func (f *fixture) run(args ...string) result {
	f.t.Helper()
	return f.call(call{args: args})
}

func (f *fixture) runStdin(stdin string, args ...string) result {
	f.t.Helper()
	return f.call(call{args: args, stdin: stdin})
}

func (f *fixture) call(c call) result {
	f.t.Helper()
	var stdout, stderr strings.Builder
	getenv := c.getenv
	if getenv == nil {
		getenv = map[string]string{"TABLE_NAME": f.table}
	}
	env := admin.Env{
		Stdin:  strings.NewReader(c.stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return getenv[k] },
		Connect: func(context.Context) (admin.Client, error) {
			f.mu.Lock()
			f.connects++
			f.mu.Unlock()
			return f.client, nil
		},
		Template: sessions.TemplateYAML,
		Password: cheap,
		Now:      f.clock.Now,
		Audit:    &f.audit,
	}
	if c.prompts != nil {
		answers := c.prompts
		env.Prompt = func(string) (string, error) {
			if len(answers) == 0 {
				return "", errors.New("no more answers at the terminal")
			}
			a := answers[0]
			answers = answers[1:]
			return a, nil
		}
	}
	code := admin.Run(f.t.Context(), env, c.args)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	f.t.Logf("sessionctl %q -> %d\nstdout: %s\nstderr: %s", c.args, r.code, r.stdout, r.stderr)
	return r
}

// mustRun runs sessionctl and fails the test unless it exits 0.
func (f *fixture) mustRun(stdin string, args ...string) string {
	f.t.Helper()
	r := f.runStdin(stdin, args...)
	if r.code != 0 {
		f.t.Fatalf("sessionctl %q exited %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

// createUser creates a user through sessionctl with the password on stdin.
func (f *fixture) createUser(name, pw string) {
	f.t.Helper()
	f.mustRun(pw+"\n", "user", "create", name)
}

// login logs in through the session service as the login function does.
func (f *fixture) login(name, pw string, c session.Client) (*session.Grant, error) {
	return f.app.Service.Login(f.t.Context(), name, pw, c)
}

func (f *fixture) mustLogin(name, pw string, c session.Client) *session.Grant {
	f.t.Helper()
	g, err := f.login(name, pw, c)
	if err != nil {
		f.t.Fatalf("login %s: %v", name, err)
	}
	return g
}

func (f *fixture) user(name string) (*session.Login, *session.User) {
	f.t.Helper()
	l, err := f.app.Store.GetLogin(f.t.Context(), name)
	if err != nil {
		f.t.Fatalf("GetLogin %s: %v", name, err)
	}
	u, err := f.app.Store.GetUser(f.t.Context(), l.UID)
	if err != nil {
		f.t.Fatalf("GetUser %s: %v", l.UID, err)
	}
	return l, u
}

func (f *fixture) session(sid string) *session.Session {
	f.t.Helper()
	s, err := f.app.Store.GetSession(f.t.Context(), sid)
	if err != nil {
		f.t.Fatalf("GetSession %s: %v", sid, err)
	}
	return s
}

// authorized reports whether the authorizer accepts an access token.
func (f *fixture) authorized(accessToken string) bool {
	_, err := f.app.Authorizer.Authorize(f.t.Context(), "Bearer "+accessToken)
	return err == nil
}

// listed parses the text output of `sessions list` into rows by session ID.
func listed(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for first := true; sc.Scan(); first = false {
		fields := strings.Fields(sc.Text())
		if first {
			if len(fields) < 8 || fields[0] != "SID" {
				t.Fatalf("no header line in %q", out)
			}
			continue
		}
		if len(fields) < 8 {
			t.Fatalf("short line %q", sc.Text())
		}
		rows[fields[0]] = fields
	}
	return rows
}
