package sqlstore

// The migrations of account versions, check history and kept journals
// (Open applies migrations in version order, whatever file declares them).
//
// Migration 3 adds accounts.version, the version of [account.Account]
// that Create, Update and Put maintain (0 for accounts written before it,
// which an Update with Version 0 then finds).
func init() {
	SQLite.migrations = append(SQLite.migrations, migration{3, []string{
		`ALTER TABLE accounts ADD COLUMN version INTEGER NOT NULL DEFAULT 0`,
	}})
	PostgreSQL.migrations = append(PostgreSQL.migrations, migration{3, []string{
		`ALTER TABLE accounts ADD COLUMN version BIGINT NOT NULL DEFAULT 0`,
	}})
}
