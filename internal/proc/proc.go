// Package proc tells the processes of this host apart, for the lease
// owners of package account and the tmp/ files of package deliver: a
// random tag of this process, and whether a pid still runs.
package proc

import (
	"crypto/rand"
	"encoding/hex"
)

// Tag is random for each process: it tells this process from an earlier
// one of the host that had the same pid (a restarted container's daemon,
// typically).
var Tag = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()
