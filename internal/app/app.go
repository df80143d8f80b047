// Package app wires the service together from its configuration. Every Lambda
// function, the local server and the tests build the same App, so they run the same
// code with the same settings.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

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
	"github.com/example/sessions/internal/password"
	"github.com/example/sessions/internal/session"
	"github.com/example/sessions/internal/token"
)

// App is the wired service.
type App struct {
	Config     config.Config
	Keys       *keys.Set
	Store      *ddb.Store
	Service    *session.Service
	API        *api.Handlers
	Authorizer *authz.Authorizer
}

// Options are the parts a caller may supply; zero values get production defaults.
type Options struct {
	DynamoDB ddb.API                              // required
	SSM      func() (keys.ParameterGetter, error) // needed only with SIGNING_KEY_PARAMETER
	Now      func() time.Time                     // default time.Now
	Log      *slog.Logger                         // default slog.Default()
	Password password.Params                      // default password.OWASP
}

// New builds the App. It makes no network call unless the key lives in SSM.
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
	ks, err := keys.Load(ctx, cfg.SigningKey, o.SSM)
	if err != nil {
		return nil, err
	}
	store := ddb.New(o.DynamoDB, cfg.TableName)
	svc := session.New(session.Deps{
		Store:       store,
		Minter:      token.NewMinter(ks, cfg.Issuer, cfg.Audience),
		RotationKey: ks.RotationKey(),
		Now:         o.Now,
		Policy: session.Policy{
			AccessTTL: cfg.AccessTokenTTL, IdleTTL: cfg.RefreshTokenTTL,
			MaxAge: cfg.SessionMaxAge, Grace: cfg.RefreshReuseGrace,
		}.DefaultThrottle(),
		Password: o.Password,
		Log:      o.Log,
	})
	verifier := token.NewVerifier(ks, cfg.Issuer, cfg.Audience, o.Now)
	return &App{
		Config:     cfg,
		Keys:       ks,
		Store:      store,
		Service:    svc,
		API:        api.New(svc, ks.JWKS(), o.Log, o.Now),
		Authorizer: authz.New(verifier, store, o.Now, o.Log, cfg.TokenVersionCacheTTL),
	}, nil
}

// LoadAWS loads the SDK's standard configuration (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_DYNAMODB, ...). Retries are bounded so that, with the handler's
// deadline, a failing DynamoDB gets a 503 before the Lambda times out.
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

// FromEnv builds the App from the process environment and the standard AWS
// configuration.
func FromEnv(ctx context.Context, log *slog.Logger) (*App, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := LoadAWS(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return New(ctx, cfg, Options{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SSM:      func() (keys.ParameterGetter, error) { return ssm.NewFromConfig(awsCfg), nil },
		Log:      log,
	})
}

// Run is the whole main of a Lambda function: build the App once per cold start,
// pick the handler, and serve. A bad configuration stops the function at once with
// one clear log line.
func Run(name string, handler func(*App) any) {
	log := lambdacontext.NewLogger().With("function", name)
	slog.SetDefault(log)
	a, err := FromEnv(context.Background(), log)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	lambda.Start(handler(a))
}
