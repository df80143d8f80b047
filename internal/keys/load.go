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

// ParameterGetter is the one SSM call the loader needs.
type ParameterGetter interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Load reads the key set from the configured source. newSSM is called only when the
// source is an SSM parameter, so local runs never build an SSM client.
func Load(ctx context.Context, src config.KeySource, newSSM func() (ParameterGetter, error)) (*Set, error) {
	var data []byte
	switch {
	case src.PEM != "":
		data = []byte(src.PEM)
	case src.File != "":
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("keys: reading SIGNING_KEY_FILE: %w", err)
		}
		data = b
	case src.Parameter != "":
		if newSSM == nil {
			return nil, errors.New("keys: SIGNING_KEY_PARAMETER is set but no SSM client is available")
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
		data = []byte(*out.Parameter.Value)
	default:
		return nil, errors.New("keys: no key source configured")
	}
	return Parse(data)
}
