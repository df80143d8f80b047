//go:build unix && !linux

package ddblocal

import "syscall"

// setParentDeathSignal does nothing: only Linux has a parent-death signal, so
// elsewhere the JVM outlives a caller that exits without Stop.
func setParentDeathSignal(*syscall.SysProcAttr) {}
