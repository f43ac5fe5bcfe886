package postgres_test

import (
	"testing"

	"github.com/multidrop/multidrop/account/accounttest"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/postgres"
)

func benchStore(b *testing.B) *sqlstore.Store {
	s, err := postgres.Open(b.Context(), schemaDSN(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkJournal(b *testing.B) { accounttest.BenchmarkJournal(b, benchStore(b)) }

func BenchmarkLocker(b *testing.B) { accounttest.BenchmarkLocker(b, benchStore(b)) }
