//go:build !linux

package main

// stopWithGoRun is Linux-only (it uses the parent-death signal); elsewhere, stop the
// server with Ctrl-C or a signal to the server itself rather than to go run.
func stopWithGoRun() {}
