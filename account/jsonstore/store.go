package jsonstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
)

// Options configure a [Store], [Journal] or [Locker]. The zero value (or
// nil) is the default.
type Options struct {
	// Now is the clock of Message-ID and lease expiry, and of the journal
	// retention of a Store; nil means time.Now.
	Now func() time.Time

	// Journal, for a Store, is the journal of its accounts: deleting an
	// account then keeps its journal for JournalRetention (0 means
	// [account.DefaultJournalRetention]), and an account created again
	// with the same ID, host and user within that period finds it, while
	// another mailbox under the ID, or a later one, starts afresh. nil:
	// the store never touches a journal.
	Journal          *Journal
	JournalRetention time.Duration
}

type accountsFile struct {
	Version  int               `json:"version"`
	Accounts []account.Account `json:"accounts"`
	// Deleted remembers the accounts deleted within the journal retention
	// period, by ID.
	Deleted map[string]deletedAccount `json:"deleted,omitempty"`
}

type deletedAccount struct {
	Host      string    `json:"host"`
	User      string    `json:"user"`
	DeletedAt time.Time `json:"deleted_at"`
}

func (f *accountsFile) upgrade() error { return checkVersion(f.Version) }

// check refuses, when the file is loaded, what a hand-written accounts
// file may get wrong: a key no field reads (with its path, such as
// accounts[3].retrieval.leave_on_sever), an account that does not
// validate (such as a secret with CR, LF or NUL), a missing or repeated
// ID. It sorts the accounts by ID, the order the store keeps.
func (f *accountsFile) check(data []byte) error {
	if err := account.CheckKeys(data, f); err != nil {
		return err
	}
	seen := make(map[string]bool, len(f.Accounts))
	for i, a := range f.Accounts {
		if a.ID == "" {
			return fmt.Errorf("accounts[%d]: no id", i)
		}
		if seen[a.ID] {
			return fmt.Errorf("accounts[%d]: id %q appears twice", i, a.ID)
		}
		seen[a.ID] = true
		if err := a.Validate(); err != nil {
			return fmt.Errorf("accounts[%d] (id %q): %w", i, a.ID, err)
		}
	}
	slices.SortFunc(f.Accounts, func(a, b account.Account) int { return cmp.Compare(a.ID, b.ID) })
	return nil
}
func (f *accountsFile) setVersion() { f.Version = formatVersion }

// ReadAccounts reads the accounts of an accounts file (the store's format,
// as the store and an export write it) and vets them as the store vets its
// file when it loads it: the format version, no unknown key (named with
// its path), every account valid, IDs present and not repeated. The
// deleted-account records of a store's file are not accounts: they are
// left out.
func ReadAccounts(data []byte) ([]account.Account, error) {
	var f accountsFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("jsonstore: %w", err)
	}
	if err := f.upgrade(); err != nil {
		return nil, fmt.Errorf("jsonstore: %w", err)
	}
	if err := f.check(data); err != nil {
		return nil, fmt.Errorf("jsonstore: %w", err)
	}
	return f.Accounts, nil
}

// Store is an [account.MutableStore] kept in one JSON file. It is safe for
// concurrent use by goroutines and by processes: see the package
// documentation.
type Store struct {
	f *file[accountsFile, *accountsFile]
	o Options
}

var _ account.MutableStore = (*Store)(nil)

// Open returns the store in the file at path, which need not exist yet (it
// is created by the first Put). The lock file is path + ".lock". Open
// fails with a [*CorruptError] when the file does not decode.
func Open(path string, opts *Options) (*Store, error) {
	f, err := openFile[accountsFile](path)
	if err != nil {
		return nil, err
	}
	s := &Store{f: f}
	if opts != nil {
		s.o = *opts
	}
	if s.o.Now == nil {
		s.o.Now = time.Now
	}
	if s.o.JournalRetention <= 0 {
		s.o.JournalRetention = account.DefaultJournalRetention
	}
	return s, nil
}

// adopt runs, under the file's lock, when account a is created: the
// journal of a deleted account with its ID is a's when host and user
// match within the retention period, and dropped otherwise.
func (s *Store) adopt(ctx context.Context, v *accountsFile, a account.Account) error {
	d, ok := v.Deleted[a.ID]
	if !ok {
		return nil
	}
	delete(v.Deleted, a.ID)
	if strings.EqualFold(d.Host, a.Host) && d.User == a.Auth.User && d.DeletedAt.After(s.o.Now().Add(-s.o.JournalRetention)) {
		return nil
	}
	return s.dropJournals(ctx, a.ID)
}

func (s *Store) dropJournals(ctx context.Context, ids ...string) error {
	if s.o.Journal == nil || len(ids) == 0 {
		return nil
	}
	return s.o.Journal.f.update(ctx, func(v *journalFile) error {
		n := len(v.Accounts)
		for _, id := range ids {
			delete(v.Accounts, id)
		}
		if len(v.Accounts) == n {
			return errUnchanged
		}
		return nil
	})
}

// Path returns the absolute path of the file.
func (s *Store) Path() string { return s.f.path }

// Close releases the lock file.
func (s *Store) Close() error { return s.f.close() }

// Get implements [account.Store].
func (s *Store) Get(ctx context.Context, id string) (account.Account, error) {
	var out account.Account
	err := s.f.read(ctx, func(v *accountsFile) error {
		i, ok := find(v.Accounts, id)
		if !ok {
			return fmt.Errorf("%w: %q", account.ErrNotFound, id)
		}
		out = v.Accounts[i].Clone()
		return nil
	})
	return out, err
}

func find(as []account.Account, id string) (int, bool) {
	return slices.BinarySearchFunc(as, id, func(a account.Account, id string) int { return cmp.Compare(a.ID, id) })
}

// List implements [account.Store]; accounts are sorted by ID.
func (s *Store) List(ctx context.Context, f account.Filter) ([]account.Account, error) {
	out := []account.Account{}
	err := s.f.read(ctx, func(v *accountsFile) error {
		for _, a := range v.Accounts {
			if f.Matches(a) {
				out = append(out, a.Clone())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Put implements [account.MutableStore]: it validates a, assigns an ID
// when it has none, and rewrites the file, replacing any account with the
// same ID.
func (s *Store) Put(ctx context.Context, a account.Account) (account.Account, error) {
	return s.write(ctx, a, func(old *account.Account) error { return nil })
}

// Create implements [account.MutableStore]: like Put, but it fails with
// [account.ErrExists] when the ID is taken.
func (s *Store) Create(ctx context.Context, a account.Account) (account.Account, error) {
	return s.write(ctx, a, func(old *account.Account) error {
		if old != nil {
			return fmt.Errorf("%w: %q", account.ErrExists, old.ID)
		}
		return nil
	})
}

// Update implements [account.MutableStore]: the account is replaced only
// when its stored Version is a.Version.
func (s *Store) Update(ctx context.Context, a account.Account) (account.Account, error) {
	return s.write(ctx, a, func(old *account.Account) error {
		if old == nil {
			return fmt.Errorf("%w: %q", account.ErrNotFound, a.ID)
		}
		if old.Version != a.Version {
			return fmt.Errorf("%w: account %q is at version %d, not %d", account.ErrConflict, a.ID, old.Version, a.Version)
		}
		return nil
	})
}

// write validates a, assigns an ID when it has none and, under the file's
// exclusive lock, stores it with the next version unless check, given
// the stored account or nil, refuses.
func (s *Store) write(ctx context.Context, a account.Account, check func(old *account.Account) error) (account.Account, error) {
	if err := a.Validate(); err != nil {
		return account.Account{}, err
	}
	a = a.Clone()
	err := s.f.update(ctx, func(v *accountsFile) error {
		if a.ID == "" {
			a.ID = account.NewID()
		}
		i, ok := find(v.Accounts, a.ID)
		var old *account.Account
		if ok {
			old = &v.Accounts[i]
		}
		if err := check(old); err != nil {
			return err
		}
		if !ok {
			if err := s.adopt(ctx, v, a); err != nil {
				return err
			}
		}
		a.Version = 1
		if ok {
			a.Version = old.Version + 1
			v.Accounts[i] = a.Clone()
		} else {
			v.Accounts = slices.Insert(v.Accounts, i, a.Clone())
		}
		return nil
	})
	if err != nil {
		return account.Account{}, err
	}
	return a, nil
}

// Delete implements [account.MutableStore]; unknown IDs are ignored. The
// file is rewritten only when something was deleted. With
// Options.Journal, the journals of the deleted accounts are kept (see
// [Options]) and those of accounts deleted longer ago than the retention
// period are dropped.
func (s *Store) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.f.update(ctx, func(v *accountsFile) error {
		now := s.o.Now()
		n := len(v.Accounts)
		v.Accounts = slices.DeleteFunc(v.Accounts, func(a account.Account) bool {
			if !slices.Contains(ids, a.ID) {
				return false
			}
			if s.o.Journal != nil {
				if v.Deleted == nil {
					v.Deleted = map[string]deletedAccount{}
				}
				v.Deleted[a.ID] = deletedAccount{Host: a.Host, User: a.Auth.User, DeletedAt: now}
			}
			return true
		})
		if len(v.Accounts) == n {
			return errUnchanged
		}
		var expired []string
		for id, d := range v.Deleted {
			if !d.DeletedAt.After(now.Add(-s.o.JournalRetention)) {
				expired = append(expired, id)
				delete(v.Deleted, id)
			}
		}
		return s.dropJournals(ctx, expired...)
	})
}
