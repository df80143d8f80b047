package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
)

// fakeSSM serves parameters by name and records the names read.
type fakeSSM struct {
	values map[string]string
	names  []string
	err    error
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.names = append(f.names, aws.ToString(in.Name))
	if !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("SecureString read without decryption")
	}
	if f.err != nil {
		return nil, f.err
	}
	v, ok := f.values[aws.ToString(in.Name)]
	if !ok {
		return nil, errors.New("ParameterNotFound")
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v)}}, nil
}

// deployedEnv is the environment template.yaml gives function name, key material
// in SSM at the parameters' defaults.
func deployedEnv(t *testing.T, name string) func(string) string {
	t.Helper()
	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		t.Fatal(err)
	}
	env := tmpl.FunctionEnv(name)
	if env == nil {
		t.Fatalf("template.yaml has no function with CodeUri functions/%s", name)
	}
	env["TABLE_NAME"] = "sessions"
	return func(k string) string { return env[k] }
}

func material(t *testing.T) map[string]string {
	t.Helper()
	m, err := keys.NewMaterial(keys.EdDSA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	env, err := m.Env()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"/sessions/signing-key": env["SIGNING_KEY"],
		"/sessions/public-keys": env["PUBLIC_KEYS"],
		"/sessions/refresh-key": env["REFRESH_KEY"],
	}
}

func TestEachFunctionReadsOnlyItsOwnKeyMaterial(t *testing.T) {
	want := map[string][]string{
		"login":      {"/sessions/signing-key"},
		"refresh":    {"/sessions/signing-key", "/sessions/refresh-key"},
		"logout":     {"/sessions/refresh-key"},
		"account":    {"/sessions/signing-key"},
		"jwks":       {"/sessions/public-keys"},
		"me":         nil,
		"authorizer": {"/sessions/public-keys"},
	}
	values := material(t)
	for _, f := range Functions {
		t.Run(f.Name+" reads "+strings.Join(want[f.Name], " and ")+" and nothing else", func(t *testing.T) {
			cfg, err := config.FromEnv(deployedEnv(t, f.Name), f.Uses)
			if err != nil {
				t.Fatal(err)
			}
			s := &fakeSSM{values: values}
			a, err := New(context.Background(), cfg, Options{
				DynamoDB: dynamodb.New(dynamodb.Options{Region: "us-east-1"}),
				SSM:      func() (keys.ParameterGetter, error) { return s, nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.names, want[f.Name]) {
				t.Fatalf("SSM reads = %v, want %v", s.names, want[f.Name])
			}
			if f.Handler(a) == nil {
				t.Fatal("no handler")
			}
			if a.Public != nil && a.Public.Current().Private() {
				t.Fatal("the public key set holds private keys")
			}
			if f.Name != "login" && f.Name != "refresh" && f.Name != "account" && a.Signing != nil {
				t.Fatal("a function that mints nothing holds the private key set")
			}
		})
	}
}

func TestFunctionsTemplateAndFoldersAgree(t *testing.T) {
	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		t.Fatal(err)
	}
	var inTemplate, inApp, inFolders []string
	fs, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		inTemplate = append(inTemplate, strings.TrimPrefix(f.CodeURI, "functions/"))
	}
	for _, f := range Functions {
		inApp = append(inApp, f.Name)
	}
	root, err := samtemplate.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			inFolders = append(inFolders, e.Name())
		}
	}
	for _, l := range [][]string{inTemplate, inApp, inFolders} {
		sort.Strings(l)
	}
	if !slices.Equal(inTemplate, inApp) || !slices.Equal(inApp, inFolders) {
		t.Fatalf("template.yaml %v, app.Functions %v, functions/ %v: want the same", inTemplate, inApp, inFolders)
	}
	for _, f := range Functions {
		main, err := os.ReadFile(filepath.Join(root, "functions", f.Name, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(main), `app.Run("`+f.Name+`")`) {
			t.Errorf("functions/%s/main.go does not call app.Run(%q)", f.Name, f.Name)
		}
	}
}

func TestTheTemplateDeclaresExactlyWhatEachFunctionReads(t *testing.T) {
	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Functions {
		t.Run(f.Name, func(t *testing.T) {
			// The SSM and plain forms of each key source (the plain one for sam local),
			// every other variable as is; _FILE is for local runs only.
			var want []string
			for _, v := range f.Uses.Variables() {
				if !strings.HasSuffix(v, "_FILE") {
					want = append(want, v)
				}
			}
			if f.Uses&config.UseTable != 0 {
				want = append(want, "AWS_ENDPOINT_URL_DYNAMODB") // for sam local --env-vars
			}
			var got []string
			for name := range tmpl.FunctionEnv(f.Name) {
				got = append(got, name)
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Fatalf("template.yaml declares %v, the function reads %v", got, want)
			}
		})
	}
}

func TestStartFailsClearly(t *testing.T) {
	tests := []struct {
		name    string
		fn      string
		values  map[string]string
		env     map[string]string
		mention string
	}{
		{"an unreadable SSM parameter", "login", map[string]string{}, nil, "/sessions/signing-key"},
		{"an SSM parameter that is not a key set", "login", map[string]string{"/sessions/signing-key": "hello"}, nil, "no PRIVATE KEY"},
		{"a public key set that is not a JWKS", "jwks", map[string]string{"/sessions/public-keys": "hello"}, nil, "not a JWKS"},
		{"a refresh key of the wrong length", "logout", map[string]string{"/sessions/refresh-key": "c2hvcnQ"}, nil, "32 random bytes"},
		{"a key file that does not exist", "login", nil,
			map[string]string{"SIGNING_KEY_PARAMETER": "", "SIGNING_KEY_FILE": "/nonexistent/key.pem"}, "SIGNING_KEY_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" stops the start with a message naming it", func(t *testing.T) {
			f, _ := Lookup(tc.fn)
			base := deployedEnv(t, tc.fn)
			cfg, err := config.FromEnv(func(k string) string {
				if v, ok := tc.env[k]; ok {
					return v
				}
				return base(k)
			}, f.Uses)
			if err != nil {
				t.Fatal(err)
			}
			s := &fakeSSM{values: tc.values}
			_, err = New(context.Background(), cfg, Options{
				DynamoDB: dynamodb.New(dynamodb.Options{Region: "us-east-1"}),
				SSM:      func() (keys.ParameterGetter, error) { return s, nil },
			})
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.mention)
			}
		})
	}
}

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func TestWarmFunctionsPickUpARotatedKeySetWithinTheReloadTime(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	m, err := keys.NewMaterial(keys.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	values := material(t)
	pem, _ := m.Private.PEM()
	values["/sessions/signing-key"], values["/sessions/public-keys"] = string(pem), string(m.Private.JWKS())
	s := &fakeSSM{values: values}
	clk := &clock{t0}
	build := func(name string) *App {
		f, _ := Lookup(name)
		cfg, err := config.FromEnv(deployedEnv(t, name), f.Uses)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(context.Background(), cfg, Options{
			DynamoDB: dynamodb.New(dynamodb.Options{Region: "us-east-1"}),
			SSM:      func() (keys.ParameterGetter, error) { return s, nil }, Now: clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	login, authorizer := build("login"), build("authorizer")
	oldKid := login.Signing.Current().Signing().ID

	// An operator adds a key and promotes it (what sessionctl keys add/promote write).
	added, k, err := m.Private.Add(keys.ES256, t0)
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := added.Promote(k.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ = promoted.PEM()
	values["/sessions/signing-key"], values["/sessions/public-keys"] = string(pem), string(promoted.JWKS())
	reads := len(s.names)

	clk.t = t0.Add(KeyReloadEvery - time.Second)
	login.ReloadKeys(context.Background())
	authorizer.ReloadKeys(context.Background())
	if len(s.names) != reads || login.Signing.Current().Signing().ID != oldKid {
		t.Fatalf("reloaded before KeyReloadEvery: %d reads, signing %s", len(s.names)-reads, login.Signing.Current().Signing().ID)
	}
	clk.t = t0.Add(KeyReloadEvery)
	login.ReloadKeys(context.Background())
	authorizer.ReloadKeys(context.Background())
	if got := login.Signing.Current().Signing().ID; got != k.ID {
		t.Fatalf("after the reload time login signs with %s, want the promoted %s", got, k.ID)
	}
	if _, ok := authorizer.Public.Current().Lookup(k.ID); !ok {
		t.Fatal("after the reload time the authorizer does not know the new key")
	}
	if got := s.names[reads:]; !slices.Equal(got, []string{"/sessions/signing-key", "/sessions/public-keys"}) {
		t.Fatalf("reload read %v", got)
	}

	// A failed reload keeps the keys in use and is tried again soon, not at once.
	s.err = errors.New("ThrottlingException")
	clk.t = clk.t.Add(KeyReloadEvery)
	login.ReloadKeys(context.Background())
	if got := login.Signing.Current().Signing().ID; got != k.ID {
		t.Fatalf("a failed reload changed the signing key to %s", got)
	}
	n := len(s.names)
	login.ReloadKeys(context.Background())
	if len(s.names) != n {
		t.Fatal("a failed reload is retried on the very next request")
	}
	clk.t = clk.t.Add(keyReloadRetry)
	login.ReloadKeys(context.Background())
	if len(s.names) != n+1 {
		t.Fatalf("a failed reload is not retried after %s", keyReloadRetry)
	}
}

func TestEveryFunctionHasTimeForItsStorageBudget(t *testing.T) {
	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	// A handler stops waiting for storage after config.StorageTimeout and keeps half a
	// second to answer; a Lambda timeout shorter than that would cut the 503 off.
	for _, f := range fs {
		if got, need := time.Duration(f.Timeout)*time.Second, config.StorageTimeout+time.Second; got < need {
			t.Errorf("%s: Timeout %s, want at least %s", f.ID, got, need)
		}
	}
}
