package multidrop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/pop"
)

// check is the state of one check of one account: the pop.Handler (with
// pop.Planner and pop.Settler) of one Fetcher session. Plan and Handle are
// called by that session, one at a time; the messages are finished by the
// finisher's goroutines, and mu guards what they share. The decisions
// themselves are in decide.go, the journal calls in journal.go.
type check struct {
	p     *Pipeline
	a     account.Account
	j     account.Journal // the Pipeline's, fenced by the lease when there is one
	held  *heldLease      // nil without a Locker
	stop  <-chan struct{}
	log   *slog.Logger
	start time.Time
	fin   *finisher

	firstSeen map[string]time.Time
	// planned holds the journal's state of each listed UID, read by Plan
	// in one read (see statesOf); read-only afterwards. A key is written only by the job of its
	// own message, so it stays true for the check.
	planned map[string]account.Delivery
	popts   *parse.Options // from the account, made at the first message
	ids     *idFilter      // set by Plan; nil: ask the journal for every copy
	settled bool           // Settle ran
	// window lists the messages examined, in the order of the session,
	// for the deletion guard's window.
	window []account.Examined
	// exclusive: the account is claimed in this process (and leased when
	// there is a Locker), so that no other session of this Pipeline records
	// for it; not so for an embedder's Handler.
	exclusive bool

	mu      sync.Mutex // guards r, deleted, errs once messages are handled
	r       *Report
	deleted []string // journal keys marked for deletion
	errs    []error  // errors of the check as a whole
}

var (
	_ pop.Planner = (*check)(nil)
	_ pop.Settler = (*check)(nil)
)

func newCheck(p *Pipeline, a account.Account, held *heldLease, stop <-chan struct{}) *check {
	now := p.opt.Now()
	j := p.opt.Journal
	if f, ok := j.(account.Fencer); ok && held != nil {
		j = fencedJournal{Journal: f.Fenced(held.l), h: held}
	}
	c := &check{
		p:     p,
		a:     a,
		j:     j,
		held:  held,
		stop:  stop,
		log:   p.opt.Logger.With("account", a.ID),
		start: now,
		r:     &Report{Account: a.ID, Start: now},
	}
	c.fin = newFinisher(c.writeRecords, p.opt.DeliveryConcurrency)
	return c
}

// Handle spools one message, examines it (parse, resolve) in the order of
// the session, and starts finishing it (deliveries, journal, decision) in
// the background, returning Defer: the decision comes with Settle.
func (c *check) Handle(ctx context.Context, m pop.MessageInfo, body io.Reader) (pop.Action, error) {
	act, err := c.handle(ctx, m, body)
	if c.stopRequested() {
		return act, errors.Join(err, pop.ErrStop)
	}
	return act, err
}

func (c *check) stopRequested() bool {
	if c.stop == nil {
		return false
	}
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

func (c *check) handle(ctx context.Context, m pop.MessageInfo, body io.Reader) (pop.Action, error) {
	c.mu.Lock()
	c.r.Retrieved++
	slot := len(c.r.Messages) // the report keeps the order of handling
	c.r.Messages = append(c.r.Messages, MessageReport{})
	c.mu.Unlock()
	mr := &MessageReport{slot: slot, Number: m.Number, UID: m.UID, Size: m.Size, Action: pop.Keep}
	decided := func(act pop.Action) (pop.Action, error) {
		c.tally(mr)
		return act, mr.Err
	}

	// Spool once. A server without usable UIDs needs the digest as the key
	// now; otherwise the digests are computed with the message's job, off
	// the session's path.
	opts := &spool.Options{Dir: c.p.opt.Spool.Dir, Threshold: c.p.opt.Spool.Memory,
		MaxSize: c.p.opt.Spool.MaxMessageSize, SizeHint: m.Size}
	mr.Key = m.UID
	var sp *spool.Spool
	var err error
	if m.UIDProblem != "" || m.UID == "" {
		h := sha256.New()
		sp, err = spool.Read(io.TeeReader(body, h), opts)
		if err == nil {
			mr.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
			mr.Key = mr.Digest
		}
	} else {
		sp, err = spool.Read(body, opts)
	}
	if err != nil {
		return decided(c.fail(mr, stepSpool, err))
	}
	c.mu.Lock()
	c.r.Bytes += sp.Size()
	c.mu.Unlock()

	j, pm := c.examine(ctx, mr, sp)
	if j.run == nil {
		if err := digests(mr, sp, nil); err != nil {
			c.fail(mr, stepSpool, err)
		}
		sp.Close()
		return decided(mr.Action)
	}
	// Messages of one key, and copies of one message to a recipient, are
	// finished one after the other, in the order they were handled: the
	// later one then finds the earlier one's deliveries in the journal.
	// Copies to distinct recipients (one per envelope recipient, each with
	// its own Delivered-To) go in parallel. Copies are told by Message-ID
	// here (the body digest is not known yet): two messages sharing one
	// are at worst finished one after the other.
	serial := []string{"key " + mr.Key}
	if pm.res.MessageID != "" {
		for _, r := range j.rcpts {
			serial = append(serial, "copy "+pm.res.MessageID+" "+r)
		}
	}
	run := func(ctx context.Context, mr *MessageReport, sp *spooled) pop.Action {
		if err := digests(mr, sp.Spool, pm); err != nil {
			return c.fail(mr, stepSpool, err)
		}
		return j.run(ctx, mr, sp)
	}
	if err := c.fin.start(ctx, mr, sp, serial, run, c.tally); err != nil {
		_ = digests(mr, sp, nil) // for the report
		sp.Close()
		return decided(c.fail(mr, stepDeliver, err))
	}
	return pop.Defer, nil
}

// Settle implements pop.Settler: it waits until every message handled is
// finished, decides those left to the whole check (the deletion guard),
// and returns the decisions. Before any deletion it makes sure the lease,
// when there is one, is still held.
func (c *check) Settle(ctx context.Context) (map[int]pop.Action, error) {
	decided := c.settle(ctx, true)
	for _, act := range decided {
		if act == pop.Delete {
			if err := c.held.fresh(ctx); err != nil {
				return nil, err
			}
			break
		}
	}
	return decided, nil
}

// settle is the one settle path: it waits for the finisher and decides the
// messages left undecided — by the deletion guard when judged, kept when
// the session ended before it settled.
func (c *check) settle(ctx context.Context, judged bool) map[int]pop.Action {
	decided, undecided := c.fin.wait()
	c.settled = true
	c.decideNoRecipients(ctx, undecided, decided, judged)
	return decided
}

// tally adds a handled message to the report, in its slot.
func (c *check) tally(mr *MessageReport) {
	if mr.Outcome == "" {
		mr.Outcome = outcomeOf(mr)
	}
	mr.detach()
	c.mu.Lock()
	switch mr.Action {
	case pop.Delete:
		c.r.Deleted++
		c.deleted = append(c.deleted, mr.Key)
		if mr.Outcome == OutcomeDropped {
			c.r.Dropped++
		}
	default:
		c.r.Kept++
		if mr.Outcome == OutcomeRetry {
			c.r.Retry++
		}
	}
	c.r.Messages[mr.slot] = *mr
	c.mu.Unlock()
	c.log.Debug("message", "uid", mr.UID, "message_id", mr.MessageID, "key", mr.Key,
		"recipients", len(mr.Resolution.Recipients), "action", mr.Action.String(), "outcome", string(mr.Outcome), "reason", mr.Reason)
	c.p.observe(Event{Kind: EventMessage, Account: c.a.ID, Message: mr})
}

// finish closes the report after the session ended with fetchErr, and
// forgets the journal state of messages whose deletion was committed.
func (c *check) finish(ctx context.Context, fetchErr error) *Report {
	if !c.settled {
		c.settle(ctx, false) // a session that never settled keeps them
	}
	c.fin.close()
	c.r.Duration = c.p.opt.Now().Sub(c.start)
	c.r.Committed = sessionCommitted(fetchErr)
	if c.r.Committed && len(c.deleted) > 0 {
		c.forgetDeleted(ctx, c.deleted)
	}
	if !c.r.Committed {
		c.r.Deleted = 0
	}
	// The Fetcher reports our message errors again, wrapped in a
	// pop.MessageError: they are in the message reports already. The rest
	// concerns the session or the account.
	errs := slices.Clone(c.errs)
	for _, e := range leafErrors(fetchErr) {
		var me *MessageError
		if !errors.As(e, &me) {
			errs = append(errs, e)
		}
	}
	c.r.Err = errors.Join(errs...)
	if t, ok := pop.NextLogin(fetchErr); ok {
		c.r.NextLogin = t
	} else if errors.Is(fetchErr, pop.ErrLoginDelay) {
		// Refused without a delay announced: five minutes, as the
		// schedule waits.
		c.r.NextLogin = c.p.opt.Now().Add(max(c.r.LoginDelay, 5*time.Minute))
	}
	return c.r
}
