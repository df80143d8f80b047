// Command sessionctl is the operator's tool for the sessions table and the key
// material: create the table, create users, set passwords, revoke tokens, list and
// revoke sessions, create and rotate the signing keys in SSM Parameter Store. It uses
// the standard AWS configuration, so it works against DynamoDB in AWS and, with
// AWS_ENDPOINT_URL_DYNAMODB, against DynamoDB Local alike.
//
//	sessionctl help
//	TABLE_NAME=sessions sessionctl create-table
//	printf '%s\n' "$PASSWORD" | sessionctl --table sessions user create alice
//	sessionctl --table sessions sessions list alice
//	sessionctl keys list
//
// The work is done by internal/admin; this file only wires the process into it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"golang.org/x/term"

	sessions "github.com/example/sessions"
	"github.com/example/sessions/internal/admin"
	"github.com/example/sessions/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The audit events (one JSON line per change an operator makes, docs/operations.md)
	// go to stderr with the messages: kept in the terminal's scrollback, or collected
	// with 2>>file.
	env := admin.Env{
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Audit:      os.Stderr,
		Getenv:     os.Getenv,
		Template:   sessions.TemplateYAML,
		Connect:    connect,
		ConnectSSM: connectSSM,
	}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		env.Prompt = func(prompt string) (string, error) { return readSecret(ctx, fd, prompt) }
	}
	code := admin.Run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

// connect builds the DynamoDB client from the standard AWS configuration, with the
// same bounded retries as the functions.
func connect(ctx context.Context) (admin.Client, error) {
	cfg, err := loadAWS(ctx)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg), nil
}

// connectSSM builds the SSM client for the keys commands the same way.
func connectSSM(ctx context.Context) (admin.SSMClient, error) {
	cfg, err := loadAWS(ctx)
	if err != nil {
		return nil, err
	}
	return ssm.NewFromConfig(cfg), nil
}

// loadAWS is app.LoadAWS with a region required: without one the SDK fails later,
// less clearly.
func loadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := app.LoadAWS(ctx)
	if err != nil {
		return cfg, err
	}
	if cfg.Region == "" {
		return cfg, errors.New("no AWS region: set AWS_REGION or a profile's region (any region works for DynamoDB Local)")
	}
	return cfg, nil
}

// readSecret prompts on stderr and reads a line from the terminal without echo. An
// interrupt while it waits restores the terminal before the process exits, since
// the signal no longer ends the process by itself.
func readSecret(ctx context.Context, fd int, prompt string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = term.Restore(fd, state)
			fmt.Fprintln(os.Stderr, "\nsessionctl: interrupted")
			os.Exit(admin.ExitInterrupted)
		case <-done:
		}
	}()
	fmt.Fprint(os.Stderr, prompt)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	return string(b), err
}
