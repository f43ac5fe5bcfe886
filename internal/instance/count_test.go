package instance_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/multidrop/multidrop/internal/instance"
)

type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

func TestCountingConnector(t *testing.T) {
	raw, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	require.NoError(t, err)
	defer raw.Close()
	var n instance.Counts
	db := sql.OpenDB(&instance.CountingConnector{Connector: dsnConnector{raw.Driver(), filepath.Join(t.TempDir(), "y.db")}, Counts: &n})
	defer db.Close()
	ctx := t.Context()
	_, err = db.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`)
	require.NoError(t, err)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO t VALUES (?)`, int64(1))
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	var v int64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT v FROM t`).Scan(&v))
	assert.Equal(t, int64(1), v)
	assert.Equal(t, int64(3), n.Queries.Load())
	assert.Equal(t, int64(1), n.Txs.Load())
	assert.Equal(t, int64(5), n.Statements())
}
