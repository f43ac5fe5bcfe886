package multidrop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

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
				r := newRecorder(&check{j: j, a: account.Account{ID: "a"}}, 8)
				errs := make(chan error, 6)
				write := func(i int) {
					errs <- r.write([]account.Record{{Key: fmt.Sprint("k", i), Rcpts: []string{"x@example.com"}}})
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
				r.close()
				assert.Equal(t, tc.batches, j.batches, "one write for the queued five")
				if fail == nil {
					for i := range 6 {
						got, err := j.Delivered(t.Context(), "a", fmt.Sprint("k", i))
						require.NoError(t, err)
						assert.Equal(t, []string{"x@example.com"}, got)
					}
				}
			})
		})
	}
}
