package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/keys"
)

// fakeSSM is the one SSM call the key loader makes.
type fakeSSM struct {
	value string
	names []string
	err   error
}

func (f *fakeSSM) GetParameter(_ context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.names = append(f.names, aws.ToString(in.Name))
	if !aws.ToBool(in.WithDecryption) {
		return nil, errors.New("SecureString read without decryption")
	}
	if f.err != nil {
		return nil, f.err
	}
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(f.value)}}, nil
}

func cfgWith(src config.KeySource) config.Config {
	c, err := config.FromEnv(func(k string) string {
		return map[string]string{"TABLE_NAME": "t", "ISSUER": "i", "AUDIENCE": "a", "SIGNING_KEY": "x"}[k]
	})
	if err != nil {
		panic(err)
	}
	c.SigningKey = src
	return c
}

func TestTheKeyComesFromSSMOnceAndDecrypted(t *testing.T) {
	pem, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSSM{value: string(pem)}
	a, err := New(context.Background(), cfgWith(config.KeySource{Parameter: "/sessions/signing-key"}), Options{
		DynamoDB: dynamodb.New(dynamodb.Options{Region: "us-east-1"}),
		SSM:      func() (keys.ParameterGetter, error) { return f, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.names) != 1 || f.names[0] != "/sessions/signing-key" {
		t.Fatalf("SSM reads = %v, want one of /sessions/signing-key", f.names)
	}
	if !strings.Contains(string(a.Keys.JWKS()), a.Keys.Signing().ID) {
		t.Fatal("the JWKS does not publish the signing key")
	}
}

func TestStartFailsClearly(t *testing.T) {
	ddb := dynamodb.New(dynamodb.Options{Region: "us-east-1"})
	tests := []struct {
		name    string
		src     config.KeySource
		ssm     *fakeSSM
		mention string
	}{
		{"an unreadable SSM parameter", config.KeySource{Parameter: "/missing"}, &fakeSSM{err: errors.New("ParameterNotFound")}, "/missing"},
		{"an SSM parameter that is not a key", config.KeySource{Parameter: "/k"}, &fakeSSM{value: "hello"}, "no PRIVATE KEY"},
		{"a key file that does not exist", config.KeySource{File: "/nonexistent/key.pem"}, nil, "SIGNING_KEY_FILE"},
		{"an inline key that is not PEM", config.KeySource{PEM: "not a key"}, nil, "no PRIVATE KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" stops the start with a message naming it", func(t *testing.T) {
			o := Options{DynamoDB: ddb}
			if tc.ssm != nil {
				o.SSM = func() (keys.ParameterGetter, error) { return tc.ssm, nil }
			}
			_, err := New(context.Background(), cfgWith(tc.src), o)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.mention)
			}
		})
	}
}
