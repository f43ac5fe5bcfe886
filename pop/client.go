package pop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/netctx"
)

// Defaults used when the corresponding field of Options.Timeouts
// ([account.Timeouts]) is zero.
const (
	DefaultDialTimeout    = 30 * time.Second
	DefaultCommandTimeout = time.Minute
	DefaultDataTimeout    = 2 * time.Minute
	DefaultMessageTimeout = time.Hour
	DefaultMinRate        = 1024 // octets per second
	DefaultRateWindow     = time.Minute
	DefaultSessionTimeout = 4 * time.Hour
	DefaultMaxListing     = 250_000
	DefaultWindow         = 16
)

// bufferSize is the session's read buffer: a message's lines are handed on
// from it. 32 KiB takes what a socket read usually returns (Dovecot writes
// 4 KiB TLS records, and a few dozen KiB at a time in plain); in
// scripts/bench-pipeline's corpus run 64 KiB cost multidropd 0.5-1 MiB of
// peak RSS for no time saved.
const bufferSize = 32 << 10

// A Dialer makes network connections. *net.Dialer and the SOCKS5 dialers of
// golang.org/x/net/proxy satisfy it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Options configures a Client. A nil *Options means all defaults; the zero
// value of each field means its default.
type Options struct {
	// Timeouts bound every wait and the pipelining window; see
	// [account.Timeouts] for each field and the Default* constants for
	// their defaults. Command bounds a command and its whole reply (status
	// line, or every line of a listing); a message body must arrive within
	// Message, never stay silent longer than Data and keep at least
	// MinRate octets a second over each RateWindow; no wait goes past
	// Session after the connection was made. An expired bound is a
	// [*TimeoutError] and ends the session without QUIT. Dial is used by
	// [Dial]; a longer listing than MaxListing lines is ErrListingTooLong.
	account.Timeouts
	// DebugWriter, when set, receives the raw protocol: commands prefixed
	// "C: ", status and listing lines prefixed "S: ". Credentials (PASS,
	// the APOP digest, AUTH initial responses and continuations) are
	// replaced by "***"; message bodies are summarised, not copied.
	DebugWriter io.Writer
	// AllowInsecureAuth permits a password or token (USER/PASS, APOP,
	// PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) over a connection without TLS.
	AllowInsecureAuth bool
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Dial <= 0 {
		r.Dial = DefaultDialTimeout
	}
	if r.Command <= 0 {
		r.Command = DefaultCommandTimeout
	}
	if r.Data <= 0 {
		r.Data = DefaultDataTimeout
	}
	if r.Message <= 0 {
		r.Message = DefaultMessageTimeout
	}
	switch {
	case r.MinRate == 0:
		r.MinRate = DefaultMinRate
	case r.MinRate < 0:
		r.MinRate = 0 // off
	}
	if r.RateWindow <= 0 {
		r.RateWindow = DefaultRateWindow
	}
	if r.Session <= 0 {
		r.Session = DefaultSessionTimeout
	}
	if r.MaxListing <= 0 {
		r.MaxListing = DefaultMaxListing
	}
	if r.Window <= 0 {
		r.Window = DefaultWindow
	}
	return r
}

// Client is a POP3 session (RFC 1939). Its methods must not be called
// concurrently. A message body returned by Retr or Top, or passed by
// RetrAll, is valid until the next call on the Client.
//
// After a protocol violation or a network error the session is over: every
// later call returns the same error, and Close (not Quit) ends it, so no
// deletion is committed.
type Client struct {
	raw      net.Conn
	nc       *netctx.Conn
	conn     net.Conn // nc, or a *tls.Conn over nc
	br       *bufio.Reader
	bw       *bufio.Writer
	opts     Options
	isTLS    bool
	tlsConn  *tls.Conn
	greeting []byte
	caps     Capabilities
	body     *dotReader
	err      error // sticky: the session is over
	closed   bool

	start   time.Time // connection attempt; Session counts from here
	cmd     string    // command of the current wait, for a TimeoutError
	bound   Bound     // the bound SetLimit enforces now
	inBody  bool      // reading a message body: idle means Data
	preCaps Capabilities
	login   time.Time // successful login, zero before
}

// NewClient starts a session on conn, which may already be a *tls.Conn, and
// reads the greeting. On error conn is closed.
func NewClient(ctx context.Context, conn net.Conn, opts *Options) (*Client, error) {
	return newClient(ctx, conn, opts.withDefaults(), time.Now())
}

func newClient(ctx context.Context, conn net.Conn, o Options, start time.Time) (*Client, error) {
	nc := netctx.New(conn)
	nc.SetTimeouts(o.Command, o.Command)
	c := &Client{raw: conn, nc: nc, conn: nc, opts: o, start: start}
	c.arm("", BoundCommand, o.Command)
	c.br = bufio.NewReaderSize(nc, bufferSize)
	c.bw = bufio.NewWriterSize(nc, 4096)
	if tc, ok := conn.(*tls.Conn); ok {
		c.isTLS, c.tlsConn = true, tc
	}
	c.nc.Bind(ctx)
	line, err := c.readLine("")
	if err != nil {
		c.Close()
		return nil, err
	}
	st, ok := parseStatus(line, false)
	if !ok {
		err := c.broke(&ProtocolError{Err: ErrBadStatus, Detail: escape(line)})
		c.Close()
		return nil, err
	}
	if !st.ok {
		e := &Error{Command: "greeting", Code: st.code, Text: escape(st.text)}
		c.Close()
		return nil, e
	}
	c.greeting = bytes.Clone(st.text)
	if err := c.checkIdle(""); err != nil {
		c.Close()
		return nil, err
	}
	c.nc.Release()
	return c, nil
}

// Dial connects to address with d (a *net.Dialer when nil) and starts a
// session. With a non-nil tlsConfig the connection uses implicit TLS from
// the first byte (RFC 8314). Connecting, the handshake and the greeting
// together are bounded by ctx and Options.Timeouts.Dial.
func Dial(ctx context.Context, d Dialer, address string, tlsConfig *tls.Config, opts *Options) (*Client, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	o := opts.withDefaults()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Dial)
	defer cancel()
	raw, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("pop: dial %s: %w", address, err)
	}
	if tlsConfig == nil {
		return newClient(ctx, raw, o, start)
	}
	nc := netctx.New(raw)
	nc.SetTimeouts(o.Command, o.Command)
	nc.Bind(ctx)
	tc := tls.Client(nc, tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("pop: TLS handshake with %s: %w", address, err)
	}
	nc.Release()
	nc.SetTimeouts(0, 0)
	c, err := newClient(ctx, tc, o, start)
	if err != nil {
		return nil, err
	}
	c.raw = raw
	return c, nil
}

// IsTLS reports whether the session runs over TLS.
func (c *Client) IsTLS() bool { return c.isTLS }

// Greeting returns the text of the server's greeting (escaped).
func (c *Client) Greeting() string { return escape(c.greeting) }

// TLSConnectionState returns the TLS state; ok is false without TLS.
func (c *Client) TLSConnectionState() (tls.ConnectionState, bool) {
	if c.tlsConn == nil {
		return tls.ConnectionState{}, false
	}
	return c.tlsConn.ConnectionState(), true
}

// Close ends the session without QUIT: messages marked for deletion stay on
// the server. It is safe to call more than once.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	if c.err == nil {
		c.err = ErrClosed
	}
	err := c.conn.Close()
	if c.raw != nil {
		c.raw.Close()
	}
	return err
}

// Err returns the error that ended the session, nil while it is usable.
func (c *Client) Err() error {
	if c.err == ErrClosed && !c.closed {
		return nil
	}
	return c.err
}

// broke ends the session after a protocol violation or a network error.
func (c *Client) broke(err error) error {
	err = c.timeoutError(err)
	if c.err == nil {
		c.err = err
	}
	c.body = nil
	c.conn.Close()
	if c.raw != nil {
		c.raw.Close()
	}
	c.closed = true
	return err
}

func wrapIO(cmd string, err error) error {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return err
	}
	if cmd == "" {
		return fmt.Errorf("pop: %w", err)
	}
	return fmt.Errorf("pop: %s: %w", cmd, err)
}

// begin prepares command cmd: it drains a pending body, binds ctx and
// arms the command's bound.
func (c *Client) begin(ctx context.Context, cmd string) error {
	if c.err != nil {
		return c.err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pop: %w", context.Cause(ctx))
	}
	c.nc.Bind(ctx)
	if c.body != nil {
		b := c.body
		c.body = nil
		if err := b.drain(); err != nil {
			return c.broke(err)
		}
		c.endBody()
		if err := c.checkIdle(b.command); err != nil {
			return err
		}
	}
	if !time.Now().Before(c.sessionEnd()) {
		return c.broke(&TimeoutError{Command: cmd, Bound: BoundSession, Limit: c.opts.Session})
	}
	c.arm(cmd, BoundCommand, c.opts.Command)
	return nil
}

// sessionEnd is when the session's overall bound expires.
func (c *Client) sessionEnd() time.Time { return c.start.Add(c.opts.Session) }

// arm bounds the following reads and writes, on behalf of cmd, to d from
// now (bound b) or the end of the session, whichever comes first. The idle
// timeout is d too: only the total bound can trip.
func (c *Client) arm(cmd string, b Bound, d time.Duration) {
	end := time.Now().Add(d)
	c.cmd, c.bound = cmd, b
	if se := c.sessionEnd(); se.Before(end) {
		end, c.bound = se, BoundSession
	}
	c.nc.SetLimit(end)
	c.nc.SetTimeouts(d, d)
}

// startBody arms the bounds of a message body: Message in total, Data of
// silence, MinRate over each RateWindow.
func (c *Client) startBody(cmd string) {
	c.arm(cmd, BoundMessage, c.opts.Message)
	c.nc.SetReadTimeout(c.opts.Data)
	c.nc.SetMinRate(c.opts.MinRate, c.opts.RateWindow)
	c.inBody = true
}

func (c *Client) endBody() {
	c.nc.SetMinRate(0, 0)
	c.inBody = false
}

// timeoutError turns a deadline error of the connection into the
// [*TimeoutError] of the bound that tripped.
func (c *Client) timeoutError(err error) error {
	var te *TimeoutError
	if err == nil || errors.As(err, &te) {
		return err
	}
	e := &TimeoutError{Command: c.cmd}
	switch {
	case errors.Is(err, netctx.ErrTooSlow):
		e.Bound, e.Limit, e.MinRate = BoundRate, c.opts.RateWindow, c.opts.MinRate
	case errors.Is(err, netctx.ErrLimit):
		e.Bound = c.bound
	case errors.Is(err, os.ErrDeadlineExceeded) && c.inBody:
		e.Bound = BoundData
	case errors.Is(err, os.ErrDeadlineExceeded):
		e.Bound = BoundCommand
	default:
		return err
	}
	if e.Limit == 0 {
		switch e.Bound {
		case BoundCommand:
			e.Limit = c.opts.Command
		case BoundData:
			e.Limit = c.opts.Data
		case BoundMessage:
			e.Limit = c.opts.Message
		case BoundSession:
			e.Limit = c.opts.Session
		}
	}
	return e
}

// checkArg rejects what cannot be sent safely as a command argument.
func checkArg(what, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Errorf("%w: %s holds CR, LF or NUL", ErrBadArgument, what)
	}
	return nil
}

// send writes one command. secret > 0 redacts arguments from index
// secret-1 on in the debug output.
func (c *Client) send(secret int, verb string, args ...string) error {
	for _, a := range args {
		if err := checkArg(verb+" argument", a); err != nil {
			return err
		}
	}
	c.bw.WriteString(verb)
	for _, a := range args {
		c.bw.WriteByte(' ')
		c.bw.WriteString(a)
	}
	c.bw.WriteString("\r\n")
	if c.opts.DebugWriter != nil {
		var b strings.Builder
		b.WriteString("C: ")
		b.WriteString(verb)
		for i, a := range args {
			b.WriteByte(' ')
			if secret > 0 && i >= secret-1 {
				b.WriteString("***")
			} else {
				b.WriteString(escape([]byte(a)))
			}
		}
		b.WriteByte('\n')
		io.WriteString(c.opts.DebugWriter, b.String())
	}
	return nil
}

func (c *Client) flush(cmd string) error {
	if err := c.bw.Flush(); err != nil {
		return c.broke(wrapIO(cmd, err))
	}
	return nil
}

func (c *Client) debugf(format string, args ...any) {
	if c.opts.DebugWriter != nil {
		fmt.Fprintf(c.opts.DebugWriter, format, args...)
	}
}

// readLine reads one line of at most MaxStatusLine octets and returns it
// without its line ending (CRLF, or a bare LF from a sloppy server). The
// slice is valid until the next read.
func (c *Client) readLine(cmd string) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > MaxStatusLine {
		return nil, c.broke(&ProtocolError{Command: cmd, Err: ErrLineTooLong, Detail: escape(line[:min(len(line), 64)])})
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil, c.broke(wrapIO(cmd, io.ErrUnexpectedEOF))
		}
		if errors.Is(err, io.EOF) {
			return nil, c.broke(&ProtocolError{Command: cmd, Err: ErrBadStatus, Detail: "line without end: " + escape(line)})
		}
		return nil, c.broke(wrapIO(cmd, err))
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if c.opts.DebugWriter != nil {
		c.debugf("S: %s\n", escape(line))
	}
	return line, nil
}

// readStatus reads a status line. A -ERR is returned as *Error with the
// status; a malformed line ends the session.
func (c *Client) readStatus(cmd string, allowCont bool) (status, error) {
	line, err := c.readLine(cmd)
	if err != nil {
		return status{}, err
	}
	st, ok := parseStatus(line, allowCont)
	if !ok {
		return st, c.broke(&ProtocolError{Command: cmd, Err: ErrBadStatus, Detail: escape(line)})
	}
	if !st.ok && !st.cont {
		return st, c.refusal(cmd, st)
	}
	return st, nil
}

// checkIdle ends the session if the server sent bytes nobody asked for.
func (c *Client) checkIdle(cmd string) error {
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(min(n, 64))
		return c.broke(&ProtocolError{Command: cmd, Err: ErrUnsolicited, Detail: escape(b)})
	}
	return nil
}

// simple runs a lock-step command with a one-line reply.
func (c *Client) simple(ctx context.Context, secret int, verb string, args ...string) (status, error) {
	if err := c.begin(ctx, verb); err != nil {
		return status{}, err
	}
	if err := c.send(secret, verb, args...); err != nil {
		return status{}, err
	}
	if err := c.flush(verb); err != nil {
		return status{}, err
	}
	st, err := c.readStatus(verb, false)
	if c.err != nil {
		return st, c.err
	}
	if ierr := c.checkIdle(verb); ierr != nil {
		return st, ierr
	}
	return st, err
}

// readListing reads the lines of a multi-line reply up to the "." line,
// removing one leading dot, and passes each to fn.
func (c *Client) readListing(cmd string, fn func(line []byte) error) error {
	for n := 0; ; n++ {
		line, err := c.readLine(cmd)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return c.broke(&ProtocolError{Command: cmd, Err: ErrNoTerminator})
			}
			return err
		}
		if len(line) > 0 && line[0] == '.' {
			if len(line) == 1 {
				return c.checkIdle(cmd)
			}
			line = line[1:]
		}
		if n >= c.opts.MaxListing {
			return c.broke(&ProtocolError{Command: cmd, Err: ErrListingTooLong, Detail: "more than " + strconv.Itoa(c.opts.MaxListing) + " lines"})
		}
		if err := fn(line); err != nil {
			return c.broke(err)
		}
	}
}

// Capabilities returns the server's capabilities, asking with CAPA (RFC
// 2449) the first time after connecting, STLS and login. A server without
// CAPA yields an empty set and no error.
func (c *Client) Capabilities(ctx context.Context) (Capabilities, error) {
	if c.caps != nil {
		return c.caps, nil
	}
	st, err := c.simpleMulti(ctx, "CAPA")
	_ = st
	var perr *Error
	if errors.As(err, &perr) {
		c.caps = Capabilities{}
		return c.caps, nil
	}
	if err != nil {
		return nil, err
	}
	caps := Capabilities{}
	err = c.readListing("CAPA", func(line []byte) error {
		f := strings.Fields(string(line))
		if len(f) == 0 {
			return nil
		}
		name := strings.ToUpper(f[0])
		caps[name] = append(caps[name], f[1:]...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.caps = caps
	return caps, nil
}

// simpleMulti sends a lock-step command whose +OK is followed by a
// multi-line reply; it leaves the reply unread.
func (c *Client) simpleMulti(ctx context.Context, verb string, args ...string) (status, error) {
	if err := c.begin(ctx, verb); err != nil {
		return status{}, err
	}
	if err := c.send(0, verb, args...); err != nil {
		return status{}, err
	}
	if err := c.flush(verb); err != nil {
		return status{}, err
	}
	st, err := c.readStatus(verb, false)
	if c.err != nil {
		return st, c.err
	}
	if err != nil {
		return st, c.checkIdleOr(verb, err)
	}
	return st, nil
}

func (c *Client) checkIdleOr(cmd string, err error) error {
	if ierr := c.checkIdle(cmd); ierr != nil {
		return ierr
	}
	return err
}

// StartTLS upgrades the session with STLS (RFC 2595). Bytes the server sent
// after its +OK and before the handshake are an ErrUnsolicited protocol
// error (response injection). The capabilities are forgotten and read again
// over TLS.
func (c *Client) StartTLS(ctx context.Context, config *tls.Config) error {
	if c.isTLS {
		return fmt.Errorf("%w: STLS on a TLS session", ErrBadArgument)
	}
	if _, err := c.simple(ctx, 0, "STLS"); err != nil {
		return err
	}
	c.arm("STLS", BoundCommand, c.opts.Command)
	tc := tls.Client(c.nc, config)
	if err := tc.HandshakeContext(ctx); err != nil {
		return c.broke(fmt.Errorf("pop: STLS: TLS handshake: %w", err))
	}
	c.conn = tc
	c.isTLS, c.tlsConn = true, tc
	c.br.Reset(tc)
	c.bw.Reset(tc)
	c.caps = nil
	_, err := c.Capabilities(ctx)
	return err
}

// insecure reports whether sending a password now needs AllowInsecureAuth.
func (c *Client) insecure() error {
	if c.isTLS || c.opts.AllowInsecureAuth {
		return nil
	}
	return ErrInsecure
}

func (c *Client) loggedIn(ctx context.Context) error {
	c.login = time.Now()
	c.preCaps, c.caps = c.caps, nil
	_, err := c.Capabilities(ctx)
	return err
}

// Login authenticates with USER and PASS (RFC 1939).
func (c *Client) Login(ctx context.Context, user, password string) error {
	if err := c.insecure(); err != nil {
		return err
	}
	if err := checkArg("user name", user); err != nil {
		return err
	}
	if err := checkArg("password", password); err != nil {
		return err
	}
	if _, err := c.simple(ctx, 0, "USER", user); err != nil {
		return err
	}
	if _, err := c.simple(ctx, 1, "PASS", password); err != nil {
		return err
	}
	return c.loggedIn(ctx)
}

// APOP authenticates with APOP (RFC 1939 section 7) using the timestamp of
// the greeting; ErrNotSupported when the greeting has none.
func (c *Client) APOP(ctx context.Context, user, secret string) error {
	if err := c.insecure(); err != nil {
		return err
	}
	if err := checkArg("user name", user); err != nil {
		return err
	}
	if strings.ContainsAny(user, " ") {
		return fmt.Errorf("%w: APOP user name holds a space", ErrBadArgument)
	}
	i := bytes.IndexByte(c.greeting, '<')
	j := bytes.LastIndexByte(c.greeting, '>')
	if i < 0 || j < i+2 || !bytes.Contains(c.greeting[i:j], []byte("@")) {
		return fmt.Errorf("%w: no APOP timestamp in the greeting", ErrNotSupported)
	}
	sum := md5.Sum(append(bytes.Clone(c.greeting[i:j+1]), secret...))
	if _, err := c.simple(ctx, 2, "APOP", user, hex.EncodeToString(sum[:])); err != nil {
		return err
	}
	return c.loggedIn(ctx)
}

// plaintextMechs send a reusable secret in the clear.
var plaintextMechs = map[string]bool{"PLAIN": true, "LOGIN": true, "XOAUTH2": true, "OAUTHBEARER": true}

// maxAuthLine is the longest AUTH command with an initial response (RFC
// 5034 section 4); a longer response is sent after an empty challenge.
const maxAuthLine = 255

// Auth authenticates with SASL (RFC 5034), sending the initial response in
// the AUTH command when it fits.
func (c *Client) Auth(ctx context.Context, m sasl.Client) error {
	mech, ir, err := m.Start()
	if err != nil {
		return fmt.Errorf("pop: AUTH: %w", err)
	}
	mech = strings.ToUpper(mech)
	if plaintextMechs[mech] {
		if err := c.insecure(); err != nil {
			return err
		}
	}
	if err := checkArg("mechanism", mech); err != nil {
		return err
	}
	if err := c.begin(ctx, "AUTH"); err != nil {
		return err
	}
	args := []string{mech}
	pending := []byte(nil) // response to send after an empty challenge
	if ir != nil {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		if len("AUTH ")+len(mech)+1+len(enc)+2 <= maxAuthLine {
			args = append(args, enc)
		} else {
			pending = ir
		}
	}
	if err := c.send(2, "AUTH", args...); err != nil {
		return err
	}
	if err := c.flush("AUTH"); err != nil {
		return err
	}
	for {
		st, err := c.readStatus("AUTH", true)
		if c.err != nil {
			return c.err
		}
		if err != nil {
			return c.checkIdleOr("AUTH", err)
		}
		if st.ok {
			if err := c.checkIdle("AUTH"); err != nil {
				return err
			}
			return c.loggedIn(ctx)
		}
		var resp []byte
		if pending != nil {
			resp, pending = pending, nil
		} else {
			challenge, derr := base64.StdEncoding.DecodeString(string(st.text))
			if derr != nil {
				return c.cancelAuth(&ProtocolError{Command: "AUTH", Err: ErrBadStatus, Detail: "challenge is not base64"})
			}
			var nerr error
			resp, nerr = m.Next(challenge)
			if nerr != nil {
				return c.cancelAuth(fmt.Errorf("pop: AUTH %s: %w", mech, nerr))
			}
		}
		c.arm("AUTH", BoundCommand, c.opts.Command)
		c.bw.WriteString(base64.StdEncoding.EncodeToString(resp))
		c.bw.WriteString("\r\n")
		c.debugf("C: ***\n")
		if err := c.flush("AUTH"); err != nil {
			return err
		}
	}
}

// cancelAuth sends "*" and reads the server's -ERR.
func (c *Client) cancelAuth(cause error) error {
	c.bw.WriteString("*\r\n")
	c.debugf("C: *\n")
	if err := c.flush("AUTH"); err != nil {
		return err
	}
	st, err := c.readStatus("AUTH", false)
	if c.err != nil {
		return c.err
	}
	if err == nil && st.ok {
		// A server that accepts a cancelled exchange cannot be trusted.
		return c.broke(&ProtocolError{Command: "AUTH", Err: ErrBadStatus, Detail: "+OK after cancelled authentication"})
	}
	return cause
}

// Stat returns the number of messages and their total size (STAT).
func (c *Client) Stat(ctx context.Context) (count int, size int64, err error) {
	st, err := c.simple(ctx, 0, "STAT")
	if err != nil {
		return 0, 0, err
	}
	f := bytes.Fields(st.text)
	if len(f) < 2 {
		return 0, 0, c.broke(&ProtocolError{Command: "STAT", Err: ErrBadListing, Detail: escape(st.text)})
	}
	n, err1 := parseUint(f[0])
	s, err2 := parseUint(f[1])
	if err1 != nil || err2 != nil {
		return 0, 0, c.broke(&ProtocolError{Command: "STAT", Err: ErrBadListing, Detail: escape(st.text)})
	}
	return int(n), s, nil
}

// ListEntry is one line of a LIST scan listing.
type ListEntry struct {
	Number int
	Size   int64
}

// UIDEntry is one line of a UIDL listing. UID is exactly what the server
// sent; see [MessageInfo] for the checks the Downloader applies.
type UIDEntry struct {
	Number int
	UID    string
}

// List returns the scan listing of every message (LIST). Duplicate or
// malformed lines are protocol errors.
func (c *Client) List(ctx context.Context) ([]ListEntry, error) {
	var out []ListEntry
	err := readEntries(ctx, c, "LIST", parseListLine, func(n int, size int64) { out = append(out, ListEntry{n, size}) })
	return out, err
}

// ListOne returns the scan listing of message n (LIST n).
func (c *Client) ListOne(ctx context.Context, n int) (ListEntry, error) {
	size, err := readEntry(ctx, c, "LIST", n, parseListLine)
	if err != nil {
		return ListEntry{}, err
	}
	return ListEntry{n, size}, nil
}

// UIDL returns the unique-id listing of every message (UIDL).
func (c *Client) UIDL(ctx context.Context) ([]UIDEntry, error) {
	var out []UIDEntry
	err := readEntries(ctx, c, "UIDL", parseUIDLine, func(n int, uid string) { out = append(out, UIDEntry{n, uid}) })
	return out, err
}

// UIDLOne returns the unique id of message n (UIDL n).
func (c *Client) UIDLOne(ctx context.Context, n int) (UIDEntry, error) {
	uid, err := readEntry(ctx, c, "UIDL", n, parseUIDLine)
	if err != nil {
		return UIDEntry{}, err
	}
	return UIDEntry{n, uid}, nil
}

// readEntries sends cmd (LIST or UIDL) and passes each line of its
// multi-line listing, parsed by parse, to add. A duplicate message number is
// a protocol error.
func readEntries[T any](ctx context.Context, c *Client, cmd string, parse func([]byte) (int, T, error), add func(int, T)) error {
	if _, err := c.simpleMulti(ctx, cmd); err != nil {
		return err
	}
	seen := map[int]bool{}
	return c.readListing(cmd, func(line []byte) error {
		n, v, err := parse(line)
		if err != nil {
			return err
		}
		if seen[n] {
			return &ProtocolError{Command: cmd, Err: ErrDuplicate, Detail: strconv.Itoa(n)}
		}
		seen[n] = true
		add(n, v)
		return nil
	})
}

// readEntry sends "cmd n" and parses the single-line answer, which must be
// about message n.
func readEntry[T any](ctx context.Context, c *Client, cmd string, n int, parse func([]byte) (int, T, error)) (T, error) {
	var zero T
	st, err := c.simple(ctx, 0, cmd, strconv.Itoa(n))
	if err != nil {
		return zero, err
	}
	m, v, err := parse(st.text)
	if err == nil && m != n {
		err = &ProtocolError{Command: cmd, Err: ErrInconsistent, Detail: "asked for " + strconv.Itoa(n) + ", got " + strconv.Itoa(m)}
	}
	if err != nil {
		return zero, c.broke(err)
	}
	return v, nil
}

func checkNumber(n int) error {
	if n <= 0 {
		return fmt.Errorf("%w: message number %d", ErrBadArgument, n)
	}
	return nil
}

// Retr retrieves message n (RETR). The body streams from the connection and
// is valid until the next call on c; what is left unread then is drained.
// It yields the message's bytes exactly, dot-unstuffed once.
func (c *Client) Retr(ctx context.Context, n int) (io.Reader, error) {
	if err := checkNumber(n); err != nil {
		return nil, err
	}
	return c.multi(ctx, "RETR", strconv.Itoa(n))
}

// Top retrieves the header of message n and its first lines of body (TOP,
// RFC 1939 section 7), with the same lifetime as Retr's body.
func (c *Client) Top(ctx context.Context, n, lines int) (io.Reader, error) {
	if err := checkNumber(n); err != nil {
		return nil, err
	}
	if lines < 0 {
		return nil, fmt.Errorf("%w: negative line count", ErrBadArgument)
	}
	return c.multi(ctx, "TOP", strconv.Itoa(n), strconv.Itoa(lines))
}

func (c *Client) multi(ctx context.Context, verb string, args ...string) (io.Reader, error) {
	if err := c.begin(ctx, verb); err != nil {
		return nil, err
	}
	if err := c.send(0, verb, args...); err != nil {
		return nil, err
	}
	if err := c.flush(verb); err != nil {
		return nil, err
	}
	if _, err := c.readStatus(verb, false); err != nil {
		if c.err != nil {
			return nil, c.err
		}
		return nil, c.checkIdleOr(verb, err)
	}
	c.startBody(verb)
	c.body = newDotReader(c.br, verb)
	return &body{c: c, d: c.body}, nil
}

// body is a message body handed out by the Client; it fails once the next
// command has started.
type body struct {
	c *Client
	d *dotReader
}

func (b *body) Read(p []byte) (int, error) {
	if b.c.body != b.d {
		if b.d.done && b.d.err == nil {
			return 0, io.EOF
		}
		return 0, errStale
	}
	n, err := b.d.Read(p)
	if err != nil && err != io.EOF {
		err = b.c.broke(err)
	}
	return n, err
}

func (b *body) WriteTo(w io.Writer) (int64, error) {
	if b.c.body != b.d {
		return 0, errStale
	}
	n, err := b.d.WriteTo(w)
	if err != nil && b.d.err != nil {
		err = b.c.broke(b.d.err)
	}
	return n, err
}

// Dele marks message n for deletion (DELE), committed by Quit.
func (c *Client) Dele(ctx context.Context, n int) error {
	if err := checkNumber(n); err != nil {
		return err
	}
	_, err := c.simple(ctx, 0, "DELE", strconv.Itoa(n))
	return err
}

// Rset unmarks every message marked for deletion (RSET).
func (c *Client) Rset(ctx context.Context) error {
	_, err := c.simple(ctx, 0, "RSET")
	return err
}

// Noop does nothing but keep the session alive (NOOP).
func (c *Client) Noop(ctx context.Context) error {
	_, err := c.simple(ctx, 0, "NOOP")
	return err
}

// Quit ends the session with QUIT, committing deletions, and closes the
// connection. A nil error means the server answered +OK.
func (c *Client) Quit(ctx context.Context) error {
	_, err := c.simple(ctx, 0, "QUIT")
	c.Close()
	return err
}

// window returns the number of commands to keep in flight, asking CAPA
// first if nobody did.
func (c *Client) window(ctx context.Context) int {
	if c.caps == nil {
		if _, err := c.Capabilities(ctx); err != nil {
			return 1
		}
	}
	if c.caps.Has("PIPELINING") {
		return c.opts.Window
	}
	return 1
}

// RetrAll retrieves the messages nums in order, passing each body to fn; the
// body is valid until fn returns and is drained afterwards. When the server
// offers PIPELINING (RFC 2449) up to Options.Window RETR commands are in
// flight; otherwise they run in lock-step. A -ERR for one message is
// collected (wrapped *Error) and the others go on; an error from fn stops
// further commands (those in flight are drained) and is returned. Network
// errors and protocol violations end the session.
func (c *Client) RetrAll(ctx context.Context, nums []int, fn func(n int, body io.Reader) error) error {
	for _, n := range nums {
		if err := checkNumber(n); err != nil {
			return err
		}
	}
	w := c.window(ctx)
	if err := c.begin(ctx, "RETR"); err != nil {
		return err
	}
	var errs []error
	sent, stop := 0, false
	for i := 0; i < len(nums); i++ {
		c.arm("RETR", BoundCommand, c.opts.Command)
		if !stop && sent-i < (w+1)/2 || sent == i {
			for sent < len(nums) && sent-i < w && !stop {
				c.send(0, "RETR", strconv.Itoa(nums[sent]))
				sent++
			}
			if err := c.flush("RETR"); err != nil {
				return err
			}
		}
		if i >= sent {
			break
		}
		_, err := c.readStatus("RETR", false)
		if c.err != nil {
			return c.err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("message %d: %w", nums[i], err))
			continue
		}
		c.startBody("RETR")
		d := newDotReader(c.br, "RETR")
		c.body = d
		var ferr error
		if !stop {
			ferr = fn(nums[i], &body{c: c, d: d})
		}
		if c.err != nil {
			return c.err
		}
		c.body = nil
		if err := d.drain(); err != nil {
			return c.broke(err)
		}
		c.endBody()
		c.debugf("S: [message %d, %d octets]\n", nums[i], d.n)
		if ferr != nil {
			errs = append(errs, ferr)
			stop = true
		}
	}
	if err := c.checkIdle("RETR"); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// DeleAll marks the messages nums for deletion, pipelined like RetrAll. A
// -ERR for one message is collected and the others go on.
func (c *Client) DeleAll(ctx context.Context, nums []int) error {
	for _, n := range nums {
		if err := checkNumber(n); err != nil {
			return err
		}
	}
	w := c.window(ctx)
	if err := c.begin(ctx, "DELE"); err != nil {
		return err
	}
	var errs []error
	sent := 0
	for i := 0; i < len(nums); i++ {
		c.arm("DELE", BoundCommand, c.opts.Command)
		if sent == i {
			for sent < len(nums) && sent-i < w {
				c.send(0, "DELE", strconv.Itoa(nums[sent]))
				sent++
			}
			if err := c.flush("DELE"); err != nil {
				return err
			}
		}
		_, err := c.readStatus("DELE", false)
		if c.err != nil {
			return c.err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("message %d: %w", nums[i], err))
		}
	}
	if err := c.checkIdle("DELE"); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// LoginDelay returns the server's LOGIN-DELAY (RFC 2449 section 6.8): the
// minimum time between two logins to this maildrop. After login it is the
// value announced then, else the one announced before login (which RFC
// 2449 lets the server refine per user afterwards); zero when none.
func (c *Client) LoginDelay() time.Duration {
	if !c.login.IsZero() && c.caps.Has("LOGIN-DELAY") {
		return time.Duration(c.caps.LoginDelay()) * time.Second
	}
	caps := c.caps
	if !c.login.IsZero() {
		caps = c.preCaps
	}
	return time.Duration(caps.LoginDelay()) * time.Second
}
