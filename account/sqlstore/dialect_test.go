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
