package recorder

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

// gateJournal holds its first RecordBatch until released, fails the first
// fails calls, and keeps the size of every batch.
type gateJournal struct {
	*account.MemoryJournal
	gate    chan struct{}
	mu      sync.Mutex
	batches []int
	fails   int
}

var errDiskFull = errors.New("disk full")

func (j *gateJournal) RecordBatch(ctx context.Context, accountID string, recs []account.Record) error {
	j.mu.Lock()
	first := len(j.batches) == 0
	j.batches = append(j.batches, len(recs))
	fail := j.fails > 0
	j.fails--
	j.mu.Unlock()
	if first {
		<-j.gate
	}
	if fail {
		return errDiskFull
	}
	return j.MemoryJournal.RecordBatch(ctx, accountID, recs)
}

// writeTo writes to j as a check does: once more after a failure.
func writeTo(t *testing.T, j account.Journal) func([]account.Record) error {
	return func(recs []account.Record) error {
		err := account.RecordAll(context.Background(), j, "a", recs)
		if err != nil {
			err = account.RecordAll(context.Background(), j, "a", recs)
		}
		return err
	}
}

// Records that arrive while a write is in progress go together into the
// next write, and each writer gets that write's outcome; a failed write is
// tried once more.
func TestRecorderGroupCommit(t *testing.T) {
	tests := map[string]struct {
		fails   int
		batches []int
		err     error
	}{
		"ok":        {0, []int{1, 5}, nil},
		"transient": {1, []int{1, 1, 5}, nil},
		"failing":   {100, []int{1, 1, 5, 5}, errDiskFull},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fail := tc.err
			synctest.Test(t, func(t *testing.T) {
				j := &gateJournal{MemoryJournal: account.NewMemoryJournal(), gate: make(chan struct{}), fails: tc.fails}
				r := New(writeTo(t, j), 8, 0, nil)
				errs := make(chan error, 6)
				write := func(i int) {
					errs <- r.Write([]account.Record{{Key: fmt.Sprint("k", i), Rcpts: []string{"x@example.com"}}})
				}
				go write(0)
				synctest.Wait() // the first write is in the journal, held
				for i := 1; i <= 5; i++ {
					go write(i)
				}
				synctest.Wait() // the others are queued
				close(j.gate)
				for range 6 {
					assert.Equal(t, fail, <-errs)
				}
				r.Close()
				assert.Equal(t, tc.batches, j.batches, "one write for the queued five")
				if fail == nil {
					for i := range 6 {
						got, err := j.Delivered(t.Context(), "a", fmt.Sprint("k", i))
						require.NoError(t, err)
						assert.Equal(t, []string{"x@example.com"}, got.Rcpts)
					}
				}
			})
		})
	}
}

// timedJournal keeps the size and the time of every batch.
type timedJournal struct {
	*account.MemoryJournal
	mu      sync.Mutex
	batches []int
	at      []time.Duration
	start   time.Time
}

func (j *timedJournal) RecordBatch(ctx context.Context, accountID string, recs []account.Record) error {
	j.mu.Lock()
	j.batches = append(j.batches, len(recs))
	j.at = append(j.at, time.Since(j.start))
	j.mu.Unlock()
	return j.MemoryJournal.RecordBatch(ctx, accountID, recs)
}

// A group commit waits up to CommitDelay for the records of the other
// messages being finished, unless there are none or the group is full.
func TestRecorderCommitDelay(t *testing.T) {
	tests := map[string]struct {
		busy, group int
		second      time.Duration // when a second record comes; 0: never
		batches     []int
		at          []time.Duration
	}{
		"alone":           {1, 8, 0, []int{1}, []time.Duration{0}},
		"nobody comes":    {3, 8, 0, []int{1}, []time.Duration{CommitDelay}},
		"one more comes":  {3, 8, CommitDelay / 2, []int{2}, []time.Duration{CommitDelay}},
		"the group fills": {3, 2, CommitDelay / 4, []int{2}, []time.Duration{CommitDelay / 4}},
		"too late":        {3, 8, 2 * CommitDelay, []int{1, 1}, []time.Duration{CommitDelay, 3 * CommitDelay}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := &timedJournal{MemoryJournal: account.NewMemoryJournal(), start: time.Now()}
				r := New(writeTo(t, j), 8, tc.group, func() int { return tc.busy })
				var wg sync.WaitGroup
				write := func(i int) {
					assert.NoError(t, r.Write([]account.Record{{Key: fmt.Sprint("k", i), Rcpts: []string{"x@example.com"}}}))
				}
				wg.Go(func() { write(0) })
				if tc.second > 0 {
					wg.Go(func() {
						time.Sleep(tc.second)
						write(1)
					})
				}
				wg.Wait()
				r.Close()
				assert.Equal(t, tc.batches, j.batches)
				assert.Equal(t, tc.at, j.at)
			})
		})
	}
}
