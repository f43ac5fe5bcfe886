package multidrop

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/internal/spool"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// The journal commit waits for the messages of every slot and those queued
// behind them, not only one message per slot: with two slots, the records
// of six messages finishing at about the same time go into one commit.
func TestFinisherGroupsAcrossSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var commits []int
		write := func(recs []account.Record) error {
			mu.Lock()
			defer mu.Unlock()
			commits = append(commits, len(recs))
			return nil
		}
		f := newFinisher(write, 2)
		const n = 6
		var finished sync.WaitGroup
		finished.Add(n)
		for i := range n {
			mr := &MessageReport{Number: i + 1, Key: fmt.Sprint("k", i)}
			run := func(ctx context.Context, mr *MessageReport, s *spooled) pop.Action {
				s.done() // the bytes are no longer needed: the next message takes the slot
				time.Sleep(100 * time.Microsecond)
				require.NoError(t, f.write([]account.Record{{Key: mr.Key, Rcpts: []string{"a@example.com"}}}))
				return pop.Delete
			}
			require.NoError(t, f.start(t.Context(), mr, spool.New(nil), []string{mr.Key}, run, func(*MessageReport) { finished.Done() }))
		}
		finished.Wait()
		decided, undecided := f.wait()
		f.close()
		assert.Len(t, decided, n)
		assert.Empty(t, undecided)
		assert.Equal(t, []int{n}, commits, "one commit for all")
	})
}

// A message is held in memory up to 256 KiB by default (a larger one goes
// to a temporary file): the DeliveryConcurrency+1 messages held at once
// stay within about 2 MiB.
func TestSpoolMemoryDefault(t *testing.T) {
	p, err := New(&Options{
		Store:   account.NewMemoryStore(),
		Journal: account.NewMemoryJournal(),
		Resolver: resolve.Func(func(context.Context, account.Account, []parse.Candidate) (resolve.Result, error) {
			return resolve.Result{}, nil
		}),
		Deliverer: deliver.Func(func(context.Context, deliver.Envelope, io.Reader) (deliver.Results, error) { return nil, nil }),
	})
	require.NoError(t, err)
	assert.Equal(t, int64(256<<10), p.opt.Spool.Memory)
}

// The finisher forgets the serialisation keys of finished messages: over a
// check of many messages it holds the keys of the messages still pending,
// not one per message handled, and a message whose key is still pending
// keeps waiting for it after a pruning.
func TestFinisherForgetsFinishedKeys(t *testing.T) {
	f := newFinisher(func([]account.Record) error { return nil }, 2)
	defer f.close()
	var mu sync.Mutex
	var order []string
	release := make(chan struct{})
	first := func(ctx context.Context, mr *MessageReport, s *spooled) pop.Action {
		<-release
		mu.Lock()
		defer mu.Unlock()
		order = append(order, "first")
		return pop.Delete
	}
	nop := func(context.Context, *MessageReport, *spooled) pop.Action { return pop.Delete }
	require.NoError(t, f.start(t.Context(), &MessageReport{Number: 1}, spool.New(nil), []string{"key x"}, first, func(*MessageReport) {}))
	const n = 2000
	for i := range n {
		mr := &MessageReport{Number: i + 2, Key: fmt.Sprint("k", i)}
		serial := []string{"key " + mr.Key, "copy id@example.com " + mr.Key}
		require.NoError(t, f.start(t.Context(), mr, spool.New(nil), serial, nop, func(*MessageReport) {}))
	}
	assert.Less(t, len(f.tails), 2*minPruneAt, "keys of finished messages kept")
	assert.Contains(t, f.tails, "key x", "the pending message's key was pruned")
	second := func(ctx context.Context, mr *MessageReport, s *spooled) pop.Action {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, "second")
		return pop.Delete
	}
	require.NoError(t, f.start(t.Context(), &MessageReport{Number: n + 2}, spool.New(nil), []string{"key x"}, second, func(*MessageReport) {}))
	close(release)
	decided, _ := f.wait()
	assert.Len(t, decided, n+2)
	assert.Equal(t, []string{"first", "second"}, order)
}
