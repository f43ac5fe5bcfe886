package poptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func faultServer(t *testing.T, faults ...Fault) *Server {
	s := &Server{Faults: faults}
	s.AddUser("alice", "pw", corpus[:3]...)
	return start(t, s)
}

func TestFaultDrop(t *testing.T) {
	checkNoLeak(t)
	s := faultServer(t, Fault{Kind: Drop, Command: "RETR", Arg: "2"})
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	c.cmd("DELE 1")
	require.Regexp(t, `^\+OK \d+ octets$`, c.cmd("RETR 3"))
	c.body()
	c.send("RETR 2")
	assert.True(t, c.closed())
	require.Eventually(t, func() bool { return unlocked(s, "alice") }, waitFor, tick)
	assert.Len(t, s.Mailbox("alice"), 3, "a dropped session deletes nothing")
	tr := s.Transcript()
	assert.Equal(t, "RETR 2", tr[len(tr)-1].Line)
}

func TestFaultDropAfter(t *testing.T) {
	checkNoLeak(t)
	s := faultServer(t, Fault{Kind: DropAfter, Command: "dele"})
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	assert.Equal(t, "+OK Marked to be deleted.", c.cmd("DELE 1"))
	assert.True(t, c.closed())
	require.Eventually(t, func() bool { return unlocked(s, "alice") }, waitFor, tick)
	assert.Len(t, s.Mailbox("alice"), 3)
}

func TestFaultStall(t *testing.T) {
	checkNoLeak(t)
	s := faultServer(t,
		Fault{Kind: Stall, Session: 1, Command: "NOOP", Duration: time.Hour},
		Fault{Kind: Stall, Session: 2, Command: "STAT", Duration: 10 * time.Millisecond},
	)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	c.send("NOOP")
	c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.r.ReadByte()
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout, got %v", err)
	c.conn.Close()

	// Session 2 stalls briefly at STAT and then answers. (Session 1 still
	// holds alice's mailbox: a stalled server does not notice the close.)
	s.AddUser("bob", "pw", corpus[:3]...)
	c = dial(t, s)
	c.line()
	c.login("bob", "pw")
	assert.Regexp(t, `^\+OK 3 \d+$`, c.cmd("STAT"))
	assert.Equal(t, "+OK", c.cmd("NOOP"))
}

func TestFaultReply(t *testing.T) {
	tests := []struct {
		fault Fault
		cmds  []string
		want  string
	}{
		{ErrReply("PASS", "IN-USE", "Mailbox in use"), []string{"USER alice", "PASS pw"}, "-ERR [IN-USE] Mailbox in use"},
		{ErrReply("PASS", "LOGIN-DELAY", "Wait"), []string{"USER alice", "PASS pw"}, "-ERR [LOGIN-DELAY] Wait"},
		{ErrReply("PASS", "SYS/TEMP", "Backend down"), []string{"USER alice", "PASS pw"}, "-ERR [SYS/TEMP] Backend down"},
		{ErrReply("PASS", "SYS/PERM", "Account closed"), []string{"USER alice", "PASS pw"}, "-ERR [SYS/PERM] Account closed"},
		{ErrReply("AUTH", "AUTH", "Bad credentials"), []string{"AUTH PLAIN " + b64([]byte("\x00alice\x00pw"))}, "-ERR [AUTH] Bad credentials"},
		{ErrReply("USER", "", "No"), []string{"USER alice"}, "-ERR No"},
		{Fault{Kind: Reply, Command: "STAT", Text: "+OK 7 70\r\n"}, []string{"USER alice", "PASS pw", "STAT"}, "+OK 7 70"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s := faultServer(t, tt.fault)
			c := dial(t, s)
			c.line()
			var got string
			for _, cmd := range tt.cmds {
				got = c.cmd(cmd)
			}
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("command not executed", func(t *testing.T) {
		s := faultServer(t, ErrReply("DELE", "SYS/TEMP", "no"))
		c := dial(t, s)
		c.line()
		c.login("alice", "pw")
		assert.Equal(t, "-ERR [SYS/TEMP] no", c.cmd("DELE 1"))
		c.cmd("QUIT")
		require.True(t, c.closed())
		assert.Len(t, s.Mailbox("alice"), 3)
	})
	t.Run("greeting error ends the session", func(t *testing.T) {
		s := faultServer(t, ErrReply("GREETING", "SYS/TEMP", "Maintenance"))
		c := dial(t, s)
		assert.Equal(t, "-ERR [SYS/TEMP] Maintenance", c.line())
		assert.True(t, c.closed())
	})
}

func TestFaultMalformedListings(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		cmd   string
		want  string // everything the client reads until the server closes
	}{
		{"duplicate numbers", Fault{Kind: Reply, Command: "UIDL", Text: "+OK\r\n1 a\r\n1 b\r\n.\r\n"}, "UIDL", "+OK\r\n1 a\r\n1 b\r\n.\r\n"},
		{"bad line", Fault{Kind: Reply, Command: "LIST", Text: "+OK\r\n1 x\r\ngarbage\r\n.\r\n"}, "LIST", "+OK\r\n1 x\r\ngarbage\r\n.\r\n"},
		{"missing terminator", Fault{Kind: Reply, Command: "UIDL", Text: "+OK\r\n1 a\r\n"}, "UIDL", "+OK\r\n1 a\r\n"},
		{"inconsistent STAT", Fault{Kind: Reply, Command: "STAT", Text: "+OK 9 900"}, "STAT", "+OK 9 900\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := faultServer(t, tt.fault, Fault{Kind: DropAfter, Command: tt.cmd})
			c := dial(t, s)
			c.line()
			c.login("alice", "pw")
			c.send(tt.cmd)
			got, err := io.ReadAll(c.r)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
	t.Run("bad UIDs are sent as given", func(t *testing.T) {
		long := strings.Repeat("x", 100)
		s := &Server{}
		s.AddUser("alice", "pw", Message{UID: long}, Message{UID: "dup"}, Message{UID: "dup"}, Message{UID: "sp ace"}, Message{UID: ""})
		start(t, s)
		c := dial(t, s)
		c.line()
		c.login("alice", "pw")
		require.Equal(t, "+OK", c.cmd("UIDL"))
		assert.Equal(t, []string{"1 " + long, "2 dup", "3 dup", "4 sp ace", "5 "}, c.multi())
	})
}

func TestFaultInject(t *testing.T) {
	checkNoLeak(t)
	t.Run("after greeting", func(t *testing.T) {
		s := faultServer(t, Fault{Kind: Inject, Command: "GREETING", Text: "+OK injected\r\n"})
		c := dial(t, s)
		c.line()
		assert.Equal(t, "+OK injected", c.line())
		assert.Equal(t, "+OK", c.cmd("USER alice"))
	})
	t.Run("after STLS", func(t *testing.T) {
		s := faultServer(t, Fault{Kind: Inject, Command: "STLS", Text: "+OK evil\r\n"})
		c := dial(t, s)
		c.line()
		c.send("STLS")
		// Both lines arrive in plaintext before the handshake.
		assert.Equal(t, "+OK Begin TLS negotiation now.", c.line())
		assert.Equal(t, "+OK evil", c.line())
		assert.Zero(t, c.r.Buffered())
		tc := tls.Client(c.conn, s.ClientTLSConfig())
		require.NoError(t, tc.Handshake())
		c = &client{t: t, conn: tc, r: newReader(tc)}
		assert.Equal(t, "+OK", c.cmd("USER alice"))
	})
	t.Run("plaintext after STLS is discarded", func(t *testing.T) {
		s := faultServer(t)
		c := dial(t, s)
		c.line()
		c.send("STLS\r\nUSER mallory")
		assert.Equal(t, "+OK Begin TLS negotiation now.", c.line())
		tc := tls.Client(c.conn, s.ClientTLSConfig())
		require.NoError(t, tc.Handshake())
		c = &client{t: t, conn: tc, r: newReader(tc)}
		assert.Equal(t, "-ERR No username given.", c.cmd("PASS pw"), "the plaintext USER must not count")
		tr := s.Transcript()
		require.Len(t, tr, 3)
		assert.True(t, tr[1].Discarded)
		assert.Equal(t, `"USER mallory\r\n"`, tr[1].Line)
		assert.Empty(t, tr[1].Name)
	})
}

func TestFaultDropAfterBytes(t *testing.T) {
	checkNoLeak(t)
	big := Message{UID: "big", Data: bytes.Repeat([]byte("0123456789abcdef\r\n"), 10000)}
	for _, n := range []int64{0, 5, 100, 1000, 50000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := &Server{Faults: []Fault{{Kind: DropAfterBytes, Bytes: n}}}
			s.AddUser("alice", "pw", big)
			start(t, s)
			c := dial(t, s)
			// Send the whole session at once; the server answers until the
			// budget is spent.
			_, err := io.WriteString(c.conn, "USER alice\r\nPASS pw\r\nRETR 1\r\nQUIT\r\n")
			require.NoError(t, err)
			got, _ := io.ReadAll(c.r)
			assert.Len(t, got, int(n))
			require.Eventually(t, func() bool { return unlocked(s, "alice") }, waitFor, tick)
			assert.Len(t, s.Mailbox("alice"), 1)
		})
	}
}

func TestRawMessage(t *testing.T) {
	raw := []byte("Subject: x\r\n\r\nline\n.\nafter bare-LF dot\r\n.\r\n")
	s := &Server{}
	s.AddUser("alice", "pw", Message{UID: "r", Data: raw, Raw: true}, corpus[0])
	start(t, s)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	assert.Equal(t, fmt.Sprintf("+OK 1 %d", len(raw)), c.cmd("LIST 1"))
	require.Equal(t, fmt.Sprintf("+OK %d octets", len(raw)), c.cmd("RETR 1"))
	got := make([]byte, len(raw))
	_, err := io.ReadFull(c.r, got)
	require.NoError(t, err)
	assert.Equal(t, raw, got)
	assert.Equal(t, "+OK", c.cmd("NOOP"))

	// The bare-LF dot line of a normal message is not stuffed either: it is
	// not a line start for POP3.
	s2 := &Server{}
	s2.AddUser("bob", "pw", Message{UID: "b", Data: []byte("a\n.\nb\r\n")})
	start(t, s2)
	c = dial(t, s2)
	c.line()
	c.login("bob", "pw")
	c.send("RETR 1")
	c.line()
	wire, err := c.r.Peek(len("a\n.\nb\r\n.\r\n"))
	require.NoError(t, err)
	assert.Equal(t, "a\n.\nb\r\n.\r\n", string(wire))
}

func TestRewrite(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	s := &Server{Rewrite: func(c Command, reply []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c.Name)
		if c.Name == "STAT" {
			return []byte("+OK 1 1\r\n")
		}
		return reply
	}}
	s.AddUser("alice", "pw", corpus...)
	start(t, s)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	assert.Equal(t, "+OK 1 1", c.cmd("STAT"))
	c.cmd("RETR 1")
	assert.Equal(t, Served(corpus[0].Data), c.body(), "bodies are not rewritten")
	c.cmd("QUIT")
	require.True(t, c.closed())
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"GREETING", "USER", "PASS", "STAT", "RETR", "QUIT"}, seen)
}

func TestFaultsCompose(t *testing.T) {
	checkNoLeak(t)
	s := faultServer(t,
		Fault{Kind: Stall, Command: "RETR", Duration: time.Millisecond},
		ErrReply("RETR", "SYS/TEMP", "later"),
		Fault{Kind: Inject, Command: "RETR", Text: "junk\r\n"},
		Fault{Kind: DropAfter, Command: "RETR"},
	)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	c.send("RETR 1")
	got, err := io.ReadAll(c.r)
	require.NoError(t, err)
	assert.Equal(t, "-ERR [SYS/TEMP] later\r\njunk\r\n", string(got))
}

func TestFaultPerUser(t *testing.T) {
	s := &Server{Faults: []Fault{
		{Kind: Reply, User: "bob", Command: "PASS", Text: "-ERR [LOGIN-DELAY] Too soon"},
		{Kind: Reply, User: "alice", Command: "STAT", Text: "+OK 0 0"},
	}}
	s.AddUser("alice", "pw", corpus...)
	s.AddUser("bob", "pw", corpus...)
	start(t, s)
	a := dial(t, s)
	a.line()
	a.login("alice", "pw")
	assert.Equal(t, "+OK 0 0", a.cmd("STAT"))
	b := dial(t, s)
	b.line()
	b.cmd("USER bob")
	assert.Equal(t, "-ERR [LOGIN-DELAY] Too soon", b.cmd("PASS pw"))
	b.cmd("USER alice")
	assert.Equal(t, "-ERR [IN-USE] Mailbox is locked by another session.", b.cmd("PASS pw"))
}

func TestFaultDribble(t *testing.T) {
	checkNoLeak(t)
	s := faultServer(t,
		Fault{Kind: Dribble, Command: "STAT", Bytes: 4, Duration: time.Hour},
		Fault{Kind: Dribble, Command: "RETR", Arg: "1", Bytes: 5, Duration: time.Millisecond})
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	// A dribbled body is still the whole message; the next reply is normal.
	require.Regexp(t, `^\+OK \d+ octets$`, c.cmd("RETR 1"))
	assert.Equal(t, corpus[0].Data, c.body())
	require.Regexp(t, `^\+OK`, c.cmd("NOOP"))
	// The first Bytes go out at once, the next one only after Duration.
	c.send("STAT")
	got := make([]byte, 0, 64)
	for len(got) < 4 {
		buf := make([]byte, 64)
		n, err := c.r.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	assert.Equal(t, "+OK ", string(got))
	c.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := c.r.Read(make([]byte, 64))
	var ne net.Error
	require.ErrorAs(t, err, &ne, "no fifth byte within the hour")
	assert.True(t, ne.Timeout())
	require.NoError(t, s.Close(), "Close ends the dribble")
}

func TestFaultDribbleEndsWithTheServer(t *testing.T) {
	checkNoLeak(t)
	s := faultServer(t, Fault{Kind: Dribble, Command: "LIST", Duration: time.Hour})
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	c.send("LIST")
	require.NoError(t, s.Close(), "Close does not wait out the dribble")
	assert.True(t, c.closed())
}
