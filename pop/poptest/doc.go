// Package poptest provides an in-process POP3 server for tests: the
// project's own and those of programs that embed multidrop.
//
// A [Server] listens on 127.0.0.1 on a free port and serves RFC 1939 (USER,
// PASS, APOP, STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP, QUIT), RFC 2449
// (CAPA, RESP-CODES, PIPELINING, EXPIRE, LOGIN-DELAY, IMPLEMENTATION),
// RFC 2595 (STLS), RFC 3206 response codes, RFC 5034 (AUTH with initial
// response and "*" cancel; PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,
// SCRAM-SHA-256, XOAUTH2, OAUTHBEARER, EXTERNAL) and RFC 8314 implicit
// TLS.
//
//	s := &poptest.Server{NoPipelining: true}
//	s.AddUser("alice", "secret", poptest.Message{UID: "1", Data: msg})
//	s.Start(t) // Close is registered with t.Cleanup
//	... dial s.Addr(), verify TLS with s.ClientTLSConfig() ...
//	s.Mailbox("alice") // what QUIT committed
//
// Outside a test function (an Example, a benchmark harness), [Server.Listen]
// starts it and the caller calls [Server.Close].
//
// # Mailboxes
//
// Each user has one mailbox of [Message] values. A session fixes its
// maildrop at login and marks deletions; they reach the mailbox only when
// the session's QUIT is answered (the UPDATE state of RFC 1939), so a
// dropped connection deletes nothing. A mailbox is locked by the session
// that logged in, until its QUIT is answered (the lock is released before
// the reply) or its connection ends: a second login meanwhile gets
// "-ERR [IN-USE]" and is counted by [Server.Overlaps]. RETR sends a message's Data byte-exact, dot-stuffed
// after each CRLF; [Served] and [ServedTop] give the bytes a correct client
// must return.
//
// # TLS
//
// At Start the server makes a throw-away CA and a certificate for
// 127.0.0.1, ::1 and localhost. [Server.CertPool], [Server.CAPEM] and
// [Server.ClientTLSConfig] let a client verify it. ImplicitTLS speaks TLS
// from the first byte; otherwise STLS is offered unless NoSTLS is set.
// Plaintext the client sends right after STLS is discarded and recorded as
// a Discarded [Command]. With [Server].ClientCAs set the handshake accepts
// a client certificate signed by one of those CAs, and SASL EXTERNAL logs
// in the user its subject common name names.
//
// # Capabilities
//
// Boolean fields remove a capability (NoCAPA, NoUIDL, NoTOP, NoSTLS,
// NoUSER, NoAPOP, NoPipelining, NoRespCodes); SASL chooses the
// mechanisms; Expire, LoginDelay and Implementation add theirs.
// Commands are always answered in order, whether or not PIPELINING is
// advertised; [Command].Pipelined tells a test which ones the client sent
// before the previous reply.
//
// # Faults
//
// [Server].Faults lists [Fault] values, each selecting a session, a user, a
// command (or the greeting) and its arguments, and acting on it: [Drop], [DropAfter],
// [Stall], [Reply] (any status line or malformed listing, see
// [ErrReply]), [Inject] (unsolicited bytes after a reply, e.g. after the
// greeting or the STLS "+OK"), [DropAfterBytes] and [Dribble] (a reply
// sent one byte at a time, to test total bounds that an idle timeout per
// read would miss). [Message].Raw serves
// wire bytes without stuffing or terminator (bare-LF dot lines, premature
// terminators, missing terminators), and UIDs are sent as given (too long,
// duplicated, with bad characters). [Server].Rewrite can replace any reply.
//
// # Transcript
//
// [Server.Transcript] returns every line received, in order, with the
// session, the authenticated user, whether TLS was active and whether the
// line was pipelined. The PASS argument, the APOP digest, AUTH initial
// responses and AUTH continuation lines are replaced by "<redacted>", so a
// test can assert what a client sent without the transcript ever holding a
// credential. [Server.MaxInFlight] reports the most commands of one verb
// the server had read but not yet answered, never more than the client
// really had in flight, so a test can bound a client's pipelining window.
//
// # Bounds
//
// A command line is capped at MaxLineLength; every read and write has the
// IdleTimeout deadline. [Server.Close] closes the listener and every
// connection, ends stalls and waits for every goroutine the server started.
//
// This package does not import package pop, so pop's tests can use it.
package poptest
