package jsonstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/multidrop/multidrop/account"
)

type journalFile struct {
	Version  int                              `json:"version"`
	Accounts map[string]*account.JournalState `json:"accounts"`
}

// journalVersion is the version of the journal format: 3 adds each
// account's deletion guard state ("guard"); 2 records final marks and
// notices in fields of their own; 1 recorded them as marker recipients,
// which upgrade converts. upgrade takes a file of an older version forward
// one version at a time.
const journalVersion = 3

// Markers of version 1 journals, recorded as recipients.
const (
	v1Final    = ""
	v1Oversize = "!oversize-notice"
	v1Foreign  = "!foreign-notice"
)

func (f *journalFile) setVersion() { f.Version = journalVersion }

func (f *journalFile) upgrade() error {
	if f.Version < 1 || f.Version > journalVersion {
		return fmt.Errorf("unsupported format version %d (want %d)", f.Version, journalVersion)
	}
	if f.Version == 1 {
		f.upgrade1()
		f.Version = 2
	}
	if f.Version == 2 {
		// Version 3 only adds the guard state: a version 2 journal has
		// none, the guard's empty memory.
		f.Version = 3
	}
	return nil
}

// upgrade1 converts the marker recipients of version 1 to typed states.
func (f *journalFile) upgrade1() {
	for _, st := range f.Accounts {
		if st == nil {
			continue
		}
		old := st.Deliveries
		st.Deliveries = nil
		for key, rcpts := range old {
			r := account.Record{Key: key}
			for _, rc := range rcpts {
				switch rc {
				case v1Final:
					r.Final = true
				case v1Oversize:
					r.Notices = append(r.Notices, account.NoticeOversize)
				case v1Foreign:
					r.Notices = append(r.Notices, account.NoticeForeign)
				default:
					r.Rcpts = append(r.Rcpts, rc)
				}
			}
			st.Record(r)
		}
	}
}

func (f *journalFile) state(id string) *account.JournalState {
	if f.Accounts == nil {
		f.Accounts = map[string]*account.JournalState{}
	}
	st := f.Accounts[id]
	if st == nil {
		st = &account.JournalState{}
		f.Accounts[id] = st
	}
	return st
}

// Journal is an [account.Journal] kept in one JSON file, rewritten (and
// fsynced) by every write, so that a write is durable when it returns.
// Suited to a few accounts with small mailboxes; use package sqlstore
// beyond that.
type Journal struct {
	f     *file[journalFile, *journalFile]
	now   func() time.Time
	lease account.Lease // set in a fenced copy
}

var (
	_ account.Journal = (*Journal)(nil)
	_ account.Fencer  = (*Journal)(nil)

	_ account.BatchRecorder = (*Journal)(nil)
	_ account.BatchReader   = (*Journal)(nil)
)

// Fenced implements [account.Fencer] for leases from a [Locker]: each write
// of the returned Journal checks, while it holds the journal file's
// exclusive lock, that the lease is still current in the leases file, and
// fails with [account.ErrLeaseLost] otherwise. (Locks are always taken
// journal first, then leases, and Acquire takes only the latter, so they
// cannot deadlock.) With a lease of another kind every write fails.
func (j *Journal) Fenced(l account.Lease) account.Journal {
	return &Journal{f: j.f, now: j.now, lease: l}
}

// update runs fn on the journal of accountID under the exclusive lock, after
// the fencing check of a fenced journal.
func (j *Journal) update(ctx context.Context, accountID string, fn func(v *journalFile) error) error {
	return j.f.update(ctx, func(v *journalFile) error {
		if j.lease != nil {
			le, ok := j.lease.(*lease)
			if !ok {
				return fmt.Errorf("jsonstore: Fenced needs a lease from jsonstore.Locker, not %T", j.lease)
			}
			if le.accountID != accountID {
				return fmt.Errorf("%w: lease is for account %q, not %q", account.ErrLeaseLost, le.accountID, accountID)
			}
			if err := le.check(ctx); err != nil {
				return err
			}
		}
		return fn(v)
	})
}

// OpenJournal returns the journal in the file at path, which need not
// exist yet. The lock file is path + ".lock". It fails with a
// [*CorruptError] when the file does not decode; so does every later
// operation while the file stays corrupt (the journal fails closed).
func OpenJournal(path string, opts *Options) (*Journal, error) {
	f, err := openFile[journalFile](path)
	if err != nil {
		return nil, err
	}
	j := &Journal{f: f, now: time.Now}
	if opts != nil && opts.Now != nil {
		j.now = opts.Now
	}
	return j, nil
}

// Path returns the absolute path of the file.
func (j *Journal) Path() string { return j.f.path }

// Close releases the lock file. A fenced copy shares it: close the
// original.
func (j *Journal) Close() error { return j.f.close() }

// Sync implements [account.Journal].
func (j *Journal) Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error) {
	var out map[string]time.Time
	err := j.update(ctx, accountID, func(v *journalFile) error {
		out = v.state(accountID).Sync(uids, now, j.now())
		if v.Accounts[accountID].Empty() {
			delete(v.Accounts, accountID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delivered implements [account.Journal].
func (j *Journal) Delivered(ctx context.Context, accountID, key string) (account.Delivery, error) {
	var out account.Delivery
	err := j.f.read(ctx, func(v *journalFile) error {
		if st := v.Accounts[accountID]; st != nil {
			out = st.Delivered(key)
		}
		return nil
	})
	return out, err
}

// DeliveredBatch implements [account.BatchReader]: one reading of the
// file for every key.
func (j *Journal) DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]account.Delivery, error) {
	out := map[string]account.Delivery{}
	err := j.f.read(ctx, func(v *journalFile) error {
		if st := v.Accounts[accountID]; st != nil {
			out = st.DeliveredBatch(keys)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Record implements [account.Journal].
func (j *Journal) Record(ctx context.Context, accountID string, r account.Record) error {
	return j.RecordBatch(ctx, accountID, []account.Record{r})
}

// DeliveredID implements [account.Journal].
func (j *Journal) DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error) {
	var out []string
	err := j.f.read(ctx, func(v *journalFile) error {
		if st := v.Accounts[accountID]; st != nil {
			out = st.DeliveredToID(messageID, j.now())
		}
		return nil
	})
	return out, err
}

// MessageIDs implements [account.IDLister].
func (j *Journal) MessageIDs(ctx context.Context, accountID string, limit int) ([]string, bool, error) {
	var ids []string
	all := true
	err := j.f.read(ctx, func(v *journalFile) error {
		if st := v.Accounts[accountID]; st != nil {
			ids, all = st.MessageIDList(limit)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return ids, all, nil
}

// RecordBatch implements [account.BatchRecorder]: one rewrite of the file
// for every record.
func (j *Journal) RecordBatch(ctx context.Context, accountID string, recs []account.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !slices.ContainsFunc(recs, account.Record.Changes) {
		return nil
	}
	return j.update(ctx, accountID, func(v *journalFile) error {
		v.state(accountID).RecordBatch(recs)
		return nil
	})
}

// Forget implements [account.Journal].
func (j *Journal) Forget(ctx context.Context, accountID string, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return j.update(ctx, accountID, func(v *journalFile) error {
		if st := v.Accounts[accountID]; st != nil {
			st.Forget(keys)
		}
		return nil
	})
}

// Guard implements [account.Journal].
func (j *Journal) Guard(ctx context.Context, accountID string) (account.Guard, error) {
	var out account.Guard
	err := j.f.read(ctx, func(v *journalFile) error {
		if st := v.Accounts[accountID]; st != nil {
			out = st.GuardState()
		}
		return nil
	})
	return out, err
}

// SetGuard implements [account.Journal].
func (j *Journal) SetGuard(ctx context.Context, accountID string, g account.Guard) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return j.update(ctx, accountID, func(v *journalFile) error {
		v.state(accountID).SetGuard(g)
		if v.Accounts[accountID].Empty() {
			delete(v.Accounts, accountID)
		}
		return nil
	})
}
