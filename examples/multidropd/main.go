package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// The first SIGINT or SIGTERM stops gracefully, the second cuts.
	ctx, stop := context.WithCancel(context.Background())
	cut, cutNow := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		stop()
		<-sig
		cutNow()
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	os.Exit(Main(ctx, os.Args[1:], &Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Terminal: isTerminal(os.Stdout),
		Reload: hup, Cut: cut,
	}))
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
