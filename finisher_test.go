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
