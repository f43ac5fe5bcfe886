//go:build unix

package deliver_test

import (
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/internal/dovecottest"
)

// TestMaildirDovecot delivers into the Maildir of a real Dovecot user and
// reads the messages back over POP3: Dovecot accepts our file names (and
// their S= sizes) and serves the bytes we wrote, CRLF or LF.
func TestMaildirDovecot(t *testing.T) {
	srv := dovecottest.Get(t)
	user := srv.NewUser(t, "md")
	rcpt := user + "@example.com"
	dir := srv.Maildir(user)
	path := func(string) (string, error) { return dir, nil }
	// One clock for both files: their Received fields must not straddle
	// a second.
	at := time.Now()
	trace := deliver.TraceOptions{LocalHost: "mx.example.com", DeliveredTo: true, Now: func() time.Time { return at }}
	msg := "From: a@example.org\r\nSubject: via maildir\r\n\r\nline\r\n.dot line\r\n"
	env := deliver.Envelope{From: "a@example.org", To: []string{rcpt}, Trace: deliver.Trace{Host: "pop.example.net", Key: "K1"}}

	var want []string
	for _, lf := range []bool{false, true} {
		// NoKeyNames: both framings of one key are wanted as files.
		m, err := deliver.NewMaildir(&deliver.MaildirOptions{Path: path, LF: lf, NoKeyNames: true, TraceOptions: trace})
		require.NoError(t, err)
		res, err := m.Deliver(t.Context(), env, strings.NewReader(msg))
		require.NoError(t, err)
		require.Equal(t, deliver.Delivered, res[0].Status, res[0].Err)
	}
	// Hand the files to the mail user, as a root delivery agent's chown
	// would.
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	names, err := filepath.Glob(filepath.Join(dir, "new", "*"))
	require.NoError(t, err)
	require.Len(t, names, 2)
	for _, n := range names {
		require.NoError(t, os.Chown(n, int(st.Uid), int(st.Gid)))
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		want = append(want, string(dovecottest.Served(b)))
	}
	assert.Equal(t, want[0], want[1], "LF and CRLF files serve the same message")
	assert.True(t, strings.HasPrefix(want[0], "Delivered-To: "+rcpt+"\r\nReceived: from pop.example.net by mx.example.com"))

	c, err := textproto.Dial("tcp", srv.POP3)
	require.NoError(t, err)
	defer c.Close()
	cmd := func(format string, args ...any) string {
		t.Helper()
		require.NoError(t, c.PrintfLine(format, args...))
		line, err := c.ReadLine()
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(line, "+OK"), "%s: %s", format, line)
		return line
	}
	_, err = c.ReadLine() // greeting
	require.NoError(t, err)
	cmd("USER %s", user)
	cmd("PASS %s", dovecottest.Password)
	stat := strings.Fields(cmd("STAT"))
	require.Equal(t, "2", stat[1])
	var got []string
	for i := 1; i <= 2; i++ {
		size := strings.Fields(cmd("LIST %d", i))[2]
		cmd("RETR %d", i)
		lines, err := c.ReadDotLines()
		require.NoError(t, err)
		m := strings.Join(lines, "\r\n") + "\r\n"
		assert.Equal(t, strconv.Itoa(len(m)), size, "Dovecot's size of message %d", i)
		got = append(got, m)
	}
	cmd("QUIT")
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)
}
