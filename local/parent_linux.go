package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// stopWithGoRun makes the kernel send this process SIGTERM, and so a graceful
// shutdown, when `go run` (how `make run` starts it) exits. go run passes no signal on:
// a Ctrl-C reaches both through the terminal's process group, but a SIGTERM sent to go
// run alone would otherwise leave this server, and the DynamoDB Local it started,
// running. Started any other way, nothing changes.
func stopWithGoRun() {
	ppid := os.Getppid()
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm")
	if err != nil || strings.TrimSpace(string(comm)) != "go" {
		return
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return
	}
	if os.Getppid() != ppid { // go run ended before the request took effect
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
}
