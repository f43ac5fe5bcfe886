package deliver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// LMTPOptions configure an [LMTP] deliverer. The zero value of each field is
// documented with it; a nil *LMTPOptions means all zero values.
type LMTPOptions struct {
	// TraceOptions are the trace fields prepended and the header hygiene
	// applied. LocalHost is also the LHLO name. Leave DeliveredTo unset for
	// Dovecot, whose LMTP adds a Delivered-To field of its own.
	TraceOptions
	// RcptTo returns the address to give in RCPT TO for a recipient; nil
	// means the recipient itself. For a Dovecot whose user names have no
	// domain, strip it (the results still name the envelope recipients).
	// What it returns must be a valid address or a bare local part.
	RcptTo func(recipient string) string
	// Dialer opens the connection; nil means a net.Dialer.
	Dialer Dialer
	// Timeouts bound each phase of the session.
	Timeouts Timeouts
	// Logger receives warnings (a possible duplicate after a lost
	// connection) and debug messages; nil means slog.Default().
	Logger *slog.Logger
	// DebugWriter, when set, receives the raw protocol exchange.
	DebugWriter io.Writer
}

// LMTP delivers messages to an LMTP server (RFC 2033), such as Dovecot's or
// Cyrus's, over a unix socket or TCP. Each Deliver call opens one connection
// and runs one transaction for all recipients; the server's reply for each
// recipient after the message data becomes that recipient's result.
type LMTP struct {
	network, address string
	opts             LMTPOptions
	log              *slog.Logger
}

var _ Deliverer = (*LMTP)(nil)

// NewLMTP returns an LMTP deliverer for the server at address on network
// ("unix" for a socket path, "tcp" for host:port). opts is copied.
func NewLMTP(network, address string, opts *LMTPOptions) *LMTP {
	l := &LMTP{network: network, address: address}
	if opts != nil {
		l.opts = *opts
	}
	l.opts.Timeouts = l.opts.Timeouts.withDefaults()
	l.log = l.opts.Logger
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// Deliver offers msg to every recipient of env in one LMTP transaction and
// returns a result per recipient, in envelope order:
//
//   - an invalid address is refused here, Permanent, and never sent;
//   - a recipient refused at RCPT gets no data: Permanent for a 5xx reply,
//     Temporary for a 4xx one;
//   - after the data, each recipient's own reply decides: 2xx Delivered, 5xx
//     Permanent, 4xx Temporary;
//   - a recipient left without a reply (connection lost, timeout, ctx
//     cancelled) is Temporary and logged as a possible duplicate, since the
//     server may have delivered before the connection went.
//
// The error reports a failure of the session (connection, protocol,
// context), with the results saying which recipients it left Temporary.
// MAIL FROM carries env.From when it is a valid address, else the null
// sender <>; BODY=8BITMIME is declared when offered. msg is read once, to
// its end unless the session fails.
func (l *LMTP) Deliver(ctx context.Context, env Envelope, msg io.Reader) (Results, error) {
	out := newOutcome(env.To)
	rcpts := make([]string, 0, len(env.To))
	for i, r := range env.To {
		if err := checkAddress(r); err != nil {
			out.res[i].Status, out.res[i].Err = Permanent, err
			continue
		}
		wire := r
		if l.opts.RcptTo != nil {
			wire = l.opts.RcptTo(r)
			if err := checkWireAddress(wire); err != nil {
				out.res[i].Err = err
				continue
			}
		}
		if out.add(i, wire) {
			rcpts = append(rcpts, wire)
		}
	}
	if len(rcpts) == 0 {
		return out.res, nil
	}
	// Refuse a bad configuration before connecting.
	if _, err := l.opts.TraceOptions.Prelude(env, out.original(rcpts)); err != nil {
		out.setAll(rcpts, Temporary, err)
		return out.res, err
	}
	s, err := l.open(ctx)
	if err != nil {
		out.setAll(rcpts, Temporary, err)
		return out.res, err
	}
	defer s.quit(ctx)
	err = s.deliver(ctx, env, rcpts, msg, out)
	if err != nil {
		return out.res, err
	}
	return out.res, nil
}

// open connects and greets the server.
func (l *LMTP) open(ctx context.Context) (*session, error) {
	t := l.opts.Timeouts
	local, err := localHost(l.opts.LocalHost)
	if err != nil {
		return nil, err
	}
	s := &session{proto: "lmtp", server: l.address, lmtp: true, trace: &l.opts.TraceOptions, log: l.log}
	d := l.opts.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	dctx, cancel := context.WithTimeout(ctx, t.Connect)
	defer cancel()
	conn, err := d.DialContext(dctx, l.network, l.address)
	if err != nil {
		return nil, s.fail(ctx, "connect", err)
	}
	s.conn = newCtxConn(ctx, conn, t.DataBlock)
	s.c = smtp.NewClientLMTP(s.conn)
	s.c.CommandTimeout = t.Command
	s.c.SubmissionTimeout = t.DataTermination
	s.c.DebugWriter = l.opts.DebugWriter
	if err := s.c.Hello(local); err != nil {
		_ = s.conn.Close()
		return nil, s.fail(ctx, "greeting", err)
	}
	return s, nil
}

// checkWireAddress accepts what LMTPOptions.RcptTo may return: a valid
// address or a bare dot-atom local part. The error is temporary: it is a
// configuration mistake, not the recipient's.
func checkWireAddress(a string) error {
	if checkAddress(a) == nil {
		return nil
	}
	if a != "" && len(a) <= 64 && !strings.Contains(a, "@") && !strings.HasPrefix(a, `"`) && validLocal(a) && utf8.ValidString(a) {
		return nil
	}
	return &Error{Message: fmt.Sprintf("lmtp: RcptTo returned an invalid address %q", a)}
}
