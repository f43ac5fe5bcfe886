// Package account holds the description of a remote POP mailbox
// ([Account]) and the roles through which the pipeline reads accounts and
// keeps its per-account state: [Store] and [MutableStore] (the
// AccountStore), [Journal] and [Locker]. It imports no database driver;
// the JSON file store is in package account/jsonstore and the database/sql
// store in account/sqlstore. Package account/accounttest has the
// conformance suites every implementation passes.
//
// # Accounts
//
// An [Account] is plain data: it can be copied ([Account.Clone] copies its
// slices and maps too), compared and encoded as JSON. [Account.Validate]
// reports every problem at once as [ValidationErrors], each a
// [*ValidationError] naming the field by its Go path ("Port",
// "Resolving.Rules[0].Pattern") and the reason: an empty or invalid host, a
// port out of range, a domain that is not a valid name under strict IDNA
// (RFC 5891, UTS #46), an unknown mode or mechanism, options that
// contradict each other, and CR, LF or NUL in any string (PEM fields may
// hold line breaks), because account fields end up in POP3 commands
// (RFC 1939) and log lines.
//
// Secrets (Auth.Secret, TLS.ClientKey, the password in Proxy's URL) never
// appear when an account is formatted with the fmt package or logged with
// log/slog, and [Account.Redacted] returns a copy with all of them
// replaced, fit for an admin page or an API response.
//
// # Stores
//
// A [Store] serves Get and List; List with a [Filter] by domain is the
// "for domain" view and matches Domain and ExtraDomains after
// [NormalizeDomain], so case and the Unicode or Punycode spelling of an
// internationalised name do not matter. Lists are sorted by ID. Put
// validates, assigns an ID from [NewID] when the account has none, and
// replaces an account with the same ID (for imports). Admin edits use
// Create, which fails with [ErrExists] when the ID is taken, and Update, a
// compare-and-swap on [Account.Version] (set by the store: 1 on create, one
// more on each write) that fails with [ErrConflict] on a stale version and
// with [ErrNotFound] once the account is deleted, so an edit never brings a
// deleted account back. [MemoryStore] keeps accounts in memory and hands
// out copies.
//
// # History
//
// A [History] keeps a [CheckRecord] of each of the last [HistoryLimit]
// checks of an account (counts, error, state and the outcome of each
// message) for the admin pages; [MemoryHistory] is the in-memory one.
//
// # Journal
//
// The [Journal] is what makes a check safe to repeat: the UIDs listed by the
// server with the time each was first seen (for leave-on-server and
// delete-after-N-days), the state of each message key (the UID, or a digest
// when the server has no UIDL) recorded before DELE — a [Delivery]: its
// recipients, its final mark and the postmaster [Notice]s sent — and the
// recipients delivered per Message-ID for a retention period, so that the
// copies of one message a provider drops once per envelope recipient are
// delivered once per recipient. It also keeps each account's [Guard], the
// deletion guard's memory: the last examined messages and whether the guard
// holds the account. Sync prunes the records of UIDs that left the server. Every write is durable when it returns (in the persistent
// implementations); an error means the state is unknown and the caller must
// not delete anything on the server. [MemoryJournal] is the in-memory
// implementation; [JournalState] is its per-account state as plain data.
//
// Three optional interfaces make a check of many messages cheaper where a
// journal access is a transaction: a [BatchRecorder] writes the records of
// several deliveries in one durable write, a [BatchReader] reads the states
// of every listed UID at once instead of one Delivered per message, and
// an [IDLister] lists the account's Message-IDs, which a check reads once
// instead of asking DeliveredID about each message. [RecordAll] and
// [DeliveredAll] use the first two where a journal has them and the
// Journal's own methods otherwise. The three implementations have all
// three.
//
// # Leases
//
// A [Locker] hands out exclusive, expiring leases so that one mailbox is
// checked by one session at a time. Each lease carries a fencing token that
// grows with every lease of the account. A [Fencer] (a journal that
// supports it) binds journal writes to a lease: once the lease has expired
// or was taken over, writes fail with [ErrLeaseLost], so an instance that
// resumes after a long pause cannot record or prune anything on behalf of
// the newer holder. [MemoryLocker] works within one process; the sqlstore
// locker works across processes and machines.
//
// Acquire refused because another owner holds a live lease returns a
// [*LeaseHeldError] naming the holder and the expiry. An owner made by
// [ProcessOwner] names its host and process: when such a lease's holder is
// a process of this host that is gone ([OwnerGone]), the lockers of this
// module take it over at once instead of waiting for it to expire, so a
// daemon restarted after a crash resumes its accounts immediately. A live
// process is never reported gone, so two live processes never hold one
// lease; leases of other hosts are taken over only once they expire.
package account
