// Package resolve decides who receives a message collected from a
// multidrop mailbox: it turns the recipient candidates that package parse
// recovered from the header into the valid users of the account's local
// domains, and explains every decision.
//
// A [Resolver] (the RecipientResolver role; [Func] adapts a function) takes
// an account and the candidates of one message and returns a [Result]:
// the recipients, each in the directory's canonical spelling with the
// candidate that produced it, and every other candidate with a [Reason].
// An error means nothing could be decided (a directory outage, a
// timeout, an invalid account setting): the message must be kept and tried
// again. It is never reported as "no valid recipients".
//
// # Directories
//
// A [Directory] knows the users: Lookup(ctx, domain, local) returns the
// canonical addresses that receive mail for local@domain. [Static] holds a
// [Table] in memory; [File] reads the same table from a text file (see
// [ParseDirectory] for the format) and reloads it when it changes, keeping
// the previous contents when a new file is invalid; [DirectoryFunc] adapts
// the embedder's own user database. A directory that also implements
// [NameLookup] supports display-name matching. Local parts are compared
// ASCII-case-insensitively by [Static] and [File] unless
// Table.CaseSensitive is set.
//
// # The default resolver
//
// [Mapper], made by [New], resolves over a Directory with the settings of
// account.Resolving, compiled once per account content and cached. For each
// candidate, in order:
//
//  1. Syntax: an empty part, a control character, an obsolete source route
//     (RFC 5322 §4.4, RFC 5321 §4.1.2) make it [ReasonInvalid].
//  2. Routing rules (equals, contains or regexp, case-insensitive) on the
//     address as parsed, first match wins: deny gives [ReasonDenied],
//     deliver gives the rule's users. Rules come before everything else so
//     that a deny always holds and a deliver rule can route foreign
//     addresses (the provider's mailbox) to a user, as in MDaemon.
//  3. Domain: the account's Domain or one of its ExtraDomains, compared in
//     lower-case A-label form after IDNA2008 mapping and validation (RFC
//     5890, RFC 5891, UTS #46 with the strict lookup profile of
//     golang.org/x/net/idna). A subdomain is local only with
//     Resolving.Subdomains; an address literal ([192.0.2.1]) is never local
//     and a trailing dot is invalid. A foreign candidate is
//     [ReasonForeign], unless display-name matching finds its user.
//  4. Relay hacks: "%", "!" or "@" in a local part of a local domain
//     (percent hack, UUCP bang path, "a@b"@example.com) are [ReasonInvalid].
//  5. Resolving.StripPrefix and StripSuffix are removed (fetchmail's
//     qvirtual, a provider's prefix).
//  6. The local part, then the part before the subaddress separator
//     (Resolving.SubaddressSeparator: "+" when empty, as alice+news is
//     alice; account.SubaddressOff turns subaddressing off), is looked up first in the
//     account's aliases (an address or a bare local part, mapping to one or
//     more users), then in the directory. The exact local part comes first,
//     so a user whose name contains the separator is still found.
//  7. Display-name matching (Resolving.MatchDisplayName, MDaemon's
//     real-name engine): when the address gave no user, the display name
//     ("Alice Liddell", or "Liddell, Alice") is matched against the real
//     names of a directory implementing [NameLookup]; only a match with
//     exactly one user counts. The address is stronger evidence than the
//     phrase, so the name is consulted only when the address fails.
//  8. The catch-all user (Resolving.CatchAll) takes unknown users of a
//     local domain, never foreign or invalid addresses.
//  9. Recipients are de-duplicated ([ReasonDuplicate]) and capped at
//     Resolving.MaxRecipients, else [Options].MaxRecipients, else 100
//     ([ReasonOverCap]; no lookups are made past the cap).
//
// A user named by the configuration without a domain is a user of the
// candidate's local domain for aliases and the catch-all, and of the
// account's primary Domain for rules (which may match foreign addresses).
// Every user the configuration or the directory names must be in a local
// domain: a rule, alias or catch-all naming an outside address is a
// [*ConfigError], and an outside address answered by the directory is
// refused. The resolver never relays.
//
// # Modes
//
// In Chain mode (account.ModeChain, the default) candidates are taken
// stage by stage in the order given; the first stage with a candidate in
// a local domain (or one that a rule or display name resolved) decides,
// and the candidates of later stages are [ReasonSuperseded]. parse applies
// the same rule first; [Mapper.Local] gives parse the resolver's notion of
// a local domain so the two agree. In Union mode every candidate counts; in
// EnvelopeOnly mode only envelope-stage candidates do, the others are
// [ReasonUntrusted]. [Message] is the pipeline's entry point: it adds what
// parse decided (loop markers as [ReasonLoop], envelope headers at
// untrusted positions as [ReasonUntrusted]) to the result of any Resolver.
//
// # Explanations
//
// Result.Explanation holds one [Decision] per candidate: its provenance (field,
// occurrence, stage), what it became and by which route ([Via]), or why it
// was rejected, with details such as the stripped text or the rule that
// matched. [Explanation.String] formats it for the admin page and logs;
// Explanation implements [log/slog.LogValuer] with a summary.
package resolve
