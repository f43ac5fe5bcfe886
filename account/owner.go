package account

import (
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multidrop/multidrop/internal/proc"
)

// A LeaseHeldError is the error of Locker.Acquire when another owner holds
// a live lease on the account. It matches [ErrLeaseHeld] with errors.Is.
type LeaseHeldError struct {
	AccountID string
	Owner     string    // the holder
	Expires   time.Time // when the lease ends unless renewed, on the locker's clock
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("%v: account %q, owner %q, until %s", ErrLeaseHeld, e.AccountID, e.Owner, e.Expires.UTC().Format(time.RFC3339))
}

// Unwrap returns [ErrLeaseHeld].
func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

var ownerSeq atomic.Uint64

var hostName = sync.OnceValue(func() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "localhost"
	}
	return h
})

// ProcessOwner returns a new lease owner that names this process:
// "host:pid:tag", where tag is random for the process followed by a number
// that differs for each call ("mx1:4242:3f9a1c0d2b7e-1"), so that two
// Pipelines of one process never share an owner. A Locker given such owners
// takes over at once a lease whose holder is a process of this host that is
// gone (see [OwnerGone]), instead of waiting for the lease to expire: a
// daemon restarted after a crash resumes its accounts at once.
func ProcessOwner() string {
	return hostName() + ":" + strconv.Itoa(os.Getpid()) + ":" + proc.Tag + "-" + strconv.FormatUint(ownerSeq.Add(1), 10)
}

// OwnerGone reports whether owner, made by [ProcessOwner], names a process
// of this host that no longer runs: its pid runs no process, or it is this
// process's pid in an earlier process. It is false for any other owner,
// for a process of another host (which cannot be checked) and wherever
// processes cannot be checked; such leases are taken over only once they
// expire. Lockers use it in Acquire; two live processes never hold one
// lease, since a live process is never reported gone.
func OwnerGone(owner string) bool {
	host, pid, tag, ok := parseOwner(owner)
	if !ok || host != hostName() {
		return false
	}
	if pid == os.Getpid() {
		return tag != proc.Tag
	}
	return proc.Gone(pid)
}

// parseOwner splits an owner made by ProcessOwner.
func parseOwner(owner string) (host string, pid int, tag string, ok bool) {
	i := strings.LastIndexByte(owner, ':')
	if i < 0 {
		return "", 0, "", false
	}
	rest, tag := owner[:i], owner[i+1:]
	j := strings.LastIndexByte(rest, ':')
	if j <= 0 {
		return "", 0, "", false
	}
	host = rest[:j]
	pid, err := strconv.Atoi(rest[j+1:])
	if err != nil || pid <= 0 {
		return "", 0, "", false
	}
	tag, _, ok = strings.Cut(tag, "-")
	if !ok || len(tag) != len(proc.Tag) {
		return "", 0, "", false
	}
	if _, err := hex.DecodeString(tag); err != nil {
		return "", 0, "", false
	}
	return host, pid, tag, true
}
