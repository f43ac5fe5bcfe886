package pop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/pop/poptest"
)

const (
	testUser = "alice"
	testPass = "s3cret-Pa55"
)

func startServer(t *testing.T, s *poptest.Server, msgs ...poptest.Message) *poptest.Server {
	t.Helper()
	checkLeaks(t)
	s.AddUser(testUser, testPass, msgs...)
	s.Start(t)
	idleGoroutines = runtime.NumGoroutine()
	return s
}

// idleGoroutines is the goroutine count right after the last startServer.
var idleGoroutines int

// assertConnsClosed checks that the client closed every connection: the
// server's session goroutines end only when their connection does.
func assertConnsClosed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > idleGoroutines && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), idleGoroutines, "a connection is still open")
}

func testAccount(t testing.TB, s *poptest.Server, sec account.Security, mech account.Mechanism) account.Account {
	t.Helper()
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return account.Account{
		ID: "acct", Host: host, Port: p, Security: sec,
		TLS:  account.TLS{ServerName: "localhost", RootCAs: string(s.CAPEM())},
		Auth: account.Auth{User: testUser, Secret: testPass, Mechanism: mech},
	}
}

func messages(data ...[]byte) []poptest.Message {
	out := make([]poptest.Message, len(data))
	for i, d := range data {
		out[i] = poptest.Message{UID: "uid-" + strconv.Itoa(i+1), Data: d}
	}
	return out
}

// verbs returns the command verbs of the transcript, in order.
func verbs(s *poptest.Server) []string {
	var out []string
	for _, c := range s.Transcript() {
		out = append(out, c.Name)
	}
	return out
}

func sentAny(s *poptest.Server, names ...string) bool {
	for _, c := range s.Transcript() {
		for _, n := range names {
			if c.Name == n {
				return true
			}
		}
	}
	return false
}

func TestPoptestRoundTrip(t *testing.T) {
	c := corpus(t)
	var names []string
	var data [][]byte
	for name, m := range c {
		names = append(names, name)
		data = append(data, m)
	}
	names = append(names, "5 MiB line")
	data = append(data, append(append([]byte("Subject: long\r\n\r\n"), bytes.Repeat([]byte("z"), 5<<20)...), "\r\n"...))
	for _, tc := range []struct {
		name       string
		noPipeline bool
		window     int
		sec        account.Security
	}{
		{"pipelined TLS", false, 0, account.SecurityTLS},
		{"pipelined window 3 STLS", false, 3, account.SecurityStartTLS},
		{"lock-step server", true, 0, account.SecurityTLS},
		{"lock-step client", false, 1, account.SecurityTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, &poptest.Server{ImplicitTLS: tc.sec == account.SecurityTLS, NoPipelining: tc.noPipeline}, messages(data...)...)
			a := testAccount(t, s, tc.sec, account.MechanismAuto)
			h := &collector{action: Delete}
			require.NoError(t, (&Downloader{Options: Options{Timeouts: account.Timeouts{Window: tc.window}}}).Fetch(t.Context(), a, h))
			require.Len(t, h.bodies, len(data))
			for i, m := range data {
				assert.True(t, bytes.Equal(poptest.Served(m), h.bodies[i+1]), "%s: %q", names[i], trunc(h.bodies[i+1]))
				assert.Equal(t, "uid-"+strconv.Itoa(i+1), h.infos[i].UID)
			}
			assert.Empty(t, s.Mailbox(testUser))
			assertConnsClosed(t)
			pipelined := 0
			for _, c := range s.Transcript() {
				if c.Name == "RETR" && c.Pipelined {
					pipelined++
				}
			}
			if tc.noPipeline || tc.window == 1 {
				assert.Zero(t, pipelined)
			} else {
				assert.Positive(t, pipelined)
			}
		})
	}
}

func TestPoptestLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MiB message")
	}
	big := bigMessage(50<<20, 3)
	s := startServer(t, &poptest.Server{}, messages(big)...)
	a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
	var sum [32]byte
	h := HandlerFunc(func(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
		d := sha256.New()
		_, err := io.Copy(d, body)
		copy(sum[:], d.Sum(nil))
		return Keep, err
	})
	require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, h))
	assert.Equal(t, sha256.Sum256(poptest.Served(big)), sum)
}

func TestPoptestMechanisms(t *testing.T) {
	for _, tc := range []struct {
		mech account.Mechanism
		verb string
	}{
		{account.MechanismUser, "PASS"},
		{account.MechanismAPOP, "APOP"},
		{account.MechanismPlain, "AUTH"},
		{account.MechanismLogin, "AUTH"},
		{account.MechanismCRAMMD5, "AUTH"},
		{account.MechanismSCRAMSHA1, "AUTH"},
		{account.MechanismSCRAMSHA256, "AUTH"},
		{account.MechanismXOAUTH2, "AUTH"},
		{account.MechanismOAUTHBEARER, "AUTH"},
		{account.MechanismAuto, "AUTH"},
	} {
		t.Run(string(tc.mech), func(t *testing.T) {
			s := startServer(t, &poptest.Server{}, messages([]byte("Subject: x\r\n\r\nhi\r\n"))...)
			a := testAccount(t, s, account.SecurityStartTLS, tc.mech)
			var debug bytes.Buffer
			h := &collector{}
			require.NoError(t, (&Downloader{Options: Options{DebugWriter: &debug}}).Fetch(t.Context(), a, h))
			assert.Len(t, h.bodies, 1)
			assert.True(t, sentAny(s, tc.verb))
			for _, c := range s.Transcript() {
				assert.NotContains(t, c.Line, testPass)
				if c.Name == "AUTH" && tc.mech == account.MechanismAuto {
					assert.True(t, strings.HasPrefix(c.Line, "AUTH SCRAM-SHA-256"), c.Line)
				}
			}
			assert.NotContains(t, debug.String(), testPass)
			for _, secret := range []string{"\x00" + testUser + "\x00" + testPass, testPass, "user=" + testUser + "\x01auth=Bearer " + testPass + "\x01\x01"} {
				assert.NotContains(t, debug.String(), base64.StdEncoding.EncodeToString([]byte(secret)))
			}
			assert.Contains(t, debug.String(), "C: STLS")
			// Capabilities are read again over TLS and after login.
			var capaTLS, capaUser bool
			for _, c := range s.Transcript() {
				if c.Name == "CAPA" && c.TLS {
					capaTLS = true
					capaUser = capaUser || c.User != ""
				}
			}
			assert.True(t, capaTLS && capaUser, "%v", verbs(s))
		})
	}
}

func TestPoptestTokenHook(t *testing.T) {
	s := startServer(t, &poptest.Server{ImplicitTLS: true}, messages([]byte("a\r\n"))...)
	a := testAccount(t, s, account.SecurityTLS, account.MechanismXOAUTH2)
	a.Auth.Secret = "stale"
	d := &Downloader{Token: func(ctx context.Context, acc account.Account) (string, error) {
		return testPass, nil
	}}
	require.NoError(t, d.Fetch(t.Context(), a, &collector{}))
}

func TestPoptestNoCredentialBeforeTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server *poptest.Server
		is     error
	}{
		{"STLS not offered", &poptest.Server{NoSTLS: true}, ErrNotSupported},
		{"STLS refused", &poptest.Server{Faults: []poptest.Fault{poptest.ErrReply("STLS", "", "no TLS today")}}, nil},
		{"injection after STLS", &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Inject, Command: "STLS", Text: "+OK injected\r\n"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.server, messages([]byte("a\r\n"))...)
			a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
			err := (&Downloader{}).Fetch(t.Context(), a, &collector{})
			require.Error(t, err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.False(t, sentAny(s, "USER", "PASS", "AUTH", "APOP", ""), "%v", verbs(s))
			assert.False(t, sentAny(s, "QUIT", "DELE"))
			assert.NotContains(t, err.Error(), testPass)
		})
	}
}

func TestPoptestInsecure(t *testing.T) {
	for _, mech := range []account.Mechanism{account.MechanismUser, account.MechanismPlain, account.MechanismLogin, account.MechanismAPOP, account.MechanismXOAUTH2} {
		t.Run(string(mech), func(t *testing.T) {
			s := startServer(t, &poptest.Server{NoSTLS: true}, messages([]byte("a\r\n"))...)
			a := testAccount(t, s, account.SecurityNone, mech)
			err := (&Downloader{}).Fetch(t.Context(), a, &collector{})
			require.ErrorIs(t, err, ErrInsecure)
			assert.False(t, sentAny(s, "USER", "PASS", "AUTH", "APOP"))
			a.Auth.AllowInsecure = true
			require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, &collector{}))
		})
	}
	// SCRAM sends no reusable secret: fine without TLS.
	s := startServer(t, &poptest.Server{NoSTLS: true}, messages([]byte("a\r\n"))...)
	require.NoError(t, (&Downloader{}).Fetch(t.Context(), testAccount(t, s, account.SecurityNone, account.MechanismAuto), &collector{}))
}

func TestPoptestMechanismNotOffered(t *testing.T) {
	s := startServer(t, &poptest.Server{SASL: []string{"PLAIN"}}, messages([]byte("a\r\n"))...)
	a := testAccount(t, s, account.SecurityStartTLS, account.MechanismSCRAMSHA256)
	err := (&Downloader{}).Fetch(t.Context(), a, &collector{})
	require.ErrorIs(t, err, ErrNotSupported)
	assert.False(t, sentAny(s, "AUTH", "USER", "PASS"))
}

func TestPoptestBadArguments(t *testing.T) {
	s := startServer(t, &poptest.Server{ImplicitTLS: true}, messages([]byte("a\r\n"))...)
	for _, tc := range []struct {
		mech       account.Mechanism
		user, pass string
	}{
		{account.MechanismUser, "alice\r\nDELE 1", testPass},
		{account.MechanismUser, testUser, "x\nQUIT"},
		{account.MechanismUser, testUser, "nul\x00"},
		{account.MechanismAPOP, "al\rice", testPass},
		{account.MechanismPlain, "alice\n", testPass},
	} {
		a := testAccount(t, s, account.SecurityTLS, tc.mech)
		a.Auth.User, a.Auth.Secret = tc.user, tc.pass
		err := (&Downloader{}).Fetch(t.Context(), a, &collector{})
		require.Error(t, err, "%q %q", tc.user, tc.pass)
		assert.NotContains(t, err.Error(), tc.pass)
	}
	assert.False(t, sentAny(s, "USER", "PASS", "APOP", "AUTH", "DELE"), "%v", verbs(s))
}

// faultCase runs a Fetch against a server with faults and checks the
// outcome.
type faultCase struct {
	name    string
	server  *poptest.Server
	msgs    []poptest.Message
	opts    Downloader
	handler Handler
	check   func(t *testing.T, err error, s *poptest.Server)
}

func noCommit(t *testing.T, s *poptest.Server, n int) {
	t.Helper()
	assert.False(t, sentAny(s, "QUIT"), "QUIT after a desync: %v", verbs(s))
	assert.Len(t, s.Mailbox(testUser), n)
}

func TestPoptestFaults(t *testing.T) {
	three := messages([]byte("Subject: 1\r\n\r\none\r\n"), []byte("Subject: 2\r\n\r\ntwo\r\n"), []byte("Subject: 3\r\n\r\nthree\r\n"))
	isProto := func(target error) func(t *testing.T, err error, s *poptest.Server) {
		return func(t *testing.T, err error, s *poptest.Server) {
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			if target != nil {
				assert.ErrorIs(t, err, target)
			}
			noCommit(t, s, 3)
			assert.False(t, sentAny(s, "DELE"))
		}
	}
	isCode := func(code string, temporary bool) func(t *testing.T, err error, s *poptest.Server) {
		return func(t *testing.T, err error, s *poptest.Server) {
			var pe *Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, code, pe.Code)
			assert.Equal(t, temporary, pe.Temporary())
			assert.Len(t, s.Mailbox(testUser), 3)
			assert.False(t, sentAny(s, "RETR", "DELE"))
		}
	}
	tests := []faultCase{
		{name: "drop at RETR", server: &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Drop, Command: "RETR", Arg: "2"}}},
			check: func(t *testing.T, err error, s *poptest.Server) {
				require.Error(t, err)
				noCommit(t, s, 3)
				assert.False(t, sentAny(s, "DELE"))
			}},
		{name: "drop after bytes mid body", msgs: messages(bytes.Repeat([]byte("0123456789\r\n"), 50000)),
			server: &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.DropAfterBytes, Bytes: 100000}}},
			check: func(t *testing.T, err error, s *poptest.Server) {
				assert.ErrorIs(t, err, ErrNoTerminator)
				noCommit(t, s, 1)
			}},
		{name: "stall is a timeout", opts: Downloader{Options: Options{Timeouts: account.Timeouts{Command: 300 * time.Millisecond}}},
			server: &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Stall, Command: "LIST"}}},
			check: func(t *testing.T, err error, s *poptest.Server) {
				assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
				var te *TimeoutError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, TimeoutError{Command: "LIST", Bound: BoundCommand, Limit: 300 * time.Millisecond}, *te)
				noCommit(t, s, 3)
			}},
		{name: "stall at greeting is a dial timeout", opts: Downloader{Options: Options{Timeouts: account.Timeouts{Dial: 300 * time.Millisecond}}},
			server: &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Stall, Command: "GREETING"}}},
			check: func(t *testing.T, err error, s *poptest.Server) {
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Empty(t, s.Transcript())
			}},
		{name: "stall in body is a timeout", opts: Downloader{Options: Options{Timeouts: account.Timeouts{Data: 300 * time.Millisecond}}},
			msgs:   []poptest.Message{{UID: "a", Raw: true, Data: []byte("Subject: half\r\n")}},
			server: &poptest.Server{},
			check: func(t *testing.T, err error, s *poptest.Server) {
				assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
				var te *TimeoutError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, BoundData, te.Bound)
				noCommit(t, s, 1)
			}},
		{name: "IN-USE", server: &poptest.Server{Faults: []poptest.Fault{poptest.ErrReply("AUTH", "IN-USE", "locked")}}, check: isCode("IN-USE", true)},
		{name: "LOGIN-DELAY", server: &poptest.Server{Faults: []poptest.Fault{poptest.ErrReply("AUTH", "LOGIN-DELAY", "wait")}}, check: isCode("LOGIN-DELAY", true)},
		{name: "AUTH", server: &poptest.Server{Faults: []poptest.Fault{poptest.ErrReply("AUTH", "AUTH", "bad")}}, check: isCode("AUTH", false)},
		{name: "SYS/PERM", server: &poptest.Server{Faults: []poptest.Fault{poptest.ErrReply("AUTH", "SYS/PERM", "gone")}}, check: isCode("SYS/PERM", false)},
		{name: "SYS/TEMP on one RETR keeps it", server: &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Reply, Command: "RETR", Arg: "2", Text: "-ERR [SYS/TEMP] disk"}}},
			handler: &collector{action: Delete},
			check: func(t *testing.T, err error, s *poptest.Server) {
				var pe *Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "SYS/TEMP", pe.Code)
				assert.True(t, sentAny(s, "QUIT"))
				left := s.Mailbox(testUser)
				require.Len(t, left, 1)
				assert.Equal(t, "uid-2", left[0].UID)
			}},
		{name: "unsolicited after greeting", server: &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Inject, Command: "GREETING", Text: "+OK extra\r\n"}}},
			check: func(t *testing.T, err error, s *poptest.Server) {
				var pe *ProtocolError
				require.ErrorAs(t, err, &pe)
				assert.False(t, sentAny(s, "USER", "PASS", "AUTH", "QUIT"))
			}},
		// Whether the injected line is seen as unsolicited or as a bad
		// LIST reply depends on when it arrives; either ends the session.
		{name: "unsolicited after a reply", server: &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Inject, Command: "STAT", Text: "+OK 1 1\r\n"}}},
			check: isProto(nil)},
		{name: "premature terminator", msgs: []poptest.Message{{UID: "a", Raw: true, Data: []byte("a\r\n.\r\nsmuggled\r\n.\r\n")}, {UID: "b", Data: []byte("b\r\n")}},
			check: func(t *testing.T, err error, s *poptest.Server) {
				var pe *ProtocolError
				require.ErrorAs(t, err, &pe)
				noCommit(t, s, 2)
				assert.False(t, sentAny(s, "DELE"))
			}},
		{name: "bare-LF dot lines are data", msgs: []poptest.Message{{UID: "a", Raw: true, Data: []byte("a\n.\nb\r\n..c\r\n.\r\n")}},
			handler: HandlerFunc(func(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
				b, err := io.ReadAll(body)
				if err == nil && string(b) != "a\n.\nb\r\n.c\r\n" {
					err = errors.New("got " + strconv.Quote(string(b)))
				}
				return Delete, err
			}),
			check: func(t *testing.T, err error, s *poptest.Server) {
				require.NoError(t, err)
				assert.Empty(t, s.Mailbox(testUser))
			}},
		{name: "duplicate LIST number", server: &poptest.Server{Rewrite: rewrite("LIST", "+OK\r\n1 10\r\n1 10\r\n2 10\r\n.\r\n")}, check: isProto(ErrDuplicate)},
		{name: "LIST shorter than STAT", server: &poptest.Server{Rewrite: rewrite("LIST", "+OK\r\n1 10\r\n2 10\r\n.\r\n")}, check: isProto(ErrInconsistent)},
		{name: "UIDL of unlisted number", server: &poptest.Server{Rewrite: rewrite("UIDL", "+OK\r\n1 a\r\n2 b\r\n9 c\r\n.\r\n")}, check: isProto(ErrInconsistent)},
		{name: "malformed LIST line", server: &poptest.Server{Rewrite: rewrite("LIST", "+OK\r\n1 10\r\ntwo 10\r\n3 10\r\n.\r\n")}, check: isProto(ErrBadListing)},
		{name: "listing too long", opts: Downloader{Options: Options{Timeouts: account.Timeouts{MaxListing: 2}}}, check: isProto(ErrListingTooLong)},
		{name: "status line too long", server: &poptest.Server{Rewrite: rewrite("STAT", "+OK "+strings.Repeat("9", 5000)+"\r\n")}, check: isProto(ErrLineTooLong)},
		{name: "bad status line", server: &poptest.Server{Rewrite: rewrite("STAT", "OK 3 30\r\n")}, check: isProto(ErrBadStatus)},
		{name: "plan with unlisted number",
			handler: planner{steps: func(s Scan) []Step {
				return []Step{{Message: MessageInfo{Number: 9}, Action: Delete}}
			}},
			check: func(t *testing.T, err error, s *poptest.Server) {
				assert.ErrorIs(t, err, ErrBadPlan)
				assert.False(t, sentAny(s, "DELE", "RETR"))
				assert.Len(t, s.Mailbox(testUser), 3)
			}},
		{name: "plan deletes without download, skips, retrieves",
			handler: planner{steps: func(s Scan) []Step {
				return []Step{{s.Messages[2], Retrieve}, {s.Messages[0], Delete}, {s.Messages[1], Keep}}
			}, action: Delete},
			check: func(t *testing.T, err error, s *poptest.Server) {
				require.NoError(t, err)
				left := s.Mailbox(testUser)
				require.Len(t, left, 1)
				assert.Equal(t, "uid-2", left[0].UID)
				var retr []string
				for _, c := range s.Transcript() {
					if c.Name == "RETR" {
						retr = append(retr, c.Line)
					}
				}
				assert.Equal(t, []string{"RETR 3"}, retr)
			}},
		{name: "handler error keeps that message and goes on",
			handler: HandlerFunc(func(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
				if m.Number == 2 {
					return Delete, errors.New("spool full")
				}
				return Delete, nil
			}),
			check: func(t *testing.T, err error, s *poptest.Server) {
				var me *HandlerError
				require.ErrorAs(t, err, &me)
				assert.Equal(t, 2, me.Message.Number)
				left := s.Mailbox(testUser)
				require.Len(t, left, 1)
				assert.Equal(t, "uid-2", left[0].UID)
			}},
		{name: "ErrStop commits what was done",
			handler: HandlerFunc(func(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
				if m.Number == 2 {
					return Delete, ErrStop
				}
				return Delete, nil
			}),
			check: func(t *testing.T, err error, s *poptest.Server) {
				require.NoError(t, err)
				left := s.Mailbox(testUser)
				require.Len(t, left, 1)
				assert.Equal(t, "uid-3", left[0].UID)
			}},
		{name: "QUIT refused", server: &poptest.Server{Faults: []poptest.Fault{poptest.ErrReply("QUIT", "SYS/TEMP", "could not remove")}},
			handler: &collector{action: Delete},
			check: func(t *testing.T, err error, s *poptest.Server) {
				var pe *Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "QUIT", pe.Command)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.server
			if srv == nil {
				srv = &poptest.Server{}
			}
			msgs := tc.msgs
			if msgs == nil {
				msgs = three
			}
			s := startServer(t, srv, msgs...)
			a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
			h := tc.handler
			if h == nil {
				h = &collector{action: Delete}
			}
			d := tc.opts
			err := d.Fetch(t.Context(), a, h)
			tc.check(t, err, s)
			if !strings.HasPrefix(tc.name, "stall") {
				assertConnsClosed(t)
			}
			if err != nil {
				assert.NotContains(t, err.Error(), testPass)
			}
		})
	}
}

func rewrite(verb, reply string) func(c poptest.Command, b []byte) []byte {
	return func(c poptest.Command, b []byte) []byte {
		if c.Name == verb {
			return []byte(reply)
		}
		return b
	}
}

type planner struct {
	steps  func(Scan) []Step
	action Action
}

func (p planner) Plan(ctx context.Context, s Scan) ([]Step, error) { return p.steps(s), nil }

func (p planner) Handle(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
	_, err := io.Copy(io.Discard, body)
	return p.action, err
}

func TestPoptestScan(t *testing.T) {
	s := startServer(t, &poptest.Server{LoginDelay: 900, Expire: "0"},
		poptest.Message{UID: "good", Data: []byte("1\r\n")},
		poptest.Message{UID: "", Data: []byte("2\r\n")},
		poptest.Message{UID: strings.Repeat("x", 71), Data: []byte("3\r\n")},
		poptest.Message{UID: "dup", Data: []byte("4\r\n")},
		poptest.Message{UID: "dup", Data: []byte("5\r\n")},
		poptest.Message{UID: "bad\x01", Data: []byte("6\r\n")},
	)
	a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
	var scan Scan
	h := planner{steps: func(sc Scan) []Step { scan = sc; return nil }}
	require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, h))
	assert.Equal(t, 900*time.Second, scan.LoginDelay)
	assert.Equal(t, 0, scan.Expire)
	var uids, problems []string
	for _, m := range scan.Messages {
		uids = append(uids, m.UID)
		problems = append(problems, m.UIDProblem)
	}
	assert.Equal(t, []string{"good", "", "", "", "", ""}, uids)
	assert.Equal(t, []string{"", "empty", "too long", "duplicate", "duplicate", "invalid"}, problems)
	assert.Equal(t, int64(3), scan.Messages[0].Size)
	assert.False(t, sentAny(s, "RETR", "DELE"))
}

func TestPoptestNoUIDLNoCAPA(t *testing.T) {
	for _, srv := range []*poptest.Server{{NoUIDL: true}, {NoCAPA: true}} {
		s := startServer(t, srv, messages([]byte("a\r\n"), []byte("b\r\n"))...)
		a := testAccount(t, s, account.SecurityStartTLS, account.MechanismAuto)
		h := &collector{action: Delete}
		require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, h))
		require.Len(t, h.infos, 2)
		if srv.NoUIDL {
			assert.Equal(t, "missing", h.infos[0].UIDProblem)
			assert.Empty(t, h.infos[0].UID)
		}
		assert.Empty(t, s.Mailbox(testUser))
	}
}

func TestPoptestContextCancel(t *testing.T) {
	s := startServer(t, &poptest.Server{ImplicitTLS: true}, messages(bytes.Repeat([]byte("line\r\n"), 100000), []byte("b\r\n"))...)
	a := testAccount(t, s, account.SecurityTLS, account.MechanismAuto)
	ctx, cancel := context.WithCancel(t.Context())
	h := HandlerFunc(func(_ context.Context, m MessageInfo, body io.Reader) (Action, error) {
		cancel()
		return Delete, nil // the Fetcher must notice while draining
	})
	err := (&Downloader{}).Fetch(ctx, a, h)
	require.ErrorIs(t, err, context.Canceled)
	noCommit(t, s, 2)
	assert.False(t, sentAny(s, "DELE"))
}

func TestClientStaleBodyAndArgs(t *testing.T) {
	s := startServer(t, &poptest.Server{ImplicitTLS: true}, messages([]byte("Subject: a\r\n\r\nbody\r\n"), []byte("b\r\n"))...)
	ctx := t.Context()
	c, err := Dial(ctx, nil, s.Addr(), s.ClientTLSConfig(), nil)
	require.NoError(t, err)
	defer c.Close()
	require.ErrorIs(t, c.Login(ctx, "a\r\nb", "x"), ErrBadArgument)
	require.NoError(t, c.Login(ctx, testUser, testPass))
	_, err = c.Retr(ctx, 0)
	require.ErrorIs(t, err, ErrBadArgument)
	b1, err := c.Retr(ctx, 1)
	require.NoError(t, err)
	b2, err := c.Retr(ctx, 2)
	require.NoError(t, err)
	_, err = io.ReadAll(b1)
	assert.ErrorIs(t, err, errStale)
	got, err := io.ReadAll(b2)
	require.NoError(t, err)
	assert.Equal(t, "b\r\n", string(got))
	top, err := c.Top(ctx, 1, 0)
	require.NoError(t, err)
	got, err = io.ReadAll(top)
	require.NoError(t, err)
	assert.Equal(t, string(poptest.ServedTop([]byte("Subject: a\r\n\r\nbody\r\n"), 0)), string(got))
	require.NoError(t, c.Quit(ctx))
	assert.ErrorIs(t, c.Noop(ctx), ErrClosed)
}

func TestClientPartialFailures(t *testing.T) {
	s := startServer(t, &poptest.Server{ImplicitTLS: true, NoAPOP: true, Faults: []poptest.Fault{
		{Kind: poptest.Reply, Command: "DELE", Arg: "2", Text: "-ERR [SYS/TEMP] busy"},
	}}, messages([]byte("1\r\n"), []byte("2\r\n"), []byte("3\r\n"))...)
	ctx := t.Context()
	c, err := Dial(ctx, nil, s.Addr(), s.ClientTLSConfig(), nil)
	require.NoError(t, err)
	defer c.Close()
	require.ErrorIs(t, c.APOP(ctx, testUser, testPass), ErrNotSupported)
	require.ErrorIs(t, c.StartTLS(ctx, s.ClientTLSConfig()), ErrBadArgument)
	require.NoError(t, c.Login(ctx, testUser, testPass))
	err = c.DeleAll(ctx, []int{1, 2, 3})
	var pe *Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "DELE", pe.Command)
	assert.Contains(t, err.Error(), "message 2")
	require.NoError(t, c.Err())
	require.NoError(t, c.Quit(ctx))
	left := s.Mailbox(testUser)
	require.Len(t, left, 1)
	assert.Equal(t, "uid-2", left[0].UID)
}

func TestDebugWriterRedacts(t *testing.T) {
	s := startServer(t, &poptest.Server{ImplicitTLS: true}, messages([]byte("1\r\n"))...)
	ctx := t.Context()
	for _, login := range []func(c *Client) error{
		func(c *Client) error { return c.Login(ctx, testUser, testPass) },
		func(c *Client) error { return c.APOP(ctx, testUser, testPass) },
		func(c *Client) error {
			return c.Auth(ctx, sasl.NewPlainClient("", testUser, testPass))
		},
	} {
		var debug bytes.Buffer
		c, err := Dial(ctx, nil, s.Addr(), s.ClientTLSConfig(), &Options{DebugWriter: &debug})
		require.NoError(t, err)
		require.NoError(t, login(c))
		require.NoError(t, c.Quit(ctx))
		out := debug.String()
		assert.NotContains(t, out, testPass)
		assert.Regexp(t, `(?m)^C: (PASS \*\*\*|APOP alice \*\*\*|AUTH PLAIN \*\*\*)$`, out)
		assert.Contains(t, out, "S: +OK")
	}
}

func TestAuthLongInitialResponse(t *testing.T) {
	token := strings.Repeat("t", 300) // the AUTH line would pass 255 octets
	s := &poptest.Server{ImplicitTLS: true}
	checkLeaks(t)
	s.AddUser(testUser, token, messages([]byte("1\r\n"))...)
	s.Start(t)
	ctx := t.Context()
	c, err := Dial(ctx, nil, s.Addr(), s.ClientTLSConfig(), nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Auth(ctx, sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: testUser, Token: token})))
	require.NoError(t, c.Quit(ctx))
	var lines []string
	for _, cmd := range s.Transcript() {
		if cmd.Name == "AUTH" || cmd.Name == "" {
			lines = append(lines, cmd.Line)
		}
	}
	require.NotEmpty(t, lines)
	assert.Equal(t, "AUTH OAUTHBEARER", lines[0])
}
