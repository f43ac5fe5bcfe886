package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
)

// BenchmarkRecord measures one durable journal write (one transaction with
// an fsync of the WAL), fenced and not.
func BenchmarkRecord(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "m.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	b.Run("plain", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := s.Record(ctx, "acct", fmt.Sprint(i), []string{"a@example.com"}, time.Now()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("fenced", func(b *testing.B) {
		l, err := s.Acquire(ctx, "acct", "bench", time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		j := s.Fenced(l)
		i := 0
		for b.Loop() {
			if err := j.Record(ctx, "acct", fmt.Sprint(i), []string{"a@example.com"}, time.Now()); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkSync measures the first and a repeated Sync of a 1,000-message
// listing.
func BenchmarkSync(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "m.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	uids := make([]string, 1000)
	for i := range uids {
		uids[i] = fmt.Sprintf("uid-%06d", i)
	}
	ctx := b.Context()
	n := 0
	for b.Loop() {
		if _, err := s.Sync(ctx, fmt.Sprint("acct", n%2), uids, time.Now()); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkAcquireRelease measures one lease cycle.
func BenchmarkAcquireRelease(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "m.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	for b.Loop() {
		l, err := s.Acquire(ctx, "acct", "bench", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
