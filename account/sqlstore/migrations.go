package sqlstore

// The migrations of account versions, check history and kept journals;
// the dialects list them in dialect.go.

// accountVersion is migration 4: accounts.version, the version of
// [account.Account] that Create, Update and Put maintain (0 for accounts
// written before it, which an Update with Version 0 then finds).
func accountVersion(integer string) []string {
	return []string{`ALTER TABLE accounts ADD COLUMN version ` + integer + ` NOT NULL DEFAULT 0`}
}

// checkHistory is migration 5: check_history, one row per check of an
// account (the [account.CheckRecord] as JSON in data), the newest
// [account.HistoryLimit] per account kept.
func checkHistory(d string) []string {
	id, integer, data := `INTEGER PRIMARY KEY AUTOINCREMENT`, `INTEGER`, `TEXT`
	if d == "postgres" {
		id, integer, data = `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`, `BIGINT`, `JSONB`
	}
	return []string{
		`CREATE TABLE check_history (
			id ` + id + `,
			account_id TEXT NOT NULL,
			started_at ` + integer + ` NOT NULL,
			data ` + data + ` NOT NULL
		)`,
		`CREATE INDEX check_history_account ON check_history (account_id, started_at, id)`,
	}
}

// deletedAccounts is migration 6: deleted_accounts, the host, user and
// time of deletion of each account deleted within the journal retention
// period, whose journal and check history are kept until it ends (see
// [Store.Delete]).
func deletedAccounts(integer string) []string {
	return []string{
		`CREATE TABLE deleted_accounts (
			account_id TEXT PRIMARY KEY,
			host TEXT NOT NULL,
			auth_user TEXT NOT NULL,
			deleted_at ` + integer + ` NOT NULL
		)`,
		`CREATE INDEX deleted_accounts_at ON deleted_accounts (deleted_at)`,
	}
}

// journalGuard is migration 7: journal_guard, one row per account with a
// deletion guard state ([account.Guard]): the window of recently examined
// messages as a JSON array of {"key", "no_recipient"} (window_json), when
// the guard tripped (tripped_at, Unix nanoseconds; 0 while it does not
// hold the account) and when the administrator released it (released_at;
// 0 unless a release awaits the next check).
func journalGuard(integer string) []string {
	return []string{
		`CREATE TABLE journal_guard (
			account_id TEXT PRIMARY KEY,
			window_json TEXT NOT NULL,
			tripped_at ` + integer + ` NOT NULL,
			released_at ` + integer + ` NOT NULL
		)`,
	}
}
