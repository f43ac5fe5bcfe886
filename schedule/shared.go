package schedule

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
)

// RunShared checks accounts together with the other instances that share
// the store, until ctx is done. Instead of keeping a schedule in memory as
// [Schedule.Run] does, it polls the store's [account.Scheduler]
// (Options.Scheduler) for due accounts: each Claim leases up to the free
// check slots (of Options.Concurrency) to Options.Owner for
// Options.LeaseTTL, so every due account is checked by exactly one
// instance. Each check runs under its claim's lease
// ([multidrop.CheckOptions].Claim): the lease is renewed while the check
// runs and fences its journal writes and deletions. After a check the next
// due time is written to the store with the same rules as Run (the
// interval with Options.Jitter, Options.Backoff after failures, a server's
// LOGIN-DELAY, a pause after an authentication failure until the account
// is changed or [Schedule.RequestCheck] is called) and the lease is
// released in the same transaction. An instance that dies leaves its
// accounts due and leased until the leases expire; another instance then
// takes them over.
//
// When ctx is done RunShared asks the running checks to finish the
// message in hand and commit, waits for them and returns nil; an account
// whose check was cut short is left due at once for the other instances.
// RunShared fails at once with [ErrNoScheduler] when the store cannot be
// shared, and does not run together with Run on one Schedule.
func (s *Schedule) RunShared(ctx context.Context) error {
	sch := s.opt.Scheduler
	if sch == nil {
		return ErrNoScheduler
	}
	poke := make(chan struct{}, 1)
	end, err := s.begin(nil, poke)
	if err != nil {
		return err
	}
	defer end()

	stop := make(chan struct{})
	results := make(chan struct{})
	var wg sync.WaitGroup
	// Checks outlive ctx: a stop lets them finish the message in hand.
	checkCtx := context.WithoutCancel(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	running := 0
	more := false // the last Claim filled every free slot: more may be due
	stopping := false
	ctxDone := ctx.Done()
	for {
		if stopping && running == 0 {
			wg.Wait()
			return nil
		}
		select {
		case <-ctxDone:
			stopping = true
			close(stop)
			ctxDone = nil // closed for good: stop selecting it
			continue
		case <-timer.C:
		case <-poke:
		case <-results:
			running--
			if !more {
				continue
			}
		}
		if stopping {
			continue
		}
		free := s.opt.Concurrency - running
		if free <= 0 {
			more = true // a finishing check polls again
			continue
		}
		claims, err := sch.Claim(ctx, s.opt.Owner, free, s.opt.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			s.opt.Logger.Error("claiming due accounts", "err", err)
		}
		for _, c := range claims {
			running++
			wg.Go(func() {
				s.checkClaimed(checkCtx, sch, c, stop)
				results <- struct{}{}
			})
		}
		more = len(claims) == free
		timer.Reset(s.opt.Poll + s.jitter(s.opt.Poll))
	}
}

// RequestCheck is "Check Now" for instances that share a store: it makes
// the account due at once in the store, so that the next poll of any
// instance running RunShared takes it (at once when a check of it is
// running: right after that check), and lifts an authentication pause. A
// RunShared of this Schedule polls immediately.
func (s *Schedule) RequestCheck(ctx context.Context, id string) error {
	sch := s.opt.Scheduler
	if sch == nil {
		return ErrNoScheduler
	}
	if err := sch.RequestCheck(ctx, id); err != nil {
		return fmt.Errorf("schedule: account %s: %w", id, err)
	}
	s.mu.Lock()
	poke := s.poke
	s.mu.Unlock()
	if poke != nil {
		select {
		case poke <- struct{}{}:
		default: // a poll is pending already
		}
	}
	return nil
}

// checkClaimed runs one check of a claimed account under the claim's lease,
// then records the next due time and releases the lease.
func (s *Schedule) checkClaimed(ctx context.Context, sch account.Scheduler, c account.Claim, stop <-chan struct{}) {
	a := c.Account
	log := s.opt.Logger.With("account", a.ID)
	r, err := s.c.CheckWith(ctx, a.ID, &multidrop.CheckOptions{Claim: &c, LeaseTTL: s.opt.LeaseTTL, Stop: stop})
	if r == nil && errors.Is(err, multidrop.ErrAccountBusy) {
		// A check of it is running here already: one started by Check, or
		// one whose lease expired while it was stuck (that one is fenced
		// out by the lease just taken, and fails). Next interval.
		log.Warn("claimed an account that is being checked here already; rescheduled")
	}
	stopped := false
	select {
	case <-stop:
		stopped = true
	default:
	}
	next := s.sharedNext(a, c.Failures, r, err, stopped)
	if next.Paused {
		log.Error("authentication failed; account paused until its settings change or a check is requested", "err", err)
		s.observe(multidrop.Event{Kind: multidrop.EventAccountIdle, Account: a.ID, Err: err})
	}

	// A fresh context: the check's may be cancelled.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = sch.Done(dctx, c.Lease, next)
	switch {
	case errors.Is(err, account.ErrLeaseLost):
		log.Warn("lease lost during the check; the account's next holder schedules it", "err", err)
	case err != nil:
		// The lease expires by itself; the account, still due, is
		// taken again then.
		log.Error("recording the next check", "err", err)
	}
}

// sharedNext applies Run's rescheduling rules to a check's outcome, for
// the store: failures counts the consecutive failed checks before this one.
func (s *Schedule) sharedNext(a account.Account, failures int, r *multidrop.Report, err error, stopped bool) account.Next {
	iv := s.interval(a)
	var n account.Next
	switch {
	case err == nil:
		n.After = iv + s.jitter(iv)
	case errors.Is(err, multidrop.ErrAccountBusy):
		n = account.Next{After: iv + s.jitter(iv), Failures: failures}
	case stopped:
		// Cut short by our shutdown: another instance goes on at once.
		n = account.Next{Failures: failures}
	case isAuthFailure(err):
		n = account.Next{Paused: true, Failures: failures + 1}
	default:
		n = account.Next{After: s.opt.Backoff(failures + 1), Failures: failures + 1}
	}
	if d := loginDelay(r, err); d > n.After {
		n.After = d
	}
	return n
}
