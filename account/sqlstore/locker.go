package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/multidrop/multidrop/account"
)

// Acquire implements [account.Locker] with one statement: it inserts the
// account's lease row, or takes it over when it has expired or belongs to
// owner already, incrementing the fencing token. A live lease of another
// owner that [account.OwnerGone] reports gone (a crashed process of this
// host) is taken over at once by a second statement that changes the row
// only if it still holds that owner and token, so that of two instances
// racing for it one wins. Otherwise Acquire fails with an
// [*account.LeaseHeldError]. Tokens never go back: Release only expires the
// row.
func (s *Store) Acquire(ctx context.Context, accountID, owner string, ttl time.Duration) (account.Lease, error) {
	if ttl <= 0 {
		return nil, account.ErrBadTTL
	}
	if owner == "" {
		return nil, errors.New("sqlstore: lease owner is empty")
	}
	now := s.d.now()
	for range 3 {
		var token int64
		err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO leases (account_id, owner, expires_at, token)
			VALUES (?, ?, `+now+` + ?, 1)
			ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
				token = leases.token + 1
			WHERE leases.expires_at <= `+now+` OR leases.owner = excluded.owner
			RETURNING token`), accountID, owner, s.nowArg(), int64(ttl), s.nowArg()).Scan(&token)
		if err == nil {
			return &lease{s: s, accountID: accountID, owner: owner, token: token}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: acquire lease: %w", err)
		}
		var holder string
		var expires, held int64
		err = s.db.QueryRowContext(ctx, s.q(`SELECT owner, expires_at, token FROM leases WHERE account_id = ?`),
			accountID).Scan(&holder, &expires, &held)
		if errors.Is(err, sql.ErrNoRows) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: acquire lease: %w", err)
		}
		if !account.OwnerGone(holder) {
			return nil, &account.LeaseHeldError{AccountID: accountID, Owner: holder, Expires: time.Unix(0, expires)}
		}
		err = s.db.QueryRowContext(ctx, s.q(`UPDATE leases SET owner = ?, expires_at = `+now+` + ?, token = token + 1
			WHERE account_id = ? AND owner = ? AND token = ?
			RETURNING token`), owner, s.nowArg(), int64(ttl), accountID, holder, held).Scan(&token)
		if err == nil {
			return &lease{s: s, accountID: accountID, owner: owner, token: token}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlstore: take over lease of %q: %w", holder, err)
		}
		// Another instance changed the row first: try again.
	}
	return nil, fmt.Errorf("%w: account %q: contended", account.ErrLeaseHeld, accountID)
}

type lease struct {
	s         *Store
	accountID string
	owner     string
	token     int64
	foreign   string // set for a lease of another type given to Fenced
}

func (l *lease) Token() int64 { return l.token }

// Renew implements [account.Lease].
func (l *lease) Renew(ctx context.Context, ttl time.Duration) error {
	if ttl <= 0 {
		return account.ErrBadTTL
	}
	now := l.s.d.now()
	res, err := l.s.db.ExecContext(ctx, l.s.q(`UPDATE leases SET expires_at = `+now+` + ?
		WHERE account_id = ? AND owner = ? AND token = ? AND expires_at > `+now),
		l.s.nowArg(), int64(ttl), l.accountID, l.owner, l.token, l.s.nowArg())
	if err != nil {
		return fmt.Errorf("sqlstore: renew lease: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: renew lease: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: account %q, token %d", account.ErrLeaseLost, l.accountID, l.token)
	}
	return nil
}

// Release implements [account.Lease]; it is a no-op for a lease that is no
// longer current.
func (l *lease) Release(ctx context.Context) error {
	_, err := l.s.db.ExecContext(ctx, l.s.q(`UPDATE leases SET expires_at = 0
		WHERE account_id = ? AND owner = ? AND token = ?`), l.accountID, l.owner, l.token)
	if err != nil {
		return fmt.Errorf("sqlstore: release lease: %w", err)
	}
	return nil
}
