package multidrop

import (
	"context"
	"maps"
	"sync"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/recorder"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/pop"
)

// finisher finishes the messages of one check in the background, at most
// Options.DeliveryConcurrency at once (one slot or more, the same way),
// while the session downloads the next ones: their durable writes (Maildir
// fsyncs, journal commits) overlap, and the journal records of messages
// that finish together are written in one commit by the recorder. The
// decisions go to the Fetcher through the check's Settle, before any DELE.
//
// Its API: start a message, write records, wait for every message started,
// take the decisions, close.
type finisher struct {
	// slots bounds the messages held in spools (being delivered); pending,
	// larger, the messages not finished yet, most of them waiting for the
	// journal's group commit.
	slots   chan struct{}
	pending chan struct{}
	wg      sync.WaitGroup
	// tails holds, per serialisation key (a message key; a copy's
	// Message-ID with one of its recipients), a channel closed when the
	// last message started with that key is finished. Handle's goroutine
	// only. Keys whose channel is closed are pruned once the map holds
	// pruneAt of them, so that it holds about the pending messages' keys
	// rather than every key of the check.
	tails   map[string]chan struct{}
	pruneAt int
	rec     *recorder.Recorder

	mu sync.Mutex
	// decided holds the decisions by message number; undecided the
	// messages whose decision waits for the whole check (the deletion
	// guard), in the order they finished.
	decided   map[int]pop.Action
	undecided []*MessageReport
}

// pendingPerSlot sets how many messages may wait for the journal per slot.
const pendingPerSlot = 8

// minPruneAt is the least number of serialisation keys the finisher holds
// before it forgets those of finished messages.
const minPruneAt = 256

// newFinisher returns a finisher of n slots. With one slot, one message is
// pending at a time: each is finished, journal included, before the next
// one starts, so the check runs in the session's order.
func newFinisher(write func([]account.Record) error, n int) *finisher {
	pending := pendingPerSlot * n
	if n == 1 {
		pending = 1
	}
	f := &finisher{
		slots:   make(chan struct{}, n),
		pending: make(chan struct{}, pending),
		tails:   map[string]chan struct{}{},
		pruneAt: minPruneAt,
		decided: map[int]pop.Action{},
	}
	// Every pending message may queue for one commit, and a commit waits
	// (up to recorder.CommitDelay) for all of them: the messages of the
	// slots, and those waiting for their slot.
	f.rec = recorder.New(write, pending, pending, func() int { return len(f.pending) })
	return f
}

// spooled is the spool of a message being finished, with the slot it
// holds; done frees both when the message's bytes are no longer needed.
// It belongs to the goroutine finishing the message.
type spooled struct {
	*spool.Spool
	release func() // frees the slot
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

// start finishes a message with run on a background goroutine, once the
// messages started before it with any of the same serial keys are
// finished; then finished(mr) is called. run returns the decision, or Defer
// to leave it to the whole check. start fails, taking nothing, when ctx
// ends before a slot is free.
func (f *finisher) start(ctx context.Context, mr *MessageReport, sp *spool.Spool, serial []string,
	run func(context.Context, *MessageReport, *spooled) pop.Action, finished func(*MessageReport)) error {
	if err := f.acquire(ctx); err != nil {
		return err
	}
	s := &spooled{Spool: sp, release: func() { <-f.slots }}
	if len(f.tails) >= f.pruneAt {
		f.prune()
	}
	var after []chan struct{}
	done := make(chan struct{})
	for _, k := range serial {
		if t := f.tails[k]; t != nil {
			after = append(after, t)
		}
		f.tails[k] = done
	}
	f.wg.Go(func() {
		defer func() {
			s.done()
			close(done)
			<-f.pending
		}()
		for _, t := range after {
			<-t
		}
		act := run(ctx, mr, s)
		f.mu.Lock()
		if act == pop.Defer {
			f.undecided = append(f.undecided, mr)
			f.mu.Unlock()
			return
		}
		f.decided[mr.Number] = act
		f.mu.Unlock()
		finished(mr)
	})
	return nil
}

// prune forgets the serialisation keys whose last message is finished
// (nothing started later has to wait for it), and sets the size of the
// next pruning to twice what is left, so that pruning costs a constant
// amount per message.
func (f *finisher) prune() {
	for k, t := range f.tails {
		select {
		case <-t:
			delete(f.tails, k)
		default:
		}
	}
	f.pruneAt = max(2*len(f.tails), minPruneAt)
}

// acquire takes a pending token and then a slot, or neither when ctx ends
// first (or has ended: a select with both ready would pick at random).
func (f *finisher) acquire(ctx context.Context) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	select {
	case f.pending <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case f.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		<-f.pending
		return context.Cause(ctx)
	}
}

// write writes records durably, in the next group commit.
func (f *finisher) write(recs []account.Record) error { return f.rec.Write(recs) }

// wait waits until every message started is finished and returns the
// decisions made and the messages left undecided (which it forgets).
func (f *finisher) wait() (map[int]pop.Action, []*MessageReport) {
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.undecided
	f.undecided = nil
	return maps.Clone(f.decided), u
}

// close waits for the background goroutines and stops the recorder. It is
// called once, after the session ended.
func (f *finisher) close() {
	f.wg.Wait()
	f.rec.Close()
}
