// Package parse recovers the possible recipients of a message from its
// header, when the SMTP envelope is gone: the message was dropped into a
// multidrop (domain POP) mailbox. Each [Candidate] says which field, which
// occurrence and which stage produced it, so every later decision can be
// explained. Package resolve turns candidates into the domain's users.
//
// It implements the header syntax of RFC 5322 (§2.2 fields and folding,
// §3.4 addresses and groups, §3.6.6 resent fields, §3.6.7 trace fields,
// §4 obsolete syntax), RFC 6532 (UTF-8 in headers), RFC 2047 (encoded-words,
// in display names only) and reads Received clauses as RFC 5321 §4.4
// writes them.
//
// # Reading a header
//
// [ReadHeader] reads only the top-level header from a [bufio.Reader] and
// leaves the reader at the first byte of the body; nothing from attached
// messages is ever seen. It accepts CRLF and bare LF line endings, folded
// lines, a message that is all header and one that has none. Every input is
// bounded by [Limits] (header bytes, fields, line length; addresses per
// field and per message), each with a default and a [*LimitError]. All
// parsing here is single-pass and linear in the input: deep comments, long
// phrases, domain literals and 100,000-address fields cost time in
// proportion to their length and stop at a limit. The [Header] it returns
// is read-only and ordered; [NewHeader] builds one from fields parsed
// elsewhere.
//
// # Limits
//
// The defaults, used where a [Limits] field is zero: 1 MiB of header
// ([DefaultMaxHeaderBytes]), 5000 fields ([DefaultMaxFields]), 64 KiB per
// physical line ([DefaultMaxLineLength]), 10,000 addresses per field
// ([DefaultMaxAddressesPerField]) and 20,000 per message
// ([DefaultMaxAddresses]). ReadHeader stops at a header limit and returns
// what it read with the error; Candidates stops parsing addresses at an
// address limit, keeps those it has, records a [Warning] and returns the
// [Result] with the error, so the caller can decide (keep the message, or
// deliver to what was found).
//
// # Stages and modes
//
// [Candidates] runs up to three stages, in the order of [Options.Stages]:
//
//   - [StageEnvelope]: envelope headers at trusted positions. By default
//     the topmost occurrence of each of X-Original-To, Delivered-To,
//     X-Envelope-To, Envelope-To, X-RCPT-TO and X-Forwarded-To; a list of
//     "Name:N" entries ([EnvelopeEntry]) chooses others, as getmail's
//     "delivered-to:1". The provider writes these above its own trace, so
//     an occurrence is trusted only while at most [Options.SkipReceived]
//     Received fields, and no message field such as From, To or Subject,
//     lie above it. Anything lower was written by an outsider: it is
//     reported in [Result.Untrusted] and never used.
//   - [StageReceived]: the "for" clause of a Received field, after
//     skipping the first SkipReceived of them: only the topmost Received
//     with a "for" clause (whose "by" host is one of [Options.ReceivedBy],
//     when set) counts, and only if it names exactly one path. Comments are
//     skipped, so "(for <x@y>)" is never read.
//   - [StageGuess]: Resent-To, Resent-Cc and Resent-Bcc of the topmost
//     resent block when present, else To, Cc, Bcc and Apparently-To; then
//     [Options.ExtraHeaders] and, with [Options.SubjectAddress], the first
//     "(local@domain)" of the Subject.
//
// In [account.ModeChain] (the default) the first stage that yields a candidate in
// a local domain ([Options.Domains] or [Options.Local]) decides; in
// [account.ModeUnion] every stage counts, every occurrence of every listed field
// and every qualifying Received (untrusted envelope positions are still
// never used); in [account.ModeEnvelopeOnly] only the envelope stage runs, and a message without
// a trusted envelope header is flagged ([Result.MissingEnvelope]) so that
// the caller keeps it instead of guessing. [OptionsFrom] maps an account's
// settings to Options.
//
// # Addresses
//
// Each address field is parsed once, by one strict RFC 5322 parser
// ([AddressList]) with the obsolete syntax and UTF-8. Comments never
// contribute: a(@example.com)@evil.com is a@evil.com. A quoted local part
// stays quoted: "a@example.com"@evil.com has the domain evil.com. An
// encoded-word is decoded only in a display name; an addr-spec containing
// "=?" is an error. An obsolete source route <@example.com:evil@evil.com>
// yields evil@evil.com with [Candidate.Route] set, which package resolve
// treats as not local. A malformed field (bad syntax, invalid UTF-8, a NUL
// or another control character) yields no candidates and a [Warning]; the
// other fields still count.
//
// # Other facts
//
// The [Result] also carries the Message-ID, the envelope sender
// (Return-Path, else [Options.SenderFields]), the number of Received
// fields, List-Id and Precedence, and loop markers: our own [account.LoopField]
// stamp, and a Delivered-To below the provider's trace block that names a
// chosen candidate (that recipient has already had the message).
package parse
