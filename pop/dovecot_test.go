package pop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/dovecottest"
)

// checkLeaks fails the test if goroutines started during it are still
// running shortly after it ends.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

// newUser makes a Dovecot user (dovecottest.NewUser returns once Dovecot
// knows it) whose mail goes with the test.
func newUser(t testing.TB, srv *dovecottest.Server, prefix string) string {
	t.Helper()
	return newUsers(t, srv, prefix, 1)[0]
}

// newUsers makes n users; their mail goes with the test.
func newUsers(t testing.TB, srv *dovecottest.Server, prefix string, n int) []string {
	t.Helper()
	var users []string
	for range n {
		u := srv.NewUser(t, prefix)
		t.Cleanup(func() { os.RemoveAll(filepath.Dir(srv.Maildir(u))) })
		users = append(users, u)
	}
	return users
}

func dovecotAccount(t testing.TB, srv *dovecottest.Server, user string, sec account.Security, mech account.Mechanism) account.Account {
	t.Helper()
	addr := srv.POP3
	if sec == account.SecurityTLS {
		addr = srv.POP3S
	}
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return account.Account{
		ID: "test-" + user, Host: host, Port: p, Security: sec,
		TLS:  account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
		Auth: account.Auth{User: user, Secret: dovecottest.Password, Mechanism: mech, AllowInsecure: sec == account.SecurityNone},
	}
}

// collector is a Handler recording what it read.
type collector struct {
	mu     sync.Mutex
	bodies map[int][]byte
	infos  []MessageInfo
	action Action
}

func (c *collector) Handle(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return Keep, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bodies == nil {
		c.bodies = map[int][]byte{}
	}
	c.bodies[m.Number] = b
	c.infos = append(c.infos, m)
	return c.action, nil
}

func smallCorpus(t testing.TB) ([]string, [][]byte) {
	all := corpus(t)
	var names []string
	var msgs [][]byte
	for _, name := range slices.Sorted(maps.Keys(all)) { // tests index msgs: keep a fixed order
		m := all[name]
		if len(m) == 0 {
			continue // Dovecot does not store empty files as messages
		}
		names = append(names, name)
		msgs = append(msgs, m)
	}
	return names, msgs
}

func TestDovecotRoundTrip(t *testing.T) {
	srv := dovecottest.Get(t)
	tests := []struct {
		name   string
		sec    account.Security
		mech   account.Mechanism
		window int
	}{
		{"plain USER", account.SecurityNone, account.MechanismUser, 0},
		{"STLS PLAIN", account.SecurityStartTLS, account.MechanismPlain, 0},
		{"STLS auto", account.SecurityStartTLS, account.MechanismAuto, 0},
		{"TLS SCRAM-SHA-256", account.SecurityTLS, account.MechanismSCRAMSHA256, 0},
		{"TLS USER lock-step", account.SecurityTLS, account.MechanismUser, 1},
		{"TLS PLAIN window 2", account.SecurityTLS, account.MechanismPlain, 2},
	}
	users := newUsers(t, srv, "rt", len(tests))
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			user := users[i]
			names, msgs := smallCorpus(t)
			srv.Load(t, user, msgs...)
			a := dovecotAccount(t, srv, user, tc.sec, tc.mech)
			var debug bytes.Buffer
			d := &Downloader{Options: Options{Timeouts: account.Timeouts{Window: tc.window}, DebugWriter: &debug}}
			h := &collector{action: Delete}
			require.NoError(t, d.Fetch(t.Context(), a, h))
			require.Len(t, h.bodies, len(msgs))
			for i, m := range msgs {
				assert.Equal(t, string(dovecotServed(m)), string(h.bodies[i+1]), names[i])
				assert.Equal(t, i+1, h.infos[i].Number)
				assert.NotEmpty(t, h.infos[i].UID)
				assert.Empty(t, h.infos[i].UIDProblem)
			}
			assert.NotContains(t, debug.String(), dovecottest.Password)
			// Deleted and committed: a second session sees an empty box.
			h2 := &collector{}
			require.NoError(t, d.Fetch(t.Context(), a, h2))
			assert.Empty(t, h2.bodies)
		})
	}
}

// dovecotServed is what a conforming client reads from the Dovecot under
// test for a message stored with Load: dovecottest.Served(m), except that
// Dovecot (2.3) does not dot-stuff the first line of a message, so a
// leading "." is read as stuffing and removed. Real messages start with a
// header field, never with a dot.
func dovecotServed(m []byte) []byte {
	s := dovecottest.Served(m)
	if len(s) > 0 && s[0] == '.' {
		return s[1:]
	}
	return s
}

func bigMessage(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.WriteString("Subject: big\r\nFrom: a@example.org\r\n\r\n")
	for b.Len() < size {
		n := 1 + r.IntN(120)
		line := make([]byte, n)
		for i := range line {
			line[i] = byte(0x20 + r.IntN(95))
		}
		if r.IntN(10) == 0 {
			line[0] = '.'
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func TestDovecotLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large messages")
	}
	srv := dovecottest.Get(t)
	checkLeaks(t)
	user := newUser(t, srv, "big")
	long := append(append([]byte("Subject: long line\r\n\r\n"), bytes.Repeat([]byte("y"), 5<<20)...), "\r\n"...)
	big := bigMessage(50<<20, 7)
	srv.Load(t, user, long, big)
	a := dovecotAccount(t, srv, user, account.SecurityTLS, account.MechanismAuto)
	sums := map[int][32]byte{}
	h := HandlerFunc(func(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
		s := sha256.New()
		_, err := io.Copy(s, body)
		sums[m.Number] = [32]byte(s.Sum(nil))
		return Keep, err
	})
	require.NoError(t, (&Downloader{}).Fetch(t.Context(), a, h))
	assert.Equal(t, sha256.Sum256(dovecottest.Served(long)), sums[1])
	assert.Equal(t, sha256.Sum256(dovecottest.Served(big)), sums[2])
}

func TestDovecotClient(t *testing.T) {
	srv := dovecottest.Get(t)
	checkLeaks(t)
	user := newUser(t, srv, "cl")
	_, msgs := smallCorpus(t)
	srv.Load(t, user, msgs...)
	ctx := t.Context()
	c, err := Dial(ctx, nil, srv.POP3S, srv.TLSConfig(t), nil)
	require.NoError(t, err)
	defer c.Close()
	assert.True(t, c.IsTLS())
	caps, err := c.Capabilities(ctx)
	require.NoError(t, err)
	assert.True(t, caps.Has("UIDL"))
	assert.True(t, caps.Has("pipelining"))
	assert.Contains(t, caps.SASL(), "SCRAM-SHA-256")

	err = c.Login(ctx, user, "wrong")
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "PASS", perr.Command)
	assert.Equal(t, "AUTH", perr.Code)
	assert.False(t, perr.Temporary())
	assert.NotContains(t, err.Error(), "wrong")

	require.NoError(t, c.Login(ctx, user, dovecottest.Password))
	n, size, err := c.Stat(ctx)
	require.NoError(t, err)
	assert.Equal(t, len(msgs), n)
	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, n)
	var total int64
	for _, e := range list {
		total += e.Size
	}
	assert.Equal(t, size, total)
	one, err := c.ListOne(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, list[1], one)
	uids, err := c.UIDL(ctx)
	require.NoError(t, err)
	u2, err := c.UIDLOne(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, uids[1], u2)

	// A body read partly, then the next command: it is drained and the
	// session stays in step.
	body, err := c.Retr(ctx, 1)
	require.NoError(t, err)
	p := make([]byte, 3)
	_, err = io.ReadFull(body, p)
	require.NoError(t, err)
	require.NoError(t, c.Noop(ctx))
	_, err = body.Read(p)
	assert.ErrorIs(t, err, errStale)

	top, err := c.Top(ctx, 1, 0)
	require.NoError(t, err)
	head, err := io.ReadAll(top)
	require.NoError(t, err)
	served := dovecotServed(msgs[0])
	hdrEnd := bytes.Index(served, []byte("\r\n\r\n"))
	require.Positive(t, hdrEnd)
	assert.Equal(t, string(served[:hdrEnd+4]), string(head))

	_, err = c.Retr(ctx, 99)
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, "RETR", perr.Command)

	var got []int
	err = c.RetrAll(ctx, []int{3, 1, 99, 2}, func(n int, body io.Reader) error {
		got = append(got, n)
		b, err := io.ReadAll(body)
		assert.Equal(t, string(dovecotServed(msgs[n-1])), string(b))
		return err
	})
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, []int{3, 1, 2}, got)
	require.NoError(t, c.Err())

	require.NoError(t, c.DeleAll(ctx, []int{1, 2}))
	require.NoError(t, c.Rset(ctx))
	require.NoError(t, c.Dele(ctx, 1))
	require.NoError(t, c.Quit(ctx))

	c2, err := Dial(ctx, nil, srv.POP3S, srv.TLSConfig(t), nil)
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, c2.Login(ctx, user, dovecottest.Password))
	n2, _, err := c2.Stat(ctx)
	require.NoError(t, err)
	assert.Equal(t, n-1, n2)
	require.NoError(t, c2.Quit(ctx))
}

func TestDovecotSecurity(t *testing.T) {
	srv := dovecottest.Get(t)
	checkLeaks(t)
	user := newUser(t, srv, "sec")
	ctx := t.Context()

	// Plaintext USER/PASS refused without TLS unless allowed.
	a := dovecotAccount(t, srv, user, account.SecurityNone, account.MechanismUser)
	a.Auth.AllowInsecure = false
	err := (&Downloader{}).Fetch(ctx, a, &collector{})
	assert.ErrorIs(t, err, ErrInsecure)

	// A wrong CA fails the handshake.
	a = dovecotAccount(t, srv, user, account.SecurityTLS, account.MechanismAuto)
	a.TLS.RootCAs = ""
	err = (&Downloader{}).Fetch(ctx, a, &collector{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")

	// A wrong pin fails; the right one works.
	a = dovecotAccount(t, srv, user, account.SecurityStartTLS, account.MechanismAuto)
	a.TLS.PinSHA256 = []string{"00" + string(bytes.Repeat([]byte("ab"), 31))}
	err = (&Downloader{}).Fetch(ctx, a, &collector{})
	assert.ErrorIs(t, err, ErrPinMismatch)
	c, err := Dial(ctx, nil, srv.POP3S, srv.TLSConfig(t), nil)
	require.NoError(t, err)
	cs, _ := c.TLSConnectionState()
	c.Close()
	sum := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
	a.TLS.PinSHA256 = []string{hexString(sum[:])}
	require.NoError(t, (&Downloader{}).Fetch(ctx, a, &collector{}))

	// A configured mechanism the server does not offer is an error.
	a = dovecotAccount(t, srv, user, account.SecurityTLS, account.MechanismXOAUTH2)
	err = (&Downloader{}).Fetch(ctx, a, &collector{})
	assert.ErrorIs(t, err, ErrNotSupported)
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
