package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
)

// LOGIN-DELAY across runs: the server's minimum time between two logins
// (RFC 2449; Report.NextLogin, kept in the newest check record of the
// history) holds for every check the daemon starts — -once, -check, the
// schedule, Check Now — and survives a restart wherever the history is
// stored (SQLite, PostgreSQL). An account whose next login is not allowed
// yet is not connected to: its check ends at once with a *DeferredError.
// An [IN-USE] refusal sets no such time: it is a failure like any other,
// retried with the schedule's backoff.

// DeferredError is the error of a check that did not connect because the
// server allows no login to the account before Until (its LOGIN-DELAY).
// The Pipeline adds the account's ID to its text.
// It matches [pop.ErrLoginDelay]; it is not a failure of the account.
type DeferredError struct {
	Account string
	Until   time.Time
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("not checked: next login allowed at %s (the server's LOGIN-DELAY)",
		e.Until.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// Is makes a *DeferredError match [pop.ErrLoginDelay].
func (e *DeferredError) Is(target error) bool { return target == pop.ErrLoginDelay }

// Unwrap returns the delay as the server's [LOGIN-DELAY] refusal would
// carry it, so that the schedule waits until Until, not a backoff.
func (e *DeferredError) Unwrap() error {
	return &pop.Error{Command: "USER", Code: "LOGIN-DELAY", Text: "next login allowed at " + e.Until.UTC().Format(time.RFC3339),
		LoginDelay: max(time.Until(e.Until), time.Second), NextLogin: e.Until}
}

// gatedStore is the account store the daemon's Pipelines read: Get fails
// with a *DeferredError for an enabled account whose next login is not
// allowed yet, so the Pipeline does not connect.
type gatedStore struct {
	account.Store
	d *Daemon
}

// gatedScheduler is a gatedStore over a store that is also an
// [account.Scheduler] (the shared schedule claims accounts itself and
// keeps the delay in its due times).
type gatedScheduler struct {
	gatedStore
	account.Scheduler
}

// gate returns s, whose Get respects the accounts' next login.
func (d *Daemon) gate(s account.Store) account.Store {
	g := gatedStore{Store: s, d: d}
	if sch, ok := s.(account.Scheduler); ok {
		return gatedScheduler{g, sch}
	}
	return g
}

// Get implements [account.Store].
func (g gatedStore) Get(ctx context.Context, id string) (account.Account, error) {
	a, err := g.Store.Get(ctx, id)
	if err != nil || !a.Enabled {
		return a, err
	}
	if t := g.d.nextLogin(ctx, id); !t.IsZero() {
		g.d.log.Info("account not checked: next login allowed at "+t.UTC().Format("2006-01-02 15:04:05 UTC"),
			"account", id, "next_login", t)
		return account.Account{}, &DeferredError{Account: id, Until: t}
	}
	return a, nil
}

// nextLogin returns the earliest next login to account id that its newest
// check record allows, when it is in the future; the zero time otherwise.
// A history that cannot be read allows the login (the server refuses it
// if it is too soon).
func (d *Daemon) nextLogin(ctx context.Context, id string) time.Time {
	recs, err := d.history.Checks(ctx, id, 1)
	if err != nil {
		d.log.Warn("reading the check history for LOGIN-DELAY", "account", id, "err", err)
		return time.Time{}
	}
	if len(recs) == 0 || !recs[0].NextLogin.After(time.Now()) {
		return time.Time{}
	}
	return recs[0].NextLogin
}

// deferred reports whether err is a check deferred by LOGIN-DELAY.
func deferred(err error) bool {
	_, ok := deferredUntil(err)
	return ok
}

// deferredUntil returns the time a check deferred by LOGIN-DELAY waits
// for, if err is such a deferral.
func deferredUntil(err error) (time.Time, bool) {
	var de *DeferredError
	if errors.As(err, &de) {
		return de.Until, true
	}
	return time.Time{}, false
}
