package poptest

import (
	"bytes"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/multidrop/multidrop/internal/saslmech"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var corpus = []Message{
	{UID: "u1", Data: []byte("Subject: one\r\n\r\nHello\r\n")},
	{UID: "u2", Data: []byte(".leading dot\r\n..two dots\r\n.\r\nend")},
	{UID: "u3", Data: []byte("bare\nLF and bare\rCR\n.\nnot the end\r\n")},
	{UID: "u4", Data: []byte{}},
	{UID: "u5", Data: []byte("8bit \xff\x00 NUL\r\n")},
}

func TestRetrByteExact(t *testing.T) {
	checkNoLeak(t)
	s := &Server{}
	s.AddUser("alice", "pw", corpus...)
	start(t, s)
	c := dial(t, s)
	assert.Regexp(t, `^\+OK poptest ready\. <\d+\.\d+@poptest>$`, c.line())
	c.login("alice", "pw")
	for i, m := range corpus {
		t.Run(m.UID, func(t *testing.T) {
			require.Equal(t, fmt.Sprintf("+OK %d octets", len(Served(m.Data))), c.cmd(fmt.Sprintf("RETR %d", i+1)))
			assert.Equal(t, Served(m.Data), c.body())
		})
	}
	assert.Equal(t, "+OK Logging out, messages deleted.", c.cmd("QUIT"))
	assert.True(t, c.closed())
}

func TestListingsAndStat(t *testing.T) {
	s := &Server{}
	s.AddUser("alice", "pw", corpus...)
	start(t, s)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	total := 0
	var list, uidl []string
	for i, m := range corpus {
		n := len(Served(m.Data))
		total += n
		list = append(list, fmt.Sprintf("%d %d", i+1, n))
		uidl = append(uidl, fmt.Sprintf("%d %s", i+1, m.UID))
	}
	assert.Equal(t, fmt.Sprintf("+OK %d %d", len(corpus), total), c.cmd("STAT"))
	require.Equal(t, "+OK", c.cmd("LIST"))
	assert.Equal(t, list, c.multi())
	require.Equal(t, "+OK", c.cmd("UIDL"))
	assert.Equal(t, uidl, c.multi())
	assert.Equal(t, "+OK 2 u2", c.cmd("UIDL 2"))
	assert.Equal(t, fmt.Sprintf("+OK 1 %d", len(Served(corpus[0].Data))), c.cmd("LIST 1"))
	assert.Equal(t, "-ERR There's no message 9.", c.cmd("LIST 9"))
	assert.Equal(t, "-ERR Invalid message number.", c.cmd("RETR x"))
	assert.Equal(t, "-ERR Invalid message number.", c.cmd("RETR 0"))
	assert.Equal(t, "-ERR Invalid message number.", c.cmd("DELE +1"))
	assert.Equal(t, "+OK Marked to be deleted.", c.cmd("DELE 1"))
	assert.Equal(t, "-ERR Message 1 is deleted.", c.cmd("RETR 1"))
	assert.Equal(t, "-ERR Message 1 is deleted.", c.cmd("DELE 1"))
	assert.Equal(t, fmt.Sprintf("+OK %d %d", len(corpus)-1, total-len(Served(corpus[0].Data))), c.cmd("STAT"))
	require.Equal(t, "+OK", c.cmd("UIDL"))
	assert.Equal(t, uidl[1:], c.multi())
	assert.Equal(t, "+OK", c.cmd("RSET"))
	assert.Equal(t, "+OK 1 u1", c.cmd("UIDL 1"))
	assert.Equal(t, "+OK", c.cmd("NOOP"))
	assert.Equal(t, "-ERR Unknown command.", c.cmd("LAST"))
	assert.Equal(t, "-ERR Unknown command.", c.cmd("USER bob"))
}

func TestTop(t *testing.T) {
	msg := []byte("A: 1\r\nB: 2\r\n\r\n.line1\r\nline2\nline3\r\n")
	s := &Server{}
	s.AddUser("alice", "pw", Message{UID: "x", Data: msg}, Message{UID: "y", Data: []byte("no body")})
	start(t, s)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	for _, tt := range []struct {
		n    int
		want string
	}{
		{0, "A: 1\r\nB: 2\r\n\r\n"},
		{1, "A: 1\r\nB: 2\r\n\r\n.line1\r\n"},
		{2, "A: 1\r\nB: 2\r\n\r\n.line1\r\nline2\n\r\n"},
		{3, string(msg)},
		{99, string(msg)},
	} {
		require.Equal(t, "+OK", c.cmd(fmt.Sprintf("TOP 1 %d", tt.n)))
		got := c.body()
		assert.Equal(t, tt.want, string(got), "TOP 1 %d", tt.n)
		assert.Equal(t, ServedTop(msg, tt.n), got)
	}
	require.Equal(t, "+OK", c.cmd("TOP 2 0"))
	assert.Equal(t, "no body\r\n", string(c.body()))
	assert.Equal(t, "-ERR Invalid arguments.", c.cmd("TOP 1"))
	assert.Equal(t, "-ERR Invalid arguments.", c.cmd("TOP 1 -1"))
}

func TestDeletionsCommitOnlyOnQuit(t *testing.T) {
	checkNoLeak(t)
	s := &Server{}
	s.AddUser("alice", "pw", corpus[:3]...)
	start(t, s)

	// Dropped session: nothing deleted.
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	require.Equal(t, "+OK Marked to be deleted.", c.cmd("DELE 1"))
	c.conn.Close()
	require.Eventually(t, func() bool { return s.Overlaps("alice") == 0 && len(s.Mailbox("alice")) == 3 && unlocked(s, "alice") }, waitFor, tick)

	// RSET undoes.
	c = dial(t, s)
	c.line()
	c.login("alice", "pw")
	c.cmd("DELE 1")
	c.cmd("RSET")
	c.cmd("DELE 2")
	// Mid-session, nothing is committed.
	assert.Len(t, s.Mailbox("alice"), 3)
	s.AddMessages("alice", Message{UID: "late", Data: []byte("x\r\n")})
	assert.Equal(t, "+OK 2 "+fmt.Sprint(len(Served(corpus[0].Data))+len(Served(corpus[2].Data))), c.cmd("STAT"), "messages added after login are not seen")
	require.Equal(t, "+OK Logging out, messages deleted.", c.cmd("QUIT"))
	require.True(t, c.closed())
	var uids []string
	for _, m := range s.Mailbox("alice") {
		uids = append(uids, m.UID)
	}
	assert.Equal(t, []string{"u1", "u3", "late"}, uids)
}

func TestUserPassAndAPOP(t *testing.T) {
	s := &Server{}
	s.AddUser("alice", "pw")
	start(t, s)
	c := dial(t, s)
	greeting := c.line()
	ts := regexp.MustCompile(`<[^>]+>`).FindString(greeting)
	require.NotEmpty(t, ts)

	assert.Equal(t, "-ERR No username given.", c.cmd("PASS pw"))
	assert.Equal(t, "+OK", c.cmd("USER alice"))
	assert.Equal(t, "-ERR [AUTH] Authentication failed.", c.cmd("PASS wrong"))
	assert.Equal(t, "-ERR No username given.", c.cmd("PASS pw"), "USER must be repeated after a failure")
	assert.Equal(t, "-ERR [AUTH] Authentication failed.", c.cmd("APOP alice 00000000000000000000000000000000"))
	assert.Equal(t, "-ERR Unknown command.", c.cmd("STAT"))
	sum := md5.Sum([]byte(ts + "pw"))
	assert.Equal(t, "+OK Logged in.", c.cmd("APOP alice "+hex.EncodeToString(sum[:])))
	assert.Equal(t, "+OK 0 0", c.cmd("STAT"))
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name    string
		srv     *Server
		want    []string
		absent  []string
		errCmds []string // commands that must fail after login
	}{
		{name: "default", srv: &Server{}, want: []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "SASL " + strings.Join(DefaultSASL, " "), "STLS"}},
		{name: "no UIDL", srv: &Server{NoUIDL: true}, absent: []string{"UIDL"}, errCmds: []string{"UIDL", "UIDL 1"}},
		{name: "no TOP", srv: &Server{NoTOP: true}, absent: []string{"TOP"}, errCmds: []string{"TOP 1 0"}},
		{name: "no pipelining", srv: &Server{NoPipelining: true}, absent: []string{"PIPELINING"}},
		{name: "no STLS", srv: &Server{NoSTLS: true}, absent: []string{"STLS"}},
		{name: "no resp codes", srv: &Server{NoRespCodes: true}, absent: []string{"RESP-CODES", "AUTH-RESP-CODE"}},
		{name: "no SASL", srv: &Server{SASL: []string{}}, absent: []string{"SASL " + strings.Join(DefaultSASL, " ")}},
		{name: "some SASL", srv: &Server{SASL: []string{"PLAIN", "SCRAM-SHA-256"}}, want: []string{"SASL PLAIN SCRAM-SHA-256"}},
		{name: "expire 0", srv: &Server{Expire: "0"}, want: []string{"EXPIRE 0"}},
		{name: "expire never", srv: &Server{Expire: "NEVER"}, want: []string{"EXPIRE NEVER"}},
		{name: "login delay", srv: &Server{LoginDelay: 900}, want: []string{"LOGIN-DELAY 900"}},
		{name: "implementation", srv: &Server{Implementation: "poptest 1"}, want: []string{"IMPLEMENTATION poptest 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.srv
			s.AddUser("alice", "pw", corpus[0])
			start(t, s)
			c := dial(t, s)
			c.line()
			require.Equal(t, "+OK Capability list follows", c.cmd("CAPA"))
			caps := c.multi()
			for _, w := range tt.want {
				assert.Contains(t, caps, w)
			}
			for _, a := range tt.absent {
				assert.NotContains(t, caps, a)
			}
			c.login("alice", "pw")
			require.Equal(t, "+OK Capability list follows", c.cmd("CAPA"))
			after := c.multi()
			assert.NotContains(t, after, "USER")
			assert.NotContains(t, after, "STLS")
			for _, cmd := range tt.errCmds {
				assert.Equal(t, "-ERR Unknown command.", c.cmd(cmd))
			}
		})
	}
	t.Run("no CAPA", func(t *testing.T) {
		s := start(t, &Server{NoCAPA: true})
		c := dial(t, s)
		c.line()
		assert.Equal(t, "-ERR Unknown command.", c.cmd("CAPA"))
	})
	t.Run("no USER", func(t *testing.T) {
		s := &Server{NoUSER: true}
		s.AddUser("alice", "pw")
		start(t, s)
		c := dial(t, s)
		c.line()
		assert.Equal(t, "-ERR Unknown command.", c.cmd("USER alice"))
		assert.Equal(t, "-ERR Unknown command.", c.cmd("PASS pw"))
	})
	t.Run("no APOP", func(t *testing.T) {
		s := &Server{NoAPOP: true}
		s.AddUser("alice", "pw")
		start(t, s)
		c := dial(t, s)
		assert.Equal(t, "+OK poptest ready.", c.line())
		assert.Equal(t, "-ERR Unknown command.", c.cmd("APOP alice 0123"))
	})
	t.Run("no resp codes in errors", func(t *testing.T) {
		s := &Server{NoRespCodes: true}
		s.AddUser("alice", "pw")
		start(t, s)
		c := dial(t, s)
		c.line()
		c.cmd("USER alice")
		assert.Equal(t, "-ERR Authentication failed.", c.cmd("PASS x"))
	})
}

func TestSASL(t *testing.T) {
	checkNoLeak(t)
	s := &Server{}
	s.AddUser("alice@example.org", "s3cret")
	start(t, s)
	tests := []struct {
		name string
		c    sasl.Client
		want string
	}{
		{"PLAIN", sasl.NewPlainClient("", "alice@example.org", "s3cret"), "+OK Logged in."},
		{"PLAIN wrong", sasl.NewPlainClient("", "alice@example.org", "nope"), "-ERR [AUTH] Authentication failed."},
		{"PLAIN other authzid", sasl.NewPlainClient("root", "alice@example.org", "s3cret"), "-ERR [AUTH] Authentication failed."},
		{"LOGIN", sasl.NewLoginClient("alice@example.org", "s3cret"), "+OK Logged in."},
		{"CRAM-MD5", saslmech.NewCRAMMD5Client("alice@example.org", "s3cret"), "+OK Logged in."},
		{"CRAM-MD5 wrong", saslmech.NewCRAMMD5Client("alice@example.org", "x"), "-ERR [AUTH] Authentication failed."},
		{"SCRAM-SHA-1", saslmech.NewSCRAMClient("SHA-1", "alice@example.org", "s3cret"), "+OK Logged in."},
		{"SCRAM-SHA-256", saslmech.NewSCRAMClient("SHA-256", "alice@example.org", "s3cret"), "+OK Logged in."},
		{"SCRAM-SHA-256 wrong", saslmech.NewSCRAMClient("SHA-256", "alice@example.org", "x"), "-ERR [AUTH] Authentication failed."},
		{"XOAUTH2", saslmech.NewXOAUTH2Client("alice@example.org", "s3cret"), "+OK Logged in."},
		{"XOAUTH2 wrong", saslmech.NewXOAUTH2Client("alice@example.org", "expired"), "-ERR [AUTH] Authentication failed."},
		{"OAUTHBEARER", sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "alice@example.org", Token: "s3cret"}), "+OK Logged in."},
		{"OAUTHBEARER wrong", sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "alice@example.org", Token: "x"}), "-ERR Authentication aborted by client."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s)
			c.line()
			assert.Equal(t, tt.want, c.auth(tt.c))
			c.cmd("QUIT")
		})
	}
	t.Run("no initial response", func(t *testing.T) {
		c := dial(t, s)
		c.line()
		assert.Equal(t, "+ ", c.cmd("AUTH PLAIN"))
		assert.Equal(t, "+OK Logged in.", c.cmd(b64([]byte("\x00alice@example.org\x00s3cret"))))
		c.cmd("QUIT")
	})
	t.Run("cancel", func(t *testing.T) {
		c := dial(t, s)
		c.line()
		assert.Equal(t, "+ ", c.cmd("AUTH PLAIN"))
		assert.Equal(t, "-ERR Authentication aborted by client.", c.cmd("*"))
		assert.Equal(t, "-ERR Unsupported authentication mechanism.", c.cmd("AUTH GSSAPI"))
		assert.Equal(t, "-ERR Invalid base64 data in initial response.", c.cmd("AUTH PLAIN !!!"))
		require.Equal(t, "+OK", c.cmd("AUTH"))
		assert.Equal(t, DefaultSASL, c.multi())
	})
	t.Run("not offered", func(t *testing.T) {
		s := &Server{SASL: []string{"SCRAM-SHA-256"}}
		s.AddUser("a", "b")
		start(t, s)
		c := dial(t, s)
		c.line()
		assert.Equal(t, "-ERR Unsupported authentication mechanism.", c.auth(sasl.NewPlainClient("", "a", "b")))
	})
}

func TestTLS(t *testing.T) {
	checkNoLeak(t)
	t.Run("implicit", func(t *testing.T) {
		s := &Server{ImplicitTLS: true}
		s.AddUser("alice", "pw", corpus[1])
		start(t, s)
		c := dialTLS(t, s)
		c.line()
		require.Equal(t, "+OK Capability list follows", c.cmd("CAPA"))
		assert.NotContains(t, c.multi(), "STLS")
		c.login("alice", "pw")
		c.cmd("RETR 1")
		assert.Equal(t, Served(corpus[1].Data), c.body())
		c.cmd("QUIT")
		tr := s.Transcript()
		require.NotEmpty(t, tr)
		for _, cmd := range tr {
			assert.True(t, cmd.TLS, "%+v", cmd)
		}
	})
	t.Run("STLS", func(t *testing.T) {
		s := &Server{RequireTLS: true}
		s.AddUser("alice", "pw")
		start(t, s)
		c := dial(t, s)
		c.line()
		assert.Equal(t, "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.", c.cmd("USER alice"))
		require.Equal(t, "+OK Begin TLS negotiation now.", c.cmd("STLS"))
		tc := tls.Client(c.conn, s.ClientTLSConfig())
		require.NoError(t, tc.Handshake())
		c = &client{t: t, conn: tc, r: newReader(tc)}
		require.Equal(t, "+OK Capability list follows", c.cmd("CAPA"))
		assert.NotContains(t, c.multi(), "STLS")
		assert.Equal(t, "-ERR TLS is already active.", c.cmd("STLS"))
		c.login("alice", "pw")
		c.cmd("QUIT")
		var names []string
		for _, cmd := range s.Transcript() {
			names = append(names, fmt.Sprintf("%s %v", cmd.Name, cmd.TLS))
		}
		assert.Equal(t, []string{"USER false", "STLS false", "CAPA true", "STLS true", "USER true", "PASS true", "QUIT true"}, names)
	})
	t.Run("certificate", func(t *testing.T) {
		s := start(t, &Server{ImplicitTLS: true})
		assert.Contains(t, string(s.CAPEM()), "BEGIN CERTIFICATE")
		for _, name := range []string{"localhost", "127.0.0.1"} {
			cfg := s.ClientTLSConfig()
			cfg.ServerName = name
			conn, err := tls.Dial("tcp", s.Addr(), cfg)
			require.NoError(t, err, name)
			conn.Close()
		}
		_, err := tls.Dial("tcp", s.Addr(), &tls.Config{ServerName: "localhost"})
		assert.Error(t, err, "system roots must not accept the test CA")
	})
}

func TestMailboxLock(t *testing.T) {
	checkNoLeak(t)
	s := &Server{}
	s.AddUser("alice", "pw", corpus[0])
	start(t, s)
	a := dial(t, s)
	a.line()
	a.login("alice", "pw")
	b := dial(t, s)
	b.line()
	b.cmd("USER alice")
	assert.Equal(t, "-ERR [IN-USE] Mailbox is locked by another session.", b.cmd("PASS pw"))
	assert.Equal(t, 1, s.Overlaps("alice"))
	a.cmd("QUIT")
	assert.True(t, unlocked(s, "alice"), "QUIT releases the mailbox before its reply")
	b.cmd("USER alice")
	assert.Equal(t, "+OK Logged in.", b.cmd("PASS pw"))
	assert.Equal(t, 2, s.Sessions())
}

func TestPipelining(t *testing.T) {
	s := &Server{}
	s.AddUser("alice", "pw", corpus...)
	start(t, s)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	// Make sure the server has answered PASS before the batch goes out.
	c.cmd("NOOP")
	_, err := c.conn.Write([]byte("RETR 1\r\nRETR 2\r\nDELE 1\r\nDELE 2\r\nSTAT\r\n"))
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("+OK %d octets", len(Served(corpus[0].Data))), c.line())
	assert.Equal(t, Served(corpus[0].Data), c.body())
	c.line()
	assert.Equal(t, Served(corpus[1].Data), c.body())
	assert.Equal(t, "+OK Marked to be deleted.", c.line())
	assert.Equal(t, "+OK Marked to be deleted.", c.line())
	assert.Regexp(t, `^\+OK 3 \d+$`, c.line())
	tr := s.Transcript()
	require.Len(t, tr, 8)
	assert.False(t, tr[3].Pipelined, "RETR 1 arrived first")
	for _, cmd := range tr[4:] {
		assert.True(t, cmd.Pipelined, "%s", cmd.Line)
	}
	for _, cmd := range tr[:3] {
		assert.False(t, cmd.Pipelined, "%s", cmd.Line)
	}
}

func TestTranscriptRedaction(t *testing.T) {
	s := &Server{}
	s.AddUser("alice", "hunter2")
	start(t, s)
	c := dial(t, s)
	ts := regexp.MustCompile(`<[^>]+>`).FindString(c.line())
	c.cmd("USER alice")
	c.cmd("PASS hunter2")
	c.cmd("QUIT")
	c = dial(t, s)
	c.line()
	c.cmd("AUTH PLAIN " + b64([]byte("\x00alice\x00hunter2")))
	c.cmd("QUIT")
	c = dial(t, s)
	c.line()
	c.cmd("AUTH LOGIN")
	c.cmd(b64([]byte("alice")))
	c.cmd(b64([]byte("hunter2")))
	c.cmd("QUIT")
	c = dial(t, s)
	c.line()
	c.cmd("AUTH PLAIN")
	c.cmd("*")
	sum := md5.Sum([]byte(ts + "hunter2"))
	digest := hex.EncodeToString(sum[:])
	c.cmd("APOP alice " + digest)

	var lines []string
	for _, cmd := range s.Transcript() {
		lines = append(lines, cmd.Line)
		assert.NotContains(t, cmd.Line, "hunter2")
		assert.NotContains(t, cmd.Line, b64([]byte("hunter2")))
		assert.NotContains(t, cmd.Line, digest)
	}
	assert.Equal(t, []string{
		"USER alice", "PASS <redacted>", "QUIT",
		"AUTH PLAIN <redacted>", "QUIT",
		"AUTH LOGIN", "<redacted>", "<redacted>", "QUIT",
		"AUTH PLAIN", "*", "APOP alice <redacted>",
	}, lines)
	assert.Equal(t, "alice", s.Transcript()[2].User)
}

func TestLineTooLong(t *testing.T) {
	checkNoLeak(t)
	s := start(t, &Server{MaxLineLength: 64})
	c := dial(t, s)
	c.line()
	c.send("NOOP " + strings.Repeat("x", 100))
	assert.Equal(t, "-ERR Line too long", c.line())
	assert.True(t, c.closed())
}

func TestCloseEndsEverything(t *testing.T) {
	checkNoLeak(t)
	s := &Server{Faults: []Fault{{Kind: Stall, Command: "NOOP"}}}
	s.AddUser("alice", "pw")
	s.Start(t)
	var clients []*client
	for range 3 {
		c := dial(t, s)
		c.line()
		clients = append(clients, c)
	}
	clients[0].login("alice", "pw")
	clients[0].send("NOOP") // stalls until Close
	require.Eventually(t, func() bool { return len(s.Transcript()) == 3 }, waitFor, tick)
	require.NoError(t, s.Close())
	for _, c := range clients {
		assert.True(t, c.closed())
	}
	_, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	assert.Error(t, err, "the listener is closed")
	assert.NoError(t, s.Close(), "second Close")
	assert.Len(t, s.Mailbox("alice"), 0)
}

func TestLongLineAndLargeMessage(t *testing.T) {
	checkNoLeak(t)
	line := append(bytes.Repeat([]byte("x"), 5<<20), "\r\n.\r\n"...)
	big := bytes.Repeat([]byte(".dot-stuffed line of a larger message\r\n"), 1<<16)
	s := &Server{}
	s.AddUser("alice", "pw", Message{UID: "line", Data: line}, Message{UID: "big", Data: big})
	start(t, s)
	c := dial(t, s)
	c.line()
	c.login("alice", "pw")
	c.cmd("RETR 1")
	assert.True(t, bytes.Equal(Served(line), c.body()))
	c.cmd("RETR 2")
	assert.True(t, bytes.Equal(big, c.body()))
	c.cmd("QUIT")
}

func TestLoginDelayBeforeAndAfterLogin(t *testing.T) {
	tests := []struct {
		name          string
		delay, after  int
		before, later string // the LOGIN-DELAY line, "" for none
	}{
		{"same", 900, 0, "LOGIN-DELAY 900", "LOGIN-DELAY 900"},
		{"per user", 300, 600, "LOGIN-DELAY 300 USER", "LOGIN-DELAY 600"},
		{"before login only", 300, -1, "LOGIN-DELAY 300 USER", ""},
		{"after login only", 0, 600, "", "LOGIN-DELAY 600"},
	}
	find := func(caps []string) string {
		for _, c := range caps {
			if strings.HasPrefix(c, "LOGIN-DELAY") {
				return c
			}
		}
		return ""
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{LoginDelay: tc.delay, LoginDelayAfter: tc.after}
			s.AddUser("alice", "pw", corpus[0])
			start(t, s)
			c := dial(t, s)
			c.line()
			require.Equal(t, "+OK Capability list follows", c.cmd("CAPA"))
			assert.Equal(t, tc.before, find(c.multi()))
			c.login("alice", "pw")
			require.Equal(t, "+OK Capability list follows", c.cmd("CAPA"))
			assert.Equal(t, tc.later, find(c.multi()))
		})
	}
}
