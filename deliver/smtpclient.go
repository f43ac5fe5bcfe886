package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Dialer opens network connections; *net.Dialer and golang.org/x/net/proxy
// dialers satisfy it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Timeouts bound each phase of an LMTP or SMTP session. The zero value of
// each field means the RFC 5321 section 4.5.3.2 recommendation.
type Timeouts struct {
	Connect         time.Duration // establishing the connection; 0 means 1 minute
	Command         time.Duration // greeting and each command's reply; 0 means 5 minutes
	DataBlock       time.Duration // each write of message data; 0 means 3 minutes
	DataTermination time.Duration // the reply (LMTP: each reply) after the final dot; 0 means 10 minutes
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = time.Minute
	}
	if t.Command <= 0 {
		t.Command = 5 * time.Minute
	}
	if t.DataBlock <= 0 {
		t.DataBlock = 3 * time.Minute
	}
	if t.DataTermination <= 0 {
		t.DataTermination = 10 * time.Minute
	}
	return t
}

// aLongTimeAgo is a deadline in the past that makes pending I/O fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// ctxConn bridges a context to a connection's deadlines underneath go-smtp,
// which has no context and sets (and clears) deadlines of its own around
// each command. Every deadline go-smtp asks for is shortened to the
// context's deadline and, when cap is set, to now+cap; where go-smtp leaves
// none (while it writes message data) each Read and Write gets now+idle.
// Once the context is done every deadline is in the past, so blocked I/O
// returns at once and later I/O fails.
type ctxConn struct {
	net.Conn
	idle time.Duration

	mu       sync.Mutex
	ctxDL    time.Time     // the context's deadline, zero if none
	cap      time.Duration // upper bound for go-smtp's own deadlines, 0 for none
	set      bool          // go-smtp has a deadline in place
	done     bool          // the context is done
	stop     func() bool
	closeErr error
	closed   bool
}

func newCtxConn(ctx context.Context, c net.Conn, idle time.Duration) *ctxConn {
	cc := &ctxConn{Conn: c, idle: idle}
	if d, ok := ctx.Deadline(); ok {
		cc.ctxDL = d
	}
	cc.stop = context.AfterFunc(ctx, func() {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		cc.done = true
		_ = cc.Conn.SetDeadline(aLongTimeAgo)
	})
	return cc
}

// bound returns t shortened to the context's deadline and the cap.
func (c *ctxConn) bound(t time.Time) time.Time {
	if c.done {
		return aLongTimeAgo
	}
	if c.cap > 0 {
		if lim := time.Now().Add(c.cap); t.IsZero() || lim.Before(t) {
			t = lim
		}
	}
	if !c.ctxDL.IsZero() && (t.IsZero() || c.ctxDL.Before(t)) {
		t = c.ctxDL
	}
	return t
}

func (c *ctxConn) setCap(d time.Duration) {
	c.mu.Lock()
	c.cap = d
	c.mu.Unlock()
}

func (c *ctxConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.set = !t.IsZero()
	return c.Conn.SetDeadline(c.bound(t))
}

func (c *ctxConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.bound(t))
}

func (c *ctxConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(c.bound(t))
}

func (c *ctxConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if !c.set && c.idle > 0 {
		_ = c.Conn.SetReadDeadline(c.bound(time.Now().Add(c.idle)))
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *ctxConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.set && c.idle > 0 {
		_ = c.Conn.SetWriteDeadline(c.bound(time.Now().Add(c.idle)))
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// Close closes the connection once and releases the context hook.
func (c *ctxConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.stop()
		c.closeErr = c.Conn.Close()
	}
	return c.closeErr
}

// session is one LMTP or SMTP client connection delivering messages.
type session struct {
	c      *smtp.Client
	conn   *ctxConn
	proto  string // "lmtp" or "smtp", for messages
	server string // address, for messages
	lmtp   bool
	trace  *TraceOptions
	log    *slog.Logger
}

// fail returns a temporary *Error for a failure of the session, naming the
// context's cause when the context ended it.
func (s *session) fail(ctx context.Context, what string, err error) *Error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	} else if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		// The connection's deadline (the context's) passed a moment before
		// the context's own timer fired.
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return &Error{Message: fmt.Sprintf("%s %s: %s", s.proto, s.server, what), Err: err}
}

// replyError converts a server reply into an *Error: permanent for 5xx,
// temporary otherwise.
func replyError(se *smtp.SMTPError) *Error {
	e := &Error{Code: se.Code, Message: sanitize(se.Message), Perm: se.Code/100 == 5}
	if c := se.EnhancedCode; c != smtp.EnhancedCodeNotSet && c != smtp.NoEnhancedCode {
		e.Enhanced = fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
	}
	return e
}

// sanitize makes server text safe to log and show: control characters
// (multi-line replies' line breaks included) become spaces, and it is
// bounded in length.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}

func statusOf(e *Error) Status {
	if e.Perm {
		return Permanent
	}
	return Temporary
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// outcome collects the per-recipient results of one Deliver call.
type outcome struct {
	res   Results
	index map[string][]int // recipient -> positions in res
}

// newOutcome starts with every recipient Temporary. Recipients are then
// named by their wire address (see add).
func newOutcome(to []string) *outcome {
	o := &outcome{res: make(Results, len(to)), index: make(map[string][]int, len(to))}
	for i, r := range to {
		o.res[i] = Result{Recipient: r, Status: Temporary, Err: &Error{Message: "not attempted"}}
	}
	return o
}

// add names recipient i by wire, the address sent in RCPT TO; it reports
// whether wire is new (several recipients may share one wire address, and
// it is then sent once).
func (o *outcome) add(i int, wire string) bool {
	o.index[wire] = append(o.index[wire], i)
	return len(o.index[wire]) == 1
}

// original returns the envelope recipients behind wire addresses, for the
// trace fields.
func (o *outcome) original(wire []string) []string {
	out := make([]string, 0, len(wire))
	for _, w := range wire {
		for _, i := range o.index[w] {
			out = append(out, o.res[i].Recipient)
		}
	}
	return unique(out)
}

func (o *outcome) set(rcpt string, st Status, err error) {
	for _, i := range o.index[rcpt] {
		o.res[i].Status, o.res[i].Err = st, err
	}
}

func (o *outcome) setAll(rcpts []string, st Status, err error) {
	for _, r := range rcpts {
		o.set(r, st, err)
	}
}

// unique returns the distinct recipients of to, in order.
func unique(to []string) []string {
	seen := make(map[string]bool, len(to))
	out := make([]string, 0, len(to))
	for _, r := range to {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// deliver runs as many mail transactions as it takes to offer msg to every
// recipient in rcpts (several only when an SMTP server answers 452 "too many
// recipients", and only when msg can seek back to its start). It records
// each recipient's outcome in out and returns an error when the session
// itself failed (out then says which recipients are left temporary).
func (s *session) deliver(ctx context.Context, env Envelope, rcpts []string, msg io.Reader, out *outcome) error {
	utf8OK, _ := s.c.Extension("SMTPUTF8")
	from := ReversePath(env.From)
	if !utf8OK && !isASCII(from) {
		s.log.DebugContext(ctx, "non-ASCII sender without SMTPUTF8: using the null sender", "server", s.server)
		from = ""
	}
	pending := make([]string, 0, len(rcpts))
	for _, r := range rcpts {
		if !utf8OK && !isASCII(r) {
			out.set(r, Permanent, &Error{Code: 553, Enhanced: "5.6.7",
				Message: s.proto + " server does not support SMTPUTF8, needed for a non-ASCII address (RFC 6531)", Perm: true})
			continue
		}
		pending = append(pending, r)
	}

	seeker, _ := msg.(io.Seeker)
	var start int64
	if seeker != nil {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}

	for first := true; len(pending) > 0; first = false {
		if !first {
			if seeker == nil {
				out.setAll(pending, Temporary, &Error{Message: s.proto + " server took only some recipients and the message cannot be re-read for the others"})
				return nil
			}
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				out.setAll(pending, Temporary, &Error{Message: "rewinding the message", Err: err})
				return nil
			}
		}
		mopts := &smtp.MailOptions{UTF8: utf8OK && (!isASCII(from) || !allASCII(pending))}
		if err := s.c.Mail(from, mopts); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				e := replyError(se)
				out.setAll(pending, statusOf(e), e)
				return nil
			}
			e := s.fail(ctx, "MAIL FROM", err)
			out.setAll(pending, Temporary, e)
			return e
		}

		var accepted, deferred []string
		for i, r := range pending {
			err := s.c.Rcpt(r, nil)
			if err == nil {
				accepted = append(accepted, r)
				continue
			}
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				e := s.fail(ctx, "RCPT TO", err)
				out.setAll(pending[i:], Temporary, e)
				out.setAll(accepted, Temporary, e)
				return e
			}
			if se.Code == 452 && len(accepted) > 0 {
				// Too many recipients (RFC 5321 section 4.5.3.1.10): the rest
				// go in a new transaction. Were it a full mailbox instead, it
				// is reported as such when it comes first in the next one.
				deferred = pending[i:]
				break
			}
			e := replyError(se)
			out.set(r, statusOf(e), e)
		}
		pending = deferred
		if len(accepted) == 0 {
			continue // nothing deferred either: the loop ends
		}

		if err := s.data(ctx, env, accepted, msg, out); err != nil {
			out.setAll(pending, Temporary, err)
			return err
		}
	}
	return nil
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}

// data sends the message to the accepted recipients of the open
// transaction and records the replies.
func (s *session) data(ctx context.Context, env Envelope, accepted []string, msg io.Reader, out *outcome) error {
	body, err := s.trace.Wrap(env, out.original(accepted), msg)
	if err != nil {
		out.setAll(accepted, Temporary, err)
		return err
	}
	w, err := s.c.Data()
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			e := replyError(se)
			out.setAll(accepted, statusOf(e), e)
			return nil
		}
		e := s.fail(ctx, "DATA", err)
		out.setAll(accepted, Temporary, e)
		return e
	}
	if _, err := copyFramed(w, body); err != nil {
		// Never send the final dot after a short message: drop the
		// connection, so that the server discards what it got.
		_ = s.conn.Close()
		e := s.fail(ctx, "sending the message", err)
		out.setAll(accepted, Temporary, e)
		return e
	}

	if !s.lmtp {
		_, err := w.CloseWithResponse()
		var se *smtp.SMTPError
		switch {
		case err == nil:
			out.setAll(accepted, Delivered, nil)
		case errors.As(err, &se):
			e := replyError(se)
			out.setAll(accepted, statusOf(e), e)
		default:
			e := s.fail(ctx, "no reply after the end of data", err)
			out.setAll(accepted, Temporary, e)
			s.log.WarnContext(ctx, "connection lost after the end of data: the message may have been delivered, a retry may duplicate it",
				"server", s.server, "rcpts", accepted, "key", env.Trace.Key)
			return e
		}
		return nil
	}

	resp, err := w.CloseWithLMTPResponse()
	var lde smtp.LMTPDataError
	errors.As(err, &lde)
	var lost []string
	for _, r := range accepted {
		if _, ok := resp[r]; ok {
			out.set(r, Delivered, nil)
		} else if se, ok := lde[r]; ok {
			e := replyError(se)
			out.set(r, statusOf(e), e)
		} else {
			lost = append(lost, r)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	if err == nil {
		err = errors.New("no reply")
	}
	e := s.fail(ctx, "no reply after the end of data", err)
	out.setAll(lost, Temporary, e)
	for _, r := range lost {
		s.log.WarnContext(ctx, "no LMTP reply for recipient after the end of data: the message may have been delivered, a retry may duplicate it",
			"server", s.server, "rcpt", r, "key", env.Trace.Key)
	}
	return e
}

// quit ends the session politely and closes the connection.
func (s *session) quit(ctx context.Context) {
	if err := s.c.Quit(); err != nil {
		s.log.DebugContext(ctx, "QUIT failed", "server", s.server, "err", err)
	}
	_ = s.conn.Close()
}
