//go:build !unix

package ddblocal

import (
	"context"
	"os"
	"os/exec"
)

// setProcessGroup does nothing where there are no Unix process groups.
func setProcessGroup(*exec.Cmd) {}

// killGroup kills the process itself where there are no Unix process groups.
func killGroup(p *os.Process, _ bool) error {
	if p == nil {
		return nil
	}
	return p.Kill()
}

// lockFile does not lock where flock is missing: concurrent installs may race.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
