package sqlstore

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRebind(t *testing.T) {
	q := `SELECT a FROM t WHERE x = ? AND y IN (?, ?)`
	assert.Equal(t, q, SQLite.rebind(q))
	assert.Equal(t, `SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)`, PostgreSQL.rebind(q))
}

func TestDialectsAgree(t *testing.T) {
	assert.Equal(t, SQLite.SchemaVersion(), PostgreSQL.SchemaVersion())
	for i, m := range SQLite.migrations {
		assert.Equal(t, m.version, PostgreSQL.migrations[i].version)
		assert.Len(t, PostgreSQL.migrations[i].statements, len(m.statements), "migration %d", m.version)
	}
}

func TestTuples(t *testing.T) {
	assert.Equal(t, "?", tuples(1, 1))
	assert.Equal(t, "?, ?, ?", tuples(3, 1))
	assert.Equal(t, "(?, ?), (?, ?)", tuples(2, 2))
	var got [][]any
	args := make([]any, 3*(batchRows+1))
	err := batches(args, 3, func(a []any, n int) error {
		assert.Len(t, a, 3*n)
		got = append(got, a)
		return nil
	})
	assert.NoError(t, err)
	assert.Len(t, got, 2)
	assert.Len(t, got[1], 3)
}
