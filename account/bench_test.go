package account_test

import (
	"testing"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
)

func BenchmarkMemoryJournal(b *testing.B) {
	accounttest.BenchmarkJournal(b, account.NewMemoryJournal())
}

func BenchmarkMemoryLocker(b *testing.B) {
	accounttest.BenchmarkLocker(b, account.NewMemoryLocker())
}

func BenchmarkValidate(b *testing.B) {
	a := accounttest.Sample("example.com")
	for b.Loop() {
		if err := a.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
