package multidrop

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/pop"
)

// journalTimeout bounds a journal write that must outlive a cancelled check.
const journalTimeout = 30 * time.Second

// check is the state of one check of one account. Plan and Handle are
// called by one Fetcher session, one at a time; with par, the messages are
// finished by background goroutines, and mu guards what they share.
type check struct {
	p     *Pipeline
	a     account.Account
	j     account.Journal // the Pipeline's, fenced by the lease when there is one
	held  *heldLease      // nil without a Locker
	stop  <-chan struct{}
	log   *slog.Logger
	start time.Time

	firstSeen map[string]time.Time
	// planned holds the journal's recipients of each listed UID, read by
	// Plan; read-only afterwards. A key is written only by the job of its
	// own message, so it stays true for the check.
	planned  map[string][]string
	examined int            // messages cleanly parsed and resolved
	noRcpt   int            // of those, with no valid recipient
	guard    bool           // deletion guard tripped
	popts    *parse.Options // from the account, made at the first message
	par      *parallel      // nil: each message is finished in Handle
	ids      *idFilter      // set by Plan; nil: ask the journal for every copy
	// exclusive: the account is claimed in this process (and leased when
	// there is a Locker), so that no other session of this Pipeline records
	// for it; not so for an embedder's Handler.
	exclusive bool

	mu sync.Mutex // guards r, deleted, errs, undecided once messages are handled
	r  *Report
	// undecided: messages without a valid recipient whose deletion waits
	// for the whole check's deletion guard (settleNoRecipients).
	undecided []undecided
	deleted   []string // journal keys marked for deletion
	errs      []error
}

func newCheck(p *Pipeline, a account.Account, held *heldLease, stop <-chan struct{}) *check {
	now := p.opt.Now()
	j := p.opt.Journal
	if f, ok := j.(account.Fencer); ok && held != nil {
		j = fencedJournal{Journal: f.Fenced(held.l), h: held}
	}
	return &check{
		p:     p,
		a:     a,
		j:     j,
		held:  held,
		stop:  stop,
		log:   p.opt.Logger.With("account", a.ID),
		start: now,
		r:     &Report{Account: a.ID, Start: now},
	}
}

// Plan decides from the listing, before any download: messages already final
// in the journal are deleted (or, with leave-on-server, kept until they
// expire), oversize ones follow the account's policy, the caps apply, and the
// rest is retrieved (smallest first when asked).
func (c *check) Plan(ctx context.Context, s pop.Scan) ([]pop.Step, error) {
	c.r.Listed = len(s.Messages)
	c.r.LoginDelay = s.LoginDelay
	var uids []string
	for _, m := range s.Messages {
		if m.UIDProblem == "" && m.UID != "" {
			uids = append(uids, m.UID)
		}
	}
	seen, err := c.j.Sync(ctx, c.a.ID, uids, c.p.opt.Now())
	if err != nil {
		// Fail closed: without the journal nothing may be deleted.
		return nil, fmt.Errorf("multidrop: account %s: journal: %w", c.a.ID, err)
	}
	c.firstSeen = seen

	msgs := slices.Clone(s.Messages)
	if c.a.Retrieval.SmallFirst {
		slices.SortStableFunc(msgs, func(x, y pop.MessageInfo) int { return cmp.Compare(x.Size, y.Size) })
	}
	rt := c.a.Retrieval
	steps := make([]pop.Step, 0, len(msgs))
	var nRetr int
	var nBytes int64
	for _, m := range msgs {
		act, why, err := c.planOne(ctx, m)
		if err != nil {
			return nil, err
		}
		if act == pop.Retrieve {
			if (rt.MaxMessages > 0 && nRetr >= rt.MaxMessages) ||
				(rt.MaxBytes > 0 && nBytes+m.Size > rt.MaxBytes && nRetr > 0) {
				act, why = pop.Keep, "per-check cap reached"
			} else {
				nRetr++
				nBytes += m.Size
			}
		}
		switch act {
		case pop.Keep:
			c.r.Skipped++
			c.r.Messages = append(c.r.Messages, MessageReport{Number: m.Number, UID: m.UID, Key: m.UID, Size: m.Size, Action: pop.Keep, Reason: why})
		case pop.Delete:
			c.r.Deleted++
			c.deleted = append(c.deleted, m.UID)
			c.r.Messages = append(c.r.Messages, MessageReport{Number: m.Number, UID: m.UID, Key: m.UID, Size: m.Size, Action: pop.Delete, Reason: why})
		}
		steps = append(steps, pop.Step{Message: m, Action: act})
	}
	c.loadIDs(ctx, nRetr)
	if c.r.Deleted > 0 && c.held != nil {
		// Deletions planned from the journal: make sure it is still ours.
		if err := c.held.renew(ctx); err != nil {
			return nil, fmt.Errorf("multidrop: account %s: %w", c.a.ID, err)
		}
	}
	return steps, nil
}

func (c *check) planOne(ctx context.Context, m pop.MessageInfo) (pop.Action, string, error) {
	rt := c.a.Retrieval
	keyed := m.UIDProblem == "" && m.UID != ""
	if keyed {
		done, err := c.j.Delivered(ctx, c.a.ID, m.UID)
		if err != nil {
			return pop.Keep, "", fmt.Errorf("multidrop: account %s: journal: %w", c.a.ID, err)
		}
		if c.planned == nil {
			c.planned = map[string][]string{}
		}
		c.planned[m.UID] = done.Rcpts
		if done.Final {
			if !rt.LeaveOnServer {
				return pop.Delete, "already delivered", nil
			}
			if rt.DeleteAfterDays > 0 && c.expired(m.UID) {
				return pop.Delete, fmt.Sprintf("left on server for %d days", rt.DeleteAfterDays), nil
			}
			return pop.Keep, "already delivered, left on server", nil
		}
	}
	if rt.MaxMessageSize > 0 && m.Size > rt.MaxMessageSize {
		switch rt.Oversize {
		case account.OversizeDelete:
			return pop.Delete, "oversize, deleted by policy", nil
		case account.OversizeNotify:
			if keyed {
				if err := c.notifyOversize(ctx, m); err != nil {
					c.errs = append(c.errs, err)
				}
			}
			return pop.Keep, "oversize, postmaster notified", nil
		default:
			return pop.Keep, "oversize, skipped", nil
		}
	}
	return pop.Retrieve, "", nil
}

func (c *check) expired(uid string) bool {
	first, ok := c.firstSeen[uid]
	if !ok {
		return false
	}
	return c.p.opt.Now().Sub(first) >= time.Duration(c.a.Retrieval.DeleteAfterDays)*24*time.Hour
}

// Handle spools, parses and resolves one message, then finishes it
// (journal, deliveries, decision): at once, or in the background when the
// check settles, returning Defer.
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

// undecided is a message whose decision settleNoRecipients makes, with its
// slot in the report.
type undecided struct {
	slot int
	mr   *MessageReport
}

// job finishes one message: journal, deliveries, decision; run fills mr.
// rcpts are the recipients it may deliver to.
type job struct {
	run   func(ctx context.Context, mr *MessageReport, sp *spooled) pop.Action
	rcpts []string
}

func (c *check) handle(ctx context.Context, m pop.MessageInfo, body io.Reader) (pop.Action, error) {
	c.mu.Lock()
	c.r.Retrieved++
	slot := len(c.r.Messages) // the report keeps the order of handling
	c.r.Messages = append(c.r.Messages, MessageReport{})
	c.mu.Unlock()
	mr := &MessageReport{Number: m.Number, UID: m.UID, Size: m.Size, Action: pop.Keep}
	decided := func(act pop.Action) (pop.Action, error) {
		c.account(slot, mr)
		return act, mr.Err
	}

	// Spool once. A server without usable UIDs needs the digest as the key
	// now; otherwise the digests are computed with the message's job, off
	// the session's path.
	opts := &spool.Options{Dir: c.p.opt.SpoolDir, Threshold: c.p.opt.SpoolMemory,
		MaxSize: c.p.opt.MaxMessageSize, SizeHint: m.Size}
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
		return decided(c.fail(mr, "spool", err))
	}
	c.mu.Lock()
	c.r.Bytes += sp.Size()
	c.mu.Unlock()

	j, pm := c.examine(ctx, mr, sp)
	if j.run == nil {
		if err := digests(mr, sp, nil); err != nil {
			c.fail(mr, "spool", err)
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
			return c.fail(mr, "spool", err)
		}
		return j.run(ctx, mr, sp)
	}
	return c.finishMessage(ctx, slot, mr, &spooled{Spool: sp}, serial, run)
}

// fail marks mr kept after a failed step.
func (c *check) fail(mr *MessageReport, step string, err error) pop.Action {
	mr.Action, mr.Reason = pop.Keep, step+" failed"
	mr.Err = &MessageError{Account: c.a.ID, UID: mr.UID, Number: mr.Number, Step: step, Err: err}
	return pop.Keep
}

// examine parses and resolves a spooled message, in the order of the
// session, and returns the job that finishes it; one without run when the
// decision is made (a Keep, in mr).
func (c *check) examine(ctx context.Context, mr *MessageReport, sp *spool.Spool) (job, *parsed) {
	var err error
	if c.popts == nil {
		if c.popts, err = parseOptions(c.a, c.p.opt.LocalHost); err != nil {
			c.fail(mr, "parse", err)
			return job{}, nil
		}
	}
	pm, err := parseMessage(sp.Reader(), c.popts)
	if err != nil {
		c.fail(mr, "parse", err)
		return job{}, nil
	}
	mr.MessageID = pm.res.MessageID
	if pm.loop && c.a.Policy.Loop == account.LoopQuarantine {
		return c.postmasterJob(pm, "loop: the message carries this host's stamp", "quarantined to postmaster"), pm
	}
	if pm.keepReason != "" {
		mr.Reason = pm.keepReason
		return job{}, pm
	}

	res, err := c.resolveMessage(ctx, pm)
	if err != nil {
		c.fail(mr, "resolve", err)
		return job{}, pm
	}
	mr.Resolution = res
	c.examined++

	if len(res.Recipients) == 0 {
		if hasLoop(res) {
			if c.a.Policy.Loop == account.LoopQuarantine {
				return c.postmasterJob(pm, "loop: every recipient has had this message", "quarantined to postmaster"), pm
			}
			mr.Reason = "loop: every recipient has had this message; kept"
			return job{}, pm
		}
		return c.noRecipient(mr, pm), pm
	}
	rcpts := make([]string, len(res.Recipients))
	for i, r := range res.Recipients {
		rcpts[i] = r.Address
	}
	return job{run: func(ctx context.Context, mr *MessageReport, sp *spooled) pop.Action {
		return c.deliverAll(ctx, mr, sp, pm)
	}, rcpts: rcpts}, pm
}

// delivered returns the journal's recipients of a message's key: Plan's
// reading when the message is keyed by its UID.
func (c *check) delivered(ctx context.Context, mr *MessageReport) ([]string, error) {
	if done, ok := c.planned[mr.Key]; ok && mr.Key == mr.UID {
		return done, nil
	}
	d, err := c.j.Delivered(ctx, c.a.ID, mr.Key)
	return d.Rcpts, err
}

// deliverAll delivers to the recipients the journal does not show done,
// reports foreign recipients when asked, and decides.
func (c *check) deliverAll(ctx context.Context, mr *MessageReport, sp *spooled, pm *parsed) pop.Action {
	// Drop recipients the journal shows done: a retry of this key, or
	// another copy of this Message-ID.
	done, err := c.delivered(ctx, mr)
	if err != nil {
		return c.fail(mr, "journal", err)
	}
	if pm.copyID != "" && c.ids.mayHold(pm.copyID) {
		byID, err := c.j.DeliveredID(ctx, c.a.ID, pm.copyID)
		if err != nil {
			return c.fail(mr, "journal", err)
		}
		done = append(done, byID...)
	}
	var pending []string
	var marked bool // the final mark is written
	for _, r := range mr.Resolution.Recipients {
		if slices.Contains(done, r.Address) {
			mr.Already = append(mr.Already, r.Address)
		} else {
			pending = append(pending, r.Address)
		}
	}

	if len(pending) > 0 {
		var ok bool
		ok, marked, err = c.deliver(ctx, mr, sp, pm, pending, done, c.a.Policy.Foreign != account.ForeignReport, false)
		if err != nil {
			return c.fail(mr, "journal", err)
		}
		if !ok {
			mr.Reason = "temporary delivery failure; kept for retry"
			return pop.Keep
		}
	}
	if c.a.Policy.Foreign == account.ForeignReport {
		if err := c.reportForeign(ctx, mr); err != nil {
			// The deliveries stand; the notice is retried with the message.
			c.fail(mr, "policy", err)
			mr.Reason = "delivered; foreign-recipient notice failed"
			return pop.Keep
		}
	}
	return c.final(mr, "delivered", marked)
}

// deliver delivers to pending and records every final recipient (delivered
// or permanently failed) durably. ok is true when every recipient is final.
//
// done are the recipients the journal shows done. With markFinal the final
// mark is written in the same journal write when every recipient is final,
// saving a durable write per message; marked says whether it was. With
// forPostmaster the delivery is a policy's copy to the postmaster, which
// is never final unless delivered: the message stays on the server.
func (c *check) deliver(ctx context.Context, mr *MessageReport, sp *spooled, pm *parsed, pending, done []string, markFinal, forPostmaster bool) (ok, marked bool, err error) {
	sender, copyID := pm.res.Sender, pm.copyID
	// Never deliver under a lease that may have been taken over.
	if err := c.held.fresh(ctx); err != nil {
		return false, false, err
	}
	results, derr := c.p.opt.Deliverer.Deliver(ctx, c.envelope(mr, sender, pending), sp.Reader())
	size := sp.Size()
	var final, refused []string
	ok = true
	for _, rcpt := range pending {
		r := c.result(mr, rcpt, results, derr)
		switch r.Status {
		case deliver.Delivered:
			c.mu.Lock()
			c.r.Delivered++
			c.mu.Unlock()
			final = append(final, rcpt)
			c.log.Info("delivered", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", rcpt, "bytes", size)
		case deliver.Permanent:
			c.log.Warn("permanent delivery failure", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", rcpt, "err", r.Err)
			switch {
			case forPostmaster:
				ok = false
			case c.a.Policy.Failed == account.FailedPostmaster && rcpt != c.a.Policy.Postmaster:
				refused = append(refused, rcpt)
			default:
				final = append(final, rcpt)
			}
		default:
			ok = false
			c.log.Warn("temporary delivery failure", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", rcpt, "err", r.Err)
		}
	}
	if len(refused) > 0 {
		// The failed policy: the refused recipients are final once the
		// postmaster has the message.
		if c.toPostmasterFor(ctx, mr, sp, sender, refused, done) {
			final = append(final, refused...)
			if !slices.Contains(final, c.a.Policy.Postmaster) && !slices.Contains(done, c.a.Policy.Postmaster) {
				final = append(final, c.a.Policy.Postmaster)
			}
		} else {
			ok = false
		}
	}
	sp.done() // the bytes are no longer needed: free the spool, and its slot
	if len(final) > 0 {
		// These deliveries happened: record them, in one write, even if the
		// check is being cancelled, or the next check would deliver them
		// again. With the final mark the key's record allows a DELE without
		// download.
		now := c.p.opt.Now()
		rec := account.Record{Key: mr.Key, Rcpts: final, At: now}
		if copyID != "" {
			rec.MessageID, rec.IDRcpts, rec.Expires = copyID, final, now.Add(c.p.opt.MessageIDTTL)
			c.ids.add(copyID)
		}
		marked = ok && markFinal
		if marked {
			rec.Final = true
		}
		if err := c.record(rec); err != nil {
			return false, false, err
		}
	}
	return ok, marked, nil
}

// toPostmasterFor delivers the message to the postmaster for recipients
// whose delivery failed permanently (the failed policy), unless the
// postmaster has it already (as a recipient, or for another failure: done
// are the journal's recipients of the message). It reports whether the
// postmaster has it.
func (c *check) toPostmasterFor(ctx context.Context, mr *MessageReport, sp *spooled, sender string, refused, done []string) bool {
	pmAddr := c.a.Policy.Postmaster
	if slices.Contains(done, pmAddr) || slices.ContainsFunc(mr.Results, func(r deliver.Result) bool {
		return r.Recipient == pmAddr && r.Status == deliver.Delivered
	}) {
		return true
	}
	if err := c.held.fresh(ctx); err != nil {
		return false
	}
	results, derr := c.p.opt.Deliverer.Deliver(ctx, c.envelope(mr, sender, []string{pmAddr}), sp.Reader())
	if r := c.result(mr, pmAddr, results, derr); r.Status != deliver.Delivered {
		c.log.Warn("postmaster delivery for refused recipients failed", "uid", mr.UID, "message_id", mr.MessageID, "refused", refused, "err", r.Err)
		return false
	}
	c.mu.Lock()
	c.r.Delivered++
	c.mu.Unlock()
	c.log.Info("delivered to postmaster for refused recipients", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", pmAddr, "refused", refused)
	return true
}

// envelope is the envelope of a delivery of the message mr reports.
func (c *check) envelope(mr *MessageReport, from string, to []string) deliver.Envelope {
	return deliver.Envelope{From: from, To: to, Trace: deliver.Trace{Host: c.a.Host, Key: mr.Key, Account: c.a.ID, Digest: mr.Digest}}
}

// result returns rcpt's result of a Deliver call, temporary when the
// deliverer left it out (the role's contract), and adds it to the report
// and the observer's events.
func (c *check) result(mr *MessageReport, rcpt string, results deliver.Results, derr error) deliver.Result {
	r := deliver.Result{Recipient: rcpt, Status: deliver.Temporary, Err: derr}
	if i := slices.IndexFunc(results, func(x deliver.Result) bool { return x.Recipient == rcpt }); i >= 0 {
		r = results[i]
	} else if r.Err == nil {
		r.Err = errors.New("no result from the deliverer")
	}
	mr.Results = append(mr.Results, r)
	c.p.observe(Event{Kind: EventDelivery, Account: c.a.ID, Result: &r})
	return r
}

// final marks the message final in the journal and decides Delete (or Keep
// when it is left on the server).
func (c *check) final(mr *MessageReport, why string, marked bool) pop.Action {
	if !marked {
		if err := c.record(account.Record{Key: mr.Key, Final: true, At: c.p.opt.Now()}); err != nil {
			c.fail(mr, "journal", err)
			mr.Reason = "journal failed"
			return pop.Keep
		}
	}
	if c.a.Retrieval.LeaveOnServer && !(c.a.Retrieval.DeleteAfterDays > 0 && c.expired(mr.UID)) {
		mr.Action, mr.Reason = pop.Keep, why+"; left on server"
		return pop.Keep
	}
	mr.Action, mr.Reason = pop.Delete, why
	return pop.Delete
}

// noRecipient applies the account's no-recipient policy to a cleanly parsed
// message whose candidates gave no valid recipient, under the deletion
// guard. It returns the job that finishes the message, or none (no run)
// when it is kept.
func (c *check) noRecipient(mr *MessageReport, pm *parsed) job {
	c.noRcpt++
	switch c.a.Policy.NoRecipient {
	case account.NoRecipientKeep:
		mr.Reason = "no valid recipient; kept by policy"
		return job{}
	case account.NoRecipientPostmaster:
		return c.postmasterJob(pm, "no valid recipient", "sent to postmaster")
	}
	// Delete, the default, unless the guard says the check looks wrong:
	// when the session settles, judged on the whole check at Settle,
	// before any deletion; otherwise on the messages examined so far.
	if c.par != nil {
		return job{run: func(context.Context, *MessageReport, *spooled) pop.Action {
			return pop.Defer // decided by settleNoRecipients
		}}
	}
	if c.guardTrips() {
		mr.Reason = "no valid recipient; kept by the deletion guard"
		return job{}
	}
	return job{run: func(_ context.Context, mr *MessageReport, _ *spooled) pop.Action {
		return c.final(mr, "no valid recipient; deleted", false)
	}}
}

// guardTrips reports whether the deletion guard holds, tripping it (once:
// the error, the log record, the event) when the messages examined so far
// call for it.
func (c *check) guardTrips() bool {
	if !c.guard && c.noRcpt >= c.p.opt.GuardMin && float64(c.noRcpt) >= c.p.opt.GuardShare*float64(c.examined) {
		c.guard = true
		c.mu.Lock()
		c.errs = append(c.errs, ErrDeletionGuard)
		c.mu.Unlock()
		c.log.Error("deletion guard tripped", "no_recipient", c.noRcpt, "examined", c.examined)
		c.p.observe(Event{Kind: EventGuard, Account: c.a.ID, Err: ErrDeletionGuard})
	}
	return c.guard
}

// settleNoRecipients decides the messages without a valid recipient that
// the delete policy would delete, once every message of the session is
// examined: kept when the deletion guard trips on the whole check;
// otherwise marked final in one journal write and deleted. decided, when
// not nil, gets the decisions; without it (the session ended before it
// settled) they are all kept.
func (c *check) settleNoRecipients(decided map[int]pop.Action) {
	c.mu.Lock()
	pend := c.undecided
	c.undecided = nil
	c.mu.Unlock()
	if len(pend) == 0 {
		return
	}
	keep := func(why string) {
		for _, u := range pend {
			u.mr.Action, u.mr.Reason = pop.Keep, why
			if decided != nil {
				decided[u.mr.Number] = pop.Keep
			}
			c.account(u.slot, u.mr)
		}
	}
	switch {
	case decided == nil:
		keep("no valid recipient; kept: the session ended before the check's deletion guard judged")
		return
	case c.guardTrips():
		keep("no valid recipient; kept by the deletion guard")
		return
	}
	recs := make([]account.Record, len(pend))
	for i, u := range pend {
		recs[i] = account.Record{Key: u.mr.Key, Final: true, At: c.p.opt.Now()}
	}
	if err := c.writeRecords(recs); err != nil {
		for _, u := range pend {
			decided[u.mr.Number] = c.fail(u.mr, "journal", err)
			c.account(u.slot, u.mr)
		}
		return
	}
	for _, u := range pend {
		decided[u.mr.Number] = c.final(u.mr, "no valid recipient; deleted", true)
		c.account(u.slot, u.mr)
	}
}

// postmasterJob returns the job that delivers a message to the account's
// postmaster instead of its recipients; why says why, done what was done.
func (c *check) postmasterJob(pm *parsed, why, done string) job {
	return job{run: func(ctx context.Context, mr *MessageReport, sp *spooled) pop.Action {
		return c.toPostmaster(ctx, mr, sp, pm, why, done)
	}, rcpts: []string{c.a.Policy.Postmaster}}
}

// toPostmaster delivers a message to the account's postmaster (the
// postmaster no-recipient policy, the quarantine loop policy).
func (c *check) toPostmaster(ctx context.Context, mr *MessageReport, sp *spooled, pm *parsed, why, doneWhy string) pop.Action {
	pmAddr := c.a.Policy.Postmaster
	done, err := c.delivered(ctx, mr)
	if err != nil {
		return c.fail(mr, "journal", err)
	}
	marked := false
	if !slices.Contains(done, pmAddr) {
		var ok bool
		ok, marked, err = c.deliver(ctx, mr, sp, pm, []string{pmAddr}, done, true, true)
		if err != nil {
			return c.fail(mr, "journal", err)
		}
		if !ok {
			mr.Reason = why + "; postmaster delivery failed; kept"
			return pop.Keep
		}
	}
	return c.final(mr, why+"; "+doneWhy, marked)
}

// account adds a handled message to the report, in its slot.
func (c *check) account(slot int, mr *MessageReport) {
	c.mu.Lock()
	switch mr.Action {
	case pop.Delete:
		c.r.Deleted++
		c.deleted = append(c.deleted, mr.Key)
		if len(mr.Results) == 0 {
			c.r.Dropped++
		}
	default:
		c.r.Kept++
	}
	if mr.Err != nil {
		c.errs = append(c.errs, mr.Err)
	}
	c.r.Messages[slot] = *mr
	c.mu.Unlock()
	c.log.Info("message", "uid", mr.UID, "message_id", mr.MessageID, "key", mr.Key,
		"recipients", len(mr.Resolution.Recipients), "action", mr.Action.String(), "reason", mr.Reason)
	c.p.observe(Event{Kind: EventMessage, Account: c.a.ID, Message: mr})
}

// finish closes the report after the session ended with fetchErr, and
// forgets the journal state of messages whose deletion was committed.
func (c *check) finish(ctx context.Context, fetchErr error) *Report {
	c.par.close()
	c.settleNoRecipients(nil) // a session that never settled keeps them
	c.r.Duration = c.p.opt.Now().Sub(c.start)
	c.r.Committed = sessionCommitted(fetchErr)
	if c.r.Committed && len(c.deleted) > 0 {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := c.j.Forget(fctx, c.a.ID, c.deleted...); err != nil {
			// Harmless: the records are pruned at the next listing.
			c.log.Warn("journal forget failed", "err", err)
		}
	}
	if !c.r.Committed {
		c.r.Deleted = 0
	}
	// Our own message errors come back from the Fetcher wrapped; report
	// each failure once.
	errs := slices.Clone(c.errs)
	for _, e := range leafErrors(fetchErr) {
		if !slices.ContainsFunc(c.errs, func(o error) bool { return errors.Is(e, o) }) {
			errs = append(errs, e)
		}
	}
	c.r.Err = errors.Join(errs...)
	return c.r
}
