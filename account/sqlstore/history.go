package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/multidrop/multidrop/account"
)

var _ account.History = (*Store)(nil)

// AddCheck implements [account.History]: one transaction inserts the
// record and deletes the account's records beyond the newest
// [account.HistoryLimit].
func (s *Store) AddCheck(ctx context.Context, rec account.CheckRecord) error {
	if rec.AccountID == "" {
		return account.ErrNoAccountID
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("sqlstore: encoding check record: %w", err)
	}
	// The record of a large check is large (a few hundred bytes per
	// message): the driver copies it anyway, so it is passed without a
	// copy of its own; data is not used afterwards.
	text := unsafe.String(unsafe.SliceData(data), len(data))
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO check_history (account_id, started_at, data) VALUES (?, ?, ?)`),
			rec.AccountID, rec.Start.UnixNano(), text)
		if err != nil {
			return fmt.Errorf("sqlstore: add check: %w", err)
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM check_history WHERE account_id = ? AND id NOT IN
			(SELECT id FROM check_history WHERE account_id = ? ORDER BY started_at DESC, id DESC LIMIT ?)`),
			rec.AccountID, rec.AccountID, account.HistoryLimit)
		if err != nil {
			return fmt.Errorf("sqlstore: add check: pruning: %w", err)
		}
		return nil
	})
}

// Checks implements [account.History].
func (s *Store) Checks(ctx context.Context, accountID string, limit int) ([]account.CheckRecord, error) {
	if limit <= 0 || limit > account.HistoryLimit {
		limit = account.HistoryLimit
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT data FROM check_history WHERE account_id = ?
		ORDER BY started_at DESC, id DESC LIMIT ?`), accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: checks: %w", err)
	}
	defer rows.Close()
	out := []account.CheckRecord{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("sqlstore: checks: %w", err)
		}
		var rec account.CheckRecord
		if err := json.Unmarshal([]byte(data), &rec); err != nil {
			return nil, fmt.Errorf("sqlstore: checks of %q: corrupt record: %w", accountID, err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: checks: %w", err)
	}
	return out, nil
}
