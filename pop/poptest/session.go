package poptest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/multidrop/multidrop/internal/saslmech"
)

// errEnd ends a session: the connection is closed without further reply.
var errEnd = errors.New("poptest: session ended")

type session struct {
	s         *Server
	id        int
	raw       net.Conn
	r         *bufio.Reader
	lw        *limitWriter
	w         *bufio.Writer
	tls       bool
	certUser  string // subject CN of the verified TLS client certificate
	timestamp string

	pendingUser string
	user        string // authenticated user, "" in AUTHORIZATION state
	msgs        []*entry
	deleted     []bool

	pipelined bool // input was buffered when the last reply was flushed
	afterDone bool // Inject/DropAfter already applied for the current command
	faults    []Fault
	lastArgs  string
	ended     bool // QUIT answered
}

func newSession(s *Server, id int, c net.Conn) *session {
	ss := &session{s: s, id: id, raw: c}
	ss.lw = &limitWriter{conn: c, raw: c, limit: -1, idle: s.idle()}
	for _, f := range s.Faults {
		if f.Kind == DropAfterBytes && (f.Session == 0 || f.Session == id) && (ss.lw.limit < 0 || f.Bytes < ss.lw.limit) {
			ss.lw.limit = max(f.Bytes, 0)
		}
	}
	ss.setConn(c)
	if !s.NoAPOP {
		ss.timestamp = fmt.Sprintf("<%d.%d@poptest>", id, time.Now().UnixNano())
	}
	return ss
}

func (ss *session) setConn(c net.Conn) {
	ss.lw.mu.Lock()
	ss.lw.conn = c
	ss.lw.mu.Unlock()
	ss.r = bufio.NewReaderSize(c, ss.s.maxLine())
	ss.w = bufio.NewWriterSize(ss.lw, 32<<10)
}

func (ss *session) run() {
	defer ss.unlock()
	if ss.s.ImplicitTLS {
		if err := ss.handshake(); err != nil {
			return
		}
	}
	greet := Command{Session: ss.id, Name: "GREETING", TLS: ss.tls}
	text := "+OK poptest ready."
	if ss.timestamp != "" {
		text += " " + ss.timestamp
	}
	if err := ss.respond(greet, func() error { return ss.line(greet, text) }); err != nil {
		return
	}
	for {
		c, args, err := ss.readCommand()
		if err != nil {
			return
		}
		if err := ss.respond(c, func() error { return ss.dispatch(c, args) }); err != nil {
			return
		}
	}
}

// respond applies the faults around handle, which writes the normal reply.
func (ss *session) respond(c Command, handle func() error) error {
	args := ss.lastArgs // the unredacted arguments of c ("" at GREETING)
	user := ss.user
	switch {
	case user != "":
	case c.Name == "PASS":
		user = ss.pendingUser
	case c.Name == "APOP":
		user, _, _ = strings.Cut(args, " ")
	}
	var faults []Fault
	for _, f := range ss.s.Faults {
		if f.matches(ss.id, user, c.Name, args) {
			faults = append(faults, f)
		}
	}
	for _, f := range faults {
		switch f.Kind {
		case Stall:
			if !ss.stall(f.Duration) {
				return errEnd
			}
		case Drop:
			return errEnd
		}
	}
	if c.Name != "GREETING" && c.Name != "" {
		ss.s.noteInFlight(c.Name, 1+ss.bufferedCommands(c.Name))
	}
	ss.afterDone = false
	ss.faults = faults
	for _, f := range faults {
		if f.Kind == Dribble {
			every := f.Duration
			if every <= 0 {
				every = time.Second
			}
			ss.lw.mu.Lock()
			ss.lw.dribble = &dribble{fast: max(f.Bytes, 0), every: every, done: ss.s.done}
			ss.lw.mu.Unlock()
			defer func() {
				ss.lw.mu.Lock()
				ss.lw.dribble = nil
				ss.lw.mu.Unlock()
			}()
		}
	}
	replaced := false
	for _, f := range faults {
		if f.Kind == Reply {
			replaced = true
			text := f.Text
			if !strings.HasSuffix(text, "\n") {
				text += "\r\n"
			}
			if err := ss.write(c, []byte(text)); err != nil {
				return err
			}
			if c.Name == "GREETING" && strings.HasPrefix(text, "-ERR") {
				_ = ss.flush()
				return errEnd
			}
		}
	}
	if !replaced {
		if err := handle(); err != nil {
			return err
		}
	}
	return ss.after()
}

// after applies Inject and DropAfter faults of the current command, once.
func (ss *session) after() error {
	if ss.afterDone {
		return nil
	}
	ss.afterDone = true
	for _, f := range ss.faults {
		switch f.Kind {
		case Inject:
			if _, err := ss.w.WriteString(f.Text); err != nil {
				return err
			}
			if err := ss.flush(); err != nil {
				return err
			}
		case DropAfter:
			return errEnd
		}
	}
	if ss.ended {
		return errEnd
	}
	return nil
}

func (ss *session) stall(d time.Duration) bool {
	var tc <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-ss.s.done:
		return false
	case <-tc:
		return true
	}
}

func (ss *session) handshake() error {
	ss.raw.SetDeadline(time.Now().Add(ss.s.idle()))
	tc := tls.Server(ss.raw, ss.s.tlsConfig)
	if err := tc.Handshake(); err != nil {
		return err
	}
	ss.raw.SetDeadline(time.Time{})
	if cs := tc.ConnectionState(); len(cs.VerifiedChains) > 0 {
		ss.certUser = cs.PeerCertificates[0].Subject.CommonName
	}
	ss.tls = true
	ss.setConn(tc)
	return nil
}

// readCommand reads and records one command line.
func (ss *session) readCommand() (Command, string, error) {
	line, err := ss.readLine()
	if err != nil {
		return Command{}, "", err
	}
	verb, args, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	ss.lastArgs = args
	c := Command{Session: ss.id, Name: verb, Line: redact(verb, line), TLS: ss.tls, User: ss.user, Pipelined: ss.pipelined}
	ss.s.record(c)
	return c, args, nil
}

// bufferedCommands counts the complete lines named verb already read into
// the input buffer, that is, sent by the client and not yet answered.
func (ss *session) bufferedCommands(verb string) int {
	b, _ := ss.r.Peek(ss.r.Buffered())
	n := 0
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return n
		}
		v, _, _ := bytes.Cut(b[:i], []byte(" "))
		if strings.EqualFold(string(bytes.TrimSuffix(v, []byte("\r"))), verb) {
			n++
		}
		b = b[i+1:]
	}
}

// readLine reads one line, without its line ending (CRLF, or a bare LF).
func (ss *session) readLine() (string, error) {
	ss.raw.SetReadDeadline(time.Now().Add(ss.s.idle()))
	b, err := ss.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		ss.w.WriteString("-ERR Line too long\r\n")
		ss.flush()
		return "", errEnd
	}
	if err != nil {
		return "", err
	}
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	return string(b), nil
}

func redact(verb, line string) string {
	const r = "<redacted>"
	fields := strings.SplitN(line, " ", 3)
	switch verb {
	case "PASS":
		if len(fields) > 1 {
			return fields[0] + " " + r
		}
	case "APOP":
		if len(fields) > 2 {
			return fields[0] + " " + fields[1] + " " + r
		}
	case "AUTH":
		if len(fields) > 2 {
			return fields[0] + " " + fields[1] + " " + r
		}
	}
	return line
}

// write sends a reply (after Rewrite) and flushes it.
func (ss *session) write(c Command, reply []byte) error {
	if ss.s.Rewrite != nil {
		reply = ss.s.Rewrite(c, reply)
	}
	if _, err := ss.w.Write(reply); err != nil {
		return err
	}
	if ss.injecting() {
		return nil // after writes the injected text and flushes both at once
	}
	return ss.flush()
}

// injecting reports whether an Inject fault of the current command is
// still to be written: the reply and the injected text then go out in one
// write, so that the client has both when it reads the reply (arriving
// apart, the injected text would or would not be caught depending on the
// scheduling of the two processes).
func (ss *session) injecting() bool {
	if ss.afterDone {
		return false
	}
	for _, f := range ss.faults {
		if f.Kind == Inject {
			return true
		}
	}
	return false
}

func (ss *session) flush() error {
	err := ss.w.Flush()
	ss.pipelined = ss.r.Buffered() > 0
	return err
}

func (ss *session) line(c Command, text string) error {
	return ss.write(c, []byte(text+"\r\n"))
}

func (ss *session) errf(c Command, code, format string, a ...any) error {
	text := "-ERR "
	if code != "" && !ss.s.NoRespCodes {
		text += "[" + code + "] "
	}
	return ss.line(c, text+fmt.Sprintf(format, a...))
}

func (ss *session) multi(c Command, status string, lines []string) error {
	var b bytes.Buffer
	b.WriteString(status + "\r\n")
	for _, l := range lines {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l + "\r\n")
	}
	b.WriteString(".\r\n")
	return ss.write(c, b.Bytes())
}

func (ss *session) dispatch(c Command, args string) error {
	s := ss.s
	if ss.user == "" {
		switch c.Name {
		case "CAPA":
			return ss.capa(c)
		case "STLS":
			return ss.stls(c)
		case "USER":
			return ss.cmdUser(c, args)
		case "PASS":
			return ss.cmdPass(c, args)
		case "APOP":
			return ss.cmdAPOP(c, args)
		case "AUTH":
			return ss.cmdAuth(c, args)
		case "QUIT":
			ss.ended = true
			return ss.line(c, "+OK Logging out.")
		}
		return ss.errf(c, "", "Unknown command.")
	}
	switch c.Name {
	case "CAPA":
		return ss.capa(c)
	case "STAT":
		n, size := 0, int64(0)
		for i, e := range ss.msgs {
			if !ss.deleted[i] {
				n++
				size += servedSize(e.msg)
			}
		}
		return ss.line(c, fmt.Sprintf("+OK %d %d", n, size))
	case "LIST":
		return ss.listing(c, args, func(e *entry) string { return strconv.FormatInt(servedSize(e.msg), 10) })
	case "UIDL":
		if s.NoUIDL {
			return ss.errf(c, "", "Unknown command.")
		}
		return ss.listing(c, args, func(e *entry) string { return e.msg.UID })
	case "RETR":
		i, err := ss.number(c, args)
		if err != nil {
			return ignoreReplied(err)
		}
		m := ss.msgs[i].msg
		if err := ss.write(c, []byte(fmt.Sprintf("+OK %d octets\r\n", servedSize(m)))); err != nil {
			return err
		}
		return ss.body(m, m.Data)
	case "TOP":
		if s.NoTOP {
			return ss.errf(c, "", "Unknown command.")
		}
		num, lines, ok := strings.Cut(args, " ")
		k, err := strconv.Atoi(lines)
		if !ok || err != nil || k < 0 || !isDigits(lines) {
			return ss.errf(c, "", "Invalid arguments.")
		}
		i, err := ss.number(c, num)
		if err != nil {
			return ignoreReplied(err)
		}
		m := ss.msgs[i].msg
		if err := ss.write(c, []byte("+OK\r\n")); err != nil {
			return err
		}
		if m.Raw {
			return ss.body(m, m.Data)
		}
		return ss.body(m, topOf(m.Data, k))
	case "DELE":
		i, err := ss.number(c, args)
		if err != nil {
			return ignoreReplied(err)
		}
		ss.deleted[i] = true
		return ss.line(c, "+OK Marked to be deleted.")
	case "RSET":
		clear(ss.deleted)
		return ss.line(c, "+OK")
	case "NOOP":
		return ss.line(c, "+OK")
	case "QUIT":
		// Commit and release the mailbox before answering, so a client
		// that reconnects right after "+OK" finds it unlocked.
		ss.commit()
		ss.unlock()
		ss.ended = true
		return ss.line(c, "+OK Logging out, messages deleted.")
	}
	return ss.errf(c, "", "Unknown command.")
}

// errReplied marks an error already answered with -ERR: the session goes on.
var errReplied = errors.New("replied")

func ignoreReplied(err error) error {
	if err == errReplied {
		return nil
	}
	return err
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// number parses a message number and returns its index; on error it has
// already replied (errReplied) or the write failed.
func (ss *session) number(c Command, arg string) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || !isDigits(arg) || n < 1 {
		if err := ss.errf(c, "", "Invalid message number."); err != nil {
			return 0, err
		}
		return 0, errReplied
	}
	if n > len(ss.msgs) {
		if err := ss.errf(c, "", "There's no message %d.", n); err != nil {
			return 0, err
		}
		return 0, errReplied
	}
	if ss.deleted[n-1] {
		if err := ss.errf(c, "", "Message %d is deleted.", n); err != nil {
			return 0, err
		}
		return 0, errReplied
	}
	return n - 1, nil
}

func (ss *session) listing(c Command, args string, value func(*entry) string) error {
	if args != "" {
		i, err := ss.number(c, args)
		if err != nil {
			return ignoreReplied(err)
		}
		return ss.line(c, fmt.Sprintf("+OK %d %s", i+1, value(ss.msgs[i])))
	}
	var lines []string
	for i, e := range ss.msgs {
		if !ss.deleted[i] {
			lines = append(lines, fmt.Sprintf("%d %s", i+1, value(e)))
		}
	}
	return ss.multi(c, "+OK", lines)
}

// body streams data dot-stuffed (after each CRLF) and terminated, or as is
// for a raw message.
func (ss *session) body(m Message, data []byte) error {
	w := ss.w
	if m.Raw {
		w.Write(data)
		return ss.flush()
	}
	for len(data) > 0 {
		if data[0] == '.' {
			w.WriteByte('.')
		}
		i := bytes.Index(data, []byte("\r\n"))
		if i < 0 {
			w.Write(data)
			w.WriteString("\r\n")
			break
		}
		if _, err := w.Write(data[:i+2]); err != nil {
			return err
		}
		data = data[i+2:]
	}
	if _, err := w.WriteString(".\r\n"); err != nil {
		return err
	}
	return ss.flush()
}

func (ss *session) capa(c Command) error {
	s := ss.s
	if s.NoCAPA {
		return ss.errf(c, "", "Unknown command.")
	}
	var caps []string
	if !s.NoTOP {
		caps = append(caps, "TOP")
	}
	if !s.NoUIDL {
		caps = append(caps, "UIDL")
	}
	if !s.NoRespCodes {
		caps = append(caps, "RESP-CODES", "AUTH-RESP-CODE")
	}
	if !s.NoPipelining {
		caps = append(caps, "PIPELINING")
	}
	if ss.user == "" {
		if !s.NoUSER {
			caps = append(caps, "USER")
		}
		if mechs := s.sasl(); len(mechs) > 0 {
			caps = append(caps, "SASL "+strings.Join(mechs, " "))
		}
		if ss.stlsAvailable() {
			caps = append(caps, "STLS")
		}
	}
	if s.Expire != "" {
		caps = append(caps, "EXPIRE "+s.Expire)
	}
	switch {
	case ss.user != "" && s.LoginDelayAfter > 0:
		caps = append(caps, "LOGIN-DELAY "+strconv.Itoa(s.LoginDelayAfter))
	case ss.user != "" && s.LoginDelayAfter < 0:
	case s.LoginDelay > 0 && s.LoginDelayAfter != 0:
		caps = append(caps, "LOGIN-DELAY "+strconv.Itoa(s.LoginDelay)+" USER")
	case s.LoginDelay > 0:
		caps = append(caps, "LOGIN-DELAY "+strconv.Itoa(s.LoginDelay))
	}
	if s.Implementation != "" {
		caps = append(caps, "IMPLEMENTATION "+s.Implementation)
	}
	return ss.multi(c, "+OK Capability list follows", caps)
}

func (ss *session) stlsAvailable() bool {
	return !ss.s.NoSTLS && !ss.s.ImplicitTLS && !ss.tls
}

func (ss *session) stls(c Command) error {
	if !ss.stlsAvailable() {
		if ss.tls {
			return ss.errf(c, "", "TLS is already active.")
		}
		return ss.errf(c, "", "Unknown command.")
	}
	if err := ss.line(c, "+OK Begin TLS negotiation now."); err != nil {
		return err
	}
	if err := ss.after(); err != nil {
		return err
	}
	if n := ss.r.Buffered(); n > 0 {
		b, _ := ss.r.Peek(n)
		ss.s.record(Command{Session: ss.id, Line: strconv.Quote(string(b)), Discarded: true})
	}
	return ss.handshake()
}

func (ss *session) plaintextRefused(c Command) (bool, error) {
	if ss.s.RequireTLS && !ss.tls {
		return true, ss.errf(c, "AUTH", "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.")
	}
	return false, nil
}

func (ss *session) cmdUser(c Command, args string) error {
	if ss.s.NoUSER {
		return ss.errf(c, "", "Unknown command.")
	}
	if refused, err := ss.plaintextRefused(c); refused {
		return err
	}
	if args == "" {
		return ss.errf(c, "", "No username given.")
	}
	ss.pendingUser = args
	return ss.line(c, "+OK")
}

func (ss *session) cmdPass(c Command, args string) error {
	if ss.s.NoUSER {
		return ss.errf(c, "", "Unknown command.")
	}
	if refused, err := ss.plaintextRefused(c); refused {
		return err
	}
	user := ss.pendingUser
	ss.pendingUser = ""
	if user == "" {
		return ss.errf(c, "", "No username given.")
	}
	if pw, ok := ss.s.password(user); !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(args)) != 1 {
		return ss.errf(c, "AUTH", "Authentication failed.")
	}
	return ss.login(c, user)
}

func (ss *session) cmdAPOP(c Command, args string) error {
	if ss.timestamp == "" {
		return ss.errf(c, "", "Unknown command.")
	}
	if refused, err := ss.plaintextRefused(c); refused {
		return err
	}
	user, digest, ok := strings.Cut(args, " ")
	if !ok || user == "" {
		return ss.errf(c, "", "Invalid arguments.")
	}
	pw, ok := ss.s.password(user)
	sum := md5.Sum([]byte(ss.timestamp + pw))
	if !ok || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(digest))) != 1 {
		return ss.errf(c, "AUTH", "Authentication failed.")
	}
	return ss.login(c, user)
}

func (ss *session) cmdAuth(c Command, args string) error {
	mechs := ss.s.sasl()
	if args == "" {
		return ss.multi(c, "+OK", mechs)
	}
	if refused, err := ss.plaintextRefused(c); refused {
		return err
	}
	mech, ir, hasIR := strings.Cut(args, " ")
	mech = strings.ToUpper(mech)
	if !slices.Contains(mechs, mech) {
		return ss.errf(c, "", "Unsupported authentication mechanism.")
	}
	var authUser string
	lookup := func(u string) (string, bool) {
		authUser = u
		return ss.s.password(u)
	}
	var srv sasl.Server
	switch mech {
	case "PLAIN":
		srv = sasl.NewPlainServer(func(identity, username, password string) error {
			authUser = username
			pw, ok := ss.s.password(username)
			if !ok || (identity != "" && identity != username) || subtle.ConstantTimeCompare([]byte(pw), []byte(password)) != 1 {
				return saslmech.ErrInvalidCredentials
			}
			return nil
		})
	case "LOGIN":
		srv = saslmech.NewLoginServer(func(username, password string) error {
			authUser = username
			pw, ok := ss.s.password(username)
			if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(password)) != 1 {
				return saslmech.ErrInvalidCredentials
			}
			return nil
		})
	case "CRAM-MD5":
		srv = saslmech.NewCRAMMD5Server("", lookup)
	case "SCRAM-SHA-1", "SCRAM-SHA-256":
		srv = saslmech.NewSCRAMServer(mech, lookup)
	case "XOAUTH2":
		srv = saslmech.NewXOAUTH2Server(lookup)
	case "OAUTHBEARER":
		srv = &oauthGuard{inner: sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			authUser = o.Username
			pw, ok := ss.s.password(o.Username)
			if !ok || o.Username == "" || subtle.ConstantTimeCompare([]byte(pw), []byte(o.Token)) != 1 {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		})}
	case "EXTERNAL":
		srv = sasl.NewExternalServer(func(identity string) error {
			authUser = ss.certUser
			if ss.certUser == "" || (identity != "" && identity != ss.certUser) {
				return saslmech.ErrInvalidCredentials
			}
			return nil
		})
	default:
		return ss.errf(c, "", "Unsupported authentication mechanism.")
	}
	var resp []byte
	if hasIR {
		if ir == "=" {
			resp = []byte{}
		} else {
			b, err := base64.StdEncoding.DecodeString(ir)
			if err != nil {
				return ss.errf(c, "", "Invalid base64 data in initial response.")
			}
			resp = b
		}
	}
	for range 16 {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			return ss.errf(c, "AUTH", "Authentication failed.")
		}
		if done {
			return ss.login(c, authUser)
		}
		if err := ss.write(c, []byte("+ "+base64.StdEncoding.EncodeToString(challenge)+"\r\n")); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		cont := Command{Session: ss.id, Line: "<redacted>", TLS: ss.tls, Pipelined: ss.pipelined}
		if line == "*" {
			cont.Line = "*"
		}
		ss.s.record(cont)
		if line == "*" {
			return ss.errf(c, "", "Authentication aborted by client.")
		}
		resp, err = base64.StdEncoding.DecodeString(line)
		if err != nil {
			return ss.errf(c, "", "Invalid base64 data in continued response.")
		}
	}
	return ss.errf(c, "AUTH", "Authentication failed.")
}

// oauthGuard shields go-sasl's OAUTHBEARER server from the response that
// follows its error challenge (it mishandles an empty one).
type oauthGuard struct {
	inner  sasl.Server
	failed bool
}

func (g *oauthGuard) Next(resp []byte) ([]byte, bool, error) {
	if g.failed {
		return nil, true, saslmech.ErrInvalidCredentials
	}
	ch, done, err := g.inner.Next(resp)
	if !done && err == nil && resp != nil {
		g.failed = true
	}
	return ch, done, err
}

// login takes the mailbox lock and enters the TRANSACTION state.
func (ss *session) login(c Command, user string) error {
	s := ss.s
	s.mu.Lock()
	mb := s.users[user]
	if mb == nil {
		s.mu.Unlock()
		return ss.errf(c, "AUTH", "Authentication failed.")
	}
	if mb.holder != 0 {
		mb.overlaps++
		s.mu.Unlock()
		return ss.errf(c, "IN-USE", "Mailbox is locked by another session.")
	}
	mb.holder = ss.id
	ss.msgs = slices.Clone(mb.entries)
	s.mu.Unlock()
	ss.deleted = make([]bool, len(ss.msgs))
	ss.user = user
	return ss.line(c, "+OK Logged in.")
}

// commit removes the messages marked deleted (RFC 1939 UPDATE state).
func (ss *session) commit() {
	s := ss.s
	gone := map[int64]bool{}
	for i, e := range ss.msgs {
		if ss.deleted[i] {
			gone[e.id] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.users[ss.user]; mb != nil {
		mb.entries = slices.DeleteFunc(mb.entries, func(e *entry) bool { return gone[e.id] })
	}
}

func (ss *session) unlock() {
	if ss.user == "" {
		return
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.users[ss.user]; mb != nil && mb.holder == ss.id {
		mb.holder = 0
	}
}

func (s *Server) password(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mb := s.users[user]; mb != nil {
		return mb.password, true
	}
	return "", false
}
