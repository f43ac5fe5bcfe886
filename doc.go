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
// [Pipeline.Check] is the "Check Now" of the products this replaces,
// [Pipeline.CheckAll] checks every enabled account, and [Pipeline.Run] checks
// each on its interval. Embedders with their own POP client use
// [Pipeline.Handler].
//
// # Guarantees
//
//   - No loss: a message is deleted on the server only after every valid
//     recipient has it durably (the Deliverer said Delivered) or failed
//     permanently, or when it was cleanly parsed, the directory answered and
//     it has no valid recipient (then the account's no-recipient policy
//     applies, under a deletion guard). A temporary failure, a parse limit,
//     a directory error, an unreadable journal or a loop keeps it.
//   - No duplicates: deliveries are recorded per (account, message key,
//     recipient) in the journal before the DELE is sent; the message key is
//     the UIDL when the server offers a usable one, else a SHA-256 digest of
//     the message. A check cut short after delivery deletes the message next
//     time without delivering it again; a temporary failure for one
//     recipient retries only that one; copies of one message (same
//     Message-ID and body) deliver once per recipient.
//   - One session per mailbox: two checks of one account never run at once
//     ([ErrAccountBusy]); with a shared [account.Locker] this holds across
//     processes.
//   - Clear errors, the rest goes on: one bad message never stops the others;
//     its [MessageError] says what and where, and the [Report] explains every
//     message.
//
// TLS, credential and resource guarantees are those of the packages pop,
// deliver and internal/spool.
package multidrop
