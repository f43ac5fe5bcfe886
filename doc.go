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
// A role behaves the same whoever implements it. In particular the
// Pipeline calls Options.Fetcher's Fetch for every check with a Handler
// that is a [pop.Planner] and a [pop.Settler]; the Fetcher honours both
// ([pop.Fetcher] says how), so a Fetcher that wraps [pop.Downloader] (for
// metrics, a proxy, a rate limit) behaves exactly as the Downloader.
//
// # A check
//
// Within a check, messages are planned from the listing (already final in
// the journal, whose states of the listed UIDs are read at once; oversize;
// caps), examined — parsed and resolved — in the
// order of the session, and finished — delivered and recorded in the
// journal — by up to Options.DeliveryConcurrency goroutines while the next
// messages download (one slot when it is 1: the same machinery). The
// journal records of messages that finish together share one commit; the
// decisions reach the Fetcher when it settles, after the last message, and
// every DELE is sent after that. Copies of one message to one recipient
// are finished one after the other.
//
// [Pipeline.Check] is the "Check Now" of the products this replaces and
// [Pipeline.CheckAll] checks every enabled account; package schedule checks
// each on its interval, through [Pipeline.CheckWith] (a graceful stop, a
// lease claimed from a shared schedule). Embedders with their own POP
// client use [Pipeline.Handler]; tests and simple programs check one
// account value with [CheckAccount].
//
// # Reports and logs
//
// Each check returns a [Report]; each message in it has an [Outcome]
// (delivered, refused, postmaster, dropped, kept, retry, failed, skipped),
// a Reason, the header's parse Warnings and, when a step failed, a
// [MessageError]. Report.Err is for the session and the account (a login
// failure, a session that did not commit, the deletion guard); a healthy
// check that kept some messages has none, and Report.Retry counts the
// messages kept for a temporary failure. Nothing is logged unless
// Options.Logger is set: then one Info record per check (Warn when it
// failed) and per-message records at Debug. Options.Observer receives the
// same events, for metrics.
//
// # The deletion guard
//
// An account whose mail suddenly has no valid recipient usually has a
// broken directory (a users file emptied, a domain misspelt), and under
// the default no-recipient policy, delete, it would lose all its mail. The
// deletion guard watches for that. It judges, when a check settles and
// before any deletion (whatever the DeliveryConcurrency), the whole check
// and the account's window: its last Options.Guard.Window examined
// messages (20), across checks, kept in the Journal ([account.Guard]) so
// that restarts and several instances sharing the journal see one
// window. When at least Options.Guard.Min (5) messages of either had no
// valid recipient, and they are at least Options.Guard.Share (0.5) of it,
// the guard trips: a domain checked every few minutes, two or three
// messages at a time, trips it within a few checks as surely as one large
// check does.
//
// Once tripped, the guard holds the account, across checks and restarts:
// messages without a valid recipient are kept on the server (with
// [ErrDeletionGuard] in Report.Err), while those with one are delivered
// as usual. Each such check logs a warning, its [Report] says since when
// and on what evidence (Report.Guard), and the Observer receives
// [EventGuard] when it trips; [Pipeline.Guard] reads the state between
// checks. The administrator fixes the directory (the kept messages are
// then delivered) or finds the mail really is unaddressed, and confirms
// with [Pipeline.ReleaseGuard]: the next check deletes what still has no
// valid recipient, and the guard starts a new window.
//
// A domain that really receives mostly mail for unknown users (a
// spam-heavy catch-all) sets the guard to match: an Options.Guard.Share
// of 0.9 trips only when nine messages in ten have no recipient, a larger
// Guard.Window judges a longer stretch of mail, and a Share above 1 turns
// the guard off. The keep and postmaster no-recipient policies delete nothing
// for lack of a recipient, and the guard does not judge them.
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
// each with its own Options.Lease.Owner) give it as Options.Locker: a check then
// runs under a lease of the account, so Check on one instance returns
// [ErrAccountBusy] while another checks the account. Package schedule's
// RunShared shares the schedule itself through the store, and runs each
// check under the lease of its claim ([CheckOptions].Claim). Either way
// the lease is renewed every third of its length and checked before every
// delivery, and the journal writes are fenced by it, so an instance that
// paused past its lease neither records, delivers nor deletes for an
// account another instance took over; its session ends without QUIT. A
// pause in the middle of a delivery can still deliver the messages in hand
// (up to Options.DeliveryConcurrency) twice; Maildir's KeyNames makes those
// second deliveries no-ops.
//
// Capacity planning, GOMAXPROCS and the sizing of connection pools and
// leases are in OPERATIONS.md at the repository's root.
package multidrop
