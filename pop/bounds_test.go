package pop

import (
	"bytes"
	"os"
	"strings"
	"testing"
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
		{name: "status line", server: dribble("STAT", "", 0, 300*time.Millisecond),
			opts: account.Timeouts{Command: time.Second}, cmd: "STAT", bound: BoundCommand},
		{name: "status line, the account's bound", server: dribble("STAT", "", 0, 300*time.Millisecond),
			opts: account.Timeouts{Command: time.Hour}, acct: account.Timeouts{Command: time.Second}, cmd: "STAT", bound: BoundCommand},
		{name: "listing", server: dribble("UIDL", "", 5, 300*time.Millisecond), // "+OK\r\n" at once, then the lines
			acct: account.Timeouts{Command: time.Second}, cmd: "UIDL", bound: BoundCommand},
		{name: "CAPA", server: dribble("CAPA", "", 0, 300*time.Millisecond),
			acct: account.Timeouts{Command: time.Second}, cmd: "CAPA", bound: BoundCommand},
		{name: "body below the minimum rate", server: dribble("RETR", "1", 40, 50*time.Millisecond),
			acct: account.Timeouts{MinRate: 1000, RateWindow: 500 * time.Millisecond}, cmd: "RETR", bound: BoundRate},
		{name: "body past the message bound", server: dribble("RETR", "1", 40, 50*time.Millisecond),
			acct: account.Timeouts{MinRate: -1, Message: 700 * time.Millisecond}, cmd: "RETR", bound: BoundMessage},
		{name: "session", server: dribble("RETR", "1", 40, 50*time.Millisecond),
			opts: account.Timeouts{MinRate: -1}, acct: account.Timeouts{Session: 1500 * time.Millisecond}, cmd: "RETR", bound: BoundSession},
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
