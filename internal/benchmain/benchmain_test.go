// Package benchmain measures multidrop end to end against the private
// Dovecot; it is run by scripts/bench-pipeline, one phase per process so
// that each reports its own CPU time and peak RSS (VmHWM). Without
// MULTIDROP_BENCH_PHASE every test skips but TestRunChild, which checks
// how a child process is measured.
//
// The load phase fills MULTIDROP_BENCH_BOXES identical multidrop mailboxes
// with the corpus (2,000 messages of 2 KiB to 1 MiB, about 100 MB: each
// message of deliver/delivertest's corpus copied once per envelope
// recipient, 1 to 3 of 24 users, with the provider's Received and
// Delivered-To on top), or with one 200 MiB message. Each other phase
// collects one mailbox, over plain POP3 or POP3S (MULTIDROP_BENCH_MODE):
// the pipeline phase with a Pipeline Check into per-user Maildirs (fsynced,
// an SQLite journal with synchronous commits); the daemon phase by running
// the multidropd binary with -once and a configuration file of defaults;
// the minimal phase with the least a client can do: a pipelined RETR of
// every message, bodies discarded, then DELE of every message and QUIT;
// the mpop phase by running mpop, a single-drop client, into one Maildir.
// Each prints a RESULT line with its wall time, user and system CPU time,
// peak RSS and the machine's CPU time.
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
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// usage is a snapshot of this process's CPU time.
type usage struct{ user, sys time.Duration }

func selfUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// machineCPU is the CPU time all processors of the machine spent busy
// (the first line of /proc/stat without idle and iowait): the client's,
// Dovecot's and the kernel's work for both, such as writeback by the
// flusher threads, which no process's rusage counts.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// report prints one run's figures: a human-readable line, then a RESULT
// line that scripts/bench-pipeline collects (name, messages, octets, wall,
// user and system CPU seconds, peak RSS in bytes, the machine's CPU
// seconds).
func report(name string, msgs int, octets int64, d time.Duration, cpu usage, rss int64, machine time.Duration) {
	fmt.Printf("%-22s %6d msgs %9.1f MB %7.2f s %8.1f msg/s %7.1f MB/s CPU %5.2f s (user %.2f sys %.2f) peak RSS %6.1f MiB machine CPU %5.2f s\n",
		name, msgs, float64(octets)/1e6, d.Seconds(), float64(msgs)/d.Seconds(),
		float64(octets)/1e6/d.Seconds(), (cpu.user + cpu.sys).Seconds(), cpu.user.Seconds(), cpu.sys.Seconds(),
		float64(rss)/(1<<20), machine.Seconds())
	fmt.Printf("RESULT %s %d %d %.4f %.4f %.4f %d %.4f\n", name, msgs, octets, d.Seconds(),
		cpu.user.Seconds(), cpu.sys.Seconds(), rss, machine.Seconds())
}

// measure runs f and reports its wall and CPU time and the process's peak
// RSS. The process's CPU time before f (connecting to the test Dovecot,
// opening the store) is not counted; its peak RSS is all of it, as the
// runs before f hold little.
func measure(name string, f func() (msgs int, octets int64)) {
	u0, m0, start := selfUsage(), machineCPU(), time.Now()
	msgs, octets := f()
	d, u1, m1 := time.Since(start), selfUsage(), machineCPU()
	report(name, msgs, octets, d, usage{u1.user - u0.user, u1.sys - u0.sys}, peakRSS(), m1-m0)
}

// mode is MULTIDROP_BENCH_MODE: "plain" (POP3 without TLS) or "tls"
// (implicit TLS, POP3S; the default).
func mode(t *testing.T) string {
	switch m := os.Getenv("MULTIDROP_BENCH_MODE"); m {
	case "", "tls":
		return "tls"
	case "plain":
		return m
	default:
		t.Fatalf("MULTIDROP_BENCH_MODE=%q: want plain or tls", m)
		return ""
	}
}

// peakRSS returns the process's VmHWM in bytes.
func peakRSS() int64 {
	n, _ := vmHWM("/proc/self/status")
	return n
}

// vmHWM returns the VmHWM in bytes of the status file of /proc named.
func vmHWM(status string) (int64, error) {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in %s", status)
}

// TestLoad creates MULTIDROP_BENCH_BOXES (default 1) identical mailboxes
// of MULTIDROP_BENCH_LOAD: "corpus" (the default) or "big", one message of
// MULTIDROP_BENCH_BIG_MIB. It prints their names (BENCH_BOXES) and sizes.
func TestLoad(t *testing.T) {
	phase(t, "load")
	srv := dovecottest.Get(t)
	boxes := envInt(t, "MULTIDROP_BENCH_BOXES", 1)
	users := make([]string, boxes)
	what := os.Getenv("MULTIDROP_BENCH_LOAD")
	for i := range users {
		users[i] = srv.NewUser(t, "pipe")
	}
	load := func(m []byte) {
		for _, u := range users {
			srv.Load(t, u, m)
		}
	}
	var n int
	var total int64
	switch what {
	case "", "corpus":
		n = envInt(t, "MULTIDROP_BENCH_MESSAGES", 2000)
		c := delivertest.NewCorpus(n, 2<<10, 1<<20, int64(n)*50_000, 2026)
		var buf []byte
		Copies(n, func(base int, rcpt string) {
			buf = c.Append(Prefix(buf[:0], rcpt, base), base)
			total += int64(len(buf))
			load(buf)
		})
	case "big":
		bigMiB := envInt(t, "MULTIDROP_BENCH_BIG_MIB", 200)
		var m bytes.Buffer
		m.Write(Prefix(nil, user(0), 0))
		fmt.Fprintf(&m, "From: big@remote.test\r\nSubject: %d MiB\r\nMessage-ID: <big@remote.test>\r\n\r\n", bigMiB)
		line := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz"), 2)
		for m.Len() < bigMiB<<20 {
			m.Write(line)
			m.WriteString("\r\n")
		}
		n, total = 1, int64(m.Len())
		load(m.Bytes())
	default:
		t.Fatalf("MULTIDROP_BENCH_LOAD=%q: want corpus or big", what)
	}
	fmt.Printf("BENCH_BOXES=%q\nBENCH_BYTES=%d\nBENCH_MESSAGES=%d\n", strings.Join(users, " "), total, n)
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	return n
}

func benchAccount(t *testing.T, srv *dovecottest.Server, popUser string) account.Account {
	a := account.Account{
		ID: "bench", Enabled: true, Domain: "example.com",
		Security: account.SecurityTLS,
		TLS:      account.TLS{ServerName: "localhost", RootCAs: srv.CAPEM(t)},
		Auth:     account.Auth{User: popUser, Secret: dovecottest.Password, Mechanism: account.MechanismPlain},
		Parsing:  account.Parsing{SkipReceived: 1},
	}
	addr := srv.POP3S
	if mode(t) == "plain" {
		addr = srv.POP3
		a.Security, a.TLS, a.Auth.AllowInsecure = account.SecurityNone, account.TLS{}, true
	}
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	a.Host = host
	a.Port, err = strconv.Atoi(port)
	require.NoError(t, err)
	return a
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
		Spool: multidrop.SpoolOptions{Dir: out}, LocalHost: "mx.local.test",
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
	o.Resolver = resolve.New(benchDirectory(t), nil)
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

	measure(os.Getenv("MULTIDROP_BENCH_NAME"), func() (int, int64) {
		r, err := p.Check(ctx, a.ID)
		require.NoError(t, err)
		require.True(t, r.Committed)
		require.Equal(t, r.Listed, r.Deleted, "every message deleted")
		require.Equal(t, r.Listed, r.Delivered, "one delivery per copy")
		return r.Retrieved, r.Bytes
	})
}

func benchDirectory(t *testing.T) resolve.Directory {
	var tab resolve.Table
	for i := range Users {
		tab.Users = append(tab.Users, resolve.User{Address: user(i)})
	}
	dir, err := resolve.NewStatic(tab)
	require.NoError(t, err)
	return dir
}

// TestMinimal is the reference: RETR of every message, pipelined, bodies
// discarded; DELE of every message; QUIT.
func TestMinimal(t *testing.T) {
	phase(t, "minimal")
	srv := dovecottest.Get(t)
	ctx := context.Background()
	addr, tc, opts := srv.POP3S, srv.TLSConfig(t), (*pop.Options)(nil)
	if mode(t) == "plain" {
		addr, tc, opts = srv.POP3, nil, &pop.Options{AllowInsecureAuth: true}
	}
	measure(os.Getenv("MULTIDROP_BENCH_NAME"), func() (int, int64) {
		c, err := pop.Dial(ctx, nil, addr, tc, opts)
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
		return n, octets
	})
}

// TestDaemon runs the binary MULTIDROP_BENCH_DAEMON as an administrator
// does, "multidropd -config file -once", over MULTIDROP_BENCH_USER's
// mailbox: a configuration file with every default (SQLite store and
// journal, fsynced Maildirs, key-named files) but the paths, the users file
// and the account put in the store beforehand. It reports the child's wall
// time, CPU time and peak RSS (see runChild), and checks that the mailbox
// is empty afterwards.
func TestDaemon(t *testing.T) {
	phase(t, "daemon")
	srv := dovecottest.Get(t)
	ctx := context.Background()
	bin, out := os.Getenv("MULTIDROP_BENCH_DAEMON"), os.Getenv("MULTIDROP_BENCH_OUT")
	require.NotEmpty(t, bin, "MULTIDROP_BENCH_DAEMON")
	require.NotEmpty(t, out, "MULTIDROP_BENCH_OUT")
	popUser := os.Getenv("MULTIDROP_BENCH_USER")
	a := benchAccount(t, srv, popUser)
	db, err := sqlite.Open(ctx, filepath.Join(out, "multidrop.db"), nil)
	require.NoError(t, err)
	_, err = db.Put(ctx, a)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	var users strings.Builder
	for i := range Users {
		users.WriteString(user(i) + "\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join(out, "users"), []byte(users.String()), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(out, "mail"), 0o700))
	cfg := filepath.Join(out, "multidropd.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{
  "store": {"path": "multidrop.db"},
  "directory": {"path": "users"},
  "deliver": {"maildir": {"root": "mail"}},
  "log": {"level": "warn"},
  "pipeline": {"spool_dir": ".", "local_host": "mx.local.test"}
}
`), 0o600))
	cmd := exec.CommandContext(ctx, bin, "-config", cfg, "-once")
	d, cpu, rss, machine := runChild(t, cmd)
	requireEmpty(t, srv, popUser)
	report(os.Getenv("MULTIDROP_BENCH_NAME"), envInt(t, "BENCH_MESSAGES", 0), benchBytes(t), d, cpu, rss, machine)
}

// runChild runs cmd to its end and returns its wall time, its CPU time
// (user and system, from its rusage), its peak RSS and the machine's CPU
// time meanwhile. It fails the test, with the child's standard error, when
// cmd fails.
//
// The peak RSS is the child's VmHWM, read when it exits (traced for that
// one stop with PTRACE_O_TRACEEXIT), not its ru_maxrss: at exec the kernel
// counts into ru_maxrss the peak RSS of the address space the exec
// replaces, and a Go process execs its children from its own (vfork), so
// ru_maxrss is never below this test process's peak (about 10 MiB, more
// than mpop's own).
func runChild(t *testing.T, cmd *exec.Cmd) (d time.Duration, cpu usage, rss int64, machine time.Duration) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true}
	runtime.LockOSThread() // the tracer is the thread that started the child
	defer runtime.UnlockOSThread()
	m0, start := machineCPU(), time.Now()
	require.NoError(t, cmd.Start())
	rss, traceErr := peakAtExit(cmd.Process.Pid)
	if traceErr != nil {
		_ = cmd.Process.Kill() // it may be stopped
	}
	err := cmd.Wait()
	d, m1 := time.Since(start), machineCPU()
	require.NoError(t, err, "%s: %s", filepath.Base(cmd.Path), stderr.String())
	require.NoError(t, traceErr, "%s: reading its peak RSS", filepath.Base(cmd.Path))
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	require.True(t, ok)
	return d, usage{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}, rss, m1 - m0
}

// peakAtExit follows the traced child pid, stopped after its exec, to its
// exit and returns its VmHWM then, leaving it to exit (and to be reaped
// by the caller). Signals the child gets on the way are passed on.
func peakAtExit(pid int) (int64, error) {
	for first := true; ; first = false {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		for err == syscall.EINTR {
			_, err = syscall.Wait4(pid, &ws, 0, nil)
		}
		if err != nil {
			return 0, err
		}
		if !ws.Stopped() {
			return 0, fmt.Errorf("ended before its exit stop: %v", ws)
		}
		sig := ws.StopSignal()
		switch {
		case first: // the SIGTRAP after exec
			if err := syscall.PtraceSetOptions(pid, syscall.PTRACE_O_TRACEEXIT|syscall.PTRACE_O_TRACEEXEC); err != nil {
				return 0, err
			}
			sig = 0
		case sig == syscall.SIGTRAP && ws.TrapCause() == syscall.PTRACE_EVENT_EXEC: // a wrapper's exec
			sig = 0
		case sig == syscall.SIGTRAP && ws.TrapCause() == syscall.PTRACE_EVENT_EXIT:
			hwm, err := vmHWM(fmt.Sprintf("/proc/%d/status", pid))
			if derr := syscall.PtraceDetach(pid); err == nil {
				err = derr
			}
			return hwm, err
		}
		if err := syscall.PtraceCont(pid, int(sig)); err != nil {
			return 0, err
		}
	}
}

// requireEmpty fails the test unless popUser's mailbox is empty.
func requireEmpty(t *testing.T, srv *dovecottest.Server, popUser string) {
	t.Helper()
	ctx := t.Context()
	c, err := pop.Dial(ctx, nil, srv.POP3S, srv.TLSConfig(t), nil)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Login(ctx, popUser, dovecottest.Password))
	left, _, err := c.Stat(ctx)
	require.NoError(t, err)
	require.Zero(t, left, "messages left in the mailbox")
	require.NoError(t, c.Quit(ctx))
}

// benchBytes is BENCH_BYTES, the size of the mailbox the load phase made.
func benchBytes(t *testing.T) int64 {
	n, err := strconv.ParseInt(os.Getenv("BENCH_BYTES"), 10, 64)
	require.NoError(t, err, "BENCH_BYTES")
	return n
}

// TestMpop runs mpop (the binary MULTIDROP_BENCH_MPOP), a single-drop POP3
// client, over MULTIDROP_BENCH_USER's mailbox, for comparison: every
// message into one Maildir under MULTIDROP_BENCH_OUT, no recipient
// recovery, each message deleted on the server once delivered (keep off).
// Its durability is its own: it fsyncs each message file in tmp/ before
// linking it into new/, and no directory. Plain POP3 without STLS or
// implicit TLS with the test CA as in the other phases, PLAIN
// authentication, pipelining as mpop decides (Dovecot offers it). It
// reports like TestDaemon and checks that the mailbox is empty afterwards
// and that new/ holds every message.
func TestMpop(t *testing.T) {
	phase(t, "mpop")
	srv := dovecottest.Get(t)
	bin, out := os.Getenv("MULTIDROP_BENCH_MPOP"), os.Getenv("MULTIDROP_BENCH_OUT")
	require.NotEmpty(t, bin, "MULTIDROP_BENCH_MPOP")
	require.NotEmpty(t, out, "MULTIDROP_BENCH_OUT")
	popUser := os.Getenv("MULTIDROP_BENCH_USER")
	md := filepath.Join(out, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(md, sub), 0o700))
	}
	addr, security := srv.POP3S, "tls on\ntls_starttls off\ntls_trust_file "+quote(t, srv.CAFile)
	if mode(t) == "plain" {
		addr, security = srv.POP3, "tls off"
	}
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	cfg := filepath.Join(out, "mpoprc")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `account bench
host %s
port %s
%s
auth plain
user %s
password %s
delivery maildir %s
uidls_file %s
keep off
`, host, port, security, quote(t, popUser), quote(t, dovecottest.Password), quote(t, md),
		quote(t, filepath.Join(out, "uidls"))), 0o600)) // mpop refuses a password in a file others can read

	cmd := exec.CommandContext(t.Context(), bin, "-C", cfg, "-q", "bench")
	d, cpu, rss, machine := runChild(t, cmd)
	requireEmpty(t, srv, popUser)
	msgs := envInt(t, "BENCH_MESSAGES", 0)
	for sub, want := range map[string]int{"new": msgs, "cur": 0, "tmp": 0} {
		files, err := os.ReadDir(filepath.Join(md, sub))
		require.NoError(t, err)
		require.Len(t, files, want, "files in the Maildir's %s/", sub)
	}
	report(os.Getenv("MULTIDROP_BENCH_NAME"), msgs, benchBytes(t), d, cpu, rss, machine)
}

// quote returns s as an argument of an mpoprc command.
func quote(t *testing.T, s string) string {
	require.NotContains(t, s, `"`)
	require.NotContains(t, s, "\n")
	require.NotContains(t, s, `\\`)
	return `"` + s + `"`
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

// TestRunChild checks the peak RSS runChild reports: the child's own, not
// the larger one of this process, which its ru_maxrss carries over from the
// exec. The child is this test binary again, touching childMiB.
func TestRunChild(t *testing.T) {
	const parentMiB, childMiB = 128, 24
	if os.Getenv("BENCHMAIN_CHILD") != "" {
		touch(childMiB)
		return
	}
	big := touch(parentMiB)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestRunChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BENCHMAIN_CHILD=1", "MULTIDROP_BENCH_PHASE=")
	_, cpu, rss, _ := runChild(t, cmd)
	runtime.KeepAlive(big)
	assert.GreaterOrEqual(t, rss, int64(childMiB<<20), "the child's peak RSS holds what it touched")
	assert.Less(t, rss, int64(parentMiB<<20), "the child's peak RSS is not this process's")
	assert.Positive(t, cpu.user+cpu.sys)
}

// touch allocates mib MiB and writes every page of it.
func touch(mib int) []byte {
	b := make([]byte, mib<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}
