package sqlstore

import (
	"strconv"
	"strings"
)

// A Dialect is what differs between database engines: placeholders, column
// types, the migrations and row locking. Use [SQLite] or [PostgreSQL].
type Dialect struct {
	name string
	// dollar placeholders ($1, $2, ...) instead of ?.
	dollar bool
	// lockLease is appended to the SELECT of the lease row in a fenced
	// write; it keeps the row from changing until the transaction ends.
	lockLease string
	// clock is an SQL expression for the database's current time in Unix
	// nanoseconds.
	clock string
	// lockMigrations runs first in each migration transaction.
	lockMigrations string
	migrations     []migration
}

// Name returns "sqlite" or "postgres".
func (d *Dialect) Name() string { return d.name }

// journalMarks is migration 3: a message key's final mark and notices move
// from marker rows of journal_deliveries (recipient "" for the final mark,
// "!oversize-notice" and "!foreign-notice") to journal_marks, where mark is
// "final" or "notice:" followed by the notice.
func journalMarks(integer string) []string {
	markers := `('', '!oversize-notice', '!foreign-notice')`
	return []string{
		`CREATE TABLE journal_marks (
			account_id TEXT NOT NULL,
			msg_key TEXT NOT NULL,
			mark TEXT NOT NULL,
			marked_at ` + integer + ` NOT NULL,
			PRIMARY KEY (account_id, msg_key, mark)
		)`,
		`INSERT INTO journal_marks (account_id, msg_key, mark, marked_at)
			SELECT account_id, msg_key, CASE rcpt WHEN '' THEN 'final'
				WHEN '!oversize-notice' THEN 'notice:oversize' ELSE 'notice:foreign' END, delivered_at
			FROM journal_deliveries WHERE rcpt IN ` + markers,
		`DELETE FROM journal_deliveries WHERE rcpt IN ` + markers,
	}
}

// A migration is one schema version: the statements that upgrade the
// previous one. The dialects list them in order, and both list the same
// versions:
//
//   - 1 creates the accounts, the journal and the leases;
//   - 2 adds the shared schedule to the accounts table: next_check_at (Unix
//     nanoseconds on the store's clock; 0, the default, makes new accounts
//     due at once), check_failures (consecutive failed checks, for
//     backoff), paused_version (the account's updated_at when an
//     authentication failure paused it; NULL when not paused, and a Put,
//     which changes updated_at, lifts the pause) and check_requested (a
//     "Check Now" that arrived while the account was leased);
//   - 3 moves final marks and notices to journal_marks ([journalMarks]);
//   - 4 adds accounts.version ([accountVersion]);
//   - 5 adds check_history ([checkHistory]);
//   - 6 adds deleted_accounts ([deletedAccounts]);
//   - 7 adds journal_guard ([journalGuard]).
type migration struct {
	version    int
	statements []string
}

// now returns an SQL expression for the current time in Unix nanoseconds
// that takes one argument, [Store.nowArg]: the time of Options.Now, or NULL
// for the database's clock.
func (d *Dialect) now() string {
	return "COALESCE(CAST(? AS BIGINT), " + d.clock + ")"
}

// rebind rewrites the ? placeholders of q for the dialect. Our queries
// contain no string literals with question marks.
func (d *Dialect) rebind(q string) string {
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SQLite is the dialect of SQLite 3.35 or later (for RETURNING), as served by
// modernc.org/sqlite through package account/sqlstore/sqlite. The
// connection must use immediate transactions (_txlock=immediate), so that a
// transaction that reads and then writes holds the write lock from its
// start; sqlite.DSN sets this.
var SQLite = &Dialect{
	name:  "sqlite",
	clock: `(CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER) * 1000000)`,
	migrations: []migration{{1, []string{
		`CREATE TABLE accounts (
			id TEXT PRIMARY KEY,
			enabled INTEGER NOT NULL,
			description TEXT NOT NULL,
			host TEXT NOT NULL,
			port INTEGER NOT NULL,
			domain TEXT NOT NULL,
			data TEXT NOT NULL,
			updated_at INTEGER NOT NULL
		)`,
		`CREATE TABLE account_domains (
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			domain TEXT NOT NULL,
			PRIMARY KEY (domain, account_id)
		)`,
		`CREATE INDEX account_domains_account ON account_domains (account_id)`,
		`CREATE TABLE journal_seen (
			account_id TEXT NOT NULL,
			uid TEXT NOT NULL,
			first_seen INTEGER NOT NULL,
			PRIMARY KEY (account_id, uid)
		)`,
		`CREATE TABLE journal_deliveries (
			account_id TEXT NOT NULL,
			msg_key TEXT NOT NULL,
			rcpt TEXT NOT NULL,
			delivered_at INTEGER NOT NULL,
			PRIMARY KEY (account_id, msg_key, rcpt)
		)`,
		`CREATE TABLE journal_message_ids (
			account_id TEXT NOT NULL,
			message_id TEXT NOT NULL,
			rcpt TEXT NOT NULL,
			expires_at INTEGER NOT NULL,
			PRIMARY KEY (account_id, message_id, rcpt)
		)`,
		`CREATE INDEX journal_message_ids_expiry ON journal_message_ids (account_id, expires_at)`,
		`CREATE TABLE leases (
			account_id TEXT PRIMARY KEY,
			owner TEXT NOT NULL,
			expires_at INTEGER NOT NULL,
			token INTEGER NOT NULL
		)`,
	}}, {2, []string{
		`ALTER TABLE accounts ADD COLUMN next_check_at INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN paused_version INTEGER`,
		`ALTER TABLE accounts ADD COLUMN check_requested INTEGER NOT NULL DEFAULT 0`,
		`CREATE INDEX accounts_due ON accounts (next_check_at, id)`,
	}}, {3, journalMarks("INTEGER")}, {4, accountVersion("INTEGER")}, {5, checkHistory("sqlite")}, {6, deletedAccounts("INTEGER")}, {7, journalGuard("INTEGER")}},
}

// PostgreSQL is the dialect of PostgreSQL 12 or later, as served by
// jackc/pgx through package account/sqlstore/postgres.
var PostgreSQL = &Dialect{
	name:      "postgres",
	dollar:    true,
	lockLease: " FOR UPDATE",
	clock:     `(CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT) * 1000)`,
	// A transaction-scoped advisory lock, because CREATE TABLE IF NOT
	// EXISTS races with itself on PostgreSQL. The key is arbitrary and
	// fixed: "multidro" read as a big-endian int64.
	lockMigrations: `SELECT pg_advisory_xact_lock(7887329569649488495)`,
	migrations: []migration{{1, []string{
		`CREATE TABLE accounts (
			id TEXT PRIMARY KEY,
			enabled BOOLEAN NOT NULL,
			description TEXT NOT NULL,
			host TEXT NOT NULL,
			port INTEGER NOT NULL,
			domain TEXT NOT NULL,
			data JSONB NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE TABLE account_domains (
			account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
			domain TEXT NOT NULL,
			PRIMARY KEY (domain, account_id)
		)`,
		`CREATE INDEX account_domains_account ON account_domains (account_id)`,
		`CREATE TABLE journal_seen (
			account_id TEXT NOT NULL,
			uid TEXT NOT NULL,
			first_seen BIGINT NOT NULL,
			PRIMARY KEY (account_id, uid)
		)`,
		`CREATE TABLE journal_deliveries (
			account_id TEXT NOT NULL,
			msg_key TEXT NOT NULL,
			rcpt TEXT NOT NULL,
			delivered_at BIGINT NOT NULL,
			PRIMARY KEY (account_id, msg_key, rcpt)
		)`,
		`CREATE TABLE journal_message_ids (
			account_id TEXT NOT NULL,
			message_id TEXT NOT NULL,
			rcpt TEXT NOT NULL,
			expires_at BIGINT NOT NULL,
			PRIMARY KEY (account_id, message_id, rcpt)
		)`,
		`CREATE INDEX journal_message_ids_expiry ON journal_message_ids (account_id, expires_at)`,
		`CREATE TABLE leases (
			account_id TEXT PRIMARY KEY,
			owner TEXT NOT NULL,
			expires_at BIGINT NOT NULL,
			token BIGINT NOT NULL
		)`,
	}}, {2, []string{
		`ALTER TABLE accounts ADD COLUMN next_check_at BIGINT NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE accounts ADD COLUMN paused_version BIGINT`,
		`ALTER TABLE accounts ADD COLUMN check_requested INTEGER NOT NULL DEFAULT 0`,
		`CREATE INDEX accounts_due ON accounts (next_check_at, id)`,
	}}, {3, journalMarks("BIGINT")}, {4, accountVersion("BIGINT")}, {5, checkHistory("postgres")}, {6, deletedAccounts("BIGINT")}, {7, journalGuard("BIGINT")}},
}
