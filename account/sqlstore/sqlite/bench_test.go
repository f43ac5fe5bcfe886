package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
)

func benchStore(b *testing.B) *sqlstore.Store {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "m.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkJournal(b *testing.B) { accounttest.BenchmarkJournal(b, benchStore(b)) }

func BenchmarkFencedJournal(b *testing.B) {
	s := benchStore(b)
	l, err := s.Acquire(b.Context(), "bench-record", "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	j := s.Fenced(l)
	b.Run("Record", func(b *testing.B) {
		n := 0
		for b.Loop() {
			if err := j.Record(b.Context(), "bench-record", account.Record{Key: string(rune('a' + n%26)), Rcpts: []string{"a@example.com"}, At: time.Now()}); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
}

func BenchmarkLocker(b *testing.B) { accounttest.BenchmarkLocker(b, benchStore(b)) }
