// Package app wires the service together from its configuration.
//
// Functions is the one list of the Lambda functions: which handler each serves and
// which settings (and so which key material and AWS access) it uses. functions/<name>
// hands its name to Run, which builds only that function's parts; the local server, the
// tests and the benchmarks build an App with every part and take each function's
// handler from the same list.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/logging"

	"github.com/example/sessions/internal/api"
	"github.com/example/sessions/internal/authz"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/metrics"
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/token"
)

// HTTPHandler is a route's Lambda handler (API Gateway HTTP API, payload 2.0).
type HTTPHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// AuthorizerHandler is the Lambda authorizer's handler (payload 2.0, simple responses).
type AuthorizerHandler = func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error)

// Function is one Lambda function of template.yaml: CodeUri functions/<Name>.
type Function struct {
	Name string
	// Uses are the settings it reads; its environment in template.yaml is exactly
	// Uses.Variables() (the SSM form of each key source, plus the plain form for sam
	// local), and its IAM policy grants exactly what those parts call.
	Uses config.Use
	// HTTP returns its route handler; nil for the authorizer.
	HTTP func(*App) HTTPHandler
	// Authorizer returns its handler if it is the Lambda authorizer.
	Authorizer func(*App) AuthorizerHandler
	// Raw, if set, is what Lambda runs in place of the typed handler: a handler of the
	// raw payload that answers exactly as the typed one. The authorizer has one, since
	// decoding its whole event by reflection cost more than the rest of its work.
	Raw func(*App) lambda.Handler
}

// Handler returns what the function serves, for lambda.Start: Raw's handler if it
// has one, else the typed handler.
func (f Function) Handler(a *App) any {
	switch {
	case f.Raw != nil:
		return f.Raw(a)
	case f.Authorizer != nil:
		return f.Authorizer(a)
	}
	return f.HTTP(a)
}

// Functions are the Lambda functions, in template.yaml's order.
var Functions = []Function{
	{
		Name: "login",
		Uses: config.UseTable | config.UseClaims | config.UseAccessTTL | config.UseLifetimes | config.UseSessionLimit |
			config.UseAccessCookie | config.UseSigningKey | config.UseMetrics,
		HTTP: func(a *App) HTTPHandler { return a.API.Login },
	},
	{
		Name: "refresh",
		Uses: config.UseTable | config.UseClaims | config.UseAccessTTL | config.UseLifetimes | config.UseReuseGrace |
			config.UseAccessCookie | config.UseSigningKey | config.UseRefreshKey | config.UseMetrics,
		HTTP: func(a *App) HTTPHandler { return a.API.Refresh },
	},
	{
		Name: "logout",
		Uses: config.UseTable | config.UseAccessCookie | config.UseRefreshKey | config.UseMetrics,
		HTTP: func(a *App) HTTPHandler { return a.API.Logout },
	},
	{
		// The signed-in user's own account: the device list, signing one out, the
		// password change and reauthentication (behind the authorizer).
		Name: "account",
		Uses: config.UseTable | config.UseClaims | config.UseAccessTTL | config.UseAccessCookie | config.UseSigningKey | config.UseMetrics,
		HTTP: func(a *App) HTTPHandler { return a.API.Account },
	},
	{
		Name: "jwks",
		Uses: config.UsePublicKeys,
		HTTP: func(a *App) HTTPHandler { return a.API.JWKS },
	},
	{
		Name: "me",
		HTTP: func(a *App) HTTPHandler { return a.API.Me },
	},
	{
		Name:       "authorizer",
		Uses:       config.UseTable | config.UseClaims | config.UseAccessCookie | config.UsePublicKeys | config.UseMetrics,
		Authorizer: func(a *App) AuthorizerHandler { return a.Authorizer.Handle },
		Raw:        func(a *App) lambda.Handler { return a.Authorizer },
	},
}

// Lookup returns the function called name.
func Lookup(name string) (Function, bool) {
	i := slices.IndexFunc(Functions, func(f Function) bool { return f.Name == name })
	if i < 0 {
		return Function{}, false
	}
	return Functions[i], true
}

// App is the wired service. Parts a configuration does not use are nil: a function's
// App holds only what its handler calls.
type App struct {
	Config     config.Config
	Store      *ddb.Store        // with config.UseTable
	Service    *session.Service  // with config.UseTable
	API        *api.Handlers     // always
	Authorizer *authz.Authorizer // with config.UseTable and config.UsePublicKeys
	Signing    *keys.Live        // with config.UseSigningKey: the private key set
	Public     *keys.Live        // with config.UsePublicKeys: the published key set

	reload reloader
}

// KeyReloadEvery is how often a running function reads its key sets from SSM again, so
// that each `sessionctl keys` step reaches every warm container within this time and no
// redeploy is needed; the rotation commands wait for it (see internal/admin).
const KeyReloadEvery = 5 * time.Minute

// keyReloadRetry is the wait after a failed reload: the loaded keys stay in use.
const keyReloadRetry = 30 * time.Second

// keyReloadTimeout bounds one reload, so a slow SSM delays a request by at most this.
const keyReloadTimeout = time.Second

// reloader re-reads the key sets that live in SSM.
type reloader struct {
	mu    sync.Mutex
	next  time.Time
	now   func() time.Time
	log   *slog.Logger
	steps []func(context.Context) error
}

// ReloadKeys reads the key sets again if KeyReloadEvery has passed since they were
// read. Only key material in SSM is reloaded; a failure keeps the keys in use and is
// logged. Run calls it before each invocation.
func (a *App) ReloadKeys(ctx context.Context) {
	r := &a.reload
	if len(r.steps) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Before(r.next) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, keyReloadTimeout)
	defer cancel()
	r.next = now.Add(KeyReloadEvery)
	for _, step := range r.steps {
		if err := step(ctx); err != nil {
			r.log.WarnContext(ctx, "could not reload key material; the loaded keys stay in use", "err", err)
			r.next = now.Add(keyReloadRetry)
		}
	}
}

// Options are the parts a caller may supply; zero values get production defaults.
type Options struct {
	DynamoDB ddb.API                              // required with config.UseTable
	SSM      func() (keys.ParameterGetter, error) // needed only for key material in SSM
	Now      func() time.Time                     // default time.Now
	Log      *slog.Logger                         // default slog.Default()
	Password password.Params                      // default password.OWASP
}

// New builds the parts of the App that cfg.Uses names. It makes no network call
// unless key material lives in SSM.
func New(ctx context.Context, cfg config.Config, o Options) (*App, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Password == (password.Params{}) {
		o.Password = password.OWASP
	}
	a := &App{Config: cfg, reload: reloader{now: o.Now, log: o.Log}}
	a.reload.next = o.Now().Add(KeyReloadEvery)
	uses := func(u config.Use) bool { return cfg.Uses&u != 0 }
	// load reads one key set now, and again on ReloadKeys if it lives in SSM.
	load := func(src config.KeySource, read func(context.Context, config.KeySource, func() (keys.ParameterGetter, error)) (*keys.Set, error)) (*keys.Live, error) {
		ks, err := read(ctx, src, o.SSM)
		if err != nil {
			return nil, err
		}
		live := keys.NewLive(ks)
		if src.Parameter != "" {
			a.reload.steps = append(a.reload.steps, func(ctx context.Context) error {
				ks, err := read(ctx, src, o.SSM)
				if err == nil {
					live.Store(ks)
				}
				return err
			})
		}
		return live, nil
	}
	var err error
	if uses(config.UseSigningKey) {
		if a.Signing, err = load(cfg.SigningKey, keys.LoadPrivate); err != nil {
			return nil, err
		}
	}
	if uses(config.UsePublicKeys) {
		if a.Public, err = load(cfg.PublicKeys, keys.LoadPublic); err != nil {
			return nil, err
		}
	}
	var refreshKey []byte
	if uses(config.UseRefreshKey) {
		if refreshKey, err = keys.LoadRefreshKey(ctx, cfg.RefreshKey, o.SSM); err != nil {
			return nil, err
		}
	}
	var jwks keys.Source
	if a.Public != nil {
		jwks = a.Public
	}
	// The function's metrics, as EMF lines in its own log (nil without UseMetrics).
	rec := metrics.New(o.Log, cfg.MetricsNamespace)
	if uses(config.UseTable) {
		if o.DynamoDB == nil {
			return nil, fmt.Errorf("app: no DynamoDB client")
		}
		db := o.DynamoDB
		if rec != nil {
			db = ddb.Observe(db, func(ctx context.Context, failure string) {
				rec.Count(ctx, metrics.DynamoDBErrors, failure, 1)
			})
		}
		a.Store = ddb.New(db, cfg.TableName)
		var minter *token.Minter
		var deviceKeys keys.Source // login's device tokens are MACed with keys derived from the signing set
		if a.Signing != nil {
			minter = token.NewMinter(a.Signing, cfg.Issuer, cfg.Audience)
			deviceKeys = a.Signing
		}
		a.Service = session.New(session.Deps{
			Store:       a.Store,
			Minter:      minter,
			RotationKey: refreshKey,
			Now:         o.Now,
			Policy: session.Policy{
				AccessTTL: cfg.AccessTokenTTL, IdleTTL: cfg.RefreshTokenTTL,
				MaxAge: cfg.SessionMaxAge, Grace: cfg.RefreshReuseGrace, MaxSessions: cfg.MaxSessionsPerUser,
			}.DefaultThrottle(),
			Password:   o.Password,
			Log:        o.Log,
			Metrics:    rec,
			DeviceKeys: deviceKeys,
		})
		if a.Public != nil {
			verifier := token.NewVerifier(a.Public, cfg.Issuer, cfg.Audience, o.Now)
			var opts []authz.Option
			if cfg.AccessTokenCookie {
				opts = append(opts, authz.AcceptAccessCookie())
			}
			a.Authorizer = authz.New(verifier, a.Store, o.Now, o.Log, opts...)
			a.Authorizer.Metrics = rec
		}
	}
	var apiOpts []api.Option
	if cfg.AccessTokenCookie {
		apiOpts = append(apiOpts, api.WithAccessCookie())
	}
	a.API = api.New(a.Service, jwks, o.Log, o.Now, apiOpts...)
	return a, nil
}

// LoadAWS loads the SDK's standard configuration (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, ...). Retries are bounded so that, with
// the handler's deadline, a failing DynamoDB gets a 503 before the Lambda times out.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.AddWithMaxBackoffDelay(retry.AddWithMaxAttempts(retry.NewStandard(), 3), 200*time.Millisecond)
		}),
	)
	if err != nil {
		return cfg, err
	}
	cfg.Logger = quietClose{cfg.Logger}
	return cfg, nil
}

// quietClose drops the SDK's warning that closing a response body failed. The
// DynamoDB client checks every body against an x-amz-crc32 header that error
// responses of DynamoDB Local (and of DynamoDB, per aws-sdk-go-v2 issue 3545) lack,
// so every failed condition, an everyday event here, would log a false alarm.
type quietClose struct{ logging.Logger }

func (q quietClose) Logf(c logging.Classification, format string, v ...any) {
	if strings.HasPrefix(format, "failed to close HTTP response body") {
		return
	}
	q.Logger.Logf(c, format, v...)
}

// FromEnv builds the App for the settings in uses from the process environment and the
// standard AWS configuration. Only the clients those settings need are made.
func FromEnv(ctx context.Context, uses config.Use, log *slog.Logger) (*App, error) {
	cfg, err := config.FromEnv(os.Getenv, uses)
	if err != nil {
		return nil, err
	}
	o := Options{Log: log}
	if uses&(config.UseTable|config.UseSigningKey|config.UsePublicKeys|config.UseRefreshKey) != 0 {
		awsCfg, err := LoadAWS(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading AWS configuration: %w", err)
		}
		if uses&config.UseTable != 0 {
			o.DynamoDB = dynamodb.NewFromConfig(awsCfg)
		}
		o.SSM = func() (keys.ParameterGetter, error) { return ssm.NewFromConfig(awsCfg), nil }
	}
	return New(ctx, cfg, o)
}

// Run is the whole main of a Lambda function: build what the named function uses,
// once per cold start, and serve. A bad configuration stops the function at once with
// one clear log line.
func Run(name string) {
	log := lambdacontext.NewLogger().With("function", name)
	slog.SetDefault(log)
	f, ok := Lookup(name)
	if !ok {
		log.Error("cannot start", "err", "no function "+name+" in app.Functions")
		os.Exit(1)
	}
	a, err := FromEnv(context.Background(), f.Uses, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	h, ok := f.Handler(a).(lambda.Handler)
	if !ok {
		h = lambda.NewHandler(f.Handler(a)) // a typed handler: aws-lambda-go decodes and encodes
	}
	lambda.Start(reloading{h, a})
}

// reloading is a function's Lambda handler with ReloadKeys before each invocation.
type reloading struct {
	handler lambda.Handler
	app     *App
}

// Invoke implements lambda.Handler.
func (r reloading) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	r.app.ReloadKeys(ctx)
	return r.handler.Invoke(ctx, payload)
}
