package jsonstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/multidrop/multidrop/account"
)

// Options configure a [Store], [Journal] or [Locker]. The zero value (or
// nil) is the default.
type Options struct {
	// Now is the clock of Message-ID and lease expiry; nil means time.Now.
	Now func() time.Time
}

type accountsFile struct {
	Version  int               `json:"version"`
	Accounts []account.Account `json:"accounts"`
}

func (f *accountsFile) version() int { return f.Version }
func (f *accountsFile) setVersion()  { f.Version = formatVersion }

// Store is an [account.MutableStore] kept in one JSON file. It is safe for
// concurrent use by goroutines and by processes: see the package
// documentation.
type Store struct {
	f *file[accountsFile, *accountsFile]
}

var _ account.MutableStore = (*Store)(nil)

// Open returns the store in the file at path, which need not exist yet (it
// is created by the first Put). The lock file is path + ".lock". Open
// fails with a [*CorruptError] when the file does not decode.
func Open(path string, opts *Options) (*Store, error) {
	_ = opts // no option applies to accounts yet
	f, err := openFile[accountsFile](path)
	if err != nil {
		return nil, err
	}
	return &Store{f: f}, nil
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
// file is rewritten only when something was deleted.
func (s *Store) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.f.update(ctx, func(v *accountsFile) error {
		n := len(v.Accounts)
		v.Accounts = slices.DeleteFunc(v.Accounts, func(a account.Account) bool { return slices.Contains(ids, a.ID) })
		if len(v.Accounts) == n {
			return errUnchanged
		}
		return nil
	})
}
