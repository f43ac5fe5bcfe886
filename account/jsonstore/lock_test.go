//go:build unix

package jsonstore_test

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

func flock(f *os.File) error   { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }
func funlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}
