package account

import (
	"context"
	"time"
)

// A Scheduler shares the checking of a set of accounts among several
// instances: each due account is handed to exactly one of them, with a lease
// (see [Locker]), and the instance reports when the account is due next.
// Due times are kept and compared by the implementation on one clock (the
// database's for package account/sqlstore), so the clocks of the instances
// do not matter. A Scheduler is optional: with one, package schedule can
// run RunShared instead of Run.
type Scheduler interface {
	// Claim leases up to limit enabled accounts that are due, not paused
	// and not leased by anyone, to owner for ttl, and returns them with
	// their leases, the most overdue first. Concurrent Claims from any
	// number of instances never return the same account twice while its
	// lease is live. Claims may come with an error that names accounts
	// that could not be handed out (a corrupt record); the claims are
	// valid all the same.
	Claim(ctx context.Context, owner string, limit int, ttl time.Duration) ([]Claim, error)
	// Done records the outcome of the check made under lease and releases
	// the lease, atomically. It fails with [ErrLeaseLost] (changing
	// nothing) when the lease is no longer current: the newer holder
	// decides when the account is due.
	Done(ctx context.Context, lease Lease, next Next) error
	// RequestCheck makes the account due at once and lifts a pause ("Check
	// Now"): the next Claim of any instance takes it, as soon as a running
	// check of it ends.
	RequestCheck(ctx context.Context, accountID string) error
}

// A Claim is one account handed out by [Scheduler.Claim].
type Claim struct {
	Account Account
	Lease   Lease
	// Failures is the number of consecutive failed checks recorded by Done,
	// for backoff.
	Failures int
}

// Next says when a claimed account is due again.
type Next struct {
	// After is the delay until the account is due, measured from Done on
	// the Scheduler's clock; zero or negative means at once.
	After time.Duration
	// Failures is the number of consecutive failed checks to remember (0
	// after a success).
	Failures int
	// Paused keeps the account from being claimed until its settings change
	// (a Put) or RequestCheck is called: for refused credentials, which must
	// not be retried until someone fixes them.
	Paused bool
}
