//go:build unix

package deliver

import (
	"errors"
	"strconv"
	"syscall"
)

// processAlive reports whether a process with the given pid runs on this
// host (signal 0 checks without signalling). Unsure means alive.
func processAlive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return true
	}
	return !errors.Is(syscall.Kill(n, 0), syscall.ESRCH)
}
