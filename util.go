package multidrop

import (
	"errors"
	"os"
	"strings"
	"time"

	"github.com/multidrop/multidrop/pop"
)

func localHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// isAuthFailure reports whether err says the credentials were refused
// ([AUTH], RFC 3206).
func isAuthFailure(err error) bool {
	var pe *pop.Error
	return errors.As(err, &pe) && strings.EqualFold(strings.SplitN(pe.Code, "/", 2)[0], "AUTH")
}

// loginDelay returns how long the server asked to wait before the next login:
// its LOGIN-DELAY capability, or at least the interval after a
// [LOGIN-DELAY] refusal.
func loginDelay(r *Report, err error) time.Duration {
	var pe *pop.Error
	if errors.As(err, &pe) && strings.EqualFold(pe.Code, "LOGIN-DELAY") {
		return max(r.loginDelay(), 5*time.Minute)
	}
	return r.loginDelay()
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
