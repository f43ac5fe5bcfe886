//go:build unix

package jsonstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile is an flock(2) lock on a file beside the data file. flock locks
// belong to the open file description, so they exclude other processes and
// other lockFiles of this process alike.
type lockFile struct{ f *os.File }

func openLock(path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jsonstore: lock file: %w", err)
	}
	return &lockFile{f: f}, nil
}

// lock takes the lock, shared or exclusive, waiting until ctx is done.
func (l *lockFile) lock(ctx context.Context, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(l.f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("jsonstore: lock %s: %w", l.f.Name(), err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("jsonstore: waiting for lock %s: %w", l.f.Name(), ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, pollLock)
	}
}

func (l *lockFile) unlock() { _ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN) }

func (l *lockFile) close() error { return l.f.Close() }
