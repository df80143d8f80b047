// Package admin is sessionctl, the operator's command: it creates the table, manages
// users and their passwords, lists and revokes sessions, and creates and rotates the
// key material in SSM Parameter Store (keys.go). It talks to whatever DynamoDB the
// standard AWS configuration reaches, real or DynamoDB Local, through the same
// internal/ddb store and session.Service the functions use.
//
// cmd/sessionctl only wires the process (stdin, the terminal, the AWS configuration)
// into Env and calls Run; everything else lives here so tests can drive it.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/samtemplate"
	"github.com/example/sessions/internal/session"
)

// Exit codes of Run.
const (
	ExitOK          = 0   // done
	ExitFailure     = 1   // AWS or DynamoDB failed (or another operational error)
	ExitUsage       = 2   // bad command line or bad input (username, password, scope)
	ExitNotFound    = 3   // unknown user, session, key or key parameter
	ExitConflict    = 4   // the user or the key material already exists (or changed meanwhile)
	ExitInterrupted = 130 // interrupted (SIGINT or SIGTERM), as shells report it
)

// Client is the DynamoDB API the command uses; *dynamodb.Client implements it.
type Client interface {
	ddb.API
	ddb.TableAdmin
}

// Env is everything the command takes from its surroundings.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (TABLE_NAME, the key parameters' names,
	// ACCESS_TOKEN_TTL); nil reads nothing.
	Getenv func(string) string
	// Prompt shows prompt and reads one line from the terminal without echo. It is
	// nil when stdin is not a terminal: the password is then stdin's first line.
	Prompt func(prompt string) (string, error)
	// Connect returns the DynamoDB client. Only commands that reach DynamoDB call it,
	// so help and usage errors need no AWS configuration.
	Connect func(ctx context.Context) (Client, error)
	// ConnectSSM returns the SSM client for the keys commands, which need no table;
	// only they call it.
	ConnectSSM func(ctx context.Context) (SSMClient, error)
	// Template is the SAM template holding the table definition and the defaults of
	// the key parameters' names and ACCESS_TOKEN_TTL (sessions.TemplateYAML).
	Template []byte
	// Password are the argon2id parameters for new hashes; zero means password.OWASP.
	Password password.Params
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives the session service's log lines; nil discards them.
	Log *slog.Logger
	// Audit receives the audit events of what the commands change (one JSON line
	// each, internal/audit: users created, disabled, enabled, passwords set, sessions
	// revoked, key material rotated); nil discards them. sessionctl writes them to
	// stderr.
	Audit io.Writer
}

// Run runs sessionctl with args (without the program name) and returns the exit
// code. Results go to Stdout; errors go to Stderr as one line each.
func Run(ctx context.Context, env Env, args []string) int {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Password == (password.Params{}) {
		env.Password = password.OWASP
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	c := &cli{env: env, audit: slog.New(slog.DiscardHandler)}
	if env.Audit != nil {
		c.audit = slog.New(slog.NewJSONHandler(env.Audit, nil))
	}
	err := c.run(ctx, args)
	if err == nil {
		return ExitOK
	}
	code := exitCode(err)
	if ctx.Err() != nil && code == ExitFailure {
		code, err = ExitInterrupted, errors.New("interrupted")
	}
	fmt.Fprintln(env.Stderr, "sessionctl: "+oneLine(err.Error()))
	if u, ok := errors.AsType[*usageError](err); ok && u.hint != "" {
		fmt.Fprintln(env.Stderr, u.hint)
	}
	return code
}

// cli is one run of the command.
type cli struct {
	env   Env
	audit *slog.Logger // env.Audit as JSON lines
	table string       // resolved by connect

	client  Client
	store   *ddb.Store
	service *session.Service

	ssm    SSMClient // resolved by connectSSM, with params
	params keyParams
	tpl    *samtemplate.Template // parsed on first use by setting
}

// usageError is a bad command line or bad input; hint is the line printed after it
// (the command's synopsis and where to get help).
type usageError struct {
	msg  string
	hint string
}

func (e *usageError) Error() string { return e.msg }

// codedError carries the exit code for not-found and conflict errors.
type codedError struct {
	code int
	msg  string
	err  error
}

func (e *codedError) Error() string {
	if e.err == nil {
		return e.msg
	}
	return e.msg + ": " + e.err.Error()
}

func (e *codedError) Unwrap() error { return e.err }

func notFound(format string, a ...any) error {
	return &codedError{code: ExitNotFound, msg: fmt.Sprintf(format, a...)}
}

func conflict(format string, a ...any) error {
	return &codedError{code: ExitConflict, msg: fmt.Sprintf(format, a...)}
}

// failed wraps an operational error with what was being done, and adds a hint for
// the errors an operator can fix at once.
func (c *cli) failed(what string, err error) error {
	if _, ok := errors.AsType[*types.ResourceNotFoundException](err); ok {
		return fmt.Errorf("%s: table %q does not exist (create it with `sessionctl create-table`, or check --table, TABLE_NAME and the AWS region): %w", what, c.table, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func exitCode(err error) int {
	if _, ok := errors.AsType[*usageError](err); ok {
		return ExitUsage
	}
	if e, ok := errors.AsType[*codedError](err); ok {
		return e.code
	}
	return ExitFailure
}

// oneLine keeps an error on one line of the terminal.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
