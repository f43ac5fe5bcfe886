package poptest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultSASL is the list of SASL mechanisms offered when [Server].SASL is
// nil.
var DefaultSASL = []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2", "OAUTHBEARER"}

// Defaults of the bounds.
const (
	DefaultMaxLineLength = 8192
	DefaultIdleTimeout   = time.Minute
)

// Message is one message of a mailbox.
type Message struct {
	// UID is the unique-id UIDL reports, sent as is (tests may use UIDs that
	// are too long, empty or hold bad characters on purpose).
	UID string
	// Data is the message. It is served byte-exact: dot-stuffed after each
	// CRLF, with CRLF appended before the terminating "." when Data is not
	// empty and does not end with CRLF (see [Served]).
	Data []byte
	// Raw serves Data as the exact wire bytes after RETR's "+OK" line:
	// no dot-stuffing and no terminator are added, so a test can send a
	// premature ".", a bare-LF dot line, or no terminator at all. LIST
	// reports len(Data). TOP of a raw message sends Data too.
	Raw bool
}

// Server is an in-process POP3 server. Set the fields before [Server.Start];
// they must not change afterwards. Users and messages may be added at any
// time.
type Server struct {
	// ImplicitTLS makes the server speak TLS from the first byte (POP3S,
	// RFC 8314); STLS is then not offered.
	ImplicitTLS bool
	// RequireTLS refuses USER, PASS, APOP and AUTH before TLS with
	// "-ERR [AUTH] ..." (as Dovecot's disable_plaintext_auth does).
	RequireTLS bool

	// Capability switches. Each removes the capability from CAPA and, for
	// commands, makes the command fail with "-ERR".
	NoCAPA       bool // CAPA is an unknown command
	NoUIDL       bool
	NoTOP        bool
	NoSTLS       bool
	NoUSER       bool // no USER capability; USER and PASS fail
	NoAPOP       bool // no timestamp in the greeting; APOP fails
	NoPipelining bool // PIPELINING is not advertised (commands are still answered in order)
	NoRespCodes  bool // no RESP-CODES/AUTH-RESP-CODE, and "-ERR" lines carry no [CODE]

	// SASL lists the mechanisms offered (upper case); nil means
	// [DefaultSASL], plus EXTERNAL when ClientCAs is set; an empty non-nil
	// slice offers none. Supported: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1,
	// SCRAM-SHA-256, XOAUTH2, OAUTHBEARER and EXTERNAL; for XOAUTH2 and
	// OAUTHBEARER the user's password is the token.
	SASL []string

	// ClientCAs, when set, makes the TLS handshake ask for a client
	// certificate and verify one, if given, against this pool
	// (tls.VerifyClientCertIfGiven: a certificate that does not verify
	// fails the handshake; no certificate is fine). SASL EXTERNAL (RFC
	// 4422 appendix A) then logs in the mailbox user named by the verified
	// certificate's subject common name; its authorization identity must
	// be empty or that same name. Without a verified certificate EXTERNAL
	// is answered "-ERR [AUTH]".
	ClientCAs *x509.CertPool

	// Expire is the EXPIRE capability argument ("0", "NEVER", "30 USER");
	// "" advertises none.
	Expire string
	// LoginDelay is the LOGIN-DELAY capability in seconds; 0 advertises none.
	LoginDelay int
	// LoginDelayAfter, when not zero, is the LOGIN-DELAY announced after
	// login instead of LoginDelay (RFC 2449 lets a server announce
	// "LOGIN-DELAY n USER" before login and each user's value after);
	// negative announces none after login. Before login a LoginDelay
	// then carries the USER argument.
	LoginDelayAfter int
	// Implementation is the IMPLEMENTATION capability; "" advertises none.
	Implementation string

	// Faults are injected in order; see [Fault].
	Faults []Fault
	// Rewrite, when set, may replace every reply before it is written
	// (status line and, for listings and CAPA, the whole multi-line
	// response; for RETR and TOP only the status line). c is the command
	// answered; c.Name is "GREETING" for the greeting. reply is the exact
	// bytes, CRLF included; the returned bytes are written instead.
	Rewrite func(c Command, reply []byte) []byte

	// MaxLineLength caps a command line, CRLF included; zero means
	// [DefaultMaxLineLength]. A longer line is answered "-ERR" and the
	// connection is closed.
	MaxLineLength int
	// IdleTimeout bounds the wait for each command and each write; zero
	// means [DefaultIdleTimeout].
	IdleTimeout time.Duration

	mu         sync.Mutex
	started    bool
	closed     bool
	ln         net.Listener
	pki        *testPKI
	tlsConfig  *tls.Config
	users      map[string]*mailbox
	conns      map[net.Conn]struct{}
	transcript []Command
	inFlight   map[string]int // verb -> most seen unanswered (see MaxInFlight)
	sessions   int
	done       chan struct{}
	wg         sync.WaitGroup
	nextID     int64
}

type mailbox struct {
	password string
	entries  []*entry
	holder   int // session holding the lock, 0 if none
	overlaps int
}

type entry struct {
	id  int64
	msg Message
}

// Command is one line the server received.
type Command struct {
	// Session is the 1-based number of the connection, in accept order.
	Session int
	// Name is the upper-case command verb ("RETR"); "" for a line sent
	// during an AUTH exchange, "GREETING" is used only in [Server].Rewrite.
	Name string
	// Line is the line without CRLF, with secrets replaced by
	// "<redacted>": the PASS argument, the APOP digest, AUTH initial
	// responses and every AUTH continuation line except "*".
	Line string
	// TLS reports whether TLS was active when the line arrived.
	TLS bool
	// User is the authenticated user when the line arrived ("" before).
	User string
	// Pipelined reports that the line had already arrived when the reply to
	// the previous line was written, that is, the client sent it without
	// waiting for that reply.
	Pipelined bool
	// Discarded marks bytes the client sent after STLS in the same
	// plaintext packet; the server discards them unexecuted (RFC 2595
	// section 4 attack). Line then holds them, quoted.
	Discarded bool
}

// Start listens on 127.0.0.1:0 and serves until [Server.Close], which is
// also registered with tb.Cleanup. It fails tb when the server cannot start.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatalf("poptest: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
}

// Listen starts the server like [Server.Start], for use outside a test
// function; the caller must call [Server.Close].
func (s *Server) Listen() error {
	if err := s.start(); err != nil {
		return fmt.Errorf("poptest: %w", err)
	}
	return nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("server already started")
	}
	pki, err := newTestPKI()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.started = true
	s.pki = pki
	s.tlsConfig = &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		MinVersion:   tls.VersionTLS12,
	}
	if s.ClientCAs != nil {
		s.tlsConfig.ClientCAs = s.ClientCAs
		s.tlsConfig.ClientAuth = tls.VerifyClientCertIfGiven
	}
	s.ln = ln
	s.done = make(chan struct{})
	if s.users == nil {
		s.users = map[string]*mailbox{}
	}
	s.conns = map[net.Conn]struct{}{}
	s.wg.Add(1)
	go s.serve()
	return nil
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.sessions++
		id := s.sessions
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			newSession(s, id, c).run()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Close stops the listener, closes every connection (uncommitted deletions
// are lost, as when a connection drops), ends every stall and waits for all
// the server's goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.started || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Addr returns the listening address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CertPool returns a pool holding the CA that signed the server's
// certificate (valid for 127.0.0.1, ::1 and localhost).
func (s *Server) CertPool() *x509.CertPool { return s.pki.pool }

// CAPEM returns the PEM encoding of the CA certificate.
func (s *Server) CAPEM() []byte { return bytes.Clone(s.pki.caPEM) }

// ClientTLSConfig returns a client configuration that verifies the server
// as "localhost" against [Server.CertPool].
func (s *Server) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.pki.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
}

// AddUser creates (or replaces) the mailbox of user with the given password
// and messages. The password also serves as APOP secret and OAuth token.
func (s *Server) AddUser(user, password string, msgs ...Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]*mailbox{}
	}
	mb := &mailbox{password: password}
	if old := s.users[user]; old != nil {
		mb.holder, mb.overlaps = old.holder, old.overlaps
	}
	s.users[user] = mb
	s.appendLocked(mb, msgs)
}

// AddMessages appends messages to user's mailbox. A session already logged
// in does not see them (its maildrop was fixed at login, RFC 1939).
func (s *Server) AddMessages(user string, msgs ...Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.users[user]; mb != nil {
		s.appendLocked(mb, msgs)
	}
}

func (s *Server) appendLocked(mb *mailbox, msgs []Message) {
	for _, m := range msgs {
		s.nextID++
		m.Data = bytes.Clone(m.Data)
		mb.entries = append(mb.entries, &entry{id: s.nextID, msg: m})
	}
}

// Mailbox returns a copy of user's messages as committed: deletions appear
// only after the deleting session's QUIT.
func (s *Server) Mailbox(user string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := s.users[user]
	if mb == nil {
		return nil
	}
	out := make([]Message, len(mb.entries))
	for i, e := range mb.entries {
		out[i] = e.msg
		out[i].Data = bytes.Clone(e.msg.Data)
	}
	return out
}

// Overlaps returns how many times a login to user's mailbox succeeded while
// another session held it (and was refused with "-ERR [IN-USE]"). A client
// that runs one session per mailbox keeps it at zero.
func (s *Server) Overlaps(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.users[user]; mb != nil {
		return mb.overlaps
	}
	return 0
}

// Locked reports whether a session holds user's mailbox: one logged in
// that has not ended yet. A client that hung up holds it until the server
// has noticed (a test that starts the next session at once may be refused
// with "-ERR [IN-USE]", as by a real server).
func (s *Server) Locked(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[user] != nil && s.users[user].holder != 0
}

// Sessions returns the number of connections accepted so far.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Transcript returns a copy of every line received so far, in order.
func (s *Server) Transcript() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.transcript)
}

// MaxInFlight returns the most commands named verb (e.g. "RETR") that the
// server had received but not yet answered, over all sessions so far; 0
// when none arrived.
//
// It is measured each time the server is about to answer such a command:
// that command plus every complete line of the same verb already read into
// the server's input buffer. Whatever the client sent is counted only once
// it has been read, so the figure never exceeds what the client really had
// in flight: a client that waits for each reply (lock-step) gives exactly
// 1, a pipelining client at most its window. It is exact, not
// timing-dependent, in that upper bound; how close it comes to the window
// depends on how the client's writes reach the server (a batch flushed in
// one write is read at once).
func (s *Server) MaxInFlight(verb string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight[strings.ToUpper(verb)]
}

func (s *Server) noteInFlight(verb string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inFlight == nil {
		s.inFlight = map[string]int{}
	}
	s.inFlight[verb] = max(s.inFlight[verb], n)
}

func (s *Server) record(c Command) {
	s.mu.Lock()
	s.transcript = append(s.transcript, c)
	s.mu.Unlock()
}

func (s *Server) maxLine() int {
	if s.MaxLineLength > 0 {
		return s.MaxLineLength
	}
	return DefaultMaxLineLength
}

func (s *Server) idle() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (s *Server) sasl() []string {
	if s.SASL == nil {
		if s.ClientCAs != nil {
			return append(slices.Clip(DefaultSASL), "EXTERNAL")
		}
		return DefaultSASL
	}
	return s.SASL
}
