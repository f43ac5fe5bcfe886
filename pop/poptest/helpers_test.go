package poptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/require"
)

// client is a minimal raw POP3 client for the tests (the real client lives
// in package pop, which this package must not import).
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, s *Server) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

func dialTLS(t testing.TB, s *Server) *client {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.Addr(), s.ClientTLSConfig())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *client) send(line string) {
	c.t.Helper()
	_, err := io.WriteString(c.conn, line+"\r\n")
	require.NoError(c.t, err)
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	require.NoError(c.t, err, "partial line %q", l)
	require.True(c.t, strings.HasSuffix(l, "\r\n"), "line %q", l)
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// multi reads the lines of a multi-line response, unstuffed.
func (c *client) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

// body reads a multi-line body byte-exact: unstuffing after CRLF only,
// ending at CRLF.CRLF (or ".CRLF" as the first line).
func (c *client) body() []byte {
	c.t.Helper()
	out := []byte{}
	for {
		l, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			out = append(out, l...)
			for err == bufio.ErrBufferFull {
				l, err = c.r.ReadSlice('\n')
				out = append(out, l...)
			}
			require.NoError(c.t, err)
			continue
		}
		require.NoError(c.t, err)
		// A line starts a new CRLF-terminated line only after CRLF.
		atStart := len(out) == 0 || bytes.HasSuffix(out, []byte("\r\n"))
		if atStart && string(l) == ".\r\n" {
			return out
		}
		if atStart && len(l) > 0 && l[0] == '.' {
			l = l[1:]
		}
		out = append(out, l...)
	}
}

func (c *client) login(user, pass string) {
	c.t.Helper()
	require.Equal(c.t, "+OK", c.cmd("USER "+user))
	require.Equal(c.t, "+OK Logged in.", c.cmd("PASS "+pass))
}

// auth runs a SASL exchange with an initial response; it returns the final
// status line.
func (c *client) auth(sc sasl.Client) string {
	c.t.Helper()
	mech, ir, err := sc.Start()
	require.NoError(c.t, err)
	line := "AUTH " + mech
	if ir != nil {
		line += " " + b64(ir)
	}
	reply := c.cmd(line)
	for strings.HasPrefix(reply, "+ ") || reply == "+" {
		ch, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimPrefix(reply, "+"), " "))
		require.NoError(c.t, err)
		resp, err := sc.Next(ch)
		if err != nil {
			reply = c.cmd("*")
			continue
		}
		reply = c.cmd(base64.StdEncoding.EncodeToString(resp))
	}
	return reply
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// closed reports whether the server closed the connection (EOF without
// further data).
func (c *client) closed() bool {
	c.t.Helper()
	b, err := c.r.ReadByte()
	if err == nil {
		c.t.Logf("unexpected byte %q", b)
		return false
	}
	return err == io.EOF || strings.Contains(err.Error(), "reset")
}

func start(t testing.TB, s *Server) *Server {
	t.Helper()
	s.Start(t)
	return s
}

// checkNoLeak fails t when goroutines remain after the test beyond those
// running before it.
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

const (
	waitFor = 5 * time.Second
	tick    = 5 * time.Millisecond
)

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func unlocked(s *Server, user string) bool {
	s.mu.Lock()
	known := s.users[user] != nil
	s.mu.Unlock()
	return known && !s.Locked(user)
}
