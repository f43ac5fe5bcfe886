package pop

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

// TestPipeliningBounded proves that the Downloader keeps at most Window
// RETR and DELE commands in flight, that it does pipeline when the server
// offers PIPELINING, and that it runs in lock-step otherwise.
//
// How it is measured: poptest.Server.MaxInFlight counts, each time the
// server is about to answer a command, that command plus the commands of
// the same verb already read into its input buffer, that is, commands the
// client sent before it had the reply. A command is counted only once the
// server has read it, and every buffered command was sent while the client
// had at most the replies written so far, so the figure can never exceed
// what the client really had unanswered: the upper bound (<= Window, and
// exactly 1 in lock-step, where the next command is sent only after the
// reply) is exact, not a matter of timing. The lower bound (> 1) needs the
// client's later commands to be read before the server answers: the client
// flushes each batch in one write, which arrives whole, and a short Stall
// on every RETR lets refills of the window land before the reply too.
func TestPipeliningBounded(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		name         string
		window       int
		noPipelining bool
		want         func(t *testing.T, verb string, got int)
	}{
		{"window 3", 3, false, func(t *testing.T, verb string, got int) {
			assert.Greater(t, got, 1, "%s pipelined", verb)
			assert.LessOrEqual(t, got, 3, "%s within the window", verb)
		}},
		{"default window", 0, false, func(t *testing.T, verb string, got int) {
			assert.Greater(t, got, 3, "%s pipelined", verb)
			assert.LessOrEqual(t, got, DefaultWindow, "%s within the window", verb)
		}},
		{"window 1", 1, false, func(t *testing.T, verb string, got int) {
			assert.Equal(t, 1, got, "%s in lock-step", verb)
		}},
		{"no PIPELINING", 3, true, func(t *testing.T, verb string, got int) {
			assert.Equal(t, 1, got, "%s in lock-step", verb)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := make([][]byte, n)
			for i := range msgs {
				msgs[i] = fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i+1, i+1)
			}
			s := startServer(t, &poptest.Server{
				NoPipelining: tc.noPipelining,
				Faults:       []poptest.Fault{{Kind: poptest.Stall, Command: "RETR", Duration: 2 * time.Millisecond}},
			}, messages(msgs...)...)
			a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)

			got := 0
			h := HandlerFunc(func(_ context.Context, m MessageInfo, body io.Reader) (Action, error) {
				b, err := io.ReadAll(body)
				assert.Equal(t, msgs[m.Number-1], b)
				got++
				return Delete, err
			})
			require.NoError(t, (&Downloader{Options: Options{Timeouts: account.Timeouts{Window: tc.window}}}).Fetch(t.Context(), a, h))
			assert.Equal(t, n, got)
			assert.Empty(t, s.Mailbox(testUser), "all deleted")

			t.Logf("most in flight: RETR %d, DELE %d", s.MaxInFlight("RETR"), s.MaxInFlight("DELE"))
			tc.want(t, "RETR", s.MaxInFlight("RETR"))
			tc.want(t, "DELE", s.MaxInFlight("DELE"))
			// Commands that must never be pipelined were answered one by one.
			for _, verb := range []string{"STLS", "AUTH", "QUIT"} {
				assert.Equal(t, 1, s.MaxInFlight(verb), verb)
			}
			pipelined := 0
			for _, c := range s.Transcript() {
				if c.Pipelined {
					pipelined++
				}
			}
			if tc.window == 1 || tc.noPipelining {
				assert.Zero(t, pipelined, "lock-step: no command arrived before the previous reply")
			}
			assertConnsClosed(t)
		})
	}
}
