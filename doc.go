// Package multidrop collects mail from remote POP3 "multidrop" mailboxes —
// one mailbox that receives everything for a whole domain — and
// redistributes it to that domain's users, as MDaemon's DomainPOP,
// SecurityGateway's Remote POP Accounts, fetchmail's multidrop mode and
// getmail's multidrop retrievers do.
//
// The SMTP envelope is lost in such a mailbox. For each message a [Pipeline]
// downloads it (package pop), recovers recipient candidates from its header
// with their provenance (package parse), keeps those that are valid users of
// the account's domains (package resolve), delivers to each of them as if
// the message had arrived by SMTP (package deliver), records every delivery
// in the account's journal (package account) and only then removes the
// message from the POP mailbox.
//
// # Roles
//
// A Pipeline composes four roles, each a small interface with default
// implementations that embedders may replace:
//
//   - [account.Store]: where the remote POP accounts come from
//     (memory, account/jsonstore, account/sqlstore).
//   - [pop.Fetcher]: how a mailbox is collected ([pop.Downloader]).
//   - [resolve.Resolver]: who the valid recipients are ([resolve.New] over a
//     [resolve.Directory]).
//   - [deliver.Deliverer]: how a message reaches them ([deliver.Maildir],
//     [deliver.LMTP], [deliver.SMTP], [deliver.Route]).
//
// Within a check, messages are examined (parsed and resolved) in the order
// of the session, and finished — delivered and recorded in the journal — by
// up to Options.DeliveryConcurrency goroutines while the next messages
// download; the journal records of messages that finish together share one
// commit (which waits up to a millisecond for the other messages being
// finished), and the DELE of every final message is sent after the last one.
// Copies of one message to one recipient are finished one after the other.
// Deliveries into files hold the Go runtime's Ps through fsyncs: on a
// machine with two or three cores, run with GOMAXPROCS of at least 4 (as
// examples/multidropd does) so that the download need not wait for one.
//
// [Pipeline.Check] is the "Check Now" of the products this replaces,
// [Pipeline.CheckAll] checks every enabled account, and [Pipeline.Run] checks
// each on its interval. Embedders with their own POP client use
// [Pipeline.Handler].
//
// # Guarantees
//
//   - No loss: a message is deleted on the server only after every valid
//     recipient has it durably (the Deliverer said Delivered) or failed
//     permanently (then the account's failed policy applies: drop that
//     recipient, or first deliver to the postmaster), or when it was cleanly
//     parsed, the directory answered and it has no valid recipient (then the
//     account's no-recipient policy applies, under a deletion guard). A
//     temporary failure, a parse limit, a directory error or an unreadable
//     journal keeps it; so does a loop, unless the loop policy quarantines
//     it (to the postmaster, then deleted).
//   - No duplicates: deliveries are recorded per (account, message key,
//     recipient) in the journal before the DELE is sent; the message key is
//     the UIDL when the server offers a usable one, else a SHA-256 digest of
//     the message. A check cut short after delivery deletes the message next
//     time without delivering it again; a temporary failure for one
//     recipient retries only that one; copies of one message (same
//     Message-ID and body) deliver once per recipient. A process that dies
//     may deliver again over LMTP or SMTP the messages it was finishing:
//     with DeliveryConcurrency 1 at most one, else at most 8 ×
//     DeliveryConcurrency (being delivered, or delivered and waiting for the
//     journal's group commit); Maildir's key-derived file names (the
//     default) absorb those second deliveries (see package deliver).
//   - One session per mailbox: two checks of one account never run at once
//     ([ErrAccountBusy]); with a shared [account.Locker] this holds across
//     processes.
//   - Clear errors, the rest goes on: one bad message never stops the others;
//     its [MessageError] says what and where, and the [Report] explains every
//     message.
//
// TLS, credential and resource guarantees are those of the packages pop,
// deliver and internal/spool.
//
// # Several instances
//
// Instances that share one account store (account/sqlstore on PostgreSQL,
// each with its own Options.Owner) run [Pipeline.RunShared] instead of Run:
// each polls the store for due accounts and claims them with a lease, so each
// enabled account is checked about once per interval by exactly one
// instance; "Check Now" anywhere is [Pipeline.RequestCheck] (Wake does it
// under RunShared), seen by the next poll of any instance. A check runs
// under its lease: the lease is renewed every third of Options.LeaseTTL and
// checked before every delivery, and the journal writes are fenced by it,
// so an instance that paused past its lease neither records, delivers nor
// deletes for an account another instance took over; its session ends
// without QUIT. A pause in the middle of a delivery can still deliver the
// messages in hand (up to Options.DeliveryConcurrency) twice; Maildir's
// KeyNames makes those second deliveries no-ops.
//
// An empty check costs about a dozen SQL statements (about 1.5 ms of database
// time), so the database is rarely the limit: 10,000 accounts on a 5-minute
// interval is about 33 checks a second. The limit is POP latency: one
// instance manages about 300 s × Concurrency ÷ (time of one check)
// accounts; with Concurrency 32 and one-second checks that is about 9,600 —
// plan for half and add instances rather than concurrency. Watch the
// connection pool (at least Concurrency + 2 connections per instance, and
// PostgreSQL's max_connections at least instances × pool), the lease length
// (LeaseTTL is also the failover delay after a crash, and must exceed the
// longest stall an instance can have), and how far the store's next-check
// times lag behind now: a growing lag means too few instances.
package multidrop
