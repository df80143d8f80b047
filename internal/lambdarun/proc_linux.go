package lambdarun

import (
	"os/exec"
	"syscall"
)

// setParentDeath makes the kernel kill the function if the test binary dies first, so
// an aborted test run leaves no function behind.
func setParentDeath(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
