package multidrop

import (
	"errors"
	"os"

	"github.com/multidrop/multidrop/pop"
)

func localHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// sessionCommitted reports whether a Fetcher's error still means the session
// committed with QUIT: it is nil, or made only of per-message failures (a
// handler's error, a RETR or DELE the server refused) that the Fetcher
// reports after committing the rest.
func sessionCommitted(err error) bool {
	for _, e := range leafErrors(err) {
		var me *pop.HandlerError
		if errors.As(e, &me) {
			continue
		}
		var pe *pop.Error
		if errors.As(e, &pe) && (pe.Command == "RETR" || pe.Command == "DELE") {
			continue
		}
		return false
	}
	return true
}
