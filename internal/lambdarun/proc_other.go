//go:build !linux

package lambdarun

import "os/exec"

// setParentDeath does nothing where there is no parent-death signal; Stop (from the
// test's cleanup) still ends the process.
func setParentDeath(*exec.Cmd) {}
