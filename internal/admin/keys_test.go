package admin_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/admin"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/token"
)

// The template's defaults, which sessionctl uses when no variable names them.
const (
	privateParam = "/sessions/signing-key"
	publicParam  = "/sessions/public-keys"
	refreshParam = "/sessions/refresh-key"
	defaultTTL   = 15 * time.Minute // AccessTokenTtl's default
)

// fakeSSM is Parameter Store in memory, narrowed to the two calls sessionctl makes:
// every parameter keeps each version, its type and when it last changed, and a
// SecureString read without decryption returns ciphertext, as SSM does.
type fakeSSM struct {
	mu      sync.Mutex
	now     func() time.Time
	params  map[string]*fakeParam
	fail    map[string]error  // a PutParameter of this name fails and changes nothing
	failGet map[string]error  // a GetParameter of this name fails
	before  func(name string) // called (unlocked) before each PutParameter
	puts    int
}

type fakeParam struct {
	typ      types.ParameterType
	versions []string // versions[i] is version i+1
	modified time.Time
}

func newFakeSSM(now func() time.Time) *fakeSSM {
	return &fakeSSM{now: now, params: map[string]*fakeParam{}, fail: map[string]error{}, failGet: map[string]error{}}
}

func (s *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failGet[aws.ToString(in.Name)]; err != nil {
		return nil, err
	}
	p, ok := s.params[aws.ToString(in.Name)]
	if !ok {
		return nil, &types.ParameterNotFound{Message: aws.String("parameter not found")}
	}
	value := p.versions[len(p.versions)-1]
	if p.typ == types.ParameterTypeSecureString && !aws.ToBool(in.WithDecryption) {
		value = "AQICAHh-ciphertext-not-the-value"
	}
	modified := p.modified
	return &ssm.GetParameterOutput{Parameter: &types.Parameter{
		Name: in.Name, Type: p.typ, Value: aws.String(value), Version: int64(len(p.versions)), LastModifiedDate: &modified,
	}}, nil
}

func (s *fakeSSM) PutParameter(_ context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	name := aws.ToString(in.Name)
	if s.before != nil {
		s.before(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail[name]; err != nil {
		return nil, err
	}
	p, ok := s.params[name]
	switch {
	case ok && !aws.ToBool(in.Overwrite):
		return nil, &types.ParameterAlreadyExists{Message: aws.String("the parameter already exists")}
	case !ok && in.Type == "":
		return nil, errors.New("ValidationException: a new parameter needs a Type")
	case !ok:
		p = &fakeParam{}
		s.params[name] = p
	}
	if in.Type != "" {
		p.typ = in.Type
	}
	p.versions = append(p.versions, aws.ToString(in.Value))
	p.modified = s.now()
	s.puts++
	return &ssm.PutParameterOutput{Version: int64(len(p.versions))}, nil
}

// set stores a parameter as an operator editing it by hand would.
func (s *fakeSSM) set(name string, typ types.ParameterType, value string) {
	if _, err := s.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Type: typ, Value: aws.String(value), Overwrite: aws.Bool(true),
	}); err != nil {
		panic(err)
	}
}

func (s *fakeSSM) writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.puts
}

func (s *fakeSSM) typeOf(name string) types.ParameterType {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.params[name]; ok {
		return p.typ
	}
	return ""
}

// secrets returns every value any SecureString ever held and each line of a PEM body
// (short test values excepted: they would match anywhere).
func (s *fakeSSM) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.params {
		if p.typ != types.ParameterTypeSecureString {
			continue
		}
		for _, v := range p.versions {
			if v = strings.TrimSpace(v); len(v) >= 16 {
				out = append(out, v)
			}
			for line := range strings.Lines(v) {
				if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") && !strings.Contains(line, ":") {
					out = append(out, line)
				}
			}
		}
	}
	return out
}

// keysFixture runs sessionctl's keys commands against a fakeSSM, on a clock that
// only moves when a test moves it.
type keysFixture struct {
	t        *testing.T
	ssm      *fakeSSM
	clock    *clock
	getenv   map[string]string
	mu       sync.Mutex
	connects int // how often sessionctl asked for an SSM client

	audit strings.Builder // sessionctl's audit lines (Env.Audit)
}

// keysStart is where the clock starts.
var keysStart = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newKeysFixture(t *testing.T) *keysFixture {
	f := &keysFixture{t: t, clock: &clock{now: keysStart}, getenv: map[string]string{}}
	f.ssm = newFakeSSM(f.clock.Now)
	return f
}

func (f *keysFixture) advance(d time.Duration) { f.clock.Set(f.clock.Now().Add(d)) }

func (f *keysFixture) run(args ...string) result {
	f.t.Helper()
	var stdout, stderr strings.Builder
	env := admin.Env{
		Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return f.getenv[k] },
		Connect: func(context.Context) (admin.Client, error) {
			return nil, errors.New("the keys commands must not reach DynamoDB")
		},
		ConnectSSM: func(context.Context) (admin.SSMClient, error) {
			f.mu.Lock()
			f.connects++
			f.mu.Unlock()
			return f.ssm, nil
		},
		Template: sessions.TemplateYAML,
		Now:      f.clock.Now,
		Audit:    &f.audit,
	}
	code := admin.Run(f.t.Context(), env, args)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	f.t.Logf("sessionctl %q -> %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	f.noSecrets(r.stdout + r.stderr)
	return r
}

// mustRun runs sessionctl and fails the test unless it exits 0.
func (f *keysFixture) mustRun(args ...string) string {
	f.t.Helper()
	r := f.run(args...)
	if r.code != admin.ExitOK {
		f.t.Fatalf("sessionctl %q exited %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

// noSecrets fails the test if out holds private material: PEM armour, or any value a
// SecureString held (the refresh-token key, a private key set or a line of one).
func (f *keysFixture) noSecrets(out string) {
	f.t.Helper()
	if strings.Contains(out, "-----BEGIN") || strings.Contains(out, "-----END") {
		f.t.Fatalf("sessionctl printed PEM: %q", out)
	}
	for _, s := range f.ssm.secrets() {
		if strings.Contains(out, s) {
			f.t.Fatalf("sessionctl printed a secret value (%d characters)", len(s))
		}
	}
}

// loaded is what the functions load from the parameters named by the fixture's
// environment (else the defaults): login and refresh the private set, the authorizer
// and jwks the public one, refresh and logout the refresh-token key.
type loaded struct {
	private, public *keys.Set
	refreshKey      []byte
}

func (f *keysFixture) load() loaded {
	f.t.Helper()
	name := func(v, def string) config.KeySource {
		if n := f.getenv[v]; n != "" {
			return config.KeySource{Parameter: n}
		}
		return config.KeySource{Parameter: def}
	}
	client := func() (keys.ParameterGetter, error) { return f.ssm, nil }
	var l loaded
	var err error
	if l.private, err = keys.LoadPrivate(f.t.Context(), name("SIGNING_KEY_PARAMETER", privateParam), client); err != nil {
		f.t.Fatalf("the minting functions could not load the private key set: %v", err)
	}
	if l.public, err = keys.LoadPublic(f.t.Context(), name("PUBLIC_KEYS_PARAMETER", publicParam), client); err != nil {
		f.t.Fatalf("the verifying functions could not load the public key set: %v", err)
	}
	if l.refreshKey, err = keys.LoadRefreshKey(f.t.Context(), name("REFRESH_KEY_PARAMETER", refreshParam), client); err != nil {
		f.t.Fatalf("refresh and logout could not load the refresh-token key: %v", err)
	}
	return l
}

func kids(s *keys.Set) []string {
	var out []string
	for _, k := range s.Keys() {
		out = append(out, k.ID)
	}
	return out
}

// agree checks that the two sets the functions load are one key set, that want
// signs, and that a token the minters sign now is accepted by the verifiers.
func (f *keysFixture) agree(l loaded, signing string) {
	f.t.Helper()
	if !slices.Equal(kids(l.private), kids(l.public)) {
		f.t.Fatalf("private set %v and public set %v differ", kids(l.private), kids(l.public))
	}
	if got := l.private.Signing().ID; got != signing {
		f.t.Fatalf("the signing key is %s, want %s", got, signing)
	}
	if !f.accepts(l.public, f.mint(l.private)) {
		f.t.Fatal("the verifiers refuse what the minters sign")
	}
}

func (f *keysFixture) mint(private *keys.Set) string {
	f.t.Helper()
	now := f.clock.Now()
	tok, err := token.NewMinter(private, "https://sessions.test", "keys-test").Mint(now, "uid", "sid", 1, "", now.Add(time.Hour))
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func (f *keysFixture) accepts(public *keys.Set, tok string) bool {
	_, err := token.NewVerifier(public, "https://sessions.test", "keys-test", f.clock.Now).Verify(tok)
	return err == nil
}

// expect checks a run's exit code and that stdout and stderr contain the given texts.
func expect(t *testing.T, r result, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(oneLine(r.stderr), stderr) {
		t.Fatalf("got exit %d, stdout %q, stderr %q; want %d, %q, %q", r.code, r.stdout, r.stderr, code, stdout, stderr)
	}
}

// oneLine joins lines, as an error wrapped over two lines of a terminal reads.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func stampOf(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// keyRows parses the table of `keys list` into its rows' fields by key ID.
func keyRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !slices.Equal(strings.Fields(lines[0]), []string{"KID", "ALG", "ROLE", "ADDED", "PROMOTED", "NEXT"}) {
		t.Fatalf("no table in %q", out)
	}
	rows := map[string][]string{}
	for _, line := range lines[1 : len(lines)-1] {
		fields := strings.Fields(line)
		rows[fields[0]] = fields
	}
	return rows
}

// TestKeysRotation walks the whole procedure of README's "Key rotation" and checks,
// after each step, what the functions would load.
func TestKeysRotation(t *testing.T) {
	f := newKeysFixture(t)
	var a, b string     // the first and the second key
	var first loaded    // loaded after init
	var afterAdd loaded // loaded after add: what verifiers hold before promote
	var tokA string     // signed by a's minter before the promotion
	var added, promoted time.Time
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"keys init creates the three parameters with one signing key", func(t *testing.T) {
			out := f.mustRun("keys", "init")
			for name, typ := range map[string]types.ParameterType{privateParam: types.ParameterTypeSecureString,
				refreshParam: types.ParameterTypeSecureString, publicParam: types.ParameterTypeString} {
				if got := f.ssm.typeOf(name); got != typ {
					t.Fatalf("%s is %q, want %q", name, got, typ)
				}
			}
			first = f.load()
			a = first.private.Signing().ID
			if len(first.private.Keys()) != 1 || first.private.Signing().Alg != keys.EdDSA || !strings.Contains(out, a) {
				t.Fatalf("keys %v, stdout %q", kids(first.private), out)
			}
			f.agree(first, a)
		}},
		{"keys list shows the signing key and that the public set matches", func(t *testing.T) {
			out := f.mustRun("keys", "list")
			want := []string{a, "EdDSA", "signing", stampOf(keysStart), stampOf(keysStart), "-"}
			if rows := keyRows(t, out); len(rows) != 1 || !slices.Equal(rows[a], want) ||
				!strings.Contains(out, "public key set "+publicParam+": matches the private key set "+privateParam) {
				t.Fatalf("stdout %q", out)
			}
		}},
		{"keys add appends a verifying key, publishes it and says when it may sign", func(t *testing.T) {
			f.advance(24 * time.Hour)
			added = f.clock.Now()
			tokA = f.mint(first.private)
			out := f.mustRun("keys", "add")
			afterAdd = f.load()
			if len(afterAdd.private.Keys()) != 2 {
				t.Fatalf("keys %v", kids(afterAdd.private))
			}
			b = afterAdd.private.Keys()[1].ID
			if !strings.Contains(out, "added key "+b+" (EdDSA)") || !strings.Contains(out, "may sign from "+stampOf(added.Add(admin.PromoteAfter))) {
				t.Fatalf("stdout %q", out)
			}
			f.agree(afterAdd, a)
			if !f.accepts(afterAdd.public, tokA) {
				t.Fatal("the new public set refuses tokens of the key that still signs")
			}
		}},
		{"keys list says b is due for promotion and when", func(t *testing.T) {
			rows := keyRows(t, f.mustRun("keys", "list"))
			want := []string{b, "EdDSA", "verifying", stampOf(added), "-", "promote", "from", stampOf(added.Add(admin.PromoteAfter))}
			if !slices.Equal(rows[b], want) || rows[a][2] != "signing" {
				t.Fatalf("rows %q, want %q for %s", rows, want, b)
			}
		}},
		{"keys promote a second too early is refused, names the allowed time and writes nothing", func(t *testing.T) {
			f.advance(admin.PromoteAfter - time.Second)
			before := f.ssm.writes()
			r := f.run("keys", "promote", b)
			expect(t, r, admin.ExitUsage, "", "key "+b+" may sign from "+stampOf(added.Add(admin.PromoteAfter))+", 11m0s after it was added at "+stampOf(added))
			if f.ssm.writes() != before {
				t.Fatal("a refused promote wrote a parameter")
			}
			f.agree(f.load(), a)
		}},
		{"keys promote at the allowed time makes b sign, and verifiers that loaded the set after add accept it", func(t *testing.T) {
			f.advance(time.Second)
			promoted = f.clock.Now()
			out := f.mustRun("keys", "promote", b)
			if !strings.Contains(out, "key "+b+" signs") || !strings.Contains(out, "may be retired from "+stampOf(promoted.Add(admin.RetireAfter(defaultTTL)))) {
				t.Fatalf("stdout %q", out)
			}
			l := f.load()
			f.agree(l, b)
			if !slices.Equal(kids(l.private), []string{b, a}) || !l.private.Signing().PromotedAt.Equal(promoted) {
				t.Fatalf("keys %v", kids(l.private))
			}
			if !f.accepts(afterAdd.public, f.mint(l.private)) {
				t.Fatal("a verifier still on the set published by add refuses the new signing key")
			}
			if !f.accepts(l.public, tokA) {
				t.Fatal("tokens of the old key are refused before they expire")
			}
		}},
		{"keys retire of the signing key is refused", func(t *testing.T) {
			f.advance(24 * time.Hour)
			before := f.ssm.writes()
			expect(t, f.run("keys", "retire", b), admin.ExitUsage, "", "key "+b+" is the signing key")
			if f.ssm.writes() != before {
				t.Fatal("a refused retire wrote a parameter")
			}
			f.clock.Set(promoted) // back to the promotion, for the next steps
		}},
		{"keys retire a second too early is refused and names the allowed time", func(t *testing.T) {
			f.advance(admin.RetireAfter(defaultTTL) - time.Second)
			before := f.ssm.writes()
			r := f.run("keys", "retire", a)
			expect(t, r, admin.ExitUsage, "", "may be retired from "+stampOf(promoted.Add(admin.RetireAfter(defaultTTL)))+
				", 21m0s after "+b+" was promoted at "+stampOf(promoted)+" (ACCESS_TOKEN_TTL 15m0s)")
			if f.ssm.writes() != before {
				t.Fatal("a refused retire wrote a parameter")
			}
			f.agree(f.load(), b)
		}},
		{"keys retire at the allowed time removes the old key from both sets", func(t *testing.T) {
			f.advance(time.Second)
			out := f.mustRun("keys", "retire", a)
			if !strings.Contains(out, "retired key "+a) {
				t.Fatalf("stdout %q", out)
			}
			l := f.load()
			f.agree(l, b)
			if !slices.Equal(kids(l.public), []string{b}) || f.accepts(l.public, tokA) {
				t.Fatalf("public keys %v; the retired key's token is still accepted: %v", kids(l.public), f.accepts(l.public, tokA))
			}
		}},
		{"keys list --json shows the one key left, and no private material", func(t *testing.T) {
			var v struct {
				Keys []struct {
					KID, Alg, Role string
					AddedAt        time.Time `json:"added_at"`
					PromotedAt     time.Time `json:"promoted_at"`
				} `json:"keys"`
				PublicMatches bool `json:"public_matches"`
			}
			if err := json.Unmarshal([]byte(f.mustRun("keys", "list", "--json")), &v); err != nil {
				t.Fatal(err)
			}
			if len(v.Keys) != 1 || v.Keys[0].KID != b || v.Keys[0].Role != "signing" || !v.Keys[0].AddedAt.Equal(added) ||
				!v.Keys[0].PromotedAt.Equal(promoted) || !v.PublicMatches {
				t.Fatalf("%+v", v)
			}
		}},
		{"the refresh-token key was never changed", func(t *testing.T) {
			if l := f.load(); string(l.refreshKey) != string(first.refreshKey) || len(f.ssm.params[refreshParam].versions) != 1 {
				t.Fatal("the rotation touched the refresh-token key")
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow() // each step builds on the one before
		}
	}
}

// TestKeysRefusals pins why each refused command refused, and that it changed nothing.
func TestKeysRefusals(t *testing.T) {
	other, err := keys.NewMaterial(keys.EdDSA, keysStart)
	if err != nil {
		t.Fatal(err)
	}
	otherEnv, err := other.Env()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		setup    func(f *keysFixture)
		args     []string
		code     int
		stderr   string
		connects int // SSM clients asked for
	}{
		{name: "keys init refuses when the private key parameter exists",
			setup: func(f *keysFixture) {
				f.ssm.set(privateParam, types.ParameterTypeSecureString, otherEnv["SIGNING_KEY"])
			},
			args: []string{"keys", "init"}, code: admin.ExitConflict, stderr: "SSM parameter " + privateParam + " already exists; keys init changes nothing", connects: 1},
		{name: "keys init refuses when the public key parameter exists",
			setup: func(f *keysFixture) { f.ssm.set(publicParam, types.ParameterTypeString, otherEnv["PUBLIC_KEYS"]) },
			args:  []string{"keys", "init"}, code: admin.ExitConflict, stderr: "SSM parameter " + publicParam + " already exists", connects: 1},
		{name: "keys init refuses when the refresh-token key parameter exists",
			setup: func(f *keysFixture) {
				f.ssm.set(refreshParam, types.ParameterTypeSecureString, otherEnv["REFRESH_KEY"])
			},
			args: []string{"keys", "init"}, code: admin.ExitConflict, stderr: "SSM parameter " + refreshParam + " already exists", connects: 1},
		{name: "keys init with an unknown algorithm is a usage error before any AWS call",
			args: []string{"keys", "init", "--alg", "HS256"}, code: admin.ExitUsage, stderr: `keys init: unknown algorithm "HS256"`},
		{name: "keys add with an unknown algorithm is a usage error before any AWS call",
			args: []string{"keys", "add", "--alg", "none"}, code: admin.ExitUsage, stderr: `keys add: unknown algorithm "none"`},
		{name: "keys promote without a KID is a usage error",
			args: []string{"keys", "promote"}, code: admin.ExitUsage, stderr: "keys promote: missing KID"},
		{name: "keys add before keys init exits 3 and points at keys init",
			args: []string{"keys", "add"}, code: admin.ExitNotFound, stderr: "SSM parameter " + privateParam + " does not exist: create the key material with `sessionctl keys init`", connects: 1},
		{name: "keys promote of an unknown key exits 3",
			setup: func(f *keysFixture) { f.mustRun("keys", "init") },
			args:  []string{"keys", "promote", "no-such-kid"}, code: admin.ExitNotFound, stderr: "no key no-such-kid in " + privateParam, connects: 2},
		{name: "keys retire of an unknown key exits 3",
			setup: func(f *keysFixture) { f.mustRun("keys", "init") },
			args:  []string{"keys", "retire", "no-such-kid"}, code: admin.ExitNotFound, stderr: "no key no-such-kid in " + privateParam, connects: 2},
		{name: "a private key parameter that holds no key set is an error naming the parameter",
			setup: func(f *keysFixture) { f.ssm.set(privateParam, types.ParameterTypeSecureString, "not a key") },
			args:  []string{"keys", "add"}, code: admin.ExitFailure, stderr: "SSM parameter " + privateParam + " does not hold a private key set", connects: 1},
		{name: "a bad ACCESS_TOKEN_TTL is a usage error naming the variable",
			setup: func(f *keysFixture) { f.mustRun("keys", "init"); f.getenv["ACCESS_TOKEN_TTL"] = "soon" },
			args:  []string{"keys", "list"}, code: admin.ExitUsage, stderr: `ACCESS_TOKEN_TTL="soon" is not a positive Go duration`, connects: 2},
		{name: "a failing SSM read exits 1 naming the parameter",
			setup: func(f *keysFixture) {
				f.ssm.failGet[privateParam] = errors.New("AccessDeniedException: no kms:Decrypt")
			},
			args: []string{"keys", "list"}, code: admin.ExitFailure, stderr: "reading SSM parameter " + privateParam, connects: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newKeysFixture(t)
			if c.setup != nil {
				c.setup(f)
			}
			before := f.ssm.writes()
			r := f.run(c.args...)
			expect(t, r, c.code, "", "sessionctl: ")
			expect(t, r, c.code, "", c.stderr)
			if r.stdout != "" || f.ssm.writes() != before {
				t.Fatalf("a refused command printed %q or wrote %d parameters", r.stdout, f.ssm.writes()-before)
			}
			if f.connects != c.connects {
				t.Fatalf("%d SSM clients asked for, want %d", f.connects, c.connects)
			}
		})
	}
	t.Run("keys promote of the signing key changes nothing", func(t *testing.T) {
		f := newKeysFixture(t)
		f.mustRun("keys", "init")
		a := f.load().private.Signing().ID
		before := f.ssm.writes()
		expect(t, f.run("keys", "promote", a), admin.ExitOK, "key "+a+" already signs; nothing changed", "")
		if f.ssm.writes() != before {
			t.Fatal("wrote a parameter")
		}
	})
}

// rotated returns a fixture after init and add, the clock at the time b may sign.
func rotated(t *testing.T) (f *keysFixture, a, b string) {
	f = newKeysFixture(t)
	f.mustRun("keys", "init")
	f.advance(time.Hour)
	f.mustRun("keys", "add")
	l := f.load()
	f.advance(admin.PromoteAfter)
	return f, l.private.Keys()[0].ID, l.private.Keys()[1].ID
}

// TestKeysHalfDoneStep: when the second write (the public set) fails, the error says
// to run `keys publish`, `keys list` shows the mismatch, and `keys publish` repairs it.
func TestKeysHalfDoneStep(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T) (*keysFixture, []string) // the fixture and the step
		signing func(l loaded) string                       // who signs after the step
		count   int                                         // keys after the step
	}{
		{"keys add", func(t *testing.T) (*keysFixture, []string) {
			f := newKeysFixture(t)
			f.mustRun("keys", "init")
			return f, []string{"keys", "add"}
		}, func(l loaded) string { return l.private.Keys()[0].ID }, 2},
		{"keys promote", func(t *testing.T) (*keysFixture, []string) {
			f, _, b := rotated(t)
			return f, []string{"keys", "promote", b}
		}, func(l loaded) string { return l.private.Keys()[0].ID }, 2},
		{"keys retire", func(t *testing.T) (*keysFixture, []string) {
			f, a, b := rotated(t)
			f.mustRun("keys", "promote", b)
			f.advance(admin.RetireAfter(defaultTTL))
			return f, []string{"keys", "retire", a}
		}, func(l loaded) string { return l.private.Keys()[0].ID }, 1},
	}
	for _, c := range cases {
		t.Run("a failed public write in "+c.name+" names keys publish, which repairs it", func(t *testing.T) {
			f, step := c.prepare(t)
			before := f.load()
			f.ssm.fail[publicParam] = errors.New("ThrottlingException: rate exceeded")
			r := f.run(step...)
			expect(t, r, admin.ExitFailure, "", "wrote the private key set to "+privateParam+" but not the public key set to "+publicParam+"; run `sessionctl keys publish` to finish: ThrottlingException")
			delete(f.ssm.fail, publicParam)

			pub, err := keys.LoadPublic(t.Context(), config.KeySource{Parameter: publicParam}, func() (keys.ParameterGetter, error) { return f.ssm, nil })
			if err != nil || !slices.Equal(kids(pub), kids(before.public)) {
				t.Fatalf("the public set changed after its write failed: %v, %v", kids(pub), err)
			}
			expect(t, f.run("keys", "list"), admin.ExitOK, "does NOT match the private key set "+privateParam, "")
			expect(t, f.run("keys", "list"), admin.ExitOK, "run `sessionctl keys publish`", "")

			expect(t, f.run("keys", "publish"), admin.ExitOK, "published ", "")
			l := f.load()
			if len(l.private.Keys()) != c.count {
				t.Fatalf("keys %v after %s", kids(l.private), c.name)
			}
			f.agree(l, c.signing(l))
			writes := f.ssm.writes()
			expect(t, f.run("keys", "publish"), admin.ExitOK, "already matches the private key set "+privateParam+"; nothing written", "")
			expect(t, f.run("keys", "list"), admin.ExitOK, "public key set "+publicParam+": matches", "")
			if f.ssm.writes() != writes {
				t.Fatal("a publish with nothing to do wrote the parameter")
			}
		})
	}
	t.Run("a failed private write changes nothing and says so", func(t *testing.T) {
		f := newKeysFixture(t)
		f.mustRun("keys", "init")
		f.ssm.fail[privateParam] = errors.New("AccessDeniedException: not allowed")
		before := f.ssm.writes()
		expect(t, f.run("keys", "add"), admin.ExitFailure, "", "writing the private key set to "+privateParam+" (the public key set was not touched): AccessDeniedException")
		if f.ssm.writes() != before {
			t.Fatal("wrote a parameter")
		}
	})
	t.Run("a failed public write in keys init names keys publish", func(t *testing.T) {
		f := newKeysFixture(t)
		f.ssm.fail[publicParam] = errors.New("InternalServerError")
		expect(t, f.run("keys", "init"), admin.ExitFailure, "", "created "+privateParam+" and "+refreshParam+" but not the public key set "+publicParam+"; run `sessionctl keys publish` to finish")
		delete(f.ssm.fail, publicParam)
		f.mustRun("keys", "publish")
		l := f.load()
		f.agree(l, l.private.Signing().ID)
	})
	t.Run("a failed refresh-key write in keys init says how to start again", func(t *testing.T) {
		f := newKeysFixture(t)
		f.ssm.fail[refreshParam] = errors.New("InternalServerError")
		expect(t, f.run("keys", "init"), admin.ExitFailure, "", "created "+privateParam+" but not "+refreshParam+"; to start again, delete what was created (aws ssm delete-parameter --name "+privateParam+")")
		if f.ssm.typeOf(publicParam) != "" {
			t.Fatal("the public set was published without a refresh-token key")
		}
	})
}

func TestKeysPublishRepairsAMismatch(t *testing.T) {
	cases := []struct {
		name    string
		public  func(t *testing.T, f *keysFixture) string // what an operator left in the public parameter
		problem string
	}{
		{"a public set with another key", func(t *testing.T, _ *keysFixture) string {
			m, err := keys.NewMaterial(keys.ES256, keysStart)
			if err != nil {
				t.Fatal(err)
			}
			return string(m.Private.JWKS())
		}, "it lacks "},
		{"a public set that is not a JWKS document", func(*testing.T, *keysFixture) string { return `{"keys":"nope"}` }, "it is not a valid public key set"},
		{"the same keys in another form", func(_ *testing.T, f *keysFixture) string {
			var doc any
			_ = json.Unmarshal(f.load().private.JWKS(), &doc)
			b, _ := json.MarshalIndent(doc, "", "  ")
			return string(b)
		}, "its keys are in another order or form"},
	}
	for _, c := range cases {
		t.Run(c.name+" is shown by keys list and replaced by keys publish", func(t *testing.T) {
			f := newKeysFixture(t)
			f.mustRun("keys", "init")
			f.ssm.set(publicParam, types.ParameterTypeString, c.public(t, f))
			expect(t, f.run("keys", "list"), admin.ExitOK, "does NOT match the private key set "+privateParam+" ("+c.problem, "")
			expect(t, f.run("keys", "publish"), admin.ExitOK, "published "+f.load().private.Signing().ID+" to "+publicParam, "")
			l := f.load()
			f.agree(l, l.private.Signing().ID)
		})
	}
}

func TestKeysForceAndTiming(t *testing.T) {
	t.Run("keys promote --force promotes at once with a warning on stderr", func(t *testing.T) {
		f := newKeysFixture(t)
		f.mustRun("keys", "init")
		f.mustRun("keys", "add")
		b := f.load().private.Keys()[1].ID
		expect(t, f.run("keys", "promote", b, "--force"), admin.ExitOK, "key "+b+" signs", "sessionctl: warning: promoting anyway (--force): key "+b+" may sign from ")
		f.agree(f.load(), b)
	})
	t.Run("keys retire --force retires at once with a warning on stderr", func(t *testing.T) {
		f, a, b := rotated(t)
		f.mustRun("keys", "promote", b)
		expect(t, f.run("keys", "retire", a, "--force"), admin.ExitOK, "retired key "+a, "sessionctl: warning: retiring anyway (--force): keys other than the signing key may be retired from ")
		f.agree(f.load(), b)
	})
	t.Run("ACCESS_TOKEN_TTL from the environment sets the retire wait", func(t *testing.T) {
		f, a, b := rotated(t)
		f.getenv["ACCESS_TOKEN_TTL"] = "1h"
		promoted := f.clock.Now()
		f.mustRun("keys", "promote", b)
		f.advance(admin.RetireAfter(defaultTTL))
		want := promoted.Add(admin.RetireAfter(time.Hour))
		expect(t, f.run("keys", "retire", a), admin.ExitUsage, "", "may be retired from "+stampOf(want)+", 1h6m0s after "+b)
		f.clock.Set(want)
		f.mustRun("keys", "retire", a)
	})
	t.Run("a publish that finishes a half-done add starts the promotion wait again", func(t *testing.T) {
		f := newKeysFixture(t)
		f.mustRun("keys", "init")
		f.ssm.fail[publicParam] = errors.New("InternalServerError")
		expect(t, f.run("keys", "add"), admin.ExitFailure, "", "run `sessionctl keys publish` to finish")
		delete(f.ssm.fail, publicParam)
		b := f.load().private.Keys()[1].ID
		expect(t, f.run("keys", "promote", b), admin.ExitUsage, "", "key "+b+" is not in the public key set "+publicParam+": run `sessionctl keys publish`")
		f.advance(30 * time.Minute)
		published := f.clock.Now()
		f.mustRun("keys", "publish")
		f.advance(admin.PromoteAfter - time.Second)
		expect(t, f.run("keys", "promote", b), admin.ExitUsage, "",
			"may sign from "+stampOf(published.Add(admin.PromoteAfter))+", 11m0s after the public key set last changed at "+stampOf(published))
		f.advance(time.Second)
		f.mustRun("keys", "promote", b)
		f.agree(f.load(), b)
	})
	t.Run("keys add keeps the signing key's algorithm unless --alg says otherwise", func(t *testing.T) {
		f := newKeysFixture(t)
		f.mustRun("keys", "init", "--alg", "ES256")
		f.mustRun("keys", "add")
		f.mustRun("keys", "add", "--alg", "RS256")
		var algs []string
		for _, k := range f.load().private.Keys() {
			algs = append(algs, k.Alg)
		}
		if !slices.Equal(algs, []string{keys.ES256, keys.ES256, keys.RS256}) {
			t.Fatalf("algorithms %v", algs)
		}
		f.agree(f.load(), f.load().private.Signing().ID)
	})
}

// TestKeyIDsThatLookLikeFlags: one key ID in 64 begins with '-'; it is still the
// command's argument, as the commands print it.
func TestKeyIDsThatLookLikeFlags(t *testing.T) {
	f := newKeysFixture(t)
	f.mustRun("keys", "init")
	a := f.load().private.Signing().ID
	var block *pem.Block
	var dash string
	for dash == "" || !strings.HasPrefix(dash, "-") {
		data, err := keys.Generate(keys.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		s, err := keys.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		block, _ = pem.Decode(data)
		dash = s.Signing().ID
	}
	f.advance(time.Hour)
	block.Headers = map[string]string{"Added-At": stampOf(f.clock.Now())}
	f.ssm.set(privateParam, types.ParameterTypeSecureString, f.ssm.params[privateParam].versions[0]+string(pem.EncodeToMemory(block)))
	f.mustRun("keys", "publish")
	f.advance(admin.PromoteAfter)
	steps := []struct {
		name string
		args []string
		want string
	}{
		{"keys promote takes it before a flag", []string{"keys", "promote", dash, "--force"}, "key " + dash + " signs"},
		{"keys promote of the old key makes it sign again", []string{"keys", "promote", a, "--force"}, "key " + a + " signs"},
		{"keys retire takes it after a flag", []string{"keys", "retire", "--force", dash}, "retired key " + dash},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			expect(t, f.run(s.args...), admin.ExitOK, s.want, "")
		})
	}
	t.Run("a misspelt flag is still refused as one", func(t *testing.T) {
		expect(t, f.run("keys", "retire", a, "--froce"), admin.ExitUsage, "", "flag provided but not defined: -froce")
	})
	l := f.load()
	f.agree(l, a)
}

func TestKeysConcurrentChange(t *testing.T) {
	f := newKeysFixture(t)
	f.mustRun("keys", "init")
	pem := f.ssm.params[privateParam].versions[0]
	// Another operator's write lands between sessionctl's read and its write.
	f.ssm.before = func(name string) {
		if name == privateParam {
			f.ssm.before = nil
			f.ssm.set(privateParam, types.ParameterTypeSecureString, pem)
		}
	}
	expect(t, f.run("keys", "add"), admin.ExitConflict, "",
		"SSM parameter "+privateParam+" went from version 1 to 3 while sessionctl changed it: another change (or a retried write) came in between")
	l := f.load()
	f.agree(l, l.private.Signing().ID) // the public set still follows the private one
}

func TestKeysParameterNamesFromTheEnvironment(t *testing.T) {
	f := newKeysFixture(t)
	f.getenv["SIGNING_KEY_PARAMETER"] = "/prod/sessions/private"
	f.getenv["PUBLIC_KEYS_PARAMETER"] = "/prod/sessions/public"
	f.getenv["REFRESH_KEY_PARAMETER"] = "/prod/sessions/refresh"
	expect(t, f.run("keys", "init"), admin.ExitOK, "created /prod/sessions/private", "")
	if f.ssm.typeOf(privateParam) != "" || f.ssm.typeOf("/prod/sessions/refresh") != types.ParameterTypeSecureString {
		t.Fatal("the names from the environment were not used")
	}
	l := f.load()
	f.agree(l, l.private.Signing().ID)
}

func TestKeysInitDir(t *testing.T) {
	files := []struct {
		name string
		mode os.FileMode
	}{{admin.DevSigningKeyFile, 0o600}, {admin.DevPublicKeysFile, 0o644}, {admin.DevRefreshKeyFile, 0o600}}
	t.Run("keys init --dir writes the local key files, secrets with mode 0600, without AWS", func(t *testing.T) {
		f := newKeysFixture(t)
		dir := filepath.Join(t.TempDir(), "cache")
		expect(t, f.run("keys", "init", "--dir", dir), admin.ExitOK, "wrote "+filepath.Join(dir, admin.DevSigningKeyFile), "")
		for _, file := range files {
			st, err := os.Stat(filepath.Join(dir, file.name))
			if err != nil || st.Mode().Perm() != file.mode {
				t.Fatalf("%s: %v, mode %v, want %v", file.name, err, st.Mode().Perm(), file.mode)
			}
		}
		// What the local server loads from those files (SIGNING_KEY_FILE and the rest).
		priv, err := keys.LoadPrivate(t.Context(), config.KeySource{File: filepath.Join(dir, admin.DevSigningKeyFile)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.LoadPublic(t.Context(), config.KeySource{File: filepath.Join(dir, admin.DevPublicKeysFile)}, nil)
		if err != nil || !slices.Equal(kids(priv), kids(pub)) {
			t.Fatalf("public %v, %v", pub, err)
		}
		if _, err := keys.LoadRefreshKey(t.Context(), config.KeySource{File: filepath.Join(dir, admin.DevRefreshKeyFile)}, nil); err != nil {
			t.Fatal(err)
		}
		if !f.accepts(pub, f.mint(priv)) {
			t.Fatal("the public file refuses what the private file signs")
		}
		if f.connects != 0 || len(f.ssm.params) != 0 {
			t.Fatal("keys init --dir reached SSM")
		}
	})
	for _, existing := range files {
		t.Run("keys init --dir refuses when "+existing.name+" exists and writes no file", func(t *testing.T) {
			f := newKeysFixture(t)
			dir := t.TempDir()
			path := filepath.Join(dir, existing.name)
			if err := os.WriteFile(path, []byte("kept"), 0o600); err != nil {
				t.Fatal(err)
			}
			expect(t, f.run("keys", "init", "--dir", dir), admin.ExitConflict, "", path+" already exists; keys init --dir replaces no file")
			entries, _ := os.ReadDir(dir)
			if b, _ := os.ReadFile(path); len(entries) != 1 || string(b) != "kept" {
				t.Fatalf("the folder holds %d entries; %s holds %q", len(entries), existing.name, b)
			}
		})
	}
}

func TestKeysHelp(t *testing.T) {
	f := newKeysFixture(t)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"help lists the keys commands", []string{"help"}, []string{"keys init [--alg ALG] [--dir DIR]", "keys list [--json]",
			"keys add [--alg ALG]", "keys promote KID [--force]", "keys retire KID [--force]", "keys publish", "SIGNING_KEY_PARAMETER"}},
		{"help keys shows each keys command", []string{"help", "keys"}, []string{"usage: sessionctl keys init", "usage: sessionctl keys publish",
			"--dir DIR", "--force", "11m0s"}},
		{"keygen's help points at keys add, not at editing a parameter", []string{"help", "keygen"}, []string{"sessionctl keys add", "changes no parameter"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.run(c.args...)
			for _, w := range c.want {
				if r.code != 0 || !strings.Contains(oneLine(r.stdout), oneLine(w)) {
					t.Fatalf("exit %d; no %q in\n%s", r.code, w, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "before the old one") {
				t.Fatal("help still says to edit the key set by hand")
			}
		})
	}
	t.Run("the keys commands offer no --table, since they read none", func(t *testing.T) {
		r := f.run("help", "keys")
		if r.code != 0 || strings.Contains(r.stdout, "--table") {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
	})
	if f.connects != 0 {
		t.Fatal("help asked for an SSM client")
	}
	t.Run("a missing SSM configuration exits 1 with one line", func(t *testing.T) {
		var stderr strings.Builder
		code := admin.Run(t.Context(), admin.Env{Stderr: &stderr, Template: sessions.TemplateYAML,
			ConnectSSM: func(context.Context) (admin.SSMClient, error) { return nil, fmt.Errorf("no AWS region") }},
			[]string{"keys", "list"})
		if code != admin.ExitFailure || stderr.String() != "sessionctl: AWS configuration: no AWS region\n" {
			t.Fatalf("got %d %q", code, stderr.String())
		}
	})
}
