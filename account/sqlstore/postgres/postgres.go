// Package postgres opens an [sqlstore.Store] on a PostgreSQL database
// through jackc/pgx and its database/sql adapter, for several multidrop
// instances that share one set of accounts. Importing it registers pgx's
// "pgx" driver with database/sql.
//
// The store's tables live in the schema of the connection's search_path;
// give each multidrop installation its own database or schema. Journal
// writes are durable when they return with PostgreSQL's default
// synchronous_commit=on; do not turn it off for this database.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/multidrop/multidrop/account/sqlstore"
)

// Open connects to the PostgreSQL database named by dsn (a URL such as
// postgres://user:pass@host:5432/db or a key=value connection string),
// applies the migrations and returns the store. Close the store to close
// the connection pool.
func Open(ctx context.Context, dsn string, opts *sqlstore.Options) (*sqlstore.Store, error) {
	if dsn == "" {
		return nil, errors.New("postgres: empty connection string")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// Keep the connections of a check's concurrent journal reads (each is
	// a server process to start again); close them after a quiet spell.
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	s, err := sqlstore.Open(ctx, db, sqlstore.PostgreSQL, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}
