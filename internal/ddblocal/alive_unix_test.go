//go:build unix

package ddblocal

import "syscall"

// alive reports whether a process with this pid still exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
