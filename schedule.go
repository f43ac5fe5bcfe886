package multidrop

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/multidrop/multidrop/account"
)

// RefreshInterval is how often Run re-reads the account list to pick up new,
// changed, disabled and deleted accounts.
const RefreshInterval = time.Minute

// scheduler is the state of a running Run.
type scheduler struct {
	wake chan string
}

type acctState struct {
	next     time.Time
	interval time.Duration
	failures int
	paused   string // non-empty: why checks are paused (an [AUTH] failure)
	version  string // content hash of the account when paused
	running  bool
	woken    bool // Wake came while a check ran: check again after it
}

// Wake asks a running Run to check the account at once, resuming it if an
// authentication failure paused it; when a check of it is running, the
// next one starts as soon as that one ends (unless it fails to
// authenticate, or the server's LOGIN-DELAY asks for a later one). Under
// RunShared it is RequestCheck. It reports whether either is running (and,
// under RunShared, the request was recorded).
func (p *Pipeline) Wake(id string) bool {
	p.mu.Lock()
	s, shared := p.sched, p.shared != nil
	p.mu.Unlock()
	if shared {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.RequestCheck(ctx, id); err != nil {
			p.opt.Logger.Warn("check request", "account", id, "err", err)
			return false
		}
		return true
	}
	if s == nil {
		return false
	}
	select {
	case s.wake <- id:
	default:
		// The queue is full: Run is busy waking others; it will get to
		// this one at its interval.
	}
	return true
}

// Run checks each enabled account on its interval (Account.Retrieval.Interval,
// else Options.Interval), with ±10% jitter, at most Options.Concurrency at
// once, until ctx is done. After a failed check the account waits
// Options.Backoff(n) instead; a server's LOGIN-DELAY is honoured; an
// authentication failure ([AUTH], RFC 3206) pauses the account until its
// settings change or Wake is called, so a wrong password does not lock the
// mailbox out at the provider. When ctx is done Run asks the running checks
// to finish the message in hand and commit, waits for them and returns nil.
func (p *Pipeline) Run(ctx context.Context) error {
	s := &scheduler{wake: make(chan string, 64)}
	end, err := p.beginRun(s, nil)
	if err != nil {
		return err
	}
	defer end()

	stop := make(chan struct{})
	type done struct {
		id  string
		r   *Report
		err error
	}
	results := make(chan done)
	var wg sync.WaitGroup
	sem := make(chan struct{}, p.opt.Concurrency)
	state := map[string]*acctState{}
	accounts := map[string]account.Account{}
	// Checks outlive ctx: a stop lets them finish the message in hand.
	checkCtx := context.WithoutCancel(ctx)

	refresh := func() {
		list, err := p.opt.Store.List(ctx, account.Filter{})
		if err != nil {
			p.opt.Logger.Error("listing accounts", "err", err)
			return
		}
		now := p.opt.Now()
		seen := map[string]bool{}
		for _, a := range list {
			if !a.Enabled {
				continue
			}
			seen[a.ID] = true
			accounts[a.ID] = a
			st := state[a.ID]
			iv := a.Retrieval.Interval
			if iv <= 0 {
				iv = p.opt.Interval
			}
			if st == nil {
				// Spread the first checks over a tenth of the interval.
				st = &acctState{next: now.Add(jitter(iv / 10))}
				state[a.ID] = st
			}
			st.interval = iv
			if st.paused != "" && st.version != version(a) {
				p.opt.Logger.Info("account settings changed; resuming", "account", a.ID)
				st.paused, st.failures, st.next = "", 0, now
			}
		}
		for id, st := range state {
			if !seen[id] && !st.running {
				delete(state, id)
				delete(accounts, id)
			}
		}
	}

	start := func(id string) bool {
		select {
		case sem <- struct{}{}:
		default:
			return false // at the limit: a finishing check wakes the loop
		}
		state[id].running = true
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := p.check(checkCtx, id, stop)
			results <- done{id, r, err}
		})
		return true
	}

	refresh()
	nextRefresh := p.opt.Now().Add(RefreshInterval)
	timer := time.NewTimer(0)
	defer timer.Stop()
	running := 0
	stopping := false
	ctxDone := ctx.Done()
	for {
		if stopping && running == 0 {
			wg.Wait()
			return nil
		}
		if !stopping {
			now := p.opt.Now()
			if !now.Before(nextRefresh) {
				refresh()
				nextRefresh = now.Add(RefreshInterval)
			}
			wait := nextRefresh.Sub(now)
			for id, st := range state {
				if st.running || st.paused != "" {
					continue
				}
				if now.Before(st.next) {
					wait = min(wait, st.next.Sub(now))
					continue
				}
				if start(id) {
					running++
				}
			}
			timer.Reset(max(wait, 10*time.Millisecond))
		}
		select {
		case <-ctxDone:
			stopping = true
			close(stop)
			ctxDone = nil // closed for good: stop selecting it
		case <-timer.C:
		case id := <-s.wake:
			if st := state[id]; st != nil {
				st.paused, st.next = "", p.opt.Now()
				// A check running now may have listed the mailbox before
				// what the wake is about arrived: one more after it.
				st.woken = st.running
			} else {
				refresh()
				if st := state[id]; st != nil {
					st.next = p.opt.Now()
				}
			}
		case d := <-results:
			running--
			st := state[d.id]
			if st == nil {
				continue
			}
			st.running = false
			p.reschedule(st, accounts[d.id], d.r, d.err)
		}
	}
}

// reschedule sets the next check time of an account after a check.
func (p *Pipeline) reschedule(st *acctState, a account.Account, r *Report, err error) {
	now := p.opt.Now()
	switch {
	case err == nil:
		st.failures = 0
		st.next = now.Add(st.interval + jitter(st.interval/10))
	case errors.Is(err, ErrAccountBusy):
		// Someone else is checking it: try again at the normal interval.
		st.next = now.Add(st.interval + jitter(st.interval/10))
	case isAuthFailure(err):
		st.paused = "authentication failed"
		st.version = version(a)
		p.opt.Logger.Error("authentication failed; account paused until its settings change or it is woken", "account", a.ID, "err", err)
		p.observe(Event{Kind: EventAccountIdle, Account: a.ID, Err: err})
	default:
		st.failures++
		st.next = now.Add(p.opt.Backoff(st.failures))
	}
	if st.woken && st.paused == "" {
		st.next = now
	}
	st.woken = false
	if d := loginDelay(r, err); d > 0 && now.Add(d).After(st.next) {
		st.next = now.Add(d)
	}
}

// beginRun registers a running Run (s) or RunShared (sr) — one at a time on
// a Pipeline — and returns the function that unregisters it.
func (p *Pipeline) beginRun(s *scheduler, sr *sharedRun) (end func(), err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sched != nil || p.shared != nil {
		return nil, errors.New("multidrop: Run or RunShared is already running")
	}
	p.sched, p.shared = s, sr
	return func() {
		p.mu.Lock()
		p.sched, p.shared = nil, nil
		p.mu.Unlock()
	}, nil
}

// jitter returns a random duration in [-d, d].
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(2*d)+1)) - d
}

// version is a content hash of an account's settings.
func version(a account.Account) string {
	b, err := json.Marshal(a)
	if err != nil {
		b = fmt.Append(nil, a)
	}
	sum := sha256.Sum256(b)
	return string(sum[:])
}
