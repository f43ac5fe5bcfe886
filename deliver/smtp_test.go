package deliver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeServer is an in-process go-smtp server (SMTP or LMTP) with fault
// injection, recording what it received.
type fakeServer struct {
	Addr string

	// rcpt answers the nth (1-based) RCPT of a transaction; nil accepts.
	rcpt func(n int, to string) error
	// data answers after the data: per recipient for LMTP, once (to "")
	// for SMTP; nil accepts.
	data func(to string) error
	// dataDelay delays the reply after the data.
	dataDelay time.Duration
	// closeOnWrite closes the connection instead of writing a reply it
	// matches (the drop after the final dot).
	closeOnWrite func(reply string) bool
	auth         bool // offer AUTH PLAIN with user "u", password "p"
	implicitTLS  bool // TLS from the start (with the tls.Config given to startFake)
	noUTF8       bool // do not offer SMTPUTF8

	mu    sync.Mutex
	open  int // connections the client has not closed yet
	msgs  []fakeMsg
	mails int // MAIL commands seen
	authd bool

	srv *smtp.Server
	lis net.Listener
}

type fakeMsg struct {
	from string
	to   []string
	data []byte
}

func (f *fakeServer) received() []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMsg(nil), f.msgs...)
}

func startFake(t *testing.T, f *fakeServer, lmtp bool, tlsConf *tls.Config) *fakeServer {
	t.Helper()
	f.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &fakeSession{f: f, c: c}, nil
	}))
	f.srv.LMTP = lmtp
	f.srv.Domain = "fake.example"
	f.srv.TLSConfig = tlsConf
	f.srv.AllowInsecureAuth = true
	f.srv.EnableSMTPUTF8 = !f.noUTF8
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.lis = &hookListener{Listener: lis, f: f}
	if f.implicitTLS {
		f.lis = tls.NewListener(f.lis, tlsConf)
		f.srv.TLSConfig = nil
	}
	f.Addr = lis.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.srv.Serve(f.lis)
	}()
	t.Cleanup(func() {
		// Every connection the deliverer opened must be closed by it.
		assert.Eventually(t, func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.open == 0
		}, 5*time.Second, 10*time.Millisecond, "connection leak")
		_ = lis.Close() // Serve may not have registered it yet
		_ = f.srv.Close()
		<-done
	})
	return f
}

type hookListener struct {
	net.Listener
	f *fakeServer
}

func (l *hookListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.f.mu.Lock()
	l.f.open++
	l.f.mu.Unlock()
	return &hookConn{Conn: c, f: l.f}, nil
}

type hookConn struct {
	net.Conn
	f    *fakeServer
	once sync.Once
}

// Close is called by the server when the client has gone (or on shutdown).
func (c *hookConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		c.f.open--
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}

func (c *hookConn) Write(p []byte) (int, error) {
	if c.f.closeOnWrite != nil && c.f.closeOnWrite(string(p)) {
		_ = c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

type fakeSession struct {
	f    *fakeServer
	c    *smtp.Conn
	from string
	to   []string
}

func (s *fakeSession) Reset()        { s.from, s.to = "", nil }
func (s *fakeSession) Logout() error { return nil }

func (s *fakeSession) Mail(from string, _ *smtp.MailOptions) error {
	s.f.mu.Lock()
	s.f.mails++
	needAuth := s.f.auth && !s.f.authd
	s.f.mu.Unlock()
	if needAuth {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.f.rcpt != nil {
		if err := s.f.rcpt(len(s.to)+1, to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *fakeSession) read(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	s.f.mu.Lock()
	s.f.msgs = append(s.f.msgs, fakeMsg{from: s.from, to: append([]string(nil), s.to...), data: b})
	s.f.mu.Unlock()
	time.Sleep(s.f.dataDelay) // the slow server being simulated
	return b, nil
}

func (s *fakeSession) Data(r io.Reader) error {
	if _, err := s.read(r); err != nil {
		return err
	}
	if s.f.data != nil {
		return s.f.data("")
	}
	return nil
}

func (s *fakeSession) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	if _, err := s.read(r); err != nil {
		return err
	}
	for _, to := range s.to {
		var err error
		if s.f.data != nil {
			err = s.f.data(to)
		}
		st.SetStatus(to, err)
	}
	return nil
}

func (s *fakeSession) AuthMechanisms() []string {
	if !s.f.auth {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *fakeSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "u" || password != "p" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.f.mu.Lock()
		s.f.authd = true
		s.f.mu.Unlock()
		return nil
	}), nil
}

// checkNoLeak fails the test if goroutines started during it are still
// running shortly after it ends.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // polling for goroutines to exit
		}
		assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutine leak")
	})
}

func smtpErr(code int, enh smtp.EnhancedCode, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

var fixedNow = func() time.Time { return traceTime }

func statuses(res Results) []Status {
	out := make([]Status, len(res))
	for i, r := range res {
		out[i] = r.Status
	}
	return out
}

// selfSigned returns a server TLS config for 127.0.0.1 and localhost, and a
// pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smarthost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func TestSMTPSmugglingShapedInput(t *testing.T) {
	checkNoLeak(t)
	f := startFake(t, &fakeServer{}, false, nil)
	trace := TraceOptions{LocalHost: "mx.example.com", Now: fixedNow}
	d := NewSMTP(f.Addr, &SMTPOptions{TraceOptions: trace})
	for _, in := range []string{
		"Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@example.net>\r\n",
		"Subject: a\r\n\r\nx\r\n.\nRCPT TO:<evil@example.net>\r\n",
		"Subject: a\r\n\r\nx\n.\r\nDATA\r\n",
		"Subject: a\r\n\r\nx\r.\rQUIT",
		"Subject: a\n\n.\n..\n...",
	} {
		env := Envelope{From: "s@example.org", To: []string{"a@example.com"}, Trace: Trace{Host: "pop.example", Key: "k"}}
		res, err := d.Deliver(t.Context(), env, strings.NewReader(in))
		require.NoError(t, err)
		require.Equal(t, []Status{Delivered}, statuses(res), "%v", res[0].Err)
		msgs := f.received()
		got := msgs[len(msgs)-1]
		pre, err := trace.Prelude(env, env.To)
		require.NoError(t, err)
		want := normalizeCRLF(string(pre) + in)
		if !strings.HasSuffix(want, "\r\n") {
			want += "\r\n"
		}
		assert.Equal(t, want, string(got.data))
		assert.Equal(t, "s@example.org", got.from)
	}
	f.mu.Lock()
	assert.Equal(t, 5, f.mails, "one MAIL per message: no smuggled command ran")
	f.mu.Unlock()
}

func TestSMTP452Splitting(t *testing.T) {
	checkNoLeak(t)
	f := startFake(t, &fakeServer{rcpt: func(n int, to string) error {
		if n > 2 {
			return smtpErr(452, smtp.EnhancedCode{4, 5, 3}, "Too many recipients")
		}
		if strings.HasPrefix(to, "gone") {
			return smtpErr(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		}
		if strings.HasPrefix(to, "later") {
			return smtpErr(450, smtp.EnhancedCode{4, 2, 1}, "try later")
		}
		return nil
	}}, false, nil)
	d := NewSMTP(f.Addr, &SMTPOptions{TraceOptions: TraceOptions{LocalHost: "mx", Now: fixedNow}})
	to := []string{"a@x.example", "b@x.example", "c@x.example", "gone@x.example", "d@x.example", "later@x.example", "e@x.example", "bad@@x"}
	res, err := d.Deliver(t.Context(), Envelope{To: to}, strings.NewReader("Subject: s\r\n\r\nbody\r\n"))
	require.NoError(t, err)
	assert.Equal(t, []Status{Delivered, Delivered, Delivered, Permanent, Delivered, Temporary, Delivered, Permanent}, statuses(res))
	var e *Error
	require.ErrorAs(t, res[3].Err, &e)
	assert.Equal(t, 550, e.Code)
	assert.Equal(t, "5.1.1", e.Enhanced)
	msgs := f.received()
	require.Len(t, msgs, 3)
	assert.Equal(t, []string{"a@x.example", "b@x.example"}, msgs[0].to)
	assert.Equal(t, []string{"c@x.example", "d@x.example"}, msgs[1].to)
	assert.Equal(t, []string{"e@x.example"}, msgs[2].to)
	for _, m := range msgs[:2] {
		assert.True(t, bytes.HasSuffix(m.data, []byte("Subject: s\r\n\r\nbody\r\n")))
		assert.NotContains(t, string(m.data), "for <", "several recipients: no for clause")
	}
	assert.Contains(t, string(msgs[2].data), "for <e@x.example>")

	// Without a seekable message the deferred recipients stay temporary.
	res, err = d.Deliver(t.Context(), Envelope{To: to[:4]}, io.MultiReader(strings.NewReader("Subject: s\r\n\r\nbody\r\n")))
	require.NoError(t, err)
	assert.Equal(t, []Status{Delivered, Delivered, Temporary, Temporary}, statuses(res))
}

func TestSMTPDataReply(t *testing.T) {
	checkNoLeak(t)
	for _, tt := range []struct {
		name  string
		reply error
		want  Status
	}{
		{"accepted", nil, Delivered},
		{"4xx", smtpErr(451, smtp.EnhancedCode{4, 3, 0}, "local error"), Temporary},
		{"5xx", smtpErr(554, smtp.EnhancedCode{5, 6, 0}, "content rejected"), Permanent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, &fakeServer{data: func(string) error { return tt.reply }}, false, nil)
			d := NewSMTP(f.Addr, &SMTPOptions{TraceOptions: TraceOptions{LocalHost: "mx"}})
			res, err := d.Deliver(t.Context(), Envelope{To: []string{"a@x.example", "b@x.example"}}, strings.NewReader("S: s\r\n\r\nb\r\n"))
			require.NoError(t, err)
			assert.Equal(t, []Status{tt.want, tt.want}, statuses(res))
		})
	}
}

func TestSMTPSTARTTLS(t *testing.T) {
	checkNoLeak(t)
	srvTLS, pool := selfSigned(t)
	env := Envelope{From: "s@example.org", To: []string{"a@x.example"}}
	msg := "Subject: s\r\n\r\nbody\r\n"

	t.Run("required, not offered", func(t *testing.T) {
		f := startFake(t, &fakeServer{}, false, nil)
		d := NewSMTP(f.Addr, &SMTPOptions{TLS: STARTTLSRequired})
		res, err := d.Deliver(t.Context(), env, strings.NewReader(msg))
		require.Error(t, err)
		assert.True(t, IsTemporary(err))
		assert.Contains(t, err.Error(), "STARTTLS")
		assert.Equal(t, []Status{Temporary}, statuses(res))
		f.mu.Lock()
		assert.Zero(t, f.mails, "nothing sent in plain text")
		f.mu.Unlock()
	})
	t.Run("verified with custom roots, AUTH PLAIN", func(t *testing.T) {
		f := startFake(t, &fakeServer{auth: true}, false, srvTLS)
		d := NewSMTP(f.Addr, &SMTPOptions{TLS: STARTTLSRequired, RootCAs: pool,
			Auth: func() sasl.Client { return sasl.NewPlainClient("", "u", "p") }})
		res, err := d.Deliver(t.Context(), env, strings.NewReader(msg))
		require.NoError(t, err)
		assert.Equal(t, []Status{Delivered}, statuses(res), "%v", res[0].Err)
		require.Len(t, f.received(), 1)
	})
	t.Run("unknown certificate", func(t *testing.T) {
		f := startFake(t, &fakeServer{}, false, srvTLS)
		d := NewSMTP(f.Addr, &SMTPOptions{TLS: STARTTLSRequired})
		res, err := d.Deliver(t.Context(), env, strings.NewReader(msg))
		var uerr x509.UnknownAuthorityError
		require.ErrorAs(t, err, &uerr)
		assert.Equal(t, []Status{Temporary}, statuses(res))
		assert.Empty(t, f.received())
	})
	t.Run("bad credentials", func(t *testing.T) {
		f := startFake(t, &fakeServer{auth: true}, false, srvTLS)
		d := NewSMTP(f.Addr, &SMTPOptions{TLS: STARTTLSRequired, RootCAs: pool,
			Auth: func() sasl.Client { return sasl.NewPlainClient("", "u", "wrong") }})
		res, err := d.Deliver(t.Context(), env, strings.NewReader(msg))
		var e *Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 535, e.Code)
		assert.True(t, IsTemporary(err), "kept while the operator fixes the credentials")
		assert.NotContains(t, err.Error(), "wrong")
		assert.Equal(t, []Status{Temporary}, statuses(res))
	})
	t.Run("implicit TLS", func(t *testing.T) {
		f := startFake(t, &fakeServer{implicitTLS: true, auth: true}, false, srvTLS)
		d := NewSMTP(f.Addr, &SMTPOptions{TLS: ImplicitTLS, TLSConfig: &tls.Config{RootCAs: pool},
			Auth: func() sasl.Client { return sasl.NewPlainClient("", "u", "p") }})
		res, err := d.Deliver(t.Context(), env, strings.NewReader(msg))
		require.NoError(t, err)
		assert.Equal(t, []Status{Delivered}, statuses(res), "%v", res[0].Err)
	})
	t.Run("loopback default: plain text", func(t *testing.T) {
		f := startFake(t, &fakeServer{}, false, nil)
		d := NewSMTP(f.Addr, nil)
		res, err := d.Deliver(t.Context(), env, strings.NewReader(msg))
		require.NoError(t, err)
		assert.Equal(t, []Status{Delivered}, statuses(res))
	})
	t.Run("AUTH refused without TLS off loopback", func(t *testing.T) {
		f := startFake(t, &fakeServer{auth: true}, false, nil)
		// Dial the loopback server under a non-loopback name.
		_, port, _ := net.SplitHostPort(f.Addr)
		dialer := dialFunc(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, f.Addr)
		})
		d := NewSMTP("smarthost.example:"+port, &SMTPOptions{TLS: NoTLS, Dialer: dialer,
			Auth: func() sasl.Client { return sasl.NewPlainClient("", "u", "p") }})
		_, err := d.Deliver(t.Context(), env, strings.NewReader(msg))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "without TLS")
		f.mu.Lock()
		assert.False(t, f.authd)
		f.mu.Unlock()
	})
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

func TestSMTPDropAfterDot(t *testing.T) {
	checkNoLeak(t)
	// The server closes the connection as it sends its reply to the data:
	// the client never sees it.
	f := startFake(t, &fakeServer{
		data:         func(string) error { return errors.New("unused") },
		closeOnWrite: func(reply string) bool { return strings.HasPrefix(reply, "554") },
	}, false, nil)
	d := NewSMTP(f.Addr, nil)
	res, err := d.Deliver(t.Context(), Envelope{To: []string{"a@x.example"}}, strings.NewReader("S: s\r\n\r\nb\r\n"))
	require.Error(t, err)
	assert.True(t, IsTemporary(err))
	assert.Equal(t, []Status{Temporary}, statuses(res))
}

func TestSMTPReadErrorSendsNoDot(t *testing.T) {
	checkNoLeak(t)
	f := startFake(t, &fakeServer{}, false, nil)
	d := NewSMTP(f.Addr, nil)
	boom := errors.New("disk on fire")
	msg := io.MultiReader(strings.NewReader("Subject: s\r\n\r\npartial"), failingReader{boom})
	res, err := d.Deliver(t.Context(), Envelope{To: []string{"a@x.example"}}, msg)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []Status{Temporary}, statuses(res))
	assert.Empty(t, f.received(), "a truncated message never reaches the server")
}

type failingReader struct{ err error }

func (e failingReader) Read([]byte) (int, error) { return 0, e.err }

func TestSMTPUTF8(t *testing.T) {
	checkNoLeak(t)
	env := Envelope{From: "jörg@bücher.example", To: []string{"ascii@x.example", "dörte@x.example"}}
	msg := "Subject: s\r\n\r\nb\r\n"
	f := startFake(t, &fakeServer{}, false, nil)
	res, err := NewSMTP(f.Addr, nil).Deliver(t.Context(), env, strings.NewReader(msg))
	require.NoError(t, err)
	assert.Equal(t, []Status{Delivered, Delivered}, statuses(res))
	require.Len(t, f.received(), 1)
	assert.Equal(t, "jörg@bücher.example", f.received()[0].from)

	f = startFake(t, &fakeServer{noUTF8: true}, true, nil)
	res, err = NewLMTP("tcp", f.Addr, nil).Deliver(t.Context(), env, strings.NewReader(msg))
	require.NoError(t, err)
	assert.Equal(t, []Status{Delivered, Permanent}, statuses(res))
	var e *Error
	require.ErrorAs(t, res[1].Err, &e)
	assert.Equal(t, "5.6.7", e.Enhanced)
	got := f.received()
	require.Len(t, got, 1)
	assert.Empty(t, got[0].from, "a non-ASCII sender without SMTPUTF8 becomes <>")
	assert.Equal(t, []string{"ascii@x.example"}, got[0].to)
}
