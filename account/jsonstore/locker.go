package jsonstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/multidrop/multidrop/account"
)

type leaseRecord struct {
	Owner   string    `json:"owner,omitempty"`
	Expires time.Time `json:"expires"`
	Token   int64     `json:"token"`
}

type leasesFile struct {
	Version int                     `json:"version"`
	Leases  map[string]*leaseRecord `json:"leases"`
}

func (f *leasesFile) upgrade() error { return checkVersion(f.Version) }
func (f *leasesFile) setVersion()    { f.Version = formatVersion }

// Locker is an [account.Locker] kept in a JSON file, for processes on one
// host (a daemon and an admin tool that runs "check now", say). Every
// Acquire, Renew and Release rewrites the file under its lock. A [Journal]
// fences its writes with these leases (see [Journal.Fenced]).
type Locker struct {
	f   *file[leasesFile, *leasesFile]
	now func() time.Time
}

var _ account.Locker = (*Locker)(nil)

// OpenLocker returns the locker in the file at path, which need not exist
// yet. The lock file is path + ".lock".
func OpenLocker(path string, opts *Options) (*Locker, error) {
	f, err := openFile[leasesFile](path)
	if err != nil {
		return nil, err
	}
	l := &Locker{f: f, now: time.Now}
	if opts != nil && opts.Now != nil {
		l.now = opts.Now
	}
	return l, nil
}

// Close releases the lock file.
func (l *Locker) Close() error { return l.f.close() }

// Acquire implements [account.Locker]: a new lease with a higher token,
// unless another owner holds an unexpired lease (an
// [*account.LeaseHeldError]); the lease of an owner that
// [account.OwnerGone] reports gone is taken over at once.
func (l *Locker) Acquire(ctx context.Context, accountID, owner string, ttl time.Duration) (account.Lease, error) {
	if ttl <= 0 {
		return nil, account.ErrBadTTL
	}
	if owner == "" {
		return nil, errors.New("jsonstore: lease owner is empty")
	}
	var token int64
	err := l.f.update(ctx, func(v *leasesFile) error {
		now := l.now()
		if v.Leases == nil {
			v.Leases = map[string]*leaseRecord{}
		}
		r := v.Leases[accountID]
		if r == nil {
			r = &leaseRecord{}
			v.Leases[accountID] = r
		}
		if r.Owner != "" && r.Owner != owner && r.Expires.After(now) && !account.OwnerGone(r.Owner) {
			return &account.LeaseHeldError{AccountID: accountID, Owner: r.Owner, Expires: r.Expires}
		}
		r.Owner, r.Expires = owner, now.Add(ttl)
		r.Token++
		token = r.Token
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &lease{l: l, accountID: accountID, owner: owner, token: token}, nil
}

type lease struct {
	l         *Locker
	accountID string
	owner     string
	token     int64
}

func (le *lease) Token() int64 { return le.token }

func (le *lease) current(v *leasesFile, now time.Time) (*leaseRecord, error) {
	r := v.Leases[le.accountID]
	if r == nil || r.Owner != le.owner || r.Token != le.token || !r.Expires.After(now) {
		return nil, fmt.Errorf("%w: account %q, token %d", account.ErrLeaseLost, le.accountID, le.token)
	}
	return r, nil
}

// Renew implements [account.Lease].
func (le *lease) Renew(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return account.ErrBadTTL
	}
	return le.l.f.update(ctx, func(v *leasesFile) error {
		now := le.l.now()
		r, err := le.current(v, now)
		if err != nil {
			return err
		}
		r.Expires = now.Add(ttl)
		return nil
	})
}

// Release implements [account.Lease]; it is a no-op for a lease that is no
// longer current.
func (le *lease) Release(ctx context.Context) error {
	return le.l.f.update(ctx, func(v *leasesFile) error {
		r := v.Leases[le.accountID]
		if r == nil || r.Owner != le.owner || r.Token != le.token {
			return errUnchanged
		}
		r.Owner, r.Expires = "", time.Time{}
		return nil
	})
}

// check reports whether the lease is current, reading the leases file under
// its shared lock.
func (le *lease) check(ctx context.Context) error {
	return le.l.f.read(ctx, func(v *leasesFile) error {
		_, err := le.current(v, le.l.now())
		return err
	})
}
