package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/multidrop/multidrop/account"
)

var _ account.Scheduler = (*Store)(nil)

// Migration 2 adds the shared schedule to the accounts table:
// next_check_at (Unix nanoseconds on the store's clock; 0, the default,
// makes new accounts due at once), check_failures (consecutive failed
// checks, for backoff), paused_version (the account's updated_at when an
// authentication failure paused it; NULL when not paused, and a Put, which
// changes updated_at, lifts the pause) and check_requested (a "Check Now"
// that arrived while the account was leased).
func init() {
	SQLite.migrations = append(SQLite.migrations, migration{2, []string{
		`ALTER TABLE accounts ADD COLUMN next_check_at INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN paused_version INTEGER`,
		`ALTER TABLE accounts ADD COLUMN check_requested INTEGER NOT NULL DEFAULT 0`,
		`CREATE INDEX accounts_due ON accounts (next_check_at, id)`,
	}})
	PostgreSQL.migrations = append(PostgreSQL.migrations, migration{2, []string{
		`ALTER TABLE accounts ADD COLUMN next_check_at BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN paused_version BIGINT`,
		`ALTER TABLE accounts ADD COLUMN check_requested INTEGER NOT NULL DEFAULT 0`,
		`CREATE INDEX accounts_due ON accounts (next_check_at, id)`,
	}})
}

// skipLocked is appended to the SELECT of due accounts in Claim: on
// PostgreSQL concurrent Claims skip each other's candidate rows instead of
// waiting for them; SQLite's immediate transaction serialises Claims.
func (d *Dialect) skipLocked() string {
	if d.name == "postgres" {
		return " FOR UPDATE OF a SKIP LOCKED"
	}
	return ""
}

// Claim implements [account.Scheduler]. A first read finds whether any
// account is due at all (most polls end there); then one transaction of
// two or three statements, whatever limit is, selects the due, enabled, unpaused
// accounts without a live lease (most overdue first, up to limit), leases
// them to owner with one multi-row INSERT ... ON CONFLICT DO UPDATE that
// takes over only expired leases and returns the new fencing tokens, and
// clears their pending check requests. An account whose data does not
// decode is left leased until the lease expires and reported as a
// [*CorruptError] next to the claims of the others.
func (s *Store) Claim(ctx context.Context, owner string, limit int, ttl time.Duration) ([]account.Claim, error) {
	if ttl <= 0 {
		return nil, account.ErrBadTTL
	}
	if owner == "" {
		return nil, errors.New("sqlstore: lease owner is empty")
	}
	if limit <= 0 {
		return nil, nil
	}
	limit = min(limit, batchRows)
	now := s.d.now()
	due := `FROM accounts a
			WHERE a.enabled AND a.next_check_at <= ` + now + `
				AND (a.paused_version IS NULL OR a.paused_version <> a.updated_at)
				AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = a.id AND l.expires_at > ` + now + `)`
	// A read outside the transaction first: most polls find nothing due,
	// and on SQLite the transaction would take the database's write lock.
	var found int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM (SELECT 1 `+due+` LIMIT 1) d`),
		s.nowArg(), s.nowArg()).Scan(&found)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim: %w", err)
	}
	if found == 0 {
		return nil, nil
	}
	var out []account.Claim
	var bad []error
	err = s.tx(ctx, func(tx *sql.Tx) error {
		out, bad = out[:0], bad[:0]
		rows, err := tx.QueryContext(ctx, s.q(`SELECT a.id, a.data, a.version, a.check_failures, a.check_requested, `+now+` `+due+`
			ORDER BY a.next_check_at, a.id LIMIT ?`+s.d.skipLocked()),
			s.nowArg(), s.nowArg(), s.nowArg(), limit)
		if err != nil {
			return fmt.Errorf("sqlstore: claim: %w", err)
		}
		type due struct {
			id, data  string
			version   int64
			failures  int
			requested int
		}
		var cands []due
		var dbNow int64
		for rows.Next() {
			var d due
			if err := rows.Scan(&d.id, &d.data, &d.version, &d.failures, &d.requested, &dbNow); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: claim: %w", err)
			}
			cands = append(cands, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: claim: %w", err)
		}
		if len(cands) == 0 {
			return nil
		}
		args := make([]any, 0, 4*len(cands)+1)
		for _, c := range cands {
			args = append(args, c.id, owner, dbNow+int64(ttl), int64(1))
		}
		args = append(args, dbNow)
		rows, err = tx.QueryContext(ctx, s.q(`INSERT INTO leases (account_id, owner, expires_at, token)
			VALUES `+tuples(len(cands), 4)+`
			ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
				token = leases.token + 1
			WHERE leases.expires_at <= ?
			RETURNING account_id, token`), args...)
		if err != nil {
			return fmt.Errorf("sqlstore: claim: leasing: %w", err)
		}
		tokens := map[string]int64{}
		for rows.Next() {
			var id string
			var token int64
			if err := rows.Scan(&id, &token); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: claim: leasing: %w", err)
			}
			tokens[id] = token
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: claim: leasing: %w", err)
		}
		var ids []any
		for _, c := range cands {
			token, ok := tokens[c.id]
			if !ok {
				continue // leased meanwhile through Acquire
			}
			a, err := decode(c.id, c.data, c.version)
			if err != nil {
				// Leased but unusable: the lease stays until it expires,
				// so the row does not come first in every Claim.
				bad = append(bad, err)
				continue
			}
			if c.requested != 0 {
				ids = append(ids, c.id)
			}
			out = append(out, account.Claim{
				Account:  a,
				Lease:    &lease{s: s, accountID: c.id, owner: owner, token: token},
				Failures: c.failures,
			})
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE accounts SET check_requested = 0
			WHERE id IN (`+tuples(len(ids), 1)+`)`), ids...)
		if err != nil {
			return fmt.Errorf("sqlstore: claim: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, errors.Join(bad...)
}

// Done implements [account.Scheduler]: in one transaction it sets the
// account's next due time (at once instead when RequestCheck was called
// during the check), failure count and pause, on condition that the lease
// is still current, and releases the lease. It locks the account row
// before the lease row, in the order Claim does, so that the two never
// deadlock; a Claim of the account waits for Done, and a takeover by
// Acquire needs an expired lease, that is, a Done that is late anyway.
func (s *Store) Done(ctx context.Context, l account.Lease, next account.Next) error {
	sl, ok := l.(*lease)
	if !ok {
		return fmt.Errorf("sqlstore: Done needs a lease from sqlstore, not %T", l)
	}
	paused := 0
	if next.Paused {
		paused = 1
	}
	now := s.d.now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE accounts SET
				next_check_at = CASE WHEN check_requested <> 0 THEN `+now+` ELSE `+now+` + ? END,
				check_failures = ?,
				paused_version = CASE WHEN check_requested = 0 AND CAST(? AS INTEGER) = 1 THEN updated_at ELSE NULL END,
				check_requested = 0
			WHERE id = ? AND EXISTS (SELECT 1 FROM leases l
				WHERE l.account_id = accounts.id AND l.owner = ? AND l.token = ? AND l.expires_at > `+now+`)`),
			s.nowArg(), s.nowArg(), int64(max(next.After, 0)), next.Failures, paused,
			sl.accountID, sl.owner, sl.token, s.nowArg())
		if err != nil {
			return fmt.Errorf("sqlstore: done: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlstore: done: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("%w: account %q, token %d", account.ErrLeaseLost, sl.accountID, sl.token)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE leases SET expires_at = 0 WHERE account_id = ? AND owner = ? AND token = ?`),
			sl.accountID, sl.owner, sl.token)
		if err != nil {
			return fmt.Errorf("sqlstore: done: releasing lease: %w", err)
		}
		return nil
	})
}

// RequestCheck implements [account.Scheduler]: the account becomes due on
// the store's clock now, its pause is lifted, and a check running at the
// moment is followed by another at once. It fails with
// [account.ErrNotFound] for an unknown account.
func (s *Store) RequestCheck(ctx context.Context, accountID string) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE accounts SET next_check_at = `+s.d.now()+`,
		paused_version = NULL, check_requested = 1 WHERE id = ?`), s.nowArg(), accountID)
	if err != nil {
		return fmt.Errorf("sqlstore: request check: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: request check: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", account.ErrNotFound, accountID)
	}
	return nil
}

// NextCheck returns when the account is due next on the store's clock and
// whether it is paused, for admin pages and tests.
func (s *Store) NextCheck(ctx context.Context, accountID string) (next time.Time, paused bool, err error) {
	var at int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT next_check_at,
			CASE WHEN paused_version IS NOT NULL AND paused_version = updated_at THEN 1 ELSE 0 END
		FROM accounts WHERE id = ?`), accountID).Scan(&at, &paused)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, fmt.Errorf("%w: %q", account.ErrNotFound, accountID)
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlstore: next check: %w", err)
	}
	return time.Unix(0, at).UTC(), paused, nil
}
