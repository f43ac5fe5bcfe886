package schedule

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop"
)

// A Checker checks accounts for a Schedule. [*multidrop.Pipeline]
// satisfies it.
type Checker interface {
	// CheckWith checks the account id now, as [multidrop.Pipeline.CheckWith]
	// does: under opt.Claim's lease when set, and finishing the messages
	// in hand and committing when opt.Stop is closed. The error is the
	// report's Err, or why there is no report ([multidrop.ErrAccountBusy]
	// and the like).
	CheckWith(ctx context.Context, id string, opt *multidrop.CheckOptions) (*multidrop.Report, error)
}

var _ Checker = (*multidrop.Pipeline)(nil)

// RefreshInterval is how often Run re-reads the account list to pick up new,
// changed, disabled and deleted accounts.
const RefreshInterval = time.Minute

// DefaultPoll is how often RunShared asks the store for due accounts when
// it found none.
const DefaultPoll = time.Second

// ErrNoScheduler is returned by RunShared and RequestCheck when neither
// Options.Scheduler is set nor the store implements [account.Scheduler].
var ErrNoScheduler = errors.New("schedule: the store has no shared schedule (account.Scheduler)")

// ErrNotRunning is returned by Wake when neither Run nor RunShared is
// running.
var ErrNotRunning = errors.New("schedule: not running")

// Options configure a Schedule. Every zero value means the documented
// default; New copies the Options.
type Options struct {
	// Interval is the check interval of accounts without their own
	// Retrieval.Interval (default 5 minutes).
	Interval time.Duration
	// Jitter spreads the checks: each wait for an interval is drawn within
	// ±Jitter of it, as a fraction (default 0.1, ±10%; negative: none).
	Jitter float64
	// Backoff gives the delay after n consecutive failed checks (n ≥ 1);
	// default DefaultBackoff.
	Backoff func(n int) time.Duration
	// Concurrency bounds the checks running at once (default 4).
	Concurrency int

	// Scheduler is the shared schedule RunShared and RequestCheck use
	// (default: the store, when it implements [account.Scheduler]).
	Scheduler account.Scheduler
	// Owner names this instance in the leases RunShared claims (default: a
	// random ID). Use the Pipeline's Options.Lease.Owner.
	Owner string
	// LeaseTTL is the length of those leases, renewed at a third of it
	// while a check runs (default 2 minutes).
	LeaseTTL time.Duration
	// Poll is the wait of RunShared between two Claims that found fewer
	// due accounts than free check slots (default DefaultPoll, with the
	// jitter). It bounds how late a check is, and how long a "Check Now"
	// made on another instance waits; each poll is one short transaction.
	Poll time.Duration

	// Logger receives the schedule's records (a failed listing or claim,
	// a paused account). Nil means no logging.
	Logger *slog.Logger
	// Observer, when set, receives [multidrop.EventAccountIdle] when an
	// account is paused; it must not block.
	Observer func(multidrop.Event)
	// Now is Run's clock (default time.Now). RunShared keeps due times on
	// the store's clock.
	Now func() time.Time
}

// DefaultBackoff doubles from one minute up to one hour.
func DefaultBackoff(n int) time.Duration {
	d := time.Minute
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// A Schedule checks the accounts of a store with a Checker, on their
// intervals: in memory (Run) or shared with other instances through the
// store (RunShared). It is safe for concurrent use; one Run or RunShared
// runs at a time.
type Schedule struct {
	c     Checker
	store account.Store
	opt   Options

	mu     sync.Mutex
	wake   chan string       // set while Run is running
	poke   chan struct{}     // set while RunShared is running
	active bool              // Run or RunShared is running
	status map[string]Status // Run's state of each account, for Status
}

// Status is Run's state of one account, as [Schedule.Status] reports it.
type Status struct {
	// Next is when the account is checked next (zero while it is being
	// checked or while it is paused).
	Next time.Time
	// Running is set while a check of the account runs.
	Running bool
	// Paused, when not empty, says why the account is not checked until
	// Wake or a change of its settings (refused credentials).
	Paused string
	// Failures is the number of failed checks in a row; Next then follows
	// Options.Backoff.
	Failures int
	// LoginDelay, when set, is the server's LOGIN-DELAY that put Next
	// later than the interval or the backoff.
	LoginDelay time.Duration
}

// Status returns Run's state of an enabled account, and false when Run is
// not running or does not know the account (yet). Under RunShared the
// state lives in the shared store, not here: Status reports false.
func (s *Schedule) Status(id string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.status[id]
	return st, ok
}

// publish makes Run's state of the accounts visible to Status.
func (s *Schedule) publish(state map[string]*acctState) {
	m := make(map[string]Status, len(state))
	for id, st := range state {
		v := Status{Running: st.running, Paused: st.paused, Failures: st.failures, LoginDelay: st.delay}
		if !st.running && st.paused == "" {
			v.Next = st.next
		}
		m[id] = v
	}
	s.mu.Lock()
	if s.wake != nil {
		s.status = m
	}
	s.mu.Unlock()
}

// New returns a Schedule of the accounts of store, checked by c, or an
// error naming the missing collaborator.
func New(c Checker, store account.Store, opt *Options) (*Schedule, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	switch {
	case c == nil:
		return nil, errors.New("schedule: the Checker is required")
	case store == nil:
		return nil, errors.New("schedule: the Store is required")
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	o.Jitter = max(o.Jitter, 0)
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Scheduler == nil {
		o.Scheduler, _ = store.(account.Scheduler)
	}
	if o.Owner == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.Owner = hex.EncodeToString(b[:])
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Schedule{c: c, store: store, opt: o}, nil
}

type acctState struct {
	next     time.Time
	interval time.Duration
	failures int
	paused   string // non-empty: why checks are paused (an [AUTH] failure)
	version  string // content hash of the account when paused
	running  bool
	woken    bool          // Wake came while a check ran: check again after it
	delay    time.Duration // the server's LOGIN-DELAY set next, if it did
}

// Wake asks a running Run to check the account at once, resuming it if an
// authentication failure paused it; when a check of it is running, the
// next one starts as soon as that one ends (unless it fails to
// authenticate, or the server's LOGIN-DELAY asks for a later one). Under
// RunShared it is RequestCheck. Without either it returns ErrNotRunning.
func (s *Schedule) Wake(ctx context.Context, id string) error {
	s.mu.Lock()
	wake, shared := s.wake, s.poke != nil
	s.mu.Unlock()
	if shared {
		return s.RequestCheck(ctx, id)
	}
	if wake == nil {
		return ErrNotRunning
	}
	select {
	case wake <- id:
	default:
		// The queue is full: Run is busy waking others; it will get to
		// this one at its interval.
	}
	return nil
}

// Run checks each enabled account on its interval (Account.Retrieval.Interval,
// else Options.Interval), with Options.Jitter, at most Options.Concurrency at
// once, until ctx is done. After a failed check the account waits
// Options.Backoff(n) instead; a server's LOGIN-DELAY is honoured; an
// authentication failure ([AUTH], RFC 3206) pauses the account until its
// settings change or Wake is called, so a wrong password does not lock the
// mailbox out at the provider. When ctx is done Run asks the running checks
// to finish the message in hand and commit, waits for them and returns nil.
func (s *Schedule) Run(ctx context.Context) error {
	wake := make(chan string, 64)
	end, err := s.begin(wake, nil)
	if err != nil {
		return err
	}
	defer end()

	stop := make(chan struct{})
	type done struct {
		id  string
		r   *multidrop.Report
		err error
	}
	results := make(chan done)
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.opt.Concurrency)
	state := map[string]*acctState{}
	accounts := map[string]account.Account{}
	// Checks outlive ctx: a stop lets them finish the message in hand.
	checkCtx := context.WithoutCancel(ctx)

	refresh := func() {
		list, err := s.store.List(ctx, account.Filter{})
		if err != nil {
			s.opt.Logger.Error("listing accounts", "err", err)
			return
		}
		now := s.opt.Now()
		seen := map[string]bool{}
		for _, a := range list {
			if !a.Enabled {
				continue
			}
			seen[a.ID] = true
			accounts[a.ID] = a
			st := state[a.ID]
			iv := s.interval(a)
			if st == nil {
				// Spread the first checks over the jitter of the interval.
				st = &acctState{next: now.Add(s.jitter(iv))}
				state[a.ID] = st
			}
			st.interval = iv
			if st.paused != "" && st.version != version(a) {
				s.opt.Logger.Info("account settings changed; resuming", "account", a.ID)
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
			r, err := s.c.CheckWith(checkCtx, id, &multidrop.CheckOptions{Stop: stop})
			results <- done{id, r, err}
		})
		return true
	}

	refresh()
	nextRefresh := s.opt.Now().Add(RefreshInterval)
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
			now := s.opt.Now()
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
			s.publish(state)
		}
		select {
		case <-ctxDone:
			stopping = true
			close(stop)
			ctxDone = nil // closed for good: stop selecting it
		case <-timer.C:
		case id := <-wake:
			if st := state[id]; st != nil {
				st.paused, st.next = "", s.opt.Now()
				// A check running now may have listed the mailbox before
				// what the wake is about arrived: one more after it.
				st.woken = st.running
			} else {
				refresh()
				if st := state[id]; st != nil {
					st.next = s.opt.Now()
				}
			}
		case d := <-results:
			running--
			st := state[d.id]
			if st == nil {
				continue
			}
			st.running = false
			s.reschedule(st, accounts[d.id], d.r, d.err)
		}
	}
}

// reschedule sets the next check time of an account after a check.
func (s *Schedule) reschedule(st *acctState, a account.Account, r *multidrop.Report, err error) {
	now := s.opt.Now()
	switch {
	case err == nil || onlyGuard(err):
		// A check the deletion guard held succeeded for the schedule:
		// the account's good mail keeps its interval while the
		// administrator decides.
		st.failures = 0
		st.next = now.Add(st.interval + s.jitter(st.interval))
	case errors.Is(err, multidrop.ErrAccountBusy):
		// Someone else is checking it: try again at the normal interval.
		st.next = now.Add(st.interval + s.jitter(st.interval))
	case errors.Is(err, pop.ErrLoginDelay):
		// Not a failure: the check did not happen, and the server
		// asks for a later login, which loginDelay sets below.
		st.next = now
	case isAuthFailure(err):
		st.paused = "authentication failed"
		st.version = version(a)
		s.opt.Logger.Error("authentication failed; account paused until its settings change or it is woken", "account", a.ID, "err", err)
		s.observe(multidrop.Event{Kind: multidrop.EventAccountIdle, Account: a.ID, Err: err})
	default:
		st.failures++
		st.next = now.Add(s.opt.Backoff(st.failures))
	}
	if st.woken && st.paused == "" {
		st.next = now
	}
	st.woken = false
	st.delay = 0
	if d := loginDelay(r, err); d > 0 && now.Add(d).After(st.next) {
		st.next = now.Add(d)
		st.delay = d
	}
}

// begin registers a running Run (wake) or RunShared (poke) — one at a
// time — and returns the function that unregisters it.
func (s *Schedule) begin(wake chan string, poke chan struct{}) (end func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active {
		return nil, errors.New("schedule: Run or RunShared is already running")
	}
	s.active, s.wake, s.poke = true, wake, poke
	return func() {
		s.mu.Lock()
		s.active, s.wake, s.poke, s.status = false, nil, nil, nil
		s.mu.Unlock()
	}, nil
}

func (s *Schedule) observe(e multidrop.Event) {
	if s.opt.Observer != nil {
		s.opt.Observer(e)
	}
}

func (s *Schedule) interval(a account.Account) time.Duration {
	if a.Retrieval.Interval > 0 {
		return a.Retrieval.Interval
	}
	return s.opt.Interval
}

// jitter returns a random duration within ±Jitter of iv.
func (s *Schedule) jitter(iv time.Duration) time.Duration {
	d := time.Duration(float64(iv) * s.opt.Jitter)
	if d <= 0 {
		return 0
	}
	return time.Duration(mrand.Int64N(int64(2*d)+1)) - d
}

// onlyGuard reports whether err is made only of
// [multidrop.ErrDeletionGuard].
func onlyGuard(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !onlyGuard(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	return errors.Is(err, multidrop.ErrDeletionGuard)
}

// isAuthFailure reports whether err says the credentials were refused
// ([AUTH], RFC 3206).
func isAuthFailure(err error) bool {
	var pe *pop.Error
	return errors.As(err, &pe) && strings.EqualFold(strings.SplitN(pe.Code, "/", 2)[0], "AUTH")
}

// loginDelay returns how long the server asked to wait before the next login:
// its LOGIN-DELAY capability (RFC 2449); after a [LOGIN-DELAY] refusal the
// delay the server announced, or five minutes when it announced none. An
// [IN-USE] refusal is no login delay: it fails the check, which backs off.
func loginDelay(r *multidrop.Report, err error) time.Duration {
	var d time.Duration
	if r != nil {
		d = r.LoginDelay
	}
	var pe *pop.Error
	if errors.As(err, &pe) && errors.Is(pe, pop.ErrLoginDelay) {
		if pe.LoginDelay > 0 {
			return max(d, pe.LoginDelay)
		}
		return max(d, 5*time.Minute)
	}
	return d
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
