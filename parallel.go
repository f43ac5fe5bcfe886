package multidrop

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/pop"
)

// parallel finishes the messages of one check in the background, at most
// len(slots) at once, while the session downloads the next ones: their
// durable writes (Maildir fsyncs, journal commits) overlap, and the journal
// records of messages that finish together are written in one commit by
// the recorder. The decisions are handed to the Fetcher by Settle, before
// any DELE.
type parallel struct {
	// slots bounds the messages held in spools (being delivered); pending,
	// larger, the messages not finished yet, most of them waiting for the
	// journal's group commit.
	slots   chan struct{}
	pending chan struct{}
	wg      sync.WaitGroup
	// tails holds, per serialisation key (a message key; a copy's
	// Message-ID with one of its recipients), a channel closed when the
	// last message handled with that key is finished. Handle's goroutine
	// only.
	tails map[string]chan struct{}
	rec   *recorder

	decided map[int]pop.Action // by message number; guarded by check.mu
}

// pendingPerSlot sets how many messages may wait for the journal per slot.
const pendingPerSlot = 8

func newParallel(c *check, n int) *parallel {
	par := &parallel{
		slots:   make(chan struct{}, n),
		pending: make(chan struct{}, pendingPerSlot*n),
		tails:   map[string]chan struct{}{},
		decided: map[int]pop.Action{},
	}
	// Every pending message may queue for one commit; a commit waits for
	// the messages of the other slots.
	par.rec = newRecorder(c, pendingPerSlot*n, n, func() int { return len(par.pending) })
	return par
}

// spooled is the spool of a message being finished, with the slot it
// holds; done frees both when the message's bytes are no longer needed.
// It belongs to the goroutine finishing the message.
type spooled struct {
	*spool.Spool
	release func() // frees the slot; nil when there is none
	freed   bool
}

func (s *spooled) done() {
	if s.freed {
		return
	}
	s.freed = true
	s.Close()
	if s.release != nil {
		s.release()
	}
}

// finishMessage runs run for a spooled, examined message: now without par,
// otherwise on a background goroutine once the messages handled before it
// with any of the same serial keys are finished, returning Defer.
func (c *check) finishMessage(ctx context.Context, slot int, mr *MessageReport, sp *spooled, serial []string, run func(context.Context, *MessageReport, *spooled) pop.Action) (pop.Action, error) {
	par := c.par
	if par == nil {
		act := run(ctx, mr, sp)
		sp.done()
		c.account(slot, mr)
		return act, mr.Err
	}
	if err := par.acquire(ctx); err != nil {
		_ = digests(mr, sp.Spool, nil) // for the report
		sp.done()
		act := c.fail(mr, "deliver", err)
		c.account(slot, mr)
		return act, mr.Err
	}
	sp.release = func() { <-par.slots }
	var after []chan struct{}
	done := make(chan struct{})
	for _, k := range serial {
		if t := par.tails[k]; t != nil {
			after = append(after, t)
		}
		par.tails[k] = done
	}
	par.wg.Go(func() {
		defer func() {
			sp.done()
			close(done)
			<-par.pending
		}()
		for _, t := range after {
			<-t
		}
		act := run(ctx, mr, sp)
		c.mu.Lock()
		if act == pop.Defer { // decided at Settle
			c.undecided = append(c.undecided, undecided{slot: slot, mr: mr})
			c.mu.Unlock()
			return
		}
		par.decided[mr.Number] = act
		c.mu.Unlock()
		c.account(slot, mr)
	})
	return pop.Defer, nil
}

// acquire takes a pending token and then a slot, or neither when ctx ends
// first (or has ended: a select with both ready would pick at random).
func (par *parallel) acquire(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	select {
	case par.pending <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case par.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		<-par.pending
		return context.Cause(ctx)
	}
}

// Settle implements pop.Settler: it waits until every message handled is
// finished and returns the decisions. Before any deletion it makes sure
// the lease, when there is one, is still held.
func (c *check) Settle(ctx context.Context) (map[int]pop.Action, error) {
	if c.par == nil {
		return nil, nil
	}
	c.par.wait()
	c.mu.Lock()
	decided := maps.Clone(c.par.decided)
	c.mu.Unlock()
	c.settleNoRecipients(decided)
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

// wait waits for the background goroutines (none without par). It is
// called after the last Handle.
func (par *parallel) wait() {
	if par != nil {
		par.wg.Wait()
	}
}

// close waits for the background goroutines and stops the recorder.
func (par *parallel) close() {
	if par == nil {
		return
	}
	par.wait()
	par.rec.close()
}

// record writes journal records durably: through the recorder, in a group
// commit, when messages are finished in the background.
func (c *check) record(recs ...account.Record) error {
	if c.par != nil {
		return c.par.rec.write(recs)
	}
	return c.writeRecords(recs)
}

// writeRecords writes recs in one journal write. The deliveries they
// describe happened, so the write goes on even if the check is being
// cancelled; and as records are idempotent, a failure (a busy database, a
// dropped connection) is tried once more, unless the lease is lost.
func (c *check) writeRecords(recs []account.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	err := account.RecordAll(ctx, c.j, c.a.ID, recs)
	if err != nil && !errors.Is(err, account.ErrLeaseLost) && ctx.Err() == nil {
		err = account.RecordAll(ctx, c.j, c.a.ID, recs)
	}
	return err
}

// recorder writes the journal records of a check's background goroutines,
// grouping those that arrive while a write is in progress into the next
// write (a group commit): one durable write for several messages. Before a
// write it waits up to commitDelay for the records of other messages being
// finished, until it has group of them: in a stream of messages a commit
// then serves about one message per delivery slot instead of two or three,
// and the wait is absorbed by the messages pending behind the slots.
type recorder struct {
	c     *check
	reqs  chan recordReq
	done  chan struct{}
	group int        // records worth waiting for
	busy  func() int // messages being finished, those in the group included
}

// commitDelay bounds the wait of the first record of a group commit.
const commitDelay = time.Millisecond

type recordReq struct {
	recs []account.Record
	err  chan error
}

// newRecorder starts a recorder queueing up to queue writes; with busy, a
// group commit waits for up to group writes (see recorder).
func newRecorder(c *check, queue, group int, busy func() int) *recorder {
	r := &recorder{c: c, reqs: make(chan recordReq, queue), done: make(chan struct{}), group: group, busy: busy}
	go r.loop()
	return r
}

func (r *recorder) loop() {
	defer close(r.done)
	for q := range r.reqs {
		batch := r.gather(q)
		var recs []account.Record
		for _, q := range batch {
			recs = append(recs, q.recs...)
		}
		err := r.c.writeRecords(recs)
		for _, q := range batch {
			q.err <- err
		}
	}
}

// gather returns the writes of the next group commit, first among them:
// those queued, and while other messages are being finished and the group
// is not full, those that come within commitDelay.
func (r *recorder) gather(first recordReq) []recordReq {
	batch := []recordReq{first}
	var timeout <-chan time.Time
	for {
		select {
		case q, ok := <-r.reqs:
			if !ok {
				return batch
			}
			batch = append(batch, q)
			continue
		default:
		}
		if r.busy == nil || len(batch) >= r.group || r.busy() <= len(batch) {
			return batch
		}
		if timeout == nil {
			t := time.NewTimer(commitDelay)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case q, ok := <-r.reqs:
			if !ok {
				return batch
			}
			batch = append(batch, q)
		case <-timeout:
			return batch
		}
	}
}

// write queues recs for the next group commit and waits for it.
func (r *recorder) write(recs []account.Record) error {
	q := recordReq{recs: recs, err: make(chan error, 1)}
	r.reqs <- q
	return <-q.err
}

// close stops the recorder once no goroutine writes any more.
func (r *recorder) close() {
	close(r.reqs)
	<-r.done
}
