package jsonstore_test

import (
	"path/filepath"
	"testing"

	"github.com/multidrop/multidrop/account/accounttest"
	"github.com/multidrop/multidrop/account/jsonstore"
)

func BenchmarkJournal(b *testing.B) {
	j, err := jsonstore.OpenJournal(filepath.Join(b.TempDir(), "journal.json"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = j.Close() })
	accounttest.BenchmarkJournal(b, j)
}
