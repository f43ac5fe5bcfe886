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

// ReleaseGone releases every live lease whose owner [account.OwnerGone]
// reports gone — held by a process of this host that crashed — and returns
// how many it released. Acquire takes such a lease over by itself; a
// starting instance that claims its accounts through the shared schedule
// ([Store.Claim], which takes over only free leases) calls ReleaseGone once
// so that it resumes its dead predecessor's accounts at once instead of
// after the lease TTL. A lease is released only if it still has the owner
// and token read, so a lease taken over meanwhile is left alone.
func (s *Store) ReleaseGone(ctx context.Context) (int, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT account_id, owner, token FROM leases WHERE expires_at > `+s.d.now()), s.nowArg())
	if err != nil {
		return 0, fmt.Errorf("sqlstore: release leases of gone owners: %w", err)
	}
	type held struct {
		id, owner string
		token     int64
	}
	var gone []held
	for rows.Next() {
		var h held
		if err := rows.Scan(&h.id, &h.owner, &h.token); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlstore: release leases of gone owners: %w", err)
		}
		if account.OwnerGone(h.owner) {
			gone = append(gone, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlstore: release leases of gone owners: %w", err)
	}
	n := 0
	for _, h := range gone {
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE leases SET expires_at = 0 WHERE account_id = ? AND owner = ? AND token = ?`),
			h.id, h.owner, h.token)
		if err != nil {
			return n, fmt.Errorf("sqlstore: release lease of %q: %w", h.owner, err)
		}
		if k, err := res.RowsAffected(); err == nil {
			n += int(k)
		}
	}
	return n, nil
}
