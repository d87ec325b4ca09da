//go:build linux

// Command spawn runs a command and writes its wall time and resource usage
// to file descriptor 3, one line: wall, user and system time in
// nanoseconds, peak RSS in KiB, exit code (128+N when killed by signal N).
// It exits with the command's code.
//
// The perf benchmarks run every measured command through it so that the
// peak RSS is the command's own. On Linux a process inherits, at exec, the
// peak RSS of the memory it replaces (exec_mmap), and a child of a Go
// process is started with vfork, sharing the parent's memory: run directly
// from a benchmark that hosts a simulator, every child would report at
// least the benchmark's own peak. spawn is small, so what it passes on is
// below anything measured.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: spawn COMMAND [ARG...] (the report goes to fd 3)")
		os.Exit(125)
	}
	// The report is for spawn's parent alone, not the command's to inherit.
	syscall.CloseOnExec(3)
	report := os.NewFile(3, "report")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If spawn is killed, so is the command.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		fmt.Fprintf(os.Stderr, "spawn: %v\n", err)
		os.Exit(125)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		fmt.Fprintln(os.Stderr, "spawn: no resource usage from wait4")
		os.Exit(125)
	}
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if _, err := fmt.Fprintf(report, "%d %d %d %d %d\n", wall.Nanoseconds(), ru.Utime.Nano(), ru.Stime.Nano(), ru.Maxrss, code); err != nil {
		fmt.Fprintf(os.Stderr, "spawn: report: %v\n", err)
		os.Exit(125)
	}
	os.Exit(code)
}
