// Package benchmain measures the Pipeline end to end against the private
// Dovecot; it is run by scripts/bench-pipeline, one phase per process so that
// each reports its own peak RSS (VmHWM). Without MULTIDROP_BENCH_PHASE every
// test skips.
//
// The load phase fills two identical multidrop mailboxes with the corpus
// (2,000 messages of 2 KiB to 1 MiB, about 100 MB: each message of
// deliver/delivertest's corpus copied once per envelope recipient, 1 to 3 of
// 24 users, with the provider's Received and Delivered-To on top), and two
// with one 200 MiB message. The pipeline phase collects one mailbox with a
// Pipeline Check into per-user Maildirs (fsynced, an SQLite journal with
// synchronous commits); the minimal phase collects the other with the least
// a client can do: a pipelined RETR of every message, bodies discarded, then
// DELE of every message and QUIT.
//
// MULTIDROP_BENCH_MESSAGES and MULTIDROP_BENCH_BIG_MIB change the number of
// messages (2,000) and the size of the big one (200 MiB). For finding where
// the time goes, MULTIDROP_BENCH_JOURNAL=memory replaces the SQLite store
// and journal with memory ones, and MULTIDROP_BENCH_DELIVER=discard the
// Maildirs with a deliverer that reads and discards.
package benchmain

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/internal/dovecottest"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// Users is the number of local users the corpus is addressed to.
const Users = 24

func user(i int) string { return fmt.Sprintf("user%02d@example.com", i) }

// Copies calls f for each message of a mailbox of n messages, in order: the
// corpus message it copies and the envelope recipient of the copy. Corpus
// message i goes to 1 to 3 distinct users.
func Copies(n int, f func(base int, rcpt string)) {
	for i, j := 0, 0; j < n; i++ {
		k := 1
		if i%3 == 0 {
			k++
		}
		if i%7 == 0 {
			k++
		}
		for r := 0; r < k && j < n; r, j = r+1, j+1 {
			f(i, user((i+r*8)%Users))
		}
	}
}

// Prefix is what the provider put above each copy.
func Prefix(dst []byte, rcpt string, i int) []byte {
	return fmt.Appendf(dst, "Received: from mx.provider.test by pop.provider.test with LMTP id %08x;\r\n"+
		"\tMon, 02 Nov 2026 10:00:00 +0000\r\nDelivered-To: %s\r\n", i, rcpt)
}

func phase(t *testing.T, want string) {
	if os.Getenv("MULTIDROP_BENCH_PHASE") != want {
		t.Skip("run by scripts/bench-pipeline")
	}
}

func report(name string, msgs int, octets int64, d time.Duration) {
	fmt.Printf("%-16s %6d msgs %9.1f MB %7.2f s %8.1f msg/s %7.1f MB/s peak RSS %6.1f MiB\n",
		name, msgs, float64(octets)/1e6, d.Seconds(), float64(msgs)/d.Seconds(),
		float64(octets)/1e6/d.Seconds(), float64(peakRSS())/(1<<20))
}

// peakRSS returns the process's VmHWM in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

// TestLoad creates the benchmark mailboxes and prints their names.
func TestLoad(t *testing.T) {
	phase(t, "load")
	srv := dovecottest.Get(t)
	n := 2000
	if v := os.Getenv("MULTIDROP_BENCH_MESSAGES"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	c := delivertest.NewCorpus(n, 2<<10, 1<<20, int64(n)*50_000, 2026)
	a, b := srv.NewUser(t, "pipe"), srv.NewUser(t, "pipemin")
	var total int64
	var buf []byte
	Copies(n, func(base int, rcpt string) {
		buf = c.Append(Prefix(buf[:0], rcpt, base), base)
		total += int64(len(buf))
		srv.Load(t, a, buf)
		srv.Load(t, b, buf)
	})
	bigMiB := 200
	if v := os.Getenv("MULTIDROP_BENCH_BIG_MIB"); v != "" {
		var err error
		bigMiB, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	bigA, bigB := srv.NewUser(t, "pipebig"), srv.NewUser(t, "pipebigmin")
	var m bytes.Buffer
	m.Write(Prefix(nil, user(0), 0))
	fmt.Fprintf(&m, "From: big@remote.test\r\nSubject: %d MiB\r\nMessage-ID: <big@remote.test>\r\n\r\n", bigMiB)
	line := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 2)
	for m.Len() < bigMiB<<20 {
		m.Write(line)
		m.WriteString("\r\n")
	}
	srv.Load(t, bigA, m.Bytes())
	srv.Load(t, bigB, m.Bytes())
	fmt.Printf("BENCH_USER=%s\nBENCH_MIN_USER=%s\nBENCH_BIG_USER=%s\nBENCH_BIG_MIN_USER=%s\nBENCH_BYTES=%d\nBENCH_MESSAGES=%d\n",
		a, b, bigA, bigB, total, n)
}

func benchAccount(t *testing.T, srv *dovecottest.Server, popUser string) account.Account {
	host, port, err := net.SplitHostPort(srv.POP3S)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	return account.Account{
		ID: "bench", Enabled: true, Host: host, Port: p, Domain: "example.com",
		Security: account.SecurityTLS,
		TLS:      account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
		Auth:     account.Auth{User: popUser, Secret: dovecottest.Password, Mechanism: account.MechanismPlain},
		Parsing:  account.Parsing{SkipReceived: 1},
	}
}

// TestPipeline collects MULTIDROP_BENCH_USER's mailbox with a Pipeline Check
// into per-user Maildirs under MULTIDROP_BENCH_OUT.
func TestPipeline(t *testing.T) {
	phase(t, "pipeline")
	srv := dovecottest.Get(t)
	ctx := context.Background()
	out := os.Getenv("MULTIDROP_BENCH_OUT")
	require.NotEmpty(t, out, "MULTIDROP_BENCH_OUT")
	o := &multidrop.Options{
		SpoolDir: out, LocalHost: "mx.local.test",
		Logger: benchLogger(),
	}
	a := benchAccount(t, srv, os.Getenv("MULTIDROP_BENCH_USER"))
	var err error
	switch j := os.Getenv("MULTIDROP_BENCH_JOURNAL"); j {
	case "", "sqlite":
		db, err := sqlite.Open(ctx, filepath.Join(out, "multidrop.db"), nil)
		require.NoError(t, err)
		defer db.Close()
		o.Store, o.Journal, o.Locker = db, db, db
		a, err = db.Put(ctx, a)
		require.NoError(t, err)
	case "memory": // for comparison: no journal commits at all
		ms := account.NewMemoryStore()
		o.Store, o.Journal = ms, account.NewMemoryJournal()
		a, err = ms.Put(ctx, a)
		require.NoError(t, err)
	default:
		t.Fatalf("MULTIDROP_BENCH_JOURNAL=%q: want sqlite or memory", j)
	}
	var tab resolve.Table
	for i := range Users {
		tab.Users = append(tab.Users, resolve.User{Address: user(i)})
	}
	dir, err := resolve.NewStatic(tab)
	require.NoError(t, err)
	o.Resolver = resolve.New(dir, nil)
	o.Deliverer, err = deliver.NewMaildir(&deliver.MaildirOptions{
		Template: "{root}/{domain}/{user}/Maildir", Root: filepath.Join(out, "mail"),
		Create:       true,
		TraceOptions: deliver.TraceOptions{LocalHost: "mx.local.test", DeliveredTo: true, ReturnPath: true},
		SpoolDir:     out,
	})
	require.NoError(t, err)
	if os.Getenv("MULTIDROP_BENCH_DELIVER") == "discard" { // for comparison: no Maildir writes
		o.Deliverer = deliver.Func(func(_ context.Context, env deliver.Envelope, msg io.Reader) (deliver.Results, error) {
			if _, err := io.Copy(io.Discard, msg); err != nil {
				return nil, err
			}
			res := make(deliver.Results, len(env.To))
			for i, r := range env.To {
				res[i] = deliver.Result{Recipient: r, Status: deliver.Delivered}
			}
			return res, nil
		})
	}
	if v := os.Getenv("MULTIDROP_BENCH_CONCURRENCY"); v != "" {
		o.DeliveryConcurrency, err = strconv.Atoi(v)
		require.NoError(t, err, "MULTIDROP_BENCH_CONCURRENCY")
	}
	p, err := multidrop.New(o)
	require.NoError(t, err)

	start := time.Now()
	r, err := p.Check(ctx, a.ID)
	d := time.Since(start)
	require.NoError(t, err)
	require.True(t, r.Committed)
	require.Equal(t, r.Listed, r.Deleted, "every message deleted")
	require.Equal(t, r.Listed, r.Delivered, "one delivery per copy")
	report(os.Getenv("MULTIDROP_BENCH_NAME"), r.Retrieved, r.Bytes, d)
}

// TestMinimal is the reference: RETR of every message, pipelined, bodies
// discarded; DELE of every message; QUIT.
func TestMinimal(t *testing.T) {
	phase(t, "minimal")
	srv := dovecottest.Get(t)
	ctx := context.Background()
	start := time.Now()
	c, err := pop.Dial(ctx, nil, srv.POP3S, srv.TLSConfig(t), nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Login(ctx, os.Getenv("MULTIDROP_BENCH_USER"), dovecottest.Password))
	n, _, err := c.Stat(ctx)
	require.NoError(t, err)
	nums := make([]int, n)
	for i := range nums {
		nums[i] = i + 1
	}
	var octets int64
	require.NoError(t, c.RetrAll(ctx, nums, func(_ int, body io.Reader) error {
		k, err := io.Copy(io.Discard, body)
		octets += k
		return err
	}))
	require.NoError(t, c.DeleAll(ctx, nums))
	require.NoError(t, c.Quit(ctx))
	report(os.Getenv("MULTIDROP_BENCH_NAME"), n, octets, time.Since(start))
}

// benchLogger discards, or writes to MULTIDROP_BENCH_LOG when set.
func benchLogger() *slog.Logger {
	if p := os.Getenv("MULTIDROP_BENCH_LOG"); p != "" {
		f, err := os.Create(p + "." + strings.ReplaceAll(os.Getenv("MULTIDROP_BENCH_NAME"), "/", "-"))
		if err == nil {
			return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	return slog.New(slog.DiscardHandler)
}
