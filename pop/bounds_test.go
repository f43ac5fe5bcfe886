package pop

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// TestBoundedWaits: a server that dribbles bytes, never idle long enough
// for an idle timeout per read, is cut off by the total bounds, and the
// session ends without QUIT: nothing is deleted. The bounds are small and
// the dribble slow enough that a reply could never complete within them;
// only the typed error is asserted, not the time.
func TestBoundedWaits(t *testing.T) {
	big := messages(bytes.Repeat([]byte("0123456789\r\n"), 100), []byte("Subject: 2\r\n\r\ntwo\r\n"))
	dribble := func(cmd, arg string, fast int64, every time.Duration) *poptest.Server {
		return &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Dribble, Command: cmd, Arg: arg, Bytes: fast, Duration: every}}}
	}
	tests := []struct {
		name   string
		server *poptest.Server
		opts   account.Timeouts // the Downloader's
		acct   account.Timeouts // the account's, which win
		cmd    string
		bound  Bound
	}{
		{name: "status line", server: dribble("STAT", "", 0, 500*time.Millisecond),
			opts: account.Timeouts{Command: 2 * time.Second}, cmd: "STAT", bound: BoundCommand},
		{name: "status line, the account's bound", server: dribble("STAT", "", 0, 500*time.Millisecond),
			opts: account.Timeouts{Command: time.Hour}, acct: account.Timeouts{Command: 2 * time.Second}, cmd: "STAT", bound: BoundCommand},
		{name: "listing", server: dribble("UIDL", "", 5, 500*time.Millisecond), // "+OK\r\n" at once, then the lines
			acct: account.Timeouts{Command: 2 * time.Second}, cmd: "UIDL", bound: BoundCommand},
		{name: "CAPA", server: dribble("CAPA", "", 0, 500*time.Millisecond),
			acct: account.Timeouts{Command: 2 * time.Second}, cmd: "CAPA", bound: BoundCommand},
		{name: "body below the minimum rate", server: dribble("RETR", "1", 40, 50*time.Millisecond),
			acct: account.Timeouts{MinRate: 1000, RateWindow: 500 * time.Millisecond}, cmd: "RETR", bound: BoundRate},
		{name: "body past the message bound", server: dribble("RETR", "1", 40, 50*time.Millisecond),
			acct: account.Timeouts{MinRate: -1, Message: 700 * time.Millisecond}, cmd: "RETR", bound: BoundMessage},
		{name: "session", server: dribble("RETR", "1", 40, 50*time.Millisecond),
			opts: account.Timeouts{MinRate: -1}, acct: account.Timeouts{Session: 3 * time.Second}, cmd: "RETR", bound: BoundSession},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.server, big...)
			a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
			a.Timeouts = tc.acct
			d := &Downloader{Options: Options{Timeouts: tc.opts}}
			err := d.Fetch(t.Context(), a, &collector{action: Delete})
			var te *TimeoutError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.bound, te.Bound, "%v", err)
			assert.Equal(t, tc.cmd, te.Command)
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			assert.Contains(t, err.Error(), "timeouts."+string(tc.bound))
			noCommit(t, s, 2)
			assert.False(t, sentAny(s, "DELE"))
			s.Close() // ends the dribble
			assertConnsClosed(t)
		})
	}
}

// TestBoundedWaitsAllowFastServers: the same bounds let a normal session
// through, and a bound of one session does not leak into the next.
func TestBoundedWaitsAllowFastServers(t *testing.T) {
	s := startServer(t, &poptest.Server{}, messages(bytes.Repeat([]byte("0123456789\r\n"), 10000))...)
	a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
	a.Timeouts = account.Timeouts{Command: 5 * time.Second, MinRate: 1000, RateWindow: 200 * time.Millisecond, Message: 10 * time.Second, Session: 20 * time.Second}
	require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, &collector{action: Delete}))
	assert.Empty(t, s.Mailbox(testUser))
	assertConnsClosed(t)
}

func TestTimeoutErrorText(t *testing.T) {
	tests := []struct {
		err  TimeoutError
		want string
	}{
		{TimeoutError{Command: "STAT", Bound: BoundCommand, Limit: time.Minute}, "pop: STAT: reply not complete within 1m0s (timeouts.command); session closed without QUIT"},
		{TimeoutError{Command: "RETR", Bound: BoundRate, Limit: time.Minute, MinRate: 1024}, "pop: RETR: transfer slower than 1024 octets/s over 1m0s (timeouts.min_rate); session closed without QUIT"},
		{TimeoutError{Command: "RETR", Bound: BoundData, Limit: 2 * time.Minute}, "pop: RETR: server silent for 2m0s inside a message (timeouts.data); session closed without QUIT"},
		{TimeoutError{Command: "RETR", Bound: BoundMessage, Limit: time.Hour}, "pop: RETR: message download longer than 1h0m0s (timeouts.message); session closed without QUIT"},
		{TimeoutError{Bound: BoundSession, Limit: 4 * time.Hour}, "pop: session longer than 4h0m0s (timeouts.session); session closed without QUIT"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.err.Error())
		assert.True(t, strings.HasPrefix(tc.err.Error(), "pop: "))
	}
}

// pipeSession runs serve as the server of a Client over net.Pipe, in a
// synctest bubble, and waits for it to end.
func pipeSession(t *testing.T, opts *Options, serve func(r *bufio.Reader, w net.Conn), client func(t *testing.T, c *Client)) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer b.Close()
			if _, err := io.WriteString(b, "+OK ready\r\n"); err != nil {
				return
			}
			serve(bufio.NewReader(b), b)
		}()
		c, err := NewClient(t.Context(), a, opts)
		require.NoError(t, err)
		client(t, c)
		c.Close()
		<-done
	})
}

// dribbleLine writes s one byte a second, stopping when the client hangs up.
func dribbleLine(w net.Conn, s string) {
	for i := range len(s) {
		time.Sleep(time.Second)
		if _, err := io.WriteString(w, s[i:i+1]); err != nil {
			return
		}
	}
}

// TestStatusLineBoundInTotal is issue 14's case: a STAT reply at one byte a
// second used to succeed after 10 s with a 3 s CommandTimeout.
func TestStatusLineBoundInTotal(t *testing.T) {
	pipeSession(t, &Options{Timeouts: account.Timeouts{Command: 3 * time.Second}},
		func(r *bufio.Reader, w net.Conn) {
			if _, err := r.ReadString('\n'); err == nil {
				dribbleLine(w, "+OK 3 300\r\n")
			}
		},
		func(t *testing.T, c *Client) {
			start := time.Now()
			_, _, err := c.Stat(t.Context())
			var te *TimeoutError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, TimeoutError{Command: "STAT", Bound: BoundCommand, Limit: 3 * time.Second}, *te)
			assert.Equal(t, 3*time.Second, time.Since(start), "fake time: exactly the bound")
			assert.ErrorIs(t, c.Err(), os.ErrDeadlineExceeded, "the session is over")
			_, _, err = c.Stat(t.Context())
			require.ErrorAs(t, err, &te)
		})
}

func TestListingBoundInTotal(t *testing.T) {
	pipeSession(t, &Options{Timeouts: account.Timeouts{Command: 10 * time.Second}},
		func(r *bufio.Reader, w net.Conn) {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			io.WriteString(w, "+OK\r\n")
			for i := 1; ; i++ { // one line every 5 s: never idle for 10 s
				time.Sleep(5 * time.Second)
				if _, err := fmt.Fprintf(w, "%d uid%d\r\n", i, i); err != nil {
					return
				}
			}
		},
		func(t *testing.T, c *Client) {
			_, err := c.UIDL(t.Context())
			var te *TimeoutError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, BoundCommand, te.Bound)
			assert.Equal(t, "UIDL", te.Command)
		})
}

func TestBodyBounds(t *testing.T) {
	tests := []struct {
		name  string
		t     account.Timeouts
		every time.Duration // one 10-octet line per every
		bound Bound
	}{
		{"rate", account.Timeouts{MinRate: 1024, RateWindow: time.Minute}, time.Second, BoundRate},
		{"message", account.Timeouts{MinRate: -1, Message: 10 * time.Minute}, time.Second, BoundMessage},
		{"session", account.Timeouts{MinRate: -1, Session: 5 * time.Minute}, time.Second, BoundSession},
		{"idle", account.Timeouts{MinRate: -1, Data: 30 * time.Second}, time.Minute, BoundData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pipeSession(t, &Options{Timeouts: tc.t},
				func(r *bufio.Reader, w net.Conn) {
					if l, err := r.ReadString('\n'); err != nil || l != "CAPA\r\n" {
						return
					}
					io.WriteString(w, "+OK\r\nUIDL\r\n.\r\n")
					if l, err := r.ReadString('\n'); err != nil || l != "RETR 1\r\n" {
						return
					}
					io.WriteString(w, "+OK message follows\r\n")
					for {
						time.Sleep(tc.every)
						if _, err := io.WriteString(w, "012345678\n"); err != nil {
							return
						}
					}
				},
				func(t *testing.T, c *Client) {
					err := c.RetrAll(t.Context(), []int{1}, func(n int, body io.Reader) error {
						_, err := io.Copy(io.Discard, body)
						var te *TimeoutError
						require.ErrorAs(t, err, &te, "the handler sees the typed error")
						return err
					})
					var te *TimeoutError
					require.ErrorAs(t, err, &te)
					assert.Equal(t, tc.bound, te.Bound, "%v", err)
					assert.Equal(t, "RETR", te.Command)
				})
		})
	}
}
