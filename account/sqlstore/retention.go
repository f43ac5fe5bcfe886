package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/multidrop/multidrop/account"
)

// accountState lists the tables of per-account state that a deleted
// account keeps for the retention period.
var accountState = []string{"journal_seen", "journal_deliveries", "journal_marks", "journal_message_ids", "journal_guard", "check_history"}

func (s *Store) retention() int64 {
	if s.o.JournalRetention > 0 {
		return int64(s.o.JournalRetention)
	}
	return int64(account.DefaultJournalRetention)
}

// dropState deletes the journal and check history of the accounts that
// where selects (a condition on account_id with args).
func (s *Store) dropState(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	for _, table := range accountState {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE `+where), args...); err != nil {
			return fmt.Errorf("dropping %s: %w", table, err)
		}
	}
	return nil
}

// adopt runs in the transaction that creates account a (Create, or a Put
// of an ID not stored): when a was deleted within the retention period
// with the same host and user, its journal and history are a's; otherwise
// (another mailbox under the same ID, or a deletion too long ago) they are
// dropped.
func (s *Store) adopt(ctx context.Context, tx *sql.Tx, a account.Account) error {
	var host, user string
	var at int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT host, auth_user, deleted_at FROM deleted_accounts WHERE account_id = ?`), a.ID).
		Scan(&host, &user, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	keep := strings.EqualFold(host, a.Host) && user == a.Auth.User && at > s.now().UnixNano()-s.retention()
	if !keep {
		if err := s.dropState(ctx, tx, `account_id = ?`, a.ID); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, s.q(`DELETE FROM deleted_accounts WHERE account_id = ?`), a.ID)
	return err
}

// Delete implements [account.MutableStore]. The journal and check history
// of each deleted account are kept for Options.JournalRetention, with
// the account's host and user: an account created again with the same ID,
// host and user within that period finds them (and does not deliver again
// what is still on its server); one with another host or user, or created
// later, starts afresh. Each Delete drops the state of the accounts
// deleted longer ago than that. The lease row stays, so that the fencing
// tokens of a re-created account with the same ID keep growing.
func (s *Store) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.now().UnixNano()
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			// The account row first, as writes lock it before its
			// domains: the other order deadlocks with a racing Update.
			var host, data string
			err := tx.QueryRowContext(ctx, s.q(`DELETE FROM accounts WHERE id = ? RETURNING host, data`), id).Scan(&host, &data)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlstore: delete %q: %w", id, err)
			}
			var a account.Account
			_ = json.Unmarshal([]byte(data), &a) // a corrupt row keeps no user: its journal is not found again
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM account_domains WHERE account_id = ?`), id); err != nil {
				return fmt.Errorf("sqlstore: delete %q: %w", id, err)
			}
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO deleted_accounts (account_id, host, auth_user, deleted_at)
				VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET host = excluded.host,
				auth_user = excluded.auth_user, deleted_at = excluded.deleted_at`), id, host, a.Auth.User, now)
			if err != nil {
				return fmt.Errorf("sqlstore: delete %q: %w", id, err)
			}
		}
		cutoff := now - s.retention()
		err := s.dropState(ctx, tx, `account_id IN (SELECT account_id FROM deleted_accounts WHERE deleted_at <= ?)`, cutoff)
		if err != nil {
			return fmt.Errorf("sqlstore: delete: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM deleted_accounts WHERE deleted_at <= ?`), cutoff); err != nil {
			return fmt.Errorf("sqlstore: delete: %w", err)
		}
		return nil
	})
}
