package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/multidrop/multidrop/account"
)

// journal implements account.Journal over a Store; with a non-nil lease
// every write first checks, in its transaction, that the lease is current.
type journal struct {
	s     *Store
	lease *lease
}

var (
	_ account.BatchRecorder = (*Store)(nil)
	_ account.BatchRecorder = (*journal)(nil)
	_ account.IDLister      = (*Store)(nil)
	_ account.IDLister      = (*journal)(nil)
	_ account.BatchReader   = (*Store)(nil)
	_ account.BatchReader   = (*journal)(nil)
)

// Fenced implements [account.Fencer]: the returned Journal refuses writes
// with [account.ErrLeaseLost] unless, in the same transaction, the lease
// row of the account still has the lease's owner and token and has not
// expired. lease must come from this Store's Acquire (or another Store
// over the same database).
func (s *Store) Fenced(l account.Lease) account.Journal {
	sl, ok := l.(*lease)
	if !ok {
		return &journal{s: s, lease: &lease{foreign: fmt.Sprintf("%T", l)}}
	}
	return &journal{s: s, lease: sl}
}

// leaseCheck reads an account's lease row in a fenced write.
func leaseCheck(d *Dialect) string {
	return `SELECT owner, token, expires_at > ` + d.now() + ` FROM leases WHERE account_id = ?` + d.lockLease
}

func (j *journal) check(ctx context.Context, tx *sql.Tx, accountID string) error {
	l := j.lease
	if l == nil {
		return nil
	}
	if l.foreign != "" {
		return fmt.Errorf("sqlstore: Fenced needs a lease from sqlstore, not %s", l.foreign)
	}
	if l.accountID != accountID {
		return fmt.Errorf("%w: lease is for account %q, not %q", account.ErrLeaseLost, l.accountID, accountID)
	}
	var owner string
	var token int64
	var live bool
	var row *sql.Row
	if st := j.s.inTx(ctx, tx, leaseCheck(j.s.d)); st != nil {
		row = st.QueryRowContext(ctx, j.s.nowArg(), accountID)
	} else {
		row = tx.QueryRowContext(ctx, j.s.q(leaseCheck(j.s.d)), j.s.nowArg(), accountID)
	}
	err := row.Scan(&owner, &token, &live)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlstore: checking lease: %w", err)
	}
	if err != nil || owner != l.owner || token != l.token || !live {
		return fmt.Errorf("%w: account %q, token %d", account.ErrLeaseLost, accountID, l.token)
	}
	return nil
}

// Sync implements [account.Journal].
func (s *Store) Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error) {
	return (&journal{s: s}).Sync(ctx, accountID, uids, now)
}

// Delivered implements [account.Journal].
func (s *Store) Delivered(ctx context.Context, accountID, key string) (account.Delivery, error) {
	return (&journal{s: s}).Delivered(ctx, accountID, key)
}

// DeliveredBatch implements [account.BatchReader].
func (s *Store) DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]account.Delivery, error) {
	return (&journal{s: s}).DeliveredBatch(ctx, accountID, keys)
}

// Record implements [account.Journal].
func (s *Store) Record(ctx context.Context, accountID string, r account.Record) error {
	return (&journal{s: s}).Record(ctx, accountID, r)
}

// DeliveredID implements [account.Journal].
func (s *Store) DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error) {
	return (&journal{s: s}).DeliveredID(ctx, accountID, messageID)
}

// MessageIDs implements [account.IDLister].
func (s *Store) MessageIDs(ctx context.Context, accountID string, limit int) ([]string, bool, error) {
	return (&journal{s: s}).MessageIDs(ctx, accountID, limit)
}

// RecordBatch implements [account.BatchRecorder].
func (s *Store) RecordBatch(ctx context.Context, accountID string, recs []account.Record) error {
	return (&journal{s: s}).RecordBatch(ctx, accountID, recs)
}

// Forget implements [account.Journal].
func (s *Store) Forget(ctx context.Context, accountID string, keys ...string) error {
	return (&journal{s: s}).Forget(ctx, accountID, keys...)
}

// Guard implements [account.Journal].
func (s *Store) Guard(ctx context.Context, accountID string) (account.Guard, error) {
	return (&journal{s: s}).Guard(ctx, accountID)
}

// SetGuard implements [account.Journal].
func (s *Store) SetGuard(ctx context.Context, accountID string, g account.Guard) error {
	return (&journal{s: s}).SetGuard(ctx, accountID, g)
}

func (j *journal) Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error) {
	s := j.s
	out := make(map[string]time.Time, len(uids))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := j.check(ctx, tx, accountID); err != nil {
			return err
		}
		seen := map[string]int64{}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT uid, first_seen FROM journal_seen WHERE account_id = ?`), accountID)
		if err != nil {
			return fmt.Errorf("sqlstore: sync: %w", err)
		}
		for rows.Next() {
			var uid string
			var t int64
			if err := rows.Scan(&uid, &t); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: sync: %w", err)
			}
			seen[uid] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: sync: %w", err)
		}
		listed := make(map[string]struct{}, len(uids))
		for _, u := range uids {
			listed[u] = struct{}{}
		}
		var vanished []any
		for uid := range seen {
			if _, ok := listed[uid]; !ok {
				vanished = append(vanished, uid)
			}
		}
		for _, table := range [][2]string{{"journal_seen", "uid"}, {"journal_deliveries", "msg_key"}, {"journal_marks", "msg_key"}} {
			err := batches(vanished, 1, func(args []any, n int) error {
				_, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table[0]+` WHERE account_id = ? AND `+table[1]+
					` IN (`+tuples(n, 1)+`)`), append([]any{accountID}, args...)...)
				return err
			})
			if err != nil {
				return fmt.Errorf("sqlstore: sync: %w", err)
			}
		}
		var fresh []any
		for _, u := range uids {
			if t, ok := seen[u]; ok {
				out[u] = time.Unix(0, t).UTC()
				continue
			}
			if _, dup := out[u]; dup {
				continue
			}
			fresh = append(fresh, accountID, u, now.UnixNano())
			out[u] = time.Unix(0, now.UnixNano()).UTC()
		}
		err = batches(fresh, 3, func(args []any, n int) error {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO journal_seen (account_id, uid, first_seen) VALUES `+tuples(n, 3)), args...)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlstore: sync: %w", err)
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM journal_message_ids WHERE account_id = ? AND expires_at <= `+s.d.now()),
			accountID, s.nowArg())
		if err != nil {
			return fmt.Errorf("sqlstore: sync: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Marks in journal_marks.
const (
	markFinal  = "final"
	markNotice = "notice:"
)

// delivered reads a key's recipients and marks in one query.
const delivered = `SELECT rcpt, 0 FROM journal_deliveries WHERE account_id = ? AND msg_key = ?
	UNION ALL SELECT mark, 1 FROM journal_marks WHERE account_id = ? AND msg_key = ?`

func (j *journal) Delivered(ctx context.Context, accountID, key string) (account.Delivery, error) {
	var d account.Delivery
	st, err := j.s.prepared(ctx, delivered)
	if err != nil {
		return d, fmt.Errorf("sqlstore: delivered: %w", err)
	}
	rows, err := st.QueryContext(ctx, accountID, key, accountID, key)
	if err != nil {
		return d, fmt.Errorf("sqlstore: delivered: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		var mark int
		if err := rows.Scan(&v, &mark); err != nil {
			return account.Delivery{}, fmt.Errorf("sqlstore: delivered: %w", err)
		}
		addRow(&d, v, mark)
	}
	if err := rows.Err(); err != nil {
		return account.Delivery{}, fmt.Errorf("sqlstore: delivered: %w", err)
	}
	slices.Sort(d.Rcpts)
	slices.Sort(d.Notices)
	return d, nil
}

// deliveredBatch reads the recipients and marks of rows keys in one query.
func deliveredBatch(rows int) string {
	in := tuples(rows, 1)
	return `SELECT msg_key, rcpt, 0 FROM journal_deliveries WHERE account_id = ? AND msg_key IN (` + in + `)
	UNION ALL SELECT msg_key, mark, 1 FROM journal_marks WHERE account_id = ? AND msg_key IN (` + in + `)`
}

// DeliveredBatch implements [account.BatchReader]: one query for up to
// batchRows keys, prepared when it has that many (a listing's keys come
// in such batches, the rest once per check).
func (j *journal) DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]account.Delivery, error) {
	out := make(map[string]account.Delivery)
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	err := batches(args, 1, func(batch []any, n int) error {
		q := deliveredBatch(n)
		all := make([]any, 0, 2*n+2)
		all = append(append(append(append(all, accountID), batch...), accountID), batch...)
		var rows *sql.Rows
		var err error
		if n == batchRows {
			var st *sql.Stmt
			if st, err = j.s.prepared(ctx, q); err != nil {
				return err
			}
			rows, err = st.QueryContext(ctx, all...)
		} else {
			rows, err = j.s.db.QueryContext(ctx, j.s.q(q), all...)
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var key, v string
			var mark int
			if err := rows.Scan(&key, &v, &mark); err != nil {
				return err
			}
			d := out[key]
			if addRow(&d, v, mark) {
				out[key] = d
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: delivered: %w", err)
	}
	for k, d := range out {
		slices.Sort(d.Rcpts)
		slices.Sort(d.Notices)
		out[k] = d
	}
	return out, nil
}

func (j *journal) Record(ctx context.Context, accountID string, r account.Record) error {
	return j.RecordBatch(ctx, accountID, []account.Record{r})
}

func (j *journal) DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error) {
	// The expiry is tested in the select list, not in WHERE, so that the
	// primary key finds the rows: with "expires_at > now" in WHERE, SQLite
	// may pick the expiry index and scan every live record of the account
	// for each message.
	st, err := j.s.prepared(ctx, `SELECT rcpt, expires_at > `+j.s.d.now()+
		` FROM journal_message_ids WHERE account_id = ? AND message_id = ?`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: delivered by message-id: %w", err)
	}
	rows, err := st.QueryContext(ctx, j.s.nowArg(), accountID, messageID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: delivered by message-id: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		var live bool
		if err := rows.Scan(&r, &live); err != nil {
			return nil, fmt.Errorf("sqlstore: delivered by message-id: %w", err)
		}
		if live {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: delivered by message-id: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

func (j *journal) MessageIDs(ctx context.Context, accountID string, limit int) ([]string, bool, error) {
	// One row per recipient: more than limit rows may still be at most limit
	// Message-IDs, but reading them would cost what it saves.
	st, err := j.s.prepared(ctx, `SELECT message_id FROM journal_message_ids WHERE account_id = ? LIMIT ?`)
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: message-ids: %w", err)
	}
	rows, err := st.QueryContext(ctx, accountID, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: message-ids: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, fmt.Errorf("sqlstore: message-ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("sqlstore: message-ids: %w", err)
	}
	if len(ids) > limit {
		return nil, false, nil
	}
	return ids, true, nil
}

// RecordBatch implements [account.BatchRecorder]: one transaction, with
// one lease check, and multi-row inserts.
func (j *journal) RecordBatch(ctx context.Context, accountID string, recs []account.Record) error {
	// Rows of one statement must not repeat a conflict target (PostgreSQL
	// refuses to update a row twice in one command): repeated Message-ID
	// rows are merged, keeping the later expiry, and repeated delivery rows
	// dropped.
	type idRow struct{ id, rcpt string }
	type keyRow struct{ key, rcpt string }
	expiry := map[idRow]int64{}
	var idOrder []idRow
	seenKey := map[keyRow]bool{}
	var keys, marks []any
	seenMark := map[keyRow]bool{}
	mark := func(r account.Record, m string) {
		if k := (keyRow{r.Key, m}); !seenMark[k] {
			seenMark[k] = true
			marks = append(marks, accountID, r.Key, m, r.At.UnixNano())
		}
	}
	for _, r := range recs {
		if r.MessageID != "" {
			for _, rc := range r.IDRcpts {
				k := idRow{r.MessageID, rc}
				e, ok := expiry[k]
				if !ok {
					idOrder = append(idOrder, k)
				}
				expiry[k] = max(e, r.Expires.UnixNano())
			}
		}
		for _, rc := range r.Rcpts {
			k := keyRow{r.Key, rc}
			if !seenKey[k] {
				seenKey[k] = true
				keys = append(keys, accountID, r.Key, rc, r.At.UnixNano())
			}
		}
		if r.Final {
			mark(r, markFinal)
		}
		for _, n := range r.Notices {
			mark(r, markNotice+string(n))
		}
	}
	ids := make([]any, 0, 4*len(idOrder))
	for _, k := range idOrder {
		ids = append(ids, accountID, k.id, k.rcpt, expiry[k])
	}
	if len(ids) == 0 && len(keys) == 0 && len(marks) == 0 {
		return nil
	}
	// Prepare the statements of a small batch before the transaction
	// takes its connection; a failure only means they run unprepared.
	var warm []string
	if j.lease != nil {
		warm = append(warm, leaseCheck(j.s.d))
	}
	if n := len(ids) / 4; n > 0 && n <= preparedRows {
		warm = append(warm, insertIDs(n))
	}
	if n := len(keys) / 4; n > 0 && n <= preparedRows {
		warm = append(warm, insertKeys(n))
	}
	if n := len(marks) / 4; n > 0 && n <= preparedRows {
		warm = append(warm, insertMarks(n))
	}
	for _, q := range warm {
		_, _ = j.s.prepared(ctx, q)
	}
	return j.s.tx(ctx, func(tx *sql.Tx) error {
		if err := j.check(ctx, tx, accountID); err != nil {
			return err
		}
		// A Message-ID record keeps the later expiry.
		err := batches(ids, 4, func(args []any, n int) error {
			return j.exec(ctx, tx, insertIDs(n), args)
		})
		if err != nil {
			return fmt.Errorf("sqlstore: record by message-id: %w", err)
		}
		err = batches(keys, 4, func(args []any, n int) error {
			return j.exec(ctx, tx, insertKeys(n), args)
		})
		if err != nil {
			return fmt.Errorf("sqlstore: record: %w", err)
		}
		err = batches(marks, 4, func(args []any, n int) error {
			return j.exec(ctx, tx, insertMarks(n), args)
		})
		if err != nil {
			return fmt.Errorf("sqlstore: record: %w", err)
		}
		return nil
	})
}

func (j *journal) Forget(ctx context.Context, accountID string, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	return j.s.tx(ctx, func(tx *sql.Tx) error {
		if err := j.check(ctx, tx, accountID); err != nil {
			return err
		}
		// Three statements per batchRows keys, not per key: a check
		// forgets every message it deleted.
		args := make([]any, len(keys))
		for i, k := range keys {
			args[i] = k
		}
		for _, table := range [][2]string{{"journal_deliveries", "msg_key"}, {"journal_marks", "msg_key"}, {"journal_seen", "uid"}} {
			err := batches(args, 1, func(batch []any, n int) error {
				_, err := tx.ExecContext(ctx, j.s.q(`DELETE FROM `+table[0]+` WHERE account_id = ? AND `+table[1]+
					` IN (`+tuples(n, 1)+`)`), append([]any{accountID}, batch...)...)
				return err
			})
			if err != nil {
				return fmt.Errorf("sqlstore: forget: %w", err)
			}
		}
		return nil
	})
}

// insertIDs inserts rows Message-ID records; a record keeps the later
// expiry.
func insertIDs(rows int) string {
	return `INSERT INTO journal_message_ids (account_id, message_id, rcpt, expires_at) VALUES ` + tuples(rows, 4) +
		` ON CONFLICT (account_id, message_id, rcpt) DO UPDATE SET expires_at =
		CASE WHEN excluded.expires_at > journal_message_ids.expires_at THEN excluded.expires_at
		ELSE journal_message_ids.expires_at END`
}

// insertKeys inserts rows delivery records.
func insertKeys(rows int) string {
	return `INSERT INTO journal_deliveries (account_id, msg_key, rcpt, delivered_at) VALUES ` + tuples(rows, 4) +
		` ON CONFLICT (account_id, msg_key, rcpt) DO NOTHING`
}

// insertMarks inserts rows final marks and notices.
func insertMarks(rows int) string {
	return `INSERT INTO journal_marks (account_id, msg_key, mark, marked_at) VALUES ` + tuples(rows, 4) +
		` ON CONFLICT (account_id, msg_key, mark) DO NOTHING`
}

// preparedRows is the most rows of a multi-row statement kept prepared:
// the sizes of the group commits of a check are mostly small.
const preparedRows = 16

// exec runs a statement in tx: prepared when RecordBatch prepared it
// before the transaction began.
func (j *journal) exec(ctx context.Context, tx *sql.Tx, query string, args []any) error {
	if st := j.s.inTx(ctx, tx, query); st != nil {
		_, err := st.ExecContext(ctx, args...)
		return err
	}
	_, err := tx.ExecContext(ctx, j.s.q(query), args...)
	return err
}

// batchRows is the number of rows per multi-row statement: few round trips,
// and far below the parameter limits of SQLite (32766) and PostgreSQL
// (65535).
const batchRows = 500

// batches calls f with consecutive slices of args holding at most batchRows
// rows of width arguments each, and the number of rows in the slice.
func batches(args []any, width int, f func(args []any, rows int) error) error {
	for len(args) > 0 {
		n := min(len(args), batchRows*width)
		if err := f(args[:n], n/width); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
}

// tuples returns rows comma-separated placeholder groups of width: for
// width 1 "?, ?", for width 3 "(?, ?, ?), (?, ?, ?)".
func tuples(rows, width int) string {
	one := strings.Repeat("?, ", width-1) + "?"
	if width > 1 {
		one = "(" + one + ")"
	}
	return strings.Repeat(one+", ", rows-1) + one
}

func (j *journal) Guard(ctx context.Context, accountID string) (account.Guard, error) {
	var g account.Guard
	var window string
	var tripped, released int64
	err := j.s.db.QueryRowContext(ctx, j.s.q(`SELECT window_json, tripped_at, released_at FROM journal_guard WHERE account_id = ?`), accountID).
		Scan(&window, &tripped, &released)
	if errors.Is(err, sql.ErrNoRows) {
		return g, nil
	}
	if err != nil {
		return g, fmt.Errorf("sqlstore: guard: %w", err)
	}
	if err := json.Unmarshal([]byte(window), &g.Window); err != nil {
		return account.Guard{}, fmt.Errorf("sqlstore: guard: window of account %q: %w", accountID, err)
	}
	if len(g.Window) == 0 {
		g.Window = nil
	}
	if tripped != 0 {
		g.Tripped = time.Unix(0, tripped).UTC()
	}
	if released != 0 {
		g.Released = time.Unix(0, released).UTC()
	}
	return g, nil
}

func (j *journal) SetGuard(ctx context.Context, accountID string, g account.Guard) error {
	window, err := json.Marshal(g.Window)
	if err != nil {
		return fmt.Errorf("sqlstore: set guard: %w", err)
	}
	var tripped, released int64
	if !g.Tripped.IsZero() {
		tripped = g.Tripped.UnixNano()
	}
	if !g.Released.IsZero() {
		released = g.Released.UnixNano()
	}
	return j.s.tx(ctx, func(tx *sql.Tx) error {
		if err := j.check(ctx, tx, accountID); err != nil {
			return err
		}
		var err error
		if g.IsZero() {
			_, err = tx.ExecContext(ctx, j.s.q(`DELETE FROM journal_guard WHERE account_id = ?`), accountID)
		} else {
			_, err = tx.ExecContext(ctx, j.s.q(`INSERT INTO journal_guard (account_id, window_json, tripped_at, released_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (account_id) DO UPDATE SET window_json = excluded.window_json,
				tripped_at = excluded.tripped_at, released_at = excluded.released_at`),
				accountID, string(window), tripped, released)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: set guard: %w", err)
		}
		return nil
	})
}

// addRow adds one journal row (a recipient, or a mark: final, a notice) to
// d, and reports whether it was one of those (an unknown mark, from a
// later release, is left out).
func addRow(d *account.Delivery, v string, mark int) bool {
	switch {
	case mark == 0:
		d.Rcpts = append(d.Rcpts, v)
	case v == markFinal:
		d.Final = true
	case strings.HasPrefix(v, markNotice):
		d.Notices = append(d.Notices, account.Notice(strings.TrimPrefix(v, markNotice)))
	default:
		return false
	}
	return true
}
