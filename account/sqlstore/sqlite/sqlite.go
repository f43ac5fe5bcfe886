// Package sqlite opens an [sqlstore.Store] on an SQLite database file
// through the pure-Go driver modernc.org/sqlite, the embedded default of
// multidrop. Importing it registers that driver under the name "sqlite";
// nothing else in multidrop imports a database driver.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: every committed
// transaction is fsynced to the write-ahead log before the commit returns,
// which is what the [account.Journal] contract ("durable when it returns")
// needs before a message is deleted on the server. synchronous=NORMAL with
// WAL would keep the database consistent but could lose the last
// transactions on a power failure, and with them the record of a delivery
// whose message is already deleted, which means a duplicate delivery. The
// cost is one fsync of the log per journal write; checkpoints run in the
// background of later commits.
//
// Writers wait for each other up to a busy timeout (10 s) instead of
// failing, transactions take the write lock when they begin
// (_txlock=immediate) so that read-then-write transactions of several
// processes cannot deadlock, and foreign keys are enforced. The database
// file is created with mode 0600: it holds account passwords.
//
// The pool holds at most eight connections and keeps them while they are
// used, closing them after five idle minutes: a check reads the journal
// from several goroutines at once, and a new connection costs the parsing
// of the schema and the preparing of the statements again. Beyond eight,
// journal writes and lease renewals of concurrent checks wait for a free
// connection, as they would wait for SQLite's write lock anyway.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore"
)

// DSN returns the data source name that [Open] uses for the database file
// at path, for callers that open the *sql.DB themselves.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating it if needed, with mode 0600) the SQLite database at
// path, applies the migrations and returns the store. Close the store to
// close the database.
func Open(ctx context.Context, path string, opts *sqlstore.Options) (*sqlstore.Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	_ = f.Close()
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Writers take turns on the file anyway; eight connections serve a
	// check's concurrent reads and are kept (each has its schema parsed,
	// its statements prepared) until a quiet spell.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.SQLite, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

var _ account.MutableStore = (*sqlstore.Store)(nil)
