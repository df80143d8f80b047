// Command ddblocal runs DynamoDB Local (the AWS jar, installed on first use under
// .cache/dynamodb-local) in the foreground for tests and local development.
//
//	go run ./cmd/ddblocal                 # free port; prints the endpoint
//	go run ./cmd/ddblocal -port 8000      # fixed port
//	go run ./cmd/ddblocal -install        # install only, then exit
//	ddblocal -endpoint-file FILE          # also write the endpoint to FILE once ready
//
// It stops DynamoDB Local and exits on SIGINT or SIGTERM. Point clients at it with
// AWS_ENDPOINT_URL_DYNAMODB=<endpoint>. Under `go run` a SIGTERM reaches only the go
// command, not this program, so scripts should build it and run the binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/example/sessions/internal/ddblocal"
)

func main() {
	port := flag.Int("port", 0, "TCP port to listen on (0 picks a free one)")
	install := flag.Bool("install", false, "only install DynamoDB Local, then exit")
	dir := flag.String("dir", "", "install folder (default <project root>/.cache/dynamodb-local)")
	endpointFile := flag.String("endpoint-file", "", "write the endpoint URL to this file once DynamoDB Local answers")
	verbose := flag.Bool("v", false, "copy DynamoDB Local's own output to stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ddblocal: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(*port, *install, *dir, *endpointFile, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(port int, installOnly bool, dir, endpointFile string, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if installOnly {
		jarDir, err := ddblocal.Install(ctx, dir)
		if err != nil {
			return err
		}
		fmt.Println(jarDir)
		return nil
	}

	var out io.Writer
	if verbose {
		out = os.Stderr
	}
	// Start with a context of its own: a signal must stop the server through Stop
	// (SIGTERM first), not by the context's SIGKILL.
	srv, err := ddblocal.Start(context.Background(), ddblocal.Options{Dir: dir, Port: port, Output: out})
	if err != nil {
		return err
	}
	defer srv.Stop()
	if endpointFile != "" {
		// Written whole under a temporary name and renamed, so a reader never sees
		// half an endpoint.
		tmp := endpointFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(srv.Endpoint()+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, endpointFile); err != nil {
			return err
		}
		defer os.Remove(endpointFile)
	}
	fmt.Println(srv.Endpoint())
	fmt.Fprintln(os.Stderr, "ddblocal: DynamoDB Local is ready; export AWS_ENDPOINT_URL_DYNAMODB="+srv.Endpoint()+" (Ctrl-C stops it)")

	select {
	case <-ctx.Done():
		return nil
	case <-srv.Done():
		return fmt.Errorf("ddblocal: DynamoDB Local exited unexpectedly; its output:\n%s", srv.Output())
	}
}
