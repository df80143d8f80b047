package keys

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/example/sessions/internal/config"
)

// ParameterGetter is the one SSM call the loaders need.
type ParameterGetter interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// LoadPrivate reads the private key set (SIGNING_KEY_*).
func LoadPrivate(ctx context.Context, src config.KeySource, newSSM func() (ParameterGetter, error)) (*Set, error) {
	data, err := load(ctx, "SIGNING_KEY", src, newSSM)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// LoadPublic reads the public key set (PUBLIC_KEYS_*), a JWKS document.
func LoadPublic(ctx context.Context, src config.KeySource, newSSM func() (ParameterGetter, error)) (*Set, error) {
	data, err := load(ctx, "PUBLIC_KEYS", src, newSSM)
	if err != nil {
		return nil, err
	}
	return ParseJWKS(data)
}

// LoadRefreshKey reads the refresh-token chain key (REFRESH_KEY_*).
func LoadRefreshKey(ctx context.Context, src config.KeySource, newSSM func() (ParameterGetter, error)) ([]byte, error) {
	data, err := load(ctx, "REFRESH_KEY", src, newSSM)
	if err != nil {
		return nil, err
	}
	return ParseRefreshKey(data)
}

// load reads key material from its source. newSSM is called only when the source is
// an SSM parameter, so local runs never build an SSM client. The material itself never
// appears in an error.
func load(ctx context.Context, prefix string, src config.KeySource, newSSM func() (ParameterGetter, error)) ([]byte, error) {
	switch {
	case src.Value != "":
		return []byte(src.Value), nil
	case src.File != "":
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("keys: reading %s_FILE: %w", prefix, err)
		}
		return b, nil
	case src.Parameter != "":
		if newSSM == nil {
			return nil, fmt.Errorf("keys: %s_PARAMETER is set but no SSM client is available", prefix)
		}
		client, err := newSSM()
		if err != nil {
			return nil, err
		}
		out, err := client.GetParameter(ctx, &ssm.GetParameterInput{
			Name:           aws.String(src.Parameter),
			WithDecryption: aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("keys: reading SSM parameter %s: %w", src.Parameter, err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return nil, fmt.Errorf("keys: SSM parameter %s is empty", src.Parameter)
		}
		return []byte(*out.Parameter.Value), nil
	}
	return nil, errors.New("keys: no source configured for " + prefix)
}
