package multidrop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// Options configure a Pipeline. Store, Journal, Resolver and Deliverer are
// required; every other zero value means the documented default. New copies
// the Options: changing them afterwards has no effect.
type Options struct {
	// Store holds the accounts (required).
	Store account.Store
	// Journal keeps per-account state between checks (required). Use a
	// durable one (account/jsonstore, account/sqlstore) in production: a
	// memory journal forgets deliveries on restart.
	Journal account.Journal
	// Locker, when set, gives one session per mailbox across processes. An
	// in-process guard is always applied.
	Locker account.Locker
	// Lease names this instance in the Locker's leases and sets their
	// length.
	Lease LeaseOptions

	// Fetcher collects a mailbox (default: a pop.Downloader with Logger).
	Fetcher pop.Fetcher
	// Resolver turns candidates into recipients (required).
	Resolver resolve.Resolver
	// Deliverer delivers to the recipients (required).
	Deliverer deliver.Deliverer

	// Spool says where a check holds the messages it downloads.
	Spool SpoolOptions

	// Concurrency bounds CheckAll (default 4 accounts at once).
	Concurrency int
	// DeliveryConcurrency is how many messages of one check are finished —
	// delivered and recorded in the journal — at once, in the background
	// while the next ones download (default 8). Their durable writes
	// overlap, and the journal records of messages that finish together
	// share one commit. Copies of one message are still finished one after
	// the other, and no message is deleted before it is final. Each holds
	// its spooled message (up to Spool.Memory in memory). 1 is the same
	// machinery with one slot: each message is finished, journal included,
	// before the next one starts, while the next one downloads.
	DeliveryConcurrency int
	// MessageIDTTL is how long deliveries are remembered by Message-ID, to
	// deliver copies of one message once per recipient (default 7 days).
	MessageIDTTL time.Duration

	// Guard configures the deletion guard (see GuardOptions and the
	// package doc).
	Guard GuardOptions

	// LocalHost names this host in trace fields and notices (default
	// os.Hostname()).
	LocalHost string

	// Logger receives structured records: one Info record per check
	// (Warn when it failed), per-message records at Debug. Nil means no
	// logging at all (not slog.Default()).
	Logger *slog.Logger
	// Observer, when set, receives events (for metrics). It is called
	// synchronously, from several goroutines at once (checks of several
	// accounts, messages of one check), and must not block.
	Observer func(Event)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// LeaseOptions name this instance in leases and set their length.
type LeaseOptions struct {
	// Owner identifies this instance in leases (default:
	// account.ProcessOwner(), so that a Locker takes over at once the
	// leases of a crashed process of this host).
	Owner string
	// TTL is the lease length, renewed at a third of it while a check
	// runs (default 2 minutes).
	TTL time.Duration
}

// SpoolOptions say where and how much of the messages a check downloads
// are held.
type SpoolOptions struct {
	// Dir is where messages above Memory are spooled (default
	// os.TempDir()).
	Dir string
	// Memory is how much of a message is held in memory (default 256 KiB):
	// a larger one goes to a temporary file in Dir, from its first byte
	// when the server's listing announced it larger.
	Memory int64
	// MaxMessageSize caps one downloaded message (default 1 GiB); a larger
	// one is kept on the server and reported.
	MaxMessageSize int64
}

// GuardOptions configure the deletion guard, which suspends the
// no-recipient delete policy when an account looks misconfigured. It
// judges, before any deletion, the whole check and the account's window:
// its last Window examined messages, across checks, kept in the Journal.
// When at least Min messages of either had no valid recipient and they are
// at least Share of it, the guard trips and holds the account: its
// messages without a valid recipient are kept, in this check and every
// later one, across restarts and instances sharing the Journal, until
// ReleaseGuard. Defaults 5, 0.5 and 20; a Share above 1 turns the guard
// off, a higher share or a larger window makes it slower to trip (a
// spam-heavy domain).
type GuardOptions struct {
	Min    int
	Share  float64
	Window int
}

// Pipeline checks remote POP accounts and redistributes their mail. It is
// safe for concurrent use.
type Pipeline struct {
	opt Options

	mu      sync.Mutex
	busy    map[string]bool
	reports map[string]*Report
}

// New returns a Pipeline, or an error naming the missing collaborator (nil
// Options lack them all: the first is named).
func New(opt *Options) (*Pipeline, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	switch {
	case o.Store == nil:
		return nil, errors.New("multidrop: Options.Store is required")
	case o.Journal == nil:
		return nil, errors.New("multidrop: Options.Journal is required")
	case o.Resolver == nil:
		return nil, errors.New("multidrop: Options.Resolver is required")
	case o.Deliverer == nil:
		return nil, errors.New("multidrop: Options.Deliverer is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Fetcher == nil {
		o.Fetcher = &pop.Downloader{Logger: o.Logger}
	}
	if o.Lease.Owner == "" {
		o.Lease.Owner = account.ProcessOwner()
	}
	if o.Lease.TTL <= 0 {
		o.Lease.TTL = 2 * time.Minute
	}
	if o.Spool.Memory <= 0 {
		o.Spool.Memory = 256 << 10
	}
	if o.Spool.MaxMessageSize <= 0 {
		o.Spool.MaxMessageSize = 1 << 30
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.DeliveryConcurrency <= 0 {
		o.DeliveryConcurrency = 8
	}
	if o.MessageIDTTL <= 0 {
		o.MessageIDTTL = 7 * 24 * time.Hour
	}
	if o.Guard.Min <= 0 {
		o.Guard.Min = 5
	}
	if o.Guard.Share <= 0 {
		o.Guard.Share = 0.5
	}
	if o.Guard.Window <= 0 {
		o.Guard.Window = 20
	}
	if o.LocalHost == "" {
		o.LocalHost = localHostname()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pipeline{opt: o, busy: map[string]bool{}, reports: map[string]*Report{}}, nil
}

// LastReport returns the report of the last finished check of an account, or
// nil.
func (p *Pipeline) LastReport(id string) *Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reports[id]
}

// Check runs one check of one account now (the "Check Now" of the products
// this replaces) and returns its report. The error is ErrAccountBusy when the
// account is being checked already, the store's error when the account
// cannot be read, and otherwise the report's Err.
func (p *Pipeline) Check(ctx context.Context, id string) (*Report, error) {
	return p.CheckWith(ctx, id, nil)
}

// CheckOptions refine one check, for schedulers (package schedule). The
// zero value (or nil) is [Pipeline.Check].
type CheckOptions struct {
	// Stop, when not nil, is closed to ask the check for a graceful stop:
	// the messages in hand are finished, the rest is left on the server
	// untouched, and the session commits with QUIT. Cancelling the
	// context instead cuts the session short without QUIT.
	Stop <-chan struct{}
	// Claim, when not nil, is an account its caller claimed from an
	// [account.Scheduler]: the check runs on Claim.Account as given (not
	// read from the Store, checked even when disabled) under Claim.Lease
	// instead of a lease of Options.Locker. The lease is renewed every
	// third of LeaseTTL while the check runs, checked before every
	// delivery, fences the journal writes, and cancels the check when it
	// is lost; the caller releases it (Scheduler.Done).
	Claim *account.Claim
	// LeaseTTL is the length Claim.Lease was taken for, and renewed for
	// (default Options.Lease.TTL).
	LeaseTTL time.Duration
}

// CheckWith is [Pipeline.Check] refined by opt (nil: Check). With
// opt.Claim, id must be the claimed account's.
func (p *Pipeline) CheckWith(ctx context.Context, id string, opt *CheckOptions) (*Report, error) {
	var o CheckOptions
	if opt != nil {
		o = *opt
	}
	if o.Claim != nil && o.Claim.Account.ID != id {
		return nil, fmt.Errorf("multidrop: account %s: a claim of account %s given", id, o.Claim.Account.ID)
	}
	if o.Claim != nil && o.Claim.Lease == nil {
		return nil, fmt.Errorf("multidrop: account %s: the claim has no lease", id)
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = p.opt.Lease.TTL
	}
	if !p.claim(id) {
		return nil, fmt.Errorf("%w: %s", ErrAccountBusy, id)
	}
	defer p.unclaim(id)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		a    account.Account
		held *heldLease
	)
	if o.Claim != nil {
		a = o.Claim.Account
		held = p.holdLease(ctx, o.Claim.Lease, o.LeaseTTL, cancel)
		defer held.release()
	} else {
		var err error
		a, err = p.opt.Store.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("multidrop: account %s: %w", id, err)
		}
		if !a.Enabled {
			return nil, fmt.Errorf("%w: %s", ErrAccountDisabled, id)
		}
	}
	if o.Claim == nil {
		lease, release, err := p.acquire(ctx, id)
		if err != nil {
			return nil, err
		}
		defer release()
		if lease != nil {
			held = p.holdLease(ctx, lease, p.opt.Lease.TTL, cancel)
			defer held.release()
		}
	}

	r := p.run(ctx, a, held, o.Stop)
	p.mu.Lock()
	p.reports[id] = r
	p.mu.Unlock()
	return r, r.Err
}

func (p *Pipeline) claim(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy[id] {
		return false
	}
	p.busy[id] = true
	return true
}

func (p *Pipeline) unclaim(id string) {
	p.mu.Lock()
	delete(p.busy, id)
	p.mu.Unlock()
}

// run performs one check of a; stop, when not nil, is closed to ask the
// check to finish the message in hand and commit.
func (p *Pipeline) run(ctx context.Context, a account.Account, held *heldLease, stop <-chan struct{}) *Report {
	c := newCheck(p, a, held, stop)
	c.exclusive = true // its callers claimed the account
	p.observe(Event{Kind: EventCheckStart, Account: a.ID})
	log := p.opt.Logger.With("account", a.ID)
	log.Debug("check started", "host", a.Host)

	r := c.finish(ctx, p.opt.Fetcher.Fetch(ctx, a, c))

	lvl := slog.LevelInfo
	attrs := []any{"listed", r.Listed, "retrieved", r.Retrieved,
		"delivered", r.Delivered, "deleted", r.Deleted, "kept", r.Kept, "retry", r.Retry, "skipped", r.Skipped,
		"bytes", r.Bytes, "duration", r.Duration, "committed", r.Committed}
	if r.Err != nil {
		lvl = slog.LevelWarn
		attrs = append(attrs, "err", r.Err)
	}
	log.Log(ctx, lvl, "check finished", attrs...)
	p.observe(Event{Kind: EventCheckEnd, Account: a.ID, Report: r, Err: r.Err})
	return r
}

func (p *Pipeline) observe(e Event) {
	if p.opt.Observer != nil {
		p.opt.Observer(e)
	}
}

// CheckAll checks every enabled account, at most Options.Concurrency at
// once. One account's failure does not stop the others; the reports come in
// the store's order, and the error joins the failures (busy accounts
// included).
func (p *Pipeline) CheckAll(ctx context.Context) ([]*Report, error) {
	accts, err := p.opt.Store.List(ctx, account.Filter{})
	if err != nil {
		return nil, fmt.Errorf("multidrop: listing accounts: %w", err)
	}
	var ids []string
	for _, a := range accts {
		if a.Enabled {
			ids = append(ids, a.ID)
		}
	}
	reports := make([]*Report, len(ids))
	errs := make([]error, len(ids))
	var g errgroup.Group
	g.SetLimit(p.opt.Concurrency)
	for i, id := range ids {
		g.Go(func() error {
			r, err := p.Check(ctx, id)
			if r == nil {
				r = &Report{Account: id, Err: err}
			}
			reports[i], errs[i] = r, err
			return nil
		})
	}
	_ = g.Wait()
	return reports, errors.Join(errs...)
}

// Handler returns the per-account step as a pop.Handler, for embedders that
// run their own Fetcher. It is also a pop.Planner and a pop.Settler, and
// the Fetcher must honour both, as pop.Downloader does: Handle answers
// Defer, and the decisions come from Settle. Call Report after the session
// ended, with the Fetcher's error, to get the check's report (and to forget
// the journal state of committed deletions).
func (p *Pipeline) Handler(a account.Account) *AccountHandler {
	return &AccountHandler{c: newCheck(p, a, nil, nil)}
}

// AccountHandler is the pipeline's handling of one account's session.
type AccountHandler struct{ c *check }

var (
	_ pop.Handler = (*AccountHandler)(nil)
	_ pop.Planner = (*AccountHandler)(nil)
	_ pop.Settler = (*AccountHandler)(nil)
)

// Plan implements pop.Planner.
func (h *AccountHandler) Plan(ctx context.Context, s pop.Scan) ([]pop.Step, error) {
	return h.c.Plan(ctx, s)
}

// Handle implements pop.Handler.
func (h *AccountHandler) Handle(ctx context.Context, m pop.MessageInfo, body io.Reader) (pop.Action, error) {
	return h.c.Handle(ctx, m, body)
}

// Settle implements pop.Settler.
func (h *AccountHandler) Settle(ctx context.Context) (map[int]pop.Action, error) {
	return h.c.Settle(ctx)
}

// Report ends the check: fetchErr is what the Fetcher returned (nil when the
// session committed).
func (h *AccountHandler) Report(ctx context.Context, fetchErr error) *Report {
	return h.c.finish(ctx, fetchErr)
}

// CheckAccount runs one check of the account a, as given, without a store:
// for tests and simple programs. The call makes an in-memory store holding
// only a (checked even when a.Enabled is false) and, unless opt.Journal
// is set, an in-memory journal; opt.Store is ignored. Resolver and
// Deliverer are required as for New.
//
// A memory journal made for the call forgets everything when it returns:
// a message delivered in a check whose session did not commit is
// delivered again by the next call. Give opt.Journal to remember.
func CheckAccount(ctx context.Context, a account.Account, opt *Options) (*Report, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	a.Enabled = true
	store := account.NewMemoryStore()
	a, err := store.Put(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("multidrop: account %s: %w", a.ID, err)
	}
	o.Store = store
	if o.Journal == nil {
		o.Journal = account.NewMemoryJournal()
	}
	p, err := New(&o)
	if err != nil {
		return nil, err
	}
	return p.Check(ctx, a.ID)
}

// acquire takes the Locker's lease on an account for this instance, or
// returns a nil lease when there is no Locker. A lease held by another
// live owner is ErrAccountBusy, with the *account.LeaseHeldError that
// names the holder and the expiry. release gives the lease back, on a
// fresh context (the caller's may be cancelled by then).
func (p *Pipeline) acquire(ctx context.Context, id string) (lease account.Lease, release func(), err error) {
	if p.opt.Locker == nil {
		return nil, func() {}, nil
	}
	lease, err = p.opt.Locker.Acquire(ctx, id, p.opt.Lease.Owner, p.opt.Lease.TTL)
	if errors.Is(err, account.ErrLeaseHeld) {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrAccountBusy, id, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("multidrop: account %s: lease: %w", id, err)
	}
	return lease, func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lease.Release(rctx); err != nil {
			p.opt.Logger.Warn("releasing lease", "account", id, "err", err)
		}
	}, nil
}
