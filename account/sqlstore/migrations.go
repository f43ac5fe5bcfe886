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

// Migration 4 adds check_history: one row per check of an account (the
// [account.CheckRecord] as JSON in data), the newest
// [account.HistoryLimit] per account kept.
func init() {
	SQLite.migrations = append(SQLite.migrations, migration{4, []string{
		`CREATE TABLE check_history (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			account_id TEXT NOT NULL,
			started_at INTEGER NOT NULL,
			data TEXT NOT NULL
		)`,
		`CREATE INDEX check_history_account ON check_history (account_id, started_at, id)`,
	}})
	PostgreSQL.migrations = append(PostgreSQL.migrations, migration{4, []string{
		`CREATE TABLE check_history (
			id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			account_id TEXT NOT NULL,
			started_at BIGINT NOT NULL,
			data JSONB NOT NULL
		)`,
		`CREATE INDEX check_history_account ON check_history (account_id, started_at, id)`,
	}})
}
