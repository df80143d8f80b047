package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/testddb"
)

func TestMain(m *testing.M) { testddb.Main(m) }

// build compiles sessionctl once per test binary.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sessionctl")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// environ is a clean AWS environment reaching DynamoDB Local, plus extra.
func environ(t *testing.T, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "TABLE_NAME=") {
			env = append(env, kv)
		}
	}
	none := filepath.Join(t.TempDir(), "none")
	env = append(env,
		"AWS_ENDPOINT_URL_DYNAMODB="+testddb.Endpoint(t),
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none, "AWS_EC2_METADATA_DISABLED=true",
	)
	return append(env, extra...)
}

// TestProcess runs the built command as an operator would: real stdin (a pipe, not a
// terminal), the standard AWS configuration from the environment, exit codes.
func TestProcess(t *testing.T) {
	bin := build(t)
	table := fmt.Sprintf("sessionctl-process-%d", time.Now().UnixNano())
	client := testddb.Client(t)
	t.Cleanup(func() {
		_, _ = client.DeleteTable(t.Context(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	env := environ(t, "AWS_REGION=eu-west-1", "TABLE_NAME="+table)
	devKeys := filepath.Join(t.TempDir(), "keys")
	steps := []struct {
		name   string
		args   []string
		stdin  string
		env    []string
		code   int
		stdout string
		stderr string
	}{
		{name: "help prints the usage without any AWS configuration", args: []string{"help"}, env: os.Environ(),
			stdout: "Usage:\n  sessionctl [--table NAME] COMMAND [ARGUMENTS]"},
		{name: "no command exits 2", args: nil, code: 2, stderr: "sessionctl: no command given\nRun 'sessionctl help' for usage.\n"},
		{name: "create-table creates the table named by TABLE_NAME", args: []string{"create-table"},
			stdout: "created table " + table + " (TTL on attribute ttl)\n"},
		{name: "create-table a second time says it exists", args: []string{"create-table"},
			stdout: "table " + table + " already exists; left as it is\n"},
		{name: "a user is created with the password piped on stdin", args: []string{"user", "create", "Alice"},
			stdin: "correct horse battery staple\nignored second line\n", stdout: "created user alice (uid "},
		{name: "the same user again exits 4", args: []string{"user", "create", "alice"}, stdin: "correct horse battery staple\n",
			code: 4, stderr: "sessionctl: user \"alice\" already exists\n"},
		{name: "the new user has no sessions", args: []string{"sessions", "list", "alice"}, stdout: "alice has no sessions\n"},
		{name: "an unknown user exits 3", args: []string{"user", "revoke-all", "bob"}, code: 3, stderr: "sessionctl: no user \"bob\"\n"},
		{name: "a missing table exits 1 with one line and no SDK warning", args: []string{"--table", "missing", "sessions", "list", "alice"},
			code: 1, stderr: `table "missing" does not exist`},
		{name: "a missing region exits 1", args: []string{"sessions", "list", "alice"}, env: environ(t, "TABLE_NAME="+table),
			code: 1, stderr: "sessionctl: AWS configuration: no AWS region: set AWS_REGION"},
		{name: "the key commands reach SSM through the same configuration: without a region they exit 1",
			args: []string{"keys", "list"}, env: environ(t), code: 1, stderr: "no AWS region: set AWS_REGION"},
		{name: "local key material is written without any AWS configuration", args: []string{"keys", "init", "--dir", devKeys},
			env: environ(t), stdout: devKeys},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			cmd := exec.Command(bin, s.args...)
			cmd.Env = env
			if s.env != nil {
				cmd.Env = s.env
			}
			cmd.Stdin = strings.NewReader(s.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			t.Logf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
			if code != s.code || !strings.Contains(stdout.String(), s.stdout) || !strings.Contains(stderr.String(), s.stderr) {
				t.Fatalf("want exit %d, stdout with %q, stderr with %q", s.code, s.stdout, s.stderr)
			}
			if (s.code != 0 && strings.Count(stderr.String(), "\n") > 2) || strings.Contains(stderr.String(), "SDK ") {
				t.Fatalf("stderr is more than the error: %q", stderr.String())
			}
		})
	}
	t.Run("keys init --dir wrote the three files the local server reads, secrets private", func(t *testing.T) {
		for name, mode := range map[string]os.FileMode{"dev-signing-key.pem": 0o600, "dev-public-keys.json": 0o644, "dev-refresh-key": 0o600} {
			st, err := os.Stat(filepath.Join(devKeys, name))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm()&0o077 != mode&0o077 {
				t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), mode)
			}
		}
	})
	t.Run("the user's password is hashed with argon2id at the OWASP parameters", func(t *testing.T) {
		l, err := ddb.New(client, table).GetLogin(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(l.PwHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("hash %q", l.PwHash)
		}
	})
}
