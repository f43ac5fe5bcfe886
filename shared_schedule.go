package multidrop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/multidrop/multidrop/account"
)

// DefaultPoll is how often RunShared asks the store for due accounts when
// it found none.
const DefaultPoll = time.Second

// SharedOptions configure RunShared. The zero value (or nil) is the
// default.
type SharedOptions struct {
	// Poll is the wait between two Claims that found fewer due accounts
	// than free check slots (default DefaultPoll, with ±10% jitter). It
	// bounds how late a check is, and how long a "Check Now" made on
	// another instance waits; each poll is one short transaction.
	Poll time.Duration
}

// ErrNoScheduler is returned by RunShared and RequestCheck when neither
// Options.Locker nor Options.Store implements [account.Scheduler].
var ErrNoScheduler = errors.New("multidrop: the store has no shared schedule (account.Scheduler)")

// sharedRun is the state of a running RunShared.
type sharedRun struct {
	poke chan struct{}
}

// sharedScheduler returns the Scheduler of the Locker, else of the Store.
func (p *Pipeline) sharedScheduler() (account.Scheduler, error) {
	if s, ok := p.opt.Locker.(account.Scheduler); ok {
		return s, nil
	}
	if s, ok := p.opt.Store.(account.Scheduler); ok {
		return s, nil
	}
	return nil, ErrNoScheduler
}

// RunShared checks accounts together with the other instances that share
// the store, until ctx is done. Instead of keeping a schedule in memory as
// [Pipeline.Run] does, it polls the store's [account.Scheduler] for due
// accounts: each Claim leases up to the free check slots (of
// Options.Concurrency) to Options.Owner for Options.LeaseTTL, so every due
// account is checked by exactly one instance. After a check the next due
// time is written to the store with the same rules as Run (the interval
// with ±10% jitter, Options.Backoff after failures, a server's
// LOGIN-DELAY, a pause after an authentication failure until the account
// is changed or [Pipeline.RequestCheck] is called) and the lease is
// released in the same transaction. The lease is renewed while the check
// runs and fences its journal writes and deletions. An instance that dies
// leaves its accounts due and leased until the leases expire; another
// instance then takes them over.
//
// When ctx is done RunShared asks the running checks to finish the
// message in hand and commit, waits for them and returns nil; an account
// whose check was cut short is left due at once for the other instances.
// RunShared fails at once with [ErrNoScheduler] when the store cannot be
// shared, and does not run together with Run on one Pipeline.
func (p *Pipeline) RunShared(ctx context.Context, opt *SharedOptions) error {
	sch, err := p.sharedScheduler()
	if err != nil {
		return err
	}
	poll := DefaultPoll
	if opt != nil && opt.Poll > 0 {
		poll = opt.Poll
	}
	sr := &sharedRun{poke: make(chan struct{}, 1)}
	end, err := p.beginRun(nil, sr)
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
		case <-sr.poke:
		case <-results:
			running--
			if !more {
				continue
			}
		}
		if stopping {
			continue
		}
		free := p.opt.Concurrency - running
		if free <= 0 {
			more = true // a finishing check polls again
			continue
		}
		claims, err := sch.Claim(ctx, p.opt.Owner, free, p.opt.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			p.opt.Logger.Error("claiming due accounts", "err", err)
		}
		for _, c := range claims {
			running++
			wg.Go(func() {
				p.checkClaimed(checkCtx, sch, c, stop)
				results <- struct{}{}
			})
		}
		more = len(claims) == free
		timer.Reset(poll + jitter(poll/10))
	}
}

// RequestCheck is "Check Now" for instances that share a store: it makes
// the account due at once in the store, so that the next poll of any
// instance running RunShared takes it (at once when a check of it is
// running: right after that check), and lifts an authentication pause. A
// RunShared of this Pipeline polls immediately.
func (p *Pipeline) RequestCheck(ctx context.Context, id string) error {
	sch, err := p.sharedScheduler()
	if err != nil {
		return err
	}
	if err := sch.RequestCheck(ctx, id); err != nil {
		return fmt.Errorf("multidrop: account %s: %w", id, err)
	}
	p.mu.Lock()
	sr := p.shared
	p.mu.Unlock()
	if sr != nil {
		select {
		case sr.poke <- struct{}{}:
		default: // a poll is pending already
		}
	}
	return nil
}

// checkClaimed runs one check of a claimed account under the claim's lease,
// then records the next due time and releases the lease.
func (p *Pipeline) checkClaimed(ctx context.Context, sch account.Scheduler, c account.Claim, stop <-chan struct{}) {
	a, lease := c.Account, c.Lease
	log := p.opt.Logger.With("account", a.ID)
	done := func(next account.Next) {
		// A fresh context: the check's may be cancelled.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err := sch.Done(dctx, lease, next)
		switch {
		case errors.Is(err, account.ErrLeaseLost):
			log.Warn("lease lost during the check; the account's next holder schedules it", "err", err)
		case err != nil:
			// The lease expires by itself; the account, still due, is
			// taken again then.
			log.Error("recording the next check", "err", err)
		}
	}
	if !p.claim(a.ID) {
		// A check of it is running here already: one started by Check, or
		// one whose lease expired while it was stuck (that one is fenced
		// out by the lease just taken, and fails). Next interval.
		log.Warn("claimed an account that is being checked here already; rescheduled")
		done(account.Next{After: p.interval(a), Failures: c.Failures})
		return
	}
	defer p.unclaim(a.ID)

	cctx, cancel := context.WithCancelCause(ctx)
	held := p.holdLease(cctx, lease, cancel)
	r := p.run(cctx, a, held, stop)
	held.release()
	cancel(nil)
	p.mu.Lock()
	p.reports[a.ID] = r
	p.mu.Unlock()

	stopped := false
	select {
	case <-stop:
		stopped = true
	default:
	}
	next := p.sharedNext(a, c.Failures, r, stopped)
	if next.Paused {
		log.Error("authentication failed; account paused until its settings change or a check is requested", "err", r.Err)
		p.observe(Event{Kind: EventAccountIdle, Account: a.ID, Err: r.Err})
	}
	done(next)
}

func (p *Pipeline) interval(a account.Account) time.Duration {
	if a.Retrieval.Interval > 0 {
		return a.Retrieval.Interval
	}
	return p.opt.Interval
}

// sharedNext applies Run's rescheduling rules to a check's report, for the
// store: failures counts the consecutive failed checks before this one.
func (p *Pipeline) sharedNext(a account.Account, failures int, r *Report, stopped bool) account.Next {
	iv := p.interval(a)
	err := r.Err
	var n account.Next
	switch {
	case err == nil:
		n.After = iv + jitter(iv/10)
	case stopped:
		// Cut short by our shutdown: another instance goes on at once.
		n = account.Next{Failures: failures}
	case errors.Is(err, ErrAccountBusy):
		n = account.Next{After: iv + jitter(iv/10), Failures: failures}
	case isAuthFailure(err):
		n = account.Next{Paused: true, Failures: failures + 1}
	default:
		n = account.Next{After: p.opt.Backoff(failures + 1), Failures: failures + 1}
	}
	if d := loginDelay(r, err); d > n.After {
		n.After = d
	}
	return n
}
