package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

func main() {
	if n := procs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0), runtime.NumCPU()); n != runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
	}
	if p, ok := gcPercent(os.Getenv("GOGC")); ok {
		debug.SetGCPercent(p)
	}
	// The first SIGINT or SIGTERM stops gracefully, the second cuts; Main
	// logs each as it arrives.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	os.Exit(Main(context.Background(), os.Args[1:], &Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, Terminal: isTerminal(os.Stdout),
		Reload: hup, Signals: sig,
	}))
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// minProcs is the least GOMAXPROCS multidropd runs with. Deliveries hold
// their Ps through fsyncs and file creations until the runtime takes them
// back, so with as many Ps as cores on a small machine the goroutine that
// downloads waits for one: in scripts/bench-pipeline on 2 cores, the 99th
// percentile of scheduling latency was 17 ms at GOMAXPROCS=2 and 2 ms at
// 4, and a check took 10-15% less time.
const minProcs = 4

// defaultGCPercent is the GOGC multidropd runs with unless the environment
// sets one. A check's heap is mostly short-lived message bytes (spools,
// copy buffers), so a collection goal of 1.5 times the live heap instead
// of twice lowers the peak RSS. In scripts/bench-pipeline's corpus run
// (2,000 messages, plain, medians of 3, on a quiet machine, once the check
// kept little per message and allocated 64 MB): 35.1 MiB and 1.62 s of
// CPU at GOGC=100, 31.5 MiB and 1.86 s at 50, 30.1 MiB and 2.16 s at 25 —
// below 50 each MiB saved costs a fifth of a second of collections.
const defaultGCPercent = 50

// gcPercent returns the GC percentage to set, unless the environment sets
// GOGC (ok is false then: the administrator's choice stands).
func gcPercent(env string) (percent int, ok bool) {
	if env != "" {
		return 0, false
	}
	return defaultGCPercent, true
}

// procs returns the GOMAXPROCS to run with: minProcs when the current one
// is lower and follows the machine's CPUs; the current one when the
// environment sets it, or when it is below the CPUs (a container's CPU
// quota, which the runtime follows and a limit set here would override).
func procs(env string, current, cpus int) int {
	if env != "" || current >= minProcs || current < cpus {
		return current
	}
	return minProcs
}
