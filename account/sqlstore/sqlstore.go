package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/multidrop/multidrop/account"
)

// Options configure a [Store]. The zero value (or nil) is the default.
type Options struct {
	// Now, when set, is the clock of lease expiry and Message-ID expiry
	// (for tests). nil means the database server's clock, which all
	// instances sharing the database agree on whatever their own clocks
	// say.
	Now func() time.Time
}

// Store is an [account.MutableStore], [account.Journal], [account.Locker]
// and [account.Fencer] over one database. It is safe for concurrent use
// by many goroutines and by many processes sharing the database.
type Store struct {
	db *sql.DB
	d  *Dialect
	o  Options

	stmts sync.Map // query → *sql.Stmt, the journal's frequent statements
}

var (
	_ account.MutableStore = (*Store)(nil)
	_ account.Journal      = (*Store)(nil)
	_ account.Locker       = (*Store)(nil)
	_ account.Fencer       = (*Store)(nil)
)

// Open applies the pending migrations of d to db and returns a Store over
// it. Open takes ownership of db: [Store.Close] closes it.
func Open(ctx context.Context, db *sql.DB, d *Dialect, opts *Options) (*Store, error) {
	if db == nil || d == nil {
		return nil, errors.New("sqlstore: Open needs a database and a dialect")
	}
	s := &Store{db: db, d: d}
	if opts != nil {
		s.o = *opts
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// DB returns the database handle, for health checks and statistics.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool {
		_ = st.(*sql.Stmt).Close()
		return true
	})
	return s.db.Close()
}

// prepared returns the prepared statement of query, in the dialect's
// syntax, made once and kept until Close: a statement run for every message
// is parsed once, not each time. Never call it inside a transaction: it may
// need a connection of its own, and with a one-connection pool it would
// wait for the transaction's; use inTx there.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	query = s.q(query)
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if old, loaded := s.stmts.LoadOrStore(query, st); loaded {
		_ = st.Close()
		return old.(*sql.Stmt), nil
	}
	return st, nil
}

// nowArg is the argument of Dialect.now: Options.Now in Unix nanoseconds,
// or nil for the database's clock.
func (s *Store) nowArg() any {
	if s.o.Now != nil {
		return s.o.Now().UnixNano()
	}
	return nil
}

func (s *Store) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	return time.Now()
}

// A MigrationError reports a migration that failed; nothing of it was
// applied.
type MigrationError struct {
	Version int
	Err     error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("sqlstore: migration %d: %v", e.Version, e.Err)
}

func (e *MigrationError) Unwrap() error { return e.Err }

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer version of this package.
var ErrSchemaTooNew = errors.New("sqlstore: database schema is newer than this program")

// SchemaVersion is the schema version this package migrates to.
func (d *Dialect) SchemaVersion() int {
	v := 0
	for _, m := range d.migrations {
		v = max(v, m.version)
	}
	return v
}

// sortedMigrations returns the migrations in version order (they are
// declared in several files).
func (d *Dialect) sortedMigrations() []migration {
	return slices.SortedFunc(slices.Values(d.migrations), func(a, b migration) int { return a.version - b.version })
}

func (s *Store) migrate(ctx context.Context) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: creating schema_migrations: %w", err)
	}
	for _, m := range s.d.sortedMigrations() {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	var max sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&max); err != nil {
		return fmt.Errorf("sqlstore: reading schema version: %w", err)
	}
	if int(max.Int64) > s.d.SchemaVersion() {
		return fmt.Errorf("%w (database %d, program %d)", ErrSchemaTooNew, max.Int64, s.d.SchemaVersion())
	}
	return nil
}

// apply runs one migration in its own transaction, unless it was applied
// already; concurrent Opens serialise on the transaction's lock.
func (s *Store) apply(ctx context.Context, m migration) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return &MigrationError{m.version, err}
		}
		var n int
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n)
		if err != nil {
			return &MigrationError{m.version, err}
		}
		if n > 0 {
			return nil
		}
		for _, stmt := range m.statements {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return &MigrationError{m.version, err}
			}
		}
		_, err = tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
			m.version, s.now().UnixNano())
		if err != nil {
			return &MigrationError{m.version, err}
		}
		return nil
	})
}

// lockMigrations serialises the migration transactions of concurrent
// Opens where the transaction itself does not (PostgreSQL).
func (s *Store) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if s.d.lockMigrations == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.d.lockMigrations)
	return err
}

// tx runs f in a transaction and commits it when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	return nil
}

func (s *Store) q(query string) string { return s.d.rebind(query) }

// A CorruptError reports an account row whose data does not decode.
type CorruptError struct {
	ID  string
	Err error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("sqlstore: account %q: corrupt data: %v", e.ID, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Get implements [account.Store].
func (s *Store) Get(ctx context.Context, id string) (account.Account, error) {
	var data string
	var version int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT data, version FROM accounts WHERE id = ?`), id).Scan(&data, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return account.Account{}, fmt.Errorf("%w: %q", account.ErrNotFound, id)
	}
	if err != nil {
		return account.Account{}, fmt.Errorf("sqlstore: get %q: %w", id, err)
	}
	return decode(id, data, version)
}

func decode(id, data string, version int64) (account.Account, error) {
	var a account.Account
	if err := json.Unmarshal([]byte(data), &a); err != nil {
		return account.Account{}, &CorruptError{ID: id, Err: err}
	}
	a.ID = id
	a.Version = version
	return a, nil
}

// List implements [account.Store]. Accounts are sorted by ID (byte order,
// whatever the database's collation).
func (s *Store) List(ctx context.Context, f account.Filter) ([]account.Account, error) {
	query := `SELECT id, data, version FROM accounts`
	var args []any
	if f.Domain != "" {
		d, err := account.NormalizeDomain(f.Domain)
		if err != nil {
			return []account.Account{}, nil // no account has an invalid domain
		}
		query += ` WHERE id IN (SELECT account_id FROM account_domains WHERE domain = ?)`
		args = append(args, d)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	defer rows.Close()
	out := []account.Account{}
	for rows.Next() {
		var id, data string
		var version int64
		if err := rows.Scan(&id, &data, &version); err != nil {
			return nil, fmt.Errorf("sqlstore: list: %w", err)
		}
		a, err := decode(id, data, version)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list: %w", err)
	}
	slices.SortFunc(out, func(a, b account.Account) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Put implements [account.MutableStore]. The list columns and the domain
// index are written in the same transaction as the account.
func (s *Store) Put(ctx context.Context, a account.Account) (account.Account, error) {
	return s.write(ctx, a, writePut)
}

// Create implements [account.MutableStore]: an INSERT that does nothing
// when the ID is taken, so that of concurrent Creates exactly one inserts.
func (s *Store) Create(ctx context.Context, a account.Account) (account.Account, error) {
	return s.write(ctx, a, writeCreate)
}

// Update implements [account.MutableStore]: an UPDATE conditional on the
// stored version, so that it neither overwrites a newer version nor
// brings back a deleted account.
func (s *Store) Update(ctx context.Context, a account.Account) (account.Account, error) {
	return s.write(ctx, a, writeUpdate)
}

type writeMode int

const (
	writePut writeMode = iota
	writeCreate
	writeUpdate
)

func (s *Store) write(ctx context.Context, a account.Account, mode writeMode) (account.Account, error) {
	if err := a.Validate(); err != nil {
		return account.Account{}, err
	}
	a = a.Clone()
	if a.ID == "" && mode != writeUpdate {
		a.ID = account.NewID()
	}
	expect := a.Version
	a.Version = 0 // the version column is authoritative; data leaves it out
	data, err := json.Marshal(a)
	if err != nil {
		return account.Account{}, fmt.Errorf("sqlstore: encoding account %q: %w", a.ID, err)
	}
	domain, _ := account.NormalizeDomain(a.Domain) // valid after Validate
	args := []any{a.ID, a.Enabled, a.Description, a.Host, a.Port, domain, string(data), s.now().UnixNano()}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		switch mode {
		case writePut:
			err := tx.QueryRowContext(ctx, s.q(`INSERT INTO accounts (id, enabled, description, host, port, domain, data, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)
			ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, description = excluded.description,
				host = excluded.host, port = excluded.port, domain = excluded.domain, data = excluded.data,
				updated_at = excluded.updated_at, version = accounts.version + 1
			RETURNING version`), args...).Scan(&a.Version)
			if err != nil {
				return fmt.Errorf("sqlstore: put %q: %w", a.ID, err)
			}
		case writeCreate:
			res, err := tx.ExecContext(ctx, s.q(`INSERT INTO accounts (id, enabled, description, host, port, domain, data, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO NOTHING`), args...)
			if err != nil {
				return fmt.Errorf("sqlstore: create %q: %w", a.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("sqlstore: create %q: %w", a.ID, err)
			} else if n == 0 {
				return fmt.Errorf("%w: %q", account.ErrExists, a.ID)
			}
			a.Version = 1
		case writeUpdate:
			res, err := tx.ExecContext(ctx, s.q(`UPDATE accounts SET enabled = ?, description = ?, host = ?, port = ?,
				domain = ?, data = ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ?`),
				append(args[1:], a.ID, expect)...)
			if err != nil {
				return fmt.Errorf("sqlstore: update %q: %w", a.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("sqlstore: update %q: %w", a.ID, err)
			} else if n == 0 {
				var cur int64
				err := tx.QueryRowContext(ctx, s.q(`SELECT version FROM accounts WHERE id = ?`), a.ID).Scan(&cur)
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("%w: %q", account.ErrNotFound, a.ID)
				}
				if err != nil {
					return fmt.Errorf("sqlstore: update %q: %w", a.ID, err)
				}
				return fmt.Errorf("%w: account %q is at version %d, not %d", account.ErrConflict, a.ID, cur, expect)
			}
			a.Version = expect + 1
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM account_domains WHERE account_id = ?`), a.ID); err != nil {
			return fmt.Errorf("sqlstore: put %q: %w", a.ID, err)
		}
		for _, d := range a.Domains() {
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO account_domains (account_id, domain) VALUES (?, ?)`), a.ID, d)
			if err != nil {
				return fmt.Errorf("sqlstore: put %q: %w", a.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return account.Account{}, err
	}
	return a.Clone(), nil
}

// Delete implements [account.MutableStore]. The journal of each deleted
// account goes with it; its lease row stays, so that the fencing tokens of
// a re-created account with the same ID keep growing.
func (s *Store) Delete(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			// The account row first, as writes lock it before its
			// domains: the other order deadlocks with a racing Update.
			for _, q := range []string{
				`DELETE FROM accounts WHERE id = ?`,
				`DELETE FROM account_domains WHERE account_id = ?`,
				`DELETE FROM journal_seen WHERE account_id = ?`,
				`DELETE FROM journal_deliveries WHERE account_id = ?`,
				`DELETE FROM journal_message_ids WHERE account_id = ?`,
			} {
				if _, err := tx.ExecContext(ctx, s.q(q), id); err != nil {
					return fmt.Errorf("sqlstore: delete %q: %w", id, err)
				}
			}
		}
		return nil
	})
}

// inTx returns query's prepared statement for tx when it was prepared
// before, else nil: run the query unprepared then.
func (s *Store) inTx(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	st, ok := s.stmts.Load(s.q(query))
	if !ok {
		return nil
	}
	return tx.StmtContext(ctx, st.(*sql.Stmt))
}
