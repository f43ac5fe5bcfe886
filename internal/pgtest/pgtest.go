// Package pgtest gives tests a private PostgreSQL schema on the server that
// scripts/test starts. It reads the server's DSN from MULTIDROP_PG_DSN (a
// URL); without it the tests that need PostgreSQL skip with one line saying
// why, and fail when CI=true.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvDSN names the variable that holds the server's DSN.
const EnvDSN = "MULTIDROP_PG_DSN"

// DSN returns the server's DSN, or skips the test (fails it under CI=true)
// when there is none.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvDSN + " is not set, and CI=true: the PostgreSQL tests must run (scripts/test starts a server)")
		}
		t.Skip(EnvDSN + " is not set: PostgreSQL tests skipped")
	}
	return dsn
}

// Schema creates a fresh schema named prefix_<random> and returns a DSN
// whose search_path is that schema, so each test has its own tables. The
// schema is dropped when the test ends.
func Schema(t testing.TB, prefix string) string {
	t.Helper()
	base := DSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := prefix + "_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("pgtest: creating schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s must be a URL: %v", EnvDSN, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
