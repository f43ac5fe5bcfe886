//go:build unix

package account

import (
	"errors"
	"syscall"
)

// processGone reports whether no process has the pid (signal 0 checks
// without signalling; a process of another user answers EPERM: alive).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
