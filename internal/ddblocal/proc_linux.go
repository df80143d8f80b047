package ddblocal

import "syscall"

// setParentDeathSignal makes the kernel SIGKILL the JVM when the thread that started
// it exits, so a test binary that dies (a panic, go test's -timeout, SIGKILL) leaves
// no JVM behind.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
