// Package deliver hands a fetched message to its recipients "just as if it
// had arrived by SMTP", durably and exactly once, and says for each
// recipient what happened.
//
// # The role
//
// A [Deliverer] takes an [Envelope] (the sender, the validated recipients and
// where the message came from) and the message, and returns one [Result] per
// recipient, in envelope order: [Delivered] (durably: the pipeline may now
// delete the message on the POP server), [Temporary] (keep it and try
// again later) or [Permanent] (refused for good). A recipient missing from
// the results counts as temporary, and so does every error that is not a
// permanent [*Error] ([IsTemporary]): an unknown failure never loses mail.
// [Func] adapts a function.
//
// The deliverers of this package are [Maildir] (local Maildirs), [LMTP]
// (Dovecot, Cyrus and other local delivery servers), [SMTP] (a relay or
// smarthost) and [Route], which chooses one of them per recipient. Package
// [github.com/multidrop/multidrop/deliver/delivertest] provides a recording,
// fault-injecting Deliverer for tests.
//
// # Trace fields and header hygiene
//
// Each deliverer prepends the trace fields a final delivery agent writes
// (RFC 5321 section 4.4, RFC 5322 section 3.6.7): a Received field (from
// the POP host, by the local host, with POP3, id the message key, for the
// recipient when there is one) and, as configured in [TraceOptions],
// Return-Path, Delivered-To and a loop stamp. [Hygiene] renames or removes
// the provider's own envelope fields (Delivered-To, X-Original-To,
// Envelope-To, ...) so that no MTA mistakes them for its own and no
// recipient sees another's envelope address. Only validated addresses are
// ever written into a header field.
//
// # Maildir
//
// [Maildir] follows maildir(5) and the Maildir++ folder convention
// (Courier, Dovecot). A message is written to a uniquely named file in
// tmp/ (time, microseconds, process id, counter, a random tag of the
// process, and host), fsynced and closed; then moved into new/ under its
// final name, never replacing an existing file: on Linux by renameat2 with
// RENAME_NOREPLACE (plain rename(2) would replace one), elsewhere, or
// where the file system does not offer it, by link(2) and then removing
// the tmp/ name; new/ is fsynced; only then is the recipient [Delivered].
// A crash at any point leaves either nothing in new/ or the whole message:
// at worst an orphan in tmp/ (a partial copy, or the second name of a file
// linked into new/). The first delivery into a
// Maildir in a process removes such orphans of this host's dead processes,
// recognised by host and process id in their names, and any file in tmp/
// older than 36 hours (maildir(5)); a file that a live process may still be
// writing is never removed before that age.
//
// Several recipients of one message share one file: it is written once and
// hard-linked into each Maildir, copied (and linked from the copy) where a
// link is impossible, across file systems for one. A shared file names no
// recipient, so Delivered-To and the Received "for" clause appear only in a
// file for one recipient; [MaildirOptions].Separate writes a file per
// recipient instead, each with its own; the last recipient of a file takes
// it by rename, the others by link. The new/ directories are fsynced once
// per message and Maildir, still before any recipient is reported
// delivered, and one fsync serves the concurrent deliveries into a Maildir
// (group commit): a delivery about to fsync new/ waits up to 2 ms for the
// others into that Maildir that are still writing their files.
//
// By default (unless [MaildirOptions].NoKeyNames) the file name derives
// from the message key and the recipient, so a second delivery of the same
// message (after a crash before the pipeline recorded the first) finds the
// file in new/ or cur/ and reports it delivered without a second copy: over
// Maildir a crash never duplicates a message. The zero [MaildirOptions]
// (with Root) delivers into [DefaultMaildirTemplate] with key-derived names
// and Delivered-To, as the multidropd daemon does.
//
// Every file system failure (ENOSPC, EDQUOT, EIO, a short write, a failed
// fsync or close, a missing or unwritable Maildir) removes what was written
// and is a temporary failure with an RFC 3463 enhanced code (4.2.2 mailbox
// full, 4.3.1 system full, 4.3.0 otherwise): the user exists, the mail
// waits on the server. Only an address that cannot name a directory fails
// permanently.
//
// # Route
//
// [Route] sends each recipient to the Deliverer chosen for it (by function,
// address, domain or default), one call per Deliverer with its recipients,
// and merges the results in envelope order. Each Deliverer reads the whole
// message: Route reads it in place when it is an io.ReaderAt (with io.Seeker
// or a Size method, as *os.File, *bytes.Reader or the pipeline's spool are)
// and otherwise spools it once. A recipient with no route fails permanently
// with [ErrNoRoute].
//
// # LMTP and SMTP
//
// [LMTP] delivers to a local delivery server (RFC 2033: Dovecot, Cyrus)
// over a unix socket or TCP; [SMTP] relays to a smarthost (RFC 5321). Both
// speak through github.com/emersion/go-smtp's client, which has no context:
// each connection is wrapped so that the context's deadline bounds every
// deadline go-smtp sets, a cancelled context fails pending I/O at once, and
// the RFC 5321 section 4.5.3.2 timeouts apply per phase ([Timeouts]:
// command replies 5 minutes, each data block 3 minutes, the reply after the
// final dot 10 minutes). MAIL FROM carries the envelope sender when it is a
// valid address and the null sender <> otherwise ([ReversePath]); every
// address is validated before it reaches a command or a header field.
// BODY=8BITMIME (RFC 6152) is declared where offered; a non-ASCII address
// needs SMTPUTF8 (RFC 6531) and is refused permanently (5.6.7) without it.
// BINARYMIME and CHUNKING (RFC 3030) are not used: the message goes with
// DATA.
//
// LMTP runs one transaction for all recipients. A recipient refused at RCPT
// gets no data (5xx [Permanent], 4xx [Temporary]); after the data each
// recipient's own reply decides. A connection lost after the final dot
// leaves the recipients without a reply Temporary and logs each as a
// possible duplicate: the server may have delivered before the connection
// went.
//
// # LMTP and SMTP after a crash
//
// An LMTP or SMTP server keeps no record of what it accepted that this
// package could consult, so a process that dies (or loses its connection)
// between the server's acceptance of a message and the durable record of
// that delivery in the journal delivers the message again on the next
// check. The window is the messages being finished when the process died:
// with the pipeline's DeliveryConcurrency 1 at most one message; above 1,
// those being delivered and those delivered whose journal record waits
// for a group commit, at most 8 × DeliveryConcurrency (in practice about
// one or two per delivery slot). Every other message is either recorded
// (and deleted next time without a second delivery) or was never accepted.
// A server that deduplicates (a Sieve "duplicate" test on Message-ID, RFC
// 7352, for one) closes the window; Maildir with key-derived names has none.
//
// SMTP requires STARTTLS (RFC 3207) with a verified certificate except
// to a loopback smarthost ([TLSMode]), authenticates with a [sasl.Client]
// only over TLS or loopback, continues after a 452 "too many recipients"
// with the rest in a new transaction (when the message can rewind: an
// io.Seeker), and applies the reply after the data to every recipient of
// that transaction. A message that fails to read mid-way is never
// terminated: the connection is dropped before the final dot, so no server
// keeps a truncated message.
//
// # Framing
//
// The message data is sent with every line ending normalised to CRLF (a
// bare LF or bare CR becomes CRLF) before go-smtp's writer stuffs leading
// dots and adds the final CRLF.CRLF. No line of a message, however its
// endings are shaped ("\n.\n", "\r\n.\n", "\r.\r"), can end the data early
// at the next server and smuggle commands behind it ("SMTP smuggling"), and
// nothing is stuffed twice. The rest of the bytes (8-bit, NUL, long lines)
// are passed as they are.
//
// The loop stamp field is [account.LoopField] ("X-Multidrop-Loop: <local host>").
package deliver
