package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode says how an [SMTP] relay protects its connection.
type TLSMode int

const (
	// STARTTLSUnlessLoopback requires STARTTLS (RFC 3207), except to a
	// smarthost on a loopback address, where the session stays in plain
	// text (the zero value).
	STARTTLSUnlessLoopback TLSMode = iota
	// STARTTLSRequired requires STARTTLS whatever the address.
	STARTTLSRequired
	// ImplicitTLS starts TLS on connecting (submissions, RFC 8314).
	ImplicitTLS
	// NoTLS never uses TLS. AUTH is then refused unless the smarthost is on
	// a loopback address.
	NoTLS
)

// SMTPOptions configure an [SMTP] relay. The zero value of each field is
// documented with it; a nil *SMTPOptions means all zero values.
type SMTPOptions struct {
	// TraceOptions are the trace fields prepended and the header hygiene
	// applied; LocalHost is also the EHLO name. DeliveredTo is ignored: a
	// relayed message carries no Delivered-To of ours (the next MTA would
	// take it for a loop).
	TraceOptions
	// TLS says how the connection is protected.
	TLS TLSMode
	// TLSConfig is used for TLS; nil means verification against the system
	// roots (or RootCAs) for the smarthost's host name. A config without
	// ServerName gets the smarthost's host name.
	TLSConfig *tls.Config
	// RootCAs, when set and TLSConfig is nil, are the roots the smarthost's
	// certificate is verified against.
	RootCAs *x509.CertPool
	// Auth returns a fresh SASL client for each connection (a SASL client
	// holds per-exchange state); nil means no AUTH. AUTH is only ever sent
	// over TLS or to a loopback address.
	Auth func() sasl.Client
	// Dialer opens the connection; nil means a net.Dialer.
	Dialer Dialer
	// Timeouts bound each phase of the session.
	Timeouts Timeouts
	// Logger receives warnings (a possible duplicate after a lost
	// connection) and debug messages; nil means slog.Default().
	Logger *slog.Logger
	// DebugWriter, when set, receives the raw protocol exchange after
	// authentication (never the AUTH exchange itself).
	DebugWriter io.Writer
}

// SMTP relays messages to a smarthost (RFC 5321) such as Postfix on the
// local machine or a provider's submission server. Each Deliver call opens
// one connection.
type SMTP struct {
	address  string
	host     string
	loopback bool
	opts     SMTPOptions
	log      *slog.Logger
}

var _ Deliverer = (*SMTP)(nil)

// NewSMTP returns a relay to the smarthost at address (host:port). opts is
// copied.
func NewSMTP(address string, opts *SMTPOptions) *SMTP {
	s := &SMTP{address: address}
	if opts != nil {
		s.opts = *opts
	}
	s.opts.TraceOptions.DeliveredTo = false
	s.opts.Timeouts = s.opts.Timeouts.withDefaults()
	s.log = s.opts.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.host = address
	if h, _, err := net.SplitHostPort(address); err == nil {
		s.host = h
	}
	s.loopback = isLoopback(s.host)
	return s
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Deliver relays msg to every recipient of env and returns a result per
// recipient, in envelope order:
//
//   - an invalid address is refused here, Permanent, and never sent;
//   - a recipient refused at RCPT is Permanent for a 5xx reply, Temporary
//     for a 4xx one; after a 452 (too many recipients) the rest go in a new
//     transaction on the same connection, provided msg is an io.Seeker that
//     can rewind (else they are left Temporary);
//   - the reply after the data applies to every recipient accepted in that
//     transaction: 2xx Delivered, 5xx Permanent, 4xx Temporary;
//   - a connection lost after the data leaves its recipients Temporary and
//     is logged as a possible duplicate.
//
// The error reports a failure of the session (connection, TLS, AUTH,
// context), with the results saying which recipients it left Temporary; a
// required STARTTLS that is not offered fails before anything is sent.
func (s *SMTP) Deliver(ctx context.Context, env Envelope, msg io.Reader) (Results, error) {
	out := newOutcome(env.To)
	rcpts := make([]string, 0, len(env.To))
	for i, r := range env.To {
		if err := checkAddress(r); err != nil {
			out.res[i].Status, out.res[i].Err = Permanent, err
			continue
		}
		if out.add(i, r) {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return out.res, nil
	}
	if _, err := s.opts.TraceOptions.Prelude(env, rcpts); err != nil {
		out.setAll(rcpts, Temporary, err)
		return out.res, err
	}
	sess, err := s.open(ctx)
	if err != nil {
		out.setAll(rcpts, Temporary, err)
		return out.res, err
	}
	defer sess.quit(ctx)
	if err := sess.deliver(ctx, env, rcpts, msg, out); err != nil {
		return out.res, err
	}
	return out.res, nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	var c *tls.Config
	if s.opts.TLSConfig != nil {
		c = s.opts.TLSConfig.Clone()
	} else {
		c = &tls.Config{RootCAs: s.opts.RootCAs, MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

// open connects, protects the session as configured, greets and
// authenticates.
func (s *SMTP) open(ctx context.Context) (*session, error) {
	t := s.opts.Timeouts
	local, err := localHost(s.opts.LocalHost)
	if err != nil {
		return nil, err
	}
	sess := &session{proto: "smtp", server: s.address, trace: &s.opts.TraceOptions, log: s.log}
	d := s.opts.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	dctx, cancel := context.WithTimeout(ctx, t.Connect)
	conn, err := d.DialContext(dctx, "tcp", s.address)
	cancel()
	if err != nil {
		return nil, sess.fail(ctx, "connect", err)
	}
	sess.conn = newCtxConn(ctx, conn, t.DataBlock)
	closeWith := func(what string, err error) (*session, error) {
		_ = sess.conn.Close()
		return nil, sess.fail(ctx, what, err)
	}

	mode := s.opts.TLS
	if mode == STARTTLSUnlessLoopback && s.loopback {
		mode = NoTLS
	}
	secure := false
	switch mode {
	case ImplicitTLS:
		tc := tls.Client(sess.conn, s.tlsConfig())
		sess.conn.setCap(t.Command)
		err := tc.HandshakeContext(ctx)
		sess.conn.setCap(0)
		if err != nil {
			return closeWith("TLS handshake", err)
		}
		sess.c = smtp.NewClient(tc)
		secure = true
	case NoTLS:
		sess.c = smtp.NewClient(sess.conn)
	default:
		// go-smtp says EHLO as "localhost" before STARTTLS and lets us name
		// ourselves after it, where it matters. Its deadlines are bounded by
		// our command timeout meanwhile.
		sess.conn.setCap(t.Command)
		c, err := smtp.NewClientStartTLS(sess.conn, s.tlsConfig())
		sess.conn.setCap(0)
		if err != nil {
			return closeWith("STARTTLS is required", err)
		}
		sess.c = c
		secure = true
	}
	sess.c.CommandTimeout = t.Command
	sess.c.SubmissionTimeout = t.DataTermination
	if err := sess.c.Hello(local); err != nil {
		return closeWith("greeting", err)
	}
	if s.opts.Auth != nil {
		if !secure && !s.loopback {
			return closeWith("AUTH", errors.New("refusing to authenticate without TLS"))
		}
		if ok, _ := sess.c.Extension("AUTH"); !ok {
			return closeWith("AUTH", errors.New("server does not offer AUTH"))
		}
		if err := sess.c.Auth(s.opts.Auth()); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				// Credentials refused: temporary, the mail is kept while an
				// operator fixes the configuration.
				e := replyError(se)
				e.Perm = false
				e.Message = "smtp " + s.address + ": AUTH: " + e.Message
				_ = sess.conn.Close()
				return nil, e
			}
			return closeWith("AUTH", err)
		}
	}
	sess.c.DebugWriter = s.opts.DebugWriter
	return sess, nil
}
