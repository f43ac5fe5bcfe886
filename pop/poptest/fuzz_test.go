package poptest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeSession runs one server session over net.Pipe and returns the client
// end; the session's goroutine is awaited by t.Cleanup.
func pipeSession(t *testing.T, s *Server) *client {
	srv, cli := net.Pipe()
	done := make(chan struct{})
	s.mu.Lock()
	s.sessions++
	id := s.sessions
	s.mu.Unlock()
	go func() {
		defer close(done)
		defer srv.Close()
		newSession(s, id, srv).run()
	}()
	t.Cleanup(func() { cli.Close(); <-done })
	cli.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, conn: cli, r: bufio.NewReader(cli)}
}

// FuzzRetr checks that RETR and TOP of any message decode (with CRLF-only
// unstuffing, ending at CRLF.CRLF) to exactly Served and ServedTop.
func FuzzRetr(f *testing.F) {
	s := &Server{NoAPOP: true}
	s.Start(f)
	f.Fuzz(func(t *testing.T, data []byte, lines uint8) {
		s.AddUser("u", "p", Message{UID: "1", Data: data})
		c := pipeSession(t, s)
		c.line()
		c.login("u", "p")
		require.Equal(t, fmt.Sprintf("+OK %d octets", len(Served(data))), c.cmd("RETR 1"))
		assert.Equal(t, Served(data), c.body())
		require.Equal(t, "+OK", c.cmd(fmt.Sprintf("TOP 1 %d", lines)))
		assert.Equal(t, ServedTop(data, int(lines)), c.body())
		c.cmd("QUIT")
	})
}

// FuzzSession feeds arbitrary client input to a session: the server must
// neither panic nor hang, and never echo a PASS argument into the
// transcript.
func FuzzSession(f *testing.F) {
	s := &Server{IdleTimeout: 200 * time.Millisecond, MaxLineLength: 256}
	s.Start(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		s.AddUser("alice", "pw", corpus...)
		c := pipeSession(t, s)
		go func() {
			c.conn.Write(input)
			io.WriteString(c.conn, "\r\nQUIT\r\n")
		}()
		_, err := io.Copy(io.Discard, c.r)
		_ = err // the server closes the pipe, or the idle timeout ends it
		for _, cmd := range s.Transcript() {
			if cmd.Name == "PASS" {
				_, arg, _ := strings.Cut(cmd.Line, " ")
				assert.Contains(t, []string{"", "<redacted>"}, arg, "%q", cmd.Line)
			}
		}
	})
}
