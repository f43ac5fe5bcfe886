// Package recorder groups the journal writes of concurrent writers into
// one durable write (a group commit).
//
// A [Recorder] serves the messages of one check being finished at once:
// the records that arrive while a write is in progress go into the next
// write together, and before a write it waits up to [CommitDelay] for the
// records of other messages being finished, until it has a group of them.
// In a stream of messages a commit then serves the messages of every
// delivery slot and those queued behind them (about ten in a check of
// 2,000 messages, against five with a group of one per slot and a 1 ms
// wait), and the wait is absorbed by the messages pending behind the
// slots. Each writer still returns only once its records are committed.
package recorder

import (
	"time"

	"github.com/multidrop/multidrop/account"
)

// CommitDelay bounds the wait of the first record of a group commit. It is
// about the time a message's Maildir delivery takes (two fsyncs), so that
// a commit serves the messages of every delivery slot, not only those that
// happened to finish together.
const CommitDelay = 4 * time.Millisecond

// Recorder writes records through one write function, grouping them.
type Recorder struct {
	write func([]account.Record) error
	reqs  chan request
	done  chan struct{}
	group int        // records worth waiting for
	busy  func() int // writers that may come, those in the group included
}

type request struct {
	recs []account.Record
	err  chan error
}

// New starts a Recorder queueing up to queue writes, each group written
// with write. With busy (the writers that may come soon), a group commit
// waits up to CommitDelay for up to group writes; without it, a write
// takes what is queued and goes.
func New(write func([]account.Record) error, queue, group int, busy func() int) *Recorder {
	r := &Recorder{write: write, reqs: make(chan request, queue), done: make(chan struct{}), group: group, busy: busy}
	go r.loop()
	return r
}

func (r *Recorder) loop() {
	defer close(r.done)
	for q := range r.reqs {
		batch := r.gather(q)
		var recs []account.Record
		for _, q := range batch {
			recs = append(recs, q.recs...)
		}
		err := r.write(recs)
		for _, q := range batch {
			q.err <- err
		}
	}
}

// gather returns the writes of the next group commit, first among them:
// those queued, and while other writers are busy and the group is not
// full, those that come within CommitDelay.
func (r *Recorder) gather(first request) []request {
	batch := []request{first}
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
			t := time.NewTimer(CommitDelay)
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

// Write queues recs for the next group commit and returns its outcome.
func (r *Recorder) Write(recs []account.Record) error {
	q := request{recs: recs, err: make(chan error, 1)}
	r.reqs <- q
	return <-q.err
}

// Close stops the Recorder; no Write may come after it.
func (r *Recorder) Close() {
	close(r.reqs)
	<-r.done
}
