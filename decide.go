package multidrop

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// The decisions of a check, in the order a message meets them: plan (from
// the listing), examine (parse, resolve), deliver, final (journal mark and
// Delete or Keep), and the deletion guard over the whole check.

// Steps named in a MessageError.
const (
	stepSpool   = "spool"
	stepParse   = "parse"
	stepResolve = "resolve"
	stepJournal = "journal"
	stepDeliver = "deliver"
	stepPolicy  = "policy"
)

// Plan decides from the listing, before any download: messages already final
// in the journal are deleted (or, with leave-on-server, kept until they
// expire), oversize ones follow the account's policy, the caps apply, and the
// rest is retrieved (smallest first when asked).
func (c *check) Plan(ctx context.Context, s pop.Scan) ([]pop.Step, error) {
	c.r.Listed = len(s.Messages)
	c.r.LoginDelay = s.LoginDelay
	c.r.NextLogin = s.NextLogin()
	var uids []string
	for _, m := range s.Messages {
		if m.UIDProblem == "" && m.UID != "" {
			uids = append(uids, m.UID)
		}
	}
	seen, err := c.syncJournal(ctx, uids)
	if err != nil {
		// Fail closed: without the journal nothing may be deleted.
		return nil, fmt.Errorf("multidrop: account %s: journal: %w", c.a.ID, err)
	}
	c.firstSeen = seen
	if c.planned, err = c.statesOf(ctx, uids); err != nil {
		return nil, fmt.Errorf("multidrop: account %s: journal: %w", c.a.ID, err)
	}

	msgs := slices.Clone(s.Messages)
	rt := c.a.Retrieval
	if rt.SmallFirst {
		slices.SortStableFunc(msgs, func(x, y pop.MessageInfo) int { return cmp.Compare(x.Size, y.Size) })
	}
	steps := make([]pop.Step, 0, len(msgs))
	var nRetr int
	var nBytes int64
	for _, m := range msgs {
		mr := MessageReport{Number: m.Number, UID: m.UID, Key: m.UID, Size: m.Size}
		act, err := c.planOne(ctx, m, &mr)
		if err != nil {
			return nil, err
		}
		if act == pop.Retrieve {
			if (rt.MaxMessages > 0 && nRetr >= rt.MaxMessages) ||
				(rt.MaxBytes > 0 && nBytes+m.Size > rt.MaxBytes && nRetr > 0) {
				act, mr.Outcome, mr.Reason = pop.Keep, OutcomeSkipped, "per-check cap reached"
			} else {
				nRetr++
				nBytes += m.Size
			}
		}
		switch act {
		case pop.Keep:
			c.r.Skipped++
			mr.Action = pop.Keep
			c.r.Messages = append(c.r.Messages, mr)
		case pop.Delete:
			c.r.Deleted++
			if mr.Outcome == OutcomeDropped {
				c.r.Dropped++
			}
			c.deleted = append(c.deleted, m.UID)
			mr.Action = pop.Delete
			c.r.Messages = append(c.r.Messages, mr)
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

// planOne decides one listed message; a message not retrieved gets its
// outcome and reason in mr.
func (c *check) planOne(ctx context.Context, m pop.MessageInfo, mr *MessageReport) (pop.Action, error) {
	rt := c.a.Retrieval
	keyed := m.UIDProblem == "" && m.UID != ""
	if keyed {
		if done := c.planned[m.UID]; done.Final {
			mr.Outcome = OutcomeDelivered
			if !rt.LeaveOnServer {
				mr.Reason = "already delivered"
				return pop.Delete, nil
			}
			if rt.DeleteAfterDays > 0 && c.expired(m.UID) {
				mr.Reason = fmt.Sprintf("left on server for %d days", rt.DeleteAfterDays)
				return pop.Delete, nil
			}
			mr.Reason = "already delivered, left on server"
			return pop.Keep, nil
		}
	}
	if rt.MaxMessageSize > 0 && m.Size > rt.MaxMessageSize {
		switch rt.Oversize {
		case account.OversizeDelete:
			mr.Outcome, mr.Reason = OutcomeDropped, "oversize, deleted by policy"
			return pop.Delete, nil
		case account.OversizeNotify:
			mr.Outcome, mr.Reason = OutcomeKept, "oversize, postmaster notified"
			if keyed {
				if err := c.notifyOversize(ctx, m); err != nil {
					mr.Reason = "oversize; postmaster notice failed"
					mr.Err = &MessageError{Account: c.a.ID, UID: m.UID, Number: m.Number, Step: stepPolicy, Err: err}
				}
			}
			return pop.Keep, nil
		default:
			mr.Outcome, mr.Reason = OutcomeKept, "oversize, skipped"
			return pop.Keep, nil
		}
	}
	return pop.Retrieve, nil
}

func (c *check) expired(uid string) bool {
	first, ok := c.firstSeen[uid]
	if !ok {
		return false
	}
	return c.p.opt.Now().Sub(first) >= time.Duration(c.a.Retrieval.DeleteAfterDays)*24*time.Hour
}

// job finishes one message: journal, deliveries, decision; run fills mr.
// rcpts are the recipients it may deliver to.
type job struct {
	run   func(ctx context.Context, mr *MessageReport, sp *spooled) pop.Action
	rcpts []string
}

// fail marks mr kept after a failed step: for a retry, unless the message
// itself is at fault (its header, its size).
func (c *check) fail(mr *MessageReport, step string, err error) pop.Action {
	mr.Action, mr.Reason, mr.Outcome = pop.Keep, step+" failed", OutcomeRetry
	var tooLarge *spool.TooLargeError
	if step == stepParse || errors.As(err, &tooLarge) {
		mr.Outcome = OutcomeFailed
	}
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
			c.fail(mr, stepParse, err)
			return job{}, nil
		}
	}
	pm, err := parseMessage(sp.Reader(), c.popts)
	if err != nil {
		c.fail(mr, stepParse, err)
		return job{}, nil
	}
	mr.MessageID, mr.Subject, mr.From = pm.res.MessageID, pm.subject, pm.from
	for _, w := range pm.res.Warnings {
		mr.Warnings = append(mr.Warnings, w.String())
	}
	if pm.loop && c.a.Policy.Loop == account.LoopQuarantine {
		return c.postmasterJob(pm, "loop: the message carries this host's stamp", "quarantined to postmaster"), pm
	}
	if pm.keepReason != "" {
		mr.Reason, mr.Outcome = pm.keepReason, OutcomeKept
		return job{}, pm
	}

	res, err := resolve.Message(ctx, c.p.opt.Resolver, c.a, pm.res)
	if err != nil {
		c.fail(mr, stepResolve, err)
		return job{}, pm
	}
	mr.Resolution = res
	c.window = append(c.window, account.Examined{Key: mr.Key, NoRecipient: len(res.Recipients) == 0 && !hasLoop(res)})

	if len(res.Recipients) == 0 {
		if hasLoop(res) {
			if c.a.Policy.Loop == account.LoopQuarantine {
				return c.postmasterJob(pm, "loop: every recipient has had this message", "quarantined to postmaster"), pm
			}
			mr.Reason, mr.Outcome = "loop: every recipient has had this message; kept", OutcomeKept
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

// hasLoop reports whether some candidate was rejected as a loop.
func hasLoop(res resolve.Result) bool {
	for _, r := range res.Rejected {
		if r.Reason == resolve.ReasonLoop {
			return true
		}
	}
	return false
}

// delivered returns the journal's recipients of a message's key: Plan's
// reading when the message is keyed by its UID.
func (c *check) delivered(ctx context.Context, mr *MessageReport) ([]string, error) {
	if done, ok := c.planned[mr.Key]; ok && mr.Key == mr.UID {
		return done.Rcpts, nil
	}
	d, err := c.recipientsOf(ctx, mr.Key)
	return d.Rcpts, err
}

// deliverAll delivers to the recipients the journal does not show done,
// reports foreign recipients when asked, and decides.
func (c *check) deliverAll(ctx context.Context, mr *MessageReport, sp *spooled, pm *parsed) pop.Action {
	// Drop recipients the journal shows done: a retry of this key, or
	// another copy of this Message-ID.
	done, err := c.delivered(ctx, mr)
	if err != nil {
		return c.fail(mr, stepJournal, err)
	}
	if pm.copyID != "" {
		byID, known := c.ids.recipients(pm.copyID)
		if !known {
			if byID, err = c.recipientsOfCopy(ctx, pm.copyID); err != nil {
				return c.fail(mr, stepJournal, err)
			}
		}
		done = append(done, byID...)
	}
	var pending []string
	for _, r := range mr.Resolution.Recipients {
		if hasRecipient(done, r.Address) {
			mr.Already = append(mr.Already, r.Address)
		} else {
			pending = append(pending, r.Address)
		}
	}

	var d delivery
	if len(pending) > 0 {
		d, err = c.deliverTo(ctx, mr, sp, pm, pending, done, deliveryOptions{markFinal: c.a.Policy.Foreign != account.ForeignReport})
		if err != nil {
			return c.fail(mr, stepJournal, err)
		}
		if !d.ok {
			mr.Reason, mr.Outcome = "temporary delivery failure; kept for retry", OutcomeRetry
			return pop.Keep
		}
	}
	if c.a.Policy.Foreign == account.ForeignReport {
		if err := c.reportForeign(ctx, mr); err != nil {
			// The deliveries stand; the notice is retried with the message.
			c.fail(mr, stepPolicy, err)
			mr.Reason = "delivered; foreign-recipient notice failed"
			return pop.Keep
		}
	}
	why, outcome := "delivered", OutcomeDelivered
	switch {
	case len(d.refused) > 0 && d.delivered == 0 && len(mr.Already) == 0 && d.toPostmaster:
		why, outcome = "every recipient refused it permanently; sent to postmaster", OutcomePostmaster
	case len(d.refused) > 0 && d.delivered == 0 && len(mr.Already) == 0:
		why, outcome = "every recipient refused it permanently", OutcomeRefused
	case len(d.refused) > 0:
		why = fmt.Sprintf("delivered; refused permanently by %d recipients", len(d.refused))
	}
	mr.Outcome = outcome
	return c.final(mr, why, d.marked)
}

// deliveryOptions qualify a deliverTo.
type deliveryOptions struct {
	// markFinal writes the final mark in the same journal write when
	// every recipient is final, saving a durable write per message.
	markFinal bool
	// forPostmaster: the delivery is a policy's copy to the postmaster,
	// never final unless delivered: the message stays on the server.
	forPostmaster bool
}

// delivery is the outcome of a deliverTo.
type delivery struct {
	ok           bool     // every recipient is final
	marked       bool     // the final mark is written
	delivered    int      // recipients delivered to
	refused      []string // recipients that refused it permanently
	toPostmaster bool     // the postmaster got it for the refused ones
}

// deliverTo delivers to pending and records every final recipient
// (delivered or permanently failed) durably. done are the recipients the
// journal shows done.
func (c *check) deliverTo(ctx context.Context, mr *MessageReport, sp *spooled, pm *parsed, pending, done []string, o deliveryOptions) (delivery, error) {
	sender, copyID := pm.res.Sender, pm.copyID
	// Never deliver under a lease that may have been taken over.
	if err := c.held.fresh(ctx); err != nil {
		return delivery{}, err
	}
	results, derr := c.p.opt.Deliverer.Deliver(ctx, c.envelope(mr, sender, pending), sp.Reader())
	size := sp.Size()
	var final, toPM []string
	d := delivery{ok: true}
	for _, rcpt := range pending {
		r := c.result(mr, rcpt, results, derr)
		switch r.Status {
		case deliver.Delivered:
			c.mu.Lock()
			c.r.Delivered++
			c.mu.Unlock()
			d.delivered++
			final = append(final, rcpt)
			c.log.Debug("delivered", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", rcpt, "bytes", size)
		case deliver.Permanent:
			c.log.Debug("permanent delivery failure", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", rcpt, "err", r.Err)
			switch {
			case o.forPostmaster:
				d.ok = false
			case c.a.Policy.Failed == account.FailedPostmaster && rcpt != c.a.Policy.Postmaster:
				toPM = append(toPM, rcpt)
				d.refused = append(d.refused, rcpt)
			default:
				final = append(final, rcpt)
				d.refused = append(d.refused, rcpt)
			}
		default:
			d.ok = false
			c.log.Debug("temporary delivery failure", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", rcpt, "err", r.Err)
		}
	}
	if len(toPM) > 0 {
		// The failed policy: the refused recipients are final once the
		// postmaster has the message.
		if c.toPostmasterFor(ctx, mr, sp, sender, toPM, done) {
			d.toPostmaster = true
			final = append(final, toPM...)
			if !slices.Contains(final, c.a.Policy.Postmaster) && !hasRecipient(done, c.a.Policy.Postmaster) {
				final = append(final, c.a.Policy.Postmaster)
			}
		} else {
			d.ok = false
		}
	}
	sp.done() // the bytes are no longer needed: free the spool, and its slot
	if len(final) > 0 {
		// These deliveries happened: record them, in one write, even if the
		// check is being cancelled, or the next check would deliver them
		// again. With the final mark the key's record allows a DELE without
		// download.
		d.marked = d.ok && o.markFinal
		if err := c.fin.write([]account.Record{c.deliveryRecord(mr.Key, copyID, final, d.marked)}); err != nil {
			c.ids.unsure(copyID)
			return delivery{}, err
		}
		if copyID != "" {
			c.ids.recorded(copyID, final)
		}
	}
	return d, nil
}

// toPostmasterFor delivers the message to the postmaster for recipients
// whose delivery failed permanently (the failed policy), unless the
// postmaster has it already (as a recipient, or for another failure: done
// are the journal's recipients of the message). It reports whether the
// postmaster has it.
func (c *check) toPostmasterFor(ctx context.Context, mr *MessageReport, sp *spooled, sender string, refused, done []string) bool {
	pmAddr := c.a.Policy.Postmaster
	if hasRecipient(done, pmAddr) || slices.ContainsFunc(mr.Results, func(r deliver.Result) bool {
		return r.Recipient == pmAddr && r.Status == deliver.Delivered
	}) {
		return true
	}
	if err := c.held.fresh(ctx); err != nil {
		return false
	}
	results, derr := c.p.opt.Deliverer.Deliver(ctx, c.envelope(mr, sender, []string{pmAddr}), sp.Reader())
	if r := c.result(mr, pmAddr, results, derr); r.Status != deliver.Delivered {
		c.log.Debug("postmaster delivery for refused recipients failed", "uid", mr.UID, "message_id", mr.MessageID, "refused", refused, "err", r.Err)
		return false
	}
	c.mu.Lock()
	c.r.Delivered++
	c.mu.Unlock()
	c.log.Debug("delivered to postmaster for refused recipients", "uid", mr.UID, "message_id", mr.MessageID, "rcpt", pmAddr, "refused", refused)
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

// final marks the message final in the journal (unless marked already)
// and decides Delete, or Keep when it is left on the server.
func (c *check) final(mr *MessageReport, why string, marked bool) pop.Action {
	if !marked {
		if err := c.fin.write([]account.Record{c.finalRecord(mr.Key)}); err != nil {
			c.fail(mr, stepJournal, err)
			mr.Reason = "journal failed"
			return pop.Keep
		}
	}
	return c.leaveOrDelete(mr, why)
}

// leaveOrDelete decides a final message: Delete, or Keep while the account
// leaves messages on the server.
func (c *check) leaveOrDelete(mr *MessageReport, why string) pop.Action {
	if c.a.Retrieval.LeaveOnServer && !(c.a.Retrieval.DeleteAfterDays > 0 && c.expired(mr.UID)) {
		mr.Action, mr.Reason = pop.Keep, why+"; left on server"
		return pop.Keep
	}
	mr.Action, mr.Reason = pop.Delete, why
	return pop.Delete
}

// noRecipient applies the account's no-recipient policy to a cleanly parsed
// message whose candidates gave no valid recipient. It returns the job
// that finishes the message, or none (no run) when it is kept.
func (c *check) noRecipient(mr *MessageReport, pm *parsed) job {
	switch c.a.Policy.NoRecipient {
	case account.NoRecipientKeep:
		mr.Reason, mr.Outcome = "no valid recipient; kept by policy", OutcomeKept
		return job{}
	case account.NoRecipientPostmaster:
		return c.postmasterJob(pm, "no valid recipient", "sent to postmaster")
	}
	// Delete, the default, unless the deletion guard says the check looks
	// wrong: decided by decideNoRecipients once the whole check is
	// examined, before any deletion.
	return job{run: func(context.Context, *MessageReport, *spooled) pop.Action {
		return pop.Defer
	}}
}

// guarded reports whether the deletion guard watches the account: it
// suspends the no-recipient delete policy, the default.
func (c *check) guarded() bool {
	p := c.a.Policy.NoRecipient
	return p != account.NoRecipientKeep && p != account.NoRecipientPostmaster
}

// judgeGuard is the deletion guard's judgement of a check that settled,
// made once, before any deletion. It adds the messages the check examined
// to the account's window in the journal and reports whether the guard
// holds the account: tripped by an earlier check and not released, or
// tripping now because most of the window, or of this check, had no valid
// recipient (at least Options.Guard.Min, and Options.Guard.Share of them).
// The first check after a release never trips it.
// With err (the journal failed) nothing without a recipient may be
// deleted. kept is how many messages the guard would keep.
func (c *check) judgeGuard(ctx context.Context, kept int) (holds bool, err error) {
	o := &c.p.opt
	g, err := c.j.Guard(ctx, c.a.ID)
	if err != nil {
		return true, fmt.Errorf("multidrop: account %s: deletion guard: %w", c.a.ID, err)
	}
	if !g.Released.IsZero() {
		// The administrator released the guard, confirming the messages
		// without a recipient: this check deletes them, and the window
		// starts afresh after it.
		if err := c.j.SetGuard(ctx, c.a.ID, account.Guard{}); err != nil {
			return true, fmt.Errorf("multidrop: account %s: deletion guard: %w", c.a.ID, err)
		}
		return false, nil
	}
	held := g.Holds()
	before := g.Window
	g = g.Add(o.Guard.Window, c.window...)
	trips := func(noRcpt, of int) bool {
		return noRcpt >= o.Guard.Min && float64(noRcpt) >= o.Guard.Share*float64(of)
	}
	this := account.Guard{Window: c.window} // this check's messages alone
	tripped := !held && (trips(this.NoRecipient(), len(c.window)) || trips(g.NoRecipient(), len(g.Window)))
	if tripped {
		g.Tripped = o.Now()
	}
	// A check that only examined again the newest messages of the window
	// (those the guard keeps) leaves it as it was: no write.
	if tripped || !slices.Equal(before, g.Window) {
		if err := c.j.SetGuard(ctx, c.a.ID, g); err != nil {
			return true, fmt.Errorf("multidrop: account %s: deletion guard: %w", c.a.ID, err)
		}
	}
	if !g.Holds() {
		return false, nil
	}
	hold := &GuardHold{Since: g.Tripped, NoRecipient: g.NoRecipient(), Examined: len(g.Window)}
	c.mu.Lock()
	c.r.Guard = hold
	c.mu.Unlock()
	attrs := []any{"since", hold.Since, "no_recipient", hold.NoRecipient, "examined", hold.Examined, "kept", kept}
	if tripped {
		c.log.Warn("deletion guard tripped: messages without a valid recipient are kept until the guard is released", attrs...)
		c.p.observe(Event{Kind: EventGuard, Account: c.a.ID, Err: ErrDeletionGuard})
	} else {
		c.log.Warn("deletion guard holds the account: messages without a valid recipient are kept until it is released", attrs...)
	}
	return true, nil
}

// decideNoRecipients decides the messages without a valid recipient that
// the delete policy would delete, once every message of the session is
// examined, adding the decisions to decided: kept while the deletion guard
// holds the account (see judgeGuard); otherwise marked final in one
// journal write and deleted. Unless judged (the session ended before it
// settled) they are all kept, and the guard does not judge.
func (c *check) decideNoRecipients(ctx context.Context, pend []*MessageReport, decided map[int]pop.Action, judged bool) {
	keep := func(why string, outcome Outcome) {
		for _, mr := range pend {
			mr.Action, mr.Reason, mr.Outcome = pop.Keep, why, outcome
			decided[mr.Number] = pop.Keep
			c.tally(mr)
		}
	}
	if !judged {
		keep("no valid recipient; kept: the session ended before the check's deletion guard judged", OutcomeRetry)
		return
	}
	if c.guarded() {
		holds, err := c.judgeGuard(ctx, len(pend))
		switch {
		case err != nil:
			c.mu.Lock()
			c.errs = append(c.errs, err)
			c.mu.Unlock()
			keep("no valid recipient; kept: the deletion guard's state is unknown", OutcomeRetry)
			return
		case holds && len(pend) > 0:
			c.mu.Lock()
			c.errs = append(c.errs, ErrDeletionGuard)
			c.mu.Unlock()
			keep("no valid recipient; kept by the deletion guard", OutcomeKept)
			return
		}
	}
	if len(pend) == 0 {
		return
	}
	recs := make([]account.Record, len(pend))
	for i, mr := range pend {
		recs[i] = c.finalRecord(mr.Key)
	}
	if err := c.writeRecords(recs); err != nil {
		for _, mr := range pend {
			decided[mr.Number] = c.fail(mr, stepJournal, err)
			c.tally(mr)
		}
		return
	}
	for _, mr := range pend {
		mr.Outcome = OutcomeDropped
		decided[mr.Number] = c.leaveOrDelete(mr, "no valid recipient; deleted")
		c.tally(mr)
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
		return c.fail(mr, stepJournal, err)
	}
	marked := false
	if !hasRecipient(done, pmAddr) {
		d, err := c.deliverTo(ctx, mr, sp, pm, []string{pmAddr}, done, deliveryOptions{markFinal: true, forPostmaster: true})
		if err != nil {
			return c.fail(mr, stepJournal, err)
		}
		if !d.ok {
			mr.Reason, mr.Outcome = why+"; postmaster delivery failed; kept", OutcomeRetry
			return pop.Keep
		}
		marked = d.marked
	}
	mr.Outcome = OutcomePostmaster
	return c.final(mr, why+"; "+doneWhy, marked)
}
