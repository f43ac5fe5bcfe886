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
// failing (Open, too, tries again for 10 s a new database that another
// process is turning to WAL mode at the same moment), transactions take
// the write lock when they begin (_txlock=immediate) so that
// read-then-write transactions of several processes cannot deadlock, and
// foreign keys are enforced. The database
// file is created with mode 0600: it holds account passwords.
//
// The pool holds at most eight connections and keeps them while they are
// used, closing them after five idle minutes: a check reads the journal
// from several goroutines at once, and a new connection costs the parsing
// of the schema and the preparing of the statements again. Beyond eight,
// journal writes and lease renewals of concurrent checks wait for a free
// connection, as they would wait for SQLite's write lock anyway. Each
// connection caches at most 256 KiB of database pages (cache_size(-256);
// SQLite's default is 2 MiB): the pages a check reads again (the index of
// the journal's keys) fit, and a journal grown to megabytes no longer
// fills a cache per connection (in scripts/bench-pipeline's daemon run,
// about 1 MiB of peak RSS less at the same CPU time).
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
	q.Add("_pragma", "cache_size(-256)")
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
	if err := ping(ctx, db); err != nil {
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

// openBusyFor bounds how long Open tries again a database that is busy.
const openBusyFor = 10 * time.Second

// ping opens a first connection. Its pragmas turn a new database to WAL
// mode, which takes the file's exclusive lock: when another process (or
// Store) opening the same new file holds a lock that waiting cannot
// release, SQLite answers SQLITE_BUSY at once instead of waiting out the
// busy timeout, so ping tries again, a few milliseconds later, for up to
// openBusyFor.
func ping(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(openBusyFor)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := db.PingContext(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (or an extended code
// of it).
func isBusy(err error) bool {
	var se interface{ Code() int }
	return errors.As(err, &se) && se.Code()&0xff == 5
}
