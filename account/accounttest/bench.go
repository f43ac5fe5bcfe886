package accounttest

import (
	"fmt"
	"testing"
	"time"

	"github.com/multidrop/multidrop/account"
)

// BenchmarkJournal measures the journal operations of one check: Sync of a
// listing of 1,000 UIDs (first and repeated), Record and Delivered.
func BenchmarkJournal(b *testing.B, j account.Journal) {
	ctx := b.Context()
	uids := make([]string, 1000)
	for i := range uids {
		uids[i] = fmt.Sprintf("uid-%06d", i)
	}
	b.Run("SyncFirst1000", func(b *testing.B) {
		n := 0
		for b.Loop() {
			if _, err := j.Sync(ctx, fmt.Sprintf("bench-first-%d", n), uids, time.Now()); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
	b.Run("SyncAgain1000", func(b *testing.B) {
		if _, err := j.Sync(ctx, "bench-again", uids, time.Now()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := j.Sync(ctx, "bench-again", uids, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Record", func(b *testing.B) {
		n := 0
		for b.Loop() {
			if err := j.Record(ctx, "bench-record", account.Record{Key: fmt.Sprint(n), Rcpts: []string{"a@example.com", "b@example.com"}, At: time.Now()}); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
	b.Run("Delivered", func(b *testing.B) {
		for b.Loop() {
			if _, err := j.Delivered(ctx, "bench-record", "0"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The states of a listing of 1,000 UIDs, as a check's plan reads them
	// (at once where the journal is an account.BatchReader).
	b.Run("DeliveredAll1000", func(b *testing.B) {
		if _, err := j.Sync(ctx, "bench-all", uids, time.Now()); err != nil {
			b.Fatal(err)
		}
		for i, u := range uids[:len(uids)/2] {
			if err := j.Record(ctx, "bench-all", account.Record{Key: u, Rcpts: []string{"a@example.com"}, Final: i%2 == 0, At: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if _, err := account.DeliveredAll(ctx, j, "bench-all", uids); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLocker measures one Acquire and Release of a lease.
func BenchmarkLocker(b *testing.B, l account.Locker) {
	ctx := b.Context()
	for b.Loop() {
		le, err := l.Acquire(ctx, "bench", "owner", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := le.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
