//go:build unix

package proc

import (
	"errors"
	"syscall"
)

// Gone reports whether no process of this host has the pid (signal 0
// checks without signalling; a process of another user answers EPERM:
// it runs).
func Gone(pid int) bool {
	return pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
