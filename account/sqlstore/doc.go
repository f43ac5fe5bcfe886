// Package sqlstore keeps accounts, their journal and their leases in an SQL
// database through database/sql: one [Store] is an [account.MutableStore],
// an [account.Journal], an [account.Locker] and an [account.Fencer].
// SQLite is the embedded default (package account/sqlstore/sqlite, pure Go);
// PostgreSQL lets several instances share one set of accounts (package
// account/sqlstore/postgres). This package imports no driver: the
// subpackages do, and [Open] accepts any *sql.DB with its [Dialect].
//
// # Schema and migrations
//
// The schema is created and upgraded by [Open] from migrations compiled
// into the program, one transaction per migration, recorded in the table
// schema_migrations (version, applied_at). Several processes may Open the
// same database at once: the migration transactions serialise (SQLite's
// immediate transactions, a transaction-scoped advisory lock on
// PostgreSQL) and each migration
// is applied once. A database migrated by a newer program is refused with
// [ErrSchemaTooNew].
//
// Accounts are rows of the table accounts: the columns id, enabled,
// description, host, port and domain (normalised) serve list views and
// other tools, and data holds the whole [account.Account] as JSON (JSONB
// on PostgreSQL), credentials included: protect the database like a
// password file. The table account_domains indexes every domain of an
// account (Domain and ExtraDomains, normalised with
// [account.NormalizeDomain]) for List with a domain [account.Filter].
// Times are stored as Unix nanoseconds in 64-bit integers on every engine.
//
// The column version (migration 3) holds [account.Account.Version]; data
// leaves it out. Create is an INSERT ... ON CONFLICT DO NOTHING and Update
// an UPDATE ... WHERE id = ? AND version = ?, each in one transaction with
// the domain index, so that concurrent Creates of one ID store exactly one
// account and an Update neither overwrites a newer version nor brings back
// a deleted account. Writes lock the account row before its domain rows,
// Delete too, so that they cannot deadlock on PostgreSQL.
//
// The table check_history (migration 4) is the [account.History]: one row
// per check (account_id, started_at, the [account.CheckRecord] as JSON in
// data); AddCheck deletes, in its transaction, the account's rows beyond
// the newest [account.HistoryLimit].
//
// Deleting an account keeps its journal and check history for
// Options.JournalRetention (default [account.DefaultJournalRetention]),
// with its host, user and deletion time in the table deleted_accounts
// (migration 5): an account created again with the same ID, host and user
// within that period finds them; another mailbox under the ID, or a later
// one, starts afresh. Each Delete drops the state of accounts deleted
// longer ago.
//
// # Journal
//
// journal_seen holds the listed UIDs with their first-seen time,
// journal_deliveries one row per (account, message key, recipient),
// journal_marks one row per (account, message key, mark), the mark being
// "final" or "notice:" and the [account.Notice] (migration 3 moved them
// there from the marker recipients of release 1's journal_deliveries), and
// journal_message_ids one row per (account, Message-ID, recipient) with
// its expiry, and journal_guard (migration 7) one row per account with a
// deletion guard state ([account.Guard]: the window as JSON text, the
// tripped and released times). Each Journal write is one transaction ([Store.RecordBatch]
// writes all its records in one, with multi-row inserts; Forget deletes
// the rows of up to 500 keys per statement); it is durable when it
// returns as far as the engine's commit is (see package sqlite for its
// settings; PostgreSQL with its default synchronous_commit=on).
// [Store.DeliveredBatch] reads the states of up to 500 keys per query, so
// that a check reads those of a whole listing in a few queries instead of
// one read transaction per message.
//
// # Leases and fencing
//
// The table leases has one row per account that was ever leased:
// account_id, owner, expires_at and token. [Store.Acquire] is a single
// INSERT ... ON CONFLICT DO UPDATE ... WHERE the row has expired or
// belongs to the same owner, incrementing token, RETURNING token: atomic
// on both engines without explicit locks, and a row that stays after
// Release keeps tokens growing forever for that account. A row-per-account
// lease was chosen over PostgreSQL advisory locks because an advisory lock
// lives and dies with one connection (a pooled *sql.DB does not pin one),
// has no expiry and no token to fence with. A live lease of another owner
// fails Acquire with an [*account.LeaseHeldError] (holder and expiry),
// unless [account.OwnerGone] reports its owner a crashed process of this
// host: then a second UPDATE takes it over at once, on condition that the
// row still has the owner and token read.
//
// [Store.Fenced] returns a Journal bound to a lease. Each of its writes
// (Sync, Record, RecordBatch, Forget) first reads the account's lease row in
// the same transaction (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
// immediate transaction holds the database write lock) and refuses with
// [account.ErrLeaseLost] unless owner and token still match and the lease
// has not expired. A takeover must update that row, so it is ordered
// before or after the whole write, never inside it: an instance that
// resumes after its lease expired (a long pause, a stopped process) can no
// longer record deliveries or prune state for the account. A check renews
// its lease ([account.Lease.Renew]) right before DELE, so that it does not
// delete after losing it.
//
// Lease expiry is computed and compared by the database on its own clock
// (unless [Options.Now] is set, as tests do), so the clocks of the
// instances do not matter: an instance whose clock is skewed neither takes
// a live lease nor keeps an expired one. What an instance measures itself
// is only the time until it must renew.
//
// # Shared schedule
//
// A Store is also an [account.Scheduler], for instances that share the
// accounts (package schedule's RunShared). Migration 2 adds to accounts
// the columns next_check_at (when the account is due, on the store's clock;
// 0 for a new account: due at once), check_failures (for backoff),
// paused_version (the updated_at at which an authentication failure paused
// the account: a Put changes updated_at and lifts the pause) and
// check_requested, with an index on (next_check_at, id).
//
// [Store.Claim] first reads whether anything is due at all (most polls
// stop there, without a transaction or a lock). Then, in one transaction,
// it selects the due, enabled, unpaused accounts without a live lease,
// most overdue first, with FOR UPDATE SKIP LOCKED on PostgreSQL (so
// concurrent Claims of several instances take disjoint rows instead of
// waiting for each other; SQLite's immediate transaction serialises them),
// and leases them all with one INSERT ... ON CONFLICT DO UPDATE that only
// takes over expired leases. [Store.Done] writes the next due time, the
// failure count and the pause, on condition that the lease is still
// current, and releases the lease, in one transaction that locks the
// account row before the lease row, as Claim does. An instance that dies
// leaves its accounts due and leased: they are claimed again once the
// leases expire, or at once by an instance of the same host that calls
// [Store.ReleaseGone] when it starts (owners made by
// [account.ProcessOwner]).
//
// [Store.RequestCheck] ("Check Now" from any instance or an admin page)
// sets next_check_at to the present and lifts a pause; when the account is
// being checked at that moment, check_requested makes Done leave it due
// at once. Every instance sees the request at its next poll (by default
// within a second). A due-time column polled by the instances was chosen
// over LISTEN/NOTIFY: it works the same on SQLite, a request is never
// lost (a notification is lost when no instance listens at that moment,
// and must be followed by the same due-time read anyway), it needs no
// dedicated connection per instance outside the pool, and the poll is one
// indexed read. The latency of a poll is what a POP check tolerates.
//
// Due times, like lease expiry, are computed on the database's clock, so
// instances with skewed clocks neither check early nor late.
package sqlstore
