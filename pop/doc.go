// Package pop is a POP3 client and the default [Fetcher] of multidrop.
//
// It implements RFC 1939 (POP3: USER/PASS, APOP, STAT, LIST, UIDL, RETR,
// TOP, DELE, RSET, NOOP, QUIT), RFC 2449 (CAPA, PIPELINING, RESP-CODES,
// LOGIN-DELAY, EXPIRE), RFC 3206 (the SYS/TEMP, SYS/PERM and AUTH response
// codes), RFC 2595 (STLS), RFC 5034 (SASL AUTH with initial response) and
// RFC 8314 (implicit TLS, the default for new accounts).
//
// # Sessions
//
// [Dial] or [NewClient] start a [Client]; its methods map to POP3 commands
// and take a context first. [Client.Capabilities] asks CAPA once, and again
// after [Client.StartTLS] and after login, since RFC 2449 lets a server
// announce more once it knows who is connected. [Client.Scan] reads STAT,
// LIST and UIDL and checks them against each other.
//
// [Downloader] is the default [Fetcher], as [net/http.Transport] is the
// default RoundTripper: it connects with an [account.Account]'s settings,
// authenticates, scans, lets a [Planner] choose per message, streams each
// retrieved message to the [Handler], deletes what the handler or the plan
// deleted and commits with QUIT. Fetch returns nil only when QUIT was
// answered +OK. A Handler that is also a [Settler] may answer [Defer] and
// decide later (after delivering in the
// background while the next messages download): Settle is called after the
// last message and before any DELE, which are all sent after the last RETR
// anyway.
//
// # Message bodies
//
// A body from [Client.Retr], [Client.Top] or [Client.RetrAll], and the body
// a Handler receives, is an [io.Reader] reading straight from the
// connection. It is valid until the next call on the Client (for a Handler:
// until Handle returns); the rest is then drained and later reads fail.
// Bodies are dot-unstuffed exactly once and otherwise byte-identical to what
// the server sent: CRLF, bare CR, bare LF, NUL and 8-bit bytes pass
// unchanged, and a message ends only at CRLF "." CRLF (or "." CRLF as its
// first line), never at a bare-LF dot line. No line length limit applies;
// memory stays bounded by a fixed read buffer whatever the message size.
// This is why the package neither uses [net/textproto.Reader.DotReader]
// (which rewrites CRLF to LF) nor a POP3 library that buffers whole
// messages or splits long lines.
//
// # Pipelining
//
// When the server announces PIPELINING, [Client.RetrAll] and
// [Client.DeleAll] keep up to Options.Window commands in flight; otherwise
// they run in lock-step. STLS, AUTH, USER, PASS, APOP and QUIT are never
// pipelined.
//
// # Time and bounds
//
// Every wait has a total bound, not only an idle timeout per read, so a
// server that dribbles one byte a second cannot hold a session. The bounds
// are Options.Timeouts ([account.Timeouts], defaults in the Default*
// constants): Dial for connecting, TLS and the greeting; Command for one
// command and its whole reply, a status line or every line of a listing
// (CAPA, LIST, UIDL); for a message body, Message in total, Data of silence
// and at least MinRate octets a second over each RateWindow; and Session
// for everything after the connection was made. An expired bound is a
// [*TimeoutError] naming it ([BoundCommand], [BoundData], [BoundMessage],
// [BoundRate], [BoundSession]); the session is then closed without QUIT,
// so nothing is deleted. The context of each call is bridged to the
// connection, so cancelling it ends a blocked read at once. Status and
// listing lines are capped at [MaxStatusLine] octets and listings at
// Timeouts.MaxListing lines. A [Downloader] takes each bound from the
// account, else from its own Options, else the default.
//
// # LOGIN-DELAY and IN-USE
//
// RFC 2449's LOGIN-DELAY capability, read before and after login, is
// [Client.LoginDelay] and [Scan].LoginDelay; [Scan.NextLogin] is the
// earliest time the server accepts the next login. A login refused with
// [LOGIN-DELAY] is an [*Error] matching [ErrLoginDelay] whose LoginDelay
// and NextLogin carry the value the server announced before the login
// ([NextLogin] reads it from any error); a maildrop locked by another
// session is refused with [IN-USE] (RFC 3206), matching [ErrInUse]. A
// scheduler should persist the next login per account and wait exactly
// that long after a LOGIN-DELAY, and back off briefly after IN-USE.
//
// # Security
//
// TLS verifies the server certificate by default (see [TLSConfig]: custom
// roots, SHA-256 public-key pins, TLS 1.2 minimum). A STLS that the account
// requires but the server does not offer or refuses is an error; bytes
// the server sends between its STLS +OK and the handshake are an
// [ErrUnsolicited] protocol error (response injection), and capabilities
// are read again over TLS. A password or token (USER/PASS, APOP, PLAIN,
// LOGIN, XOAUTH2, OAUTHBEARER) is refused over a connection without TLS
// ([ErrInsecure]) unless allowed. A configured mechanism that the server
// does not offer is an error; the automatic choice takes the strongest
// offered (SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN, then USER).
// Every argument is checked before anything is written: CR, LF or NUL is
// [ErrBadArgument]. Credentials never appear in errors or logs, and
// Options.DebugWriter shows them as "***".
//
// # Errors
//
// A -ERR reply is an [*Error] with the command, the RFC 2449/3206
// response code and the server's text; [Error.Temporary] tells whether to
// try again later. A reply that breaks the protocol is a [*ProtocolError]
// wrapping one of the Err* sentinels ([ErrBadStatus], [ErrUnsolicited],
// [ErrNoTerminator], [ErrInconsistent], [ErrDuplicate], ...): the session
// is then closed without QUIT, so nothing marked for deletion is deleted.
// Network errors, expired bounds ([*TimeoutError], also
// errors.Is(err, os.ErrDeadlineExceeded)) and context ends do the same.
package pop
