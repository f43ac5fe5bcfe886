package account_test

import (
	"testing"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
)

func TestMemoryStore(t *testing.T) {
	accounttest.TestStore(t, func(*testing.T) account.MutableStore { return account.NewMemoryStore() })
}

func TestMemoryJournal(t *testing.T) {
	accounttest.TestJournal(t, func(_ *testing.T, now func() time.Time) account.Journal {
		j := account.NewMemoryJournal()
		j.Now = now
		return j
	})
}

// plainJournal hides every method but the Journal interface's, so that
// RecordAll and DeliveredAll take their fallback paths.
type plainJournal struct{ account.Journal }

func TestRecordAllWithoutBatchRecorder(t *testing.T) {
	accounttest.TestJournal(t, func(_ *testing.T, now func() time.Time) account.Journal {
		j := account.NewMemoryJournal()
		j.Now = now
		var _ account.BatchRecorder = j
		var _ account.BatchReader = j
		return plainJournal{j}
	})
}

func TestMemoryLocker(t *testing.T) {
	accounttest.TestLocker(t, func(_ *testing.T, now func() time.Time) account.Locker {
		l := account.NewMemoryLocker()
		l.Now = now
		return l
	})
}

func TestMemoryFencing(t *testing.T) {
	accounttest.TestFencing(t, func(_ *testing.T, now func() time.Time) (account.Locker, account.Fencer) {
		l := account.NewMemoryLocker()
		l.Now = now
		j := account.NewMemoryJournal()
		j.Now = now
		return l, j
	})
}

func TestMemoryHistory(t *testing.T) {
	accounttest.TestHistory(t, func(*testing.T) account.History { return account.NewMemoryHistory() })
}

func TestMemoryJournalRetention(t *testing.T) {
	accounttest.TestJournalRetention(t, func(_ *testing.T, now func() time.Time) (account.MutableStore, account.Journal) {
		j := account.NewMemoryJournal()
		j.Now = now
		s := account.NewMemoryStore()
		s.Journal, s.Now = j, now
		return s, j
	})
}
