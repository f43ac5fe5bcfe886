package schedule_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/postgres"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
	"github.com/multidrop/multidrop/schedule"

	"github.com/multidrop/multidrop/internal/farmtest"
)

// These tests run several Pipelines (the instances of a deployment) on one
// database with RunShared, against SQLite and, when MULTIDROP_PG_DSN is set,
// PostgreSQL. Real database and network I/O are involved, so they use short
// real intervals rather than synctest, and wait for outcomes with deadlines.

// The shared databases and the farm of mailboxes are package farmtest's.
type farm = farmtest.Farm

var (
	sharedEngines = farmtest.Engines
	newFarm       = farmtest.New
)

// fakeClock is a store clock that moves only when the test says, shared
// by every store of a test: leases expire and accounts fall due on cue.
type fakeClock struct{ off atomic.Int64 }

var fakeBase = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time          { return fakeBase.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// checkLog records the checks of every instance from its Observer.
type checkLog struct {
	mu     sync.Mutex
	starts map[string][]time.Time
	ends   map[string][]time.Time
	by     map[string]map[string]int // instance -> account -> checks
	errs   []error
}

func newCheckLog() *checkLog {
	return &checkLog{starts: map[string][]time.Time{}, ends: map[string][]time.Time{}, by: map[string]map[string]int{}}
}

func (l *checkLog) observer(instance string) func(multidrop.Event) {
	return func(e multidrop.Event) {
		now := time.Now()
		l.mu.Lock()
		defer l.mu.Unlock()
		switch e.Kind {
		case multidrop.EventCheckStart:
			l.starts[e.Account] = append(l.starts[e.Account], now)
		case multidrop.EventCheckEnd:
			l.ends[e.Account] = append(l.ends[e.Account], now)
			if l.by[instance] == nil {
				l.by[instance] = map[string]int{}
			}
			l.by[instance][e.Account]++
			if e.Err != nil {
				l.errs = append(l.errs, fmt.Errorf("%s on %s: %w", e.Account, instance, e.Err))
			}
		}
	}
}

// errors returns the failed checks so far.
func (l *checkLog) errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// checks returns the finished checks of an account.
func (l *checkLog) checks(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ends[id])
}

// minChecks returns the fewest finished checks of any of ids.
func (l *checkLog) minChecks(ids []string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := -1
	for _, id := range ids {
		if n := len(l.ends[id]); m < 0 || n < m {
			m = n
		}
	}
	return m
}

// assertSpaced checks that no account was checked again sooner than
// spacing after its previous check ended: one check per interval, whoever
// makes it.
func (l *checkLog) assertSpaced(t *testing.T, spacing time.Duration) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, starts := range l.starts {
		ends := l.ends[id]
		for i := 1; i < len(starts) && i <= len(ends); i++ {
			gap := starts[i].Sub(ends[i-1])
			assert.GreaterOrEqual(t, gap, spacing, "%s: check %d began %v after check %d ended", id, i+1, gap, i)
		}
	}
}

type instanceOpt func(*multidrop.Options, *schedule.Options)

// instance is a Pipeline and the options of its Schedule.
type instance struct {
	p     *multidrop.Pipeline
	store account.Store
	opt   schedule.Options
}

func newInstance(t *testing.T, st *sqlstore.Store, f *farm, name string, log *checkLog, opts ...instanceOpt) *instance {
	t.Helper()
	o := &multidrop.Options{
		Store: st, Journal: st, Locker: st,
		Lease:     multidrop.LeaseOptions{Owner: name, TTL: time.Minute},
		Fetcher:   &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 10 * time.Second, Data: 10 * time.Second}}},
		Resolver:  resolve.New(f.Dir, nil),
		Deliverer: f.Dlv,
		Spool:     multidrop.SpoolOptions{Dir: t.TempDir()},
		LocalHost: name + ".mx.test",
		Logger:    slog.New(slog.DiscardHandler),
	}
	so := schedule.Options{
		Owner:    name,
		LeaseTTL: time.Minute,
		Interval: time.Second,
		Backoff:  func(int) time.Duration { return 100 * time.Millisecond },
	}
	if log != nil {
		o.Observer = log.observer(name)
	}
	for _, f := range opts {
		f(o, &so)
	}
	p, err := multidrop.New(o)
	require.NoError(t, err)
	return &instance{p: p, store: st, opt: so}
}

// running is a set of instances running RunShared.
type running struct {
	cancel []context.CancelFunc
	g      errgroup.Group
}

// start runs the Schedule of in, polling every poll, and returns it.
func (r *running) start(t *testing.T, in *instance, poll time.Duration) *schedule.Schedule {
	so := in.opt
	so.Poll = poll
	s, err := schedule.New(in.p, in.store, &so)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = append(r.cancel, cancel)
	r.g.Go(func() error { return s.RunShared(ctx) })
	return s
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	for _, c := range r.cancel {
		c()
	}
	require.NoError(t, r.g.Wait())
}

// Three instances, each with its own connection pool, share 300 accounts
// (100 on SQLite):
// over several intervals every account is checked, never by two sessions
// at once and never sooner than its interval, and every message, including
// those that arrive later, is delivered exactly once.
func TestSharedInstances(t *testing.T) {
	for name, engine := range sharedEngines() {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			const iv = 400 * time.Millisecond
			n := 300
			if name == "sqlite" {
				// modernc.org/sqlite is CPU-bound under -race: a third
				// of the accounts keeps the test within seconds.
				n = 100
			}
			f := newFarm(t, open(t, nil), n, 1)
			log := newCheckLog()
			var r running
			for i := range 3 {
				r.start(t, newInstance(t, open(t, nil), f, fmt.Sprintf("instance-%d", i), log, func(o *multidrop.Options, so *schedule.Options) {
					so.Interval = iv
					so.Concurrency = 8
				}), 20*time.Millisecond)
			}
			defer r.stop(t)
			// Generous bounds: on a loaded 2-core machine SQLite under
			// -race checks slowly; the test asserts the outcome, not speed.
			require.Eventually(t, f.AllDelivered, time.Minute, 20*time.Millisecond, "first messages")
			for _, id := range f.IDs {
				f.Add(id, 1)
			}
			require.Eventually(t, func() bool { return f.AllDelivered() && log.minChecks(f.IDs) >= 2 },
				time.Minute, 20*time.Millisecond, "later messages, two checks each at least")
			r.stop(t)

			f.AssertExactlyOnce(t)
			log.assertSpaced(t, iv*8/10)
			assert.Empty(t, log.errs)
			assert.Len(t, log.by, 3, "every instance took part")
		})
	}
}

// Instances whose clocks are hours apart still agree on leases and due
// times, which the database keeps on its own clock.
func TestSharedClockSkew(t *testing.T) {
	for name, engine := range sharedEngines() {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			const iv = 300 * time.Millisecond
			f := newFarm(t, open(t, nil), 30, 2)
			log := newCheckLog()
			var r running
			for i, skew := range []time.Duration{-3 * time.Hour, 0, 3 * time.Hour} {
				r.start(t, newInstance(t, open(t, nil), f, fmt.Sprintf("skewed-%d", i), log, func(o *multidrop.Options, so *schedule.Options) {
					so.Interval = iv
					o.Now = func() time.Time { return time.Now().Add(skew) }
				}), 20*time.Millisecond)
			}
			defer r.stop(t)
			require.Eventually(t, func() bool { return f.AllDelivered() && log.minChecks(f.IDs) >= 2 },
				20*time.Second, 20*time.Millisecond)
			r.stop(t)
			f.AssertExactlyOnce(t)
			log.assertSpaced(t, iv*8/10)
			assert.Empty(t, log.errs)
		})
	}
}

// claimRecorder remembers the leases its Scheduler handed out, so a test
// can replay a stale instance's late writes; while paused it claims
// nothing, as the scheduling loop of a stalled process would.
type claimRecorder struct {
	*sqlstore.Store
	mu     sync.Mutex // held through Claim
	paused bool
	leases map[string]account.Lease
}

// pause stops claiming, once a Claim in progress has returned.
func (c *claimRecorder) pause(on bool) {
	c.mu.Lock()
	c.paused = on
	c.mu.Unlock()
}

func (c *claimRecorder) Claim(ctx context.Context, owner string, limit int, ttl time.Duration) ([]account.Claim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		return nil, nil
	}
	cs, err := c.Store.Claim(ctx, owner, limit, ttl)
	if c.leases == nil {
		c.leases = map[string]account.Lease{}
	}
	for _, cl := range cs {
		c.leases[cl.Account.ID] = cl.Lease
	}
	return cs, err
}

func (c *claimRecorder) lease(id string) account.Lease {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leases[id]
}

// killableFetcher ends its sessions abruptly when kill is done, as the
// death of the process would: the connection drops without QUIT.
type killableFetcher struct {
	pop.Fetcher
	kill context.Context
}

func (k killableFetcher) Fetch(ctx context.Context, a account.Account, h pop.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(k.kill, cancel)()
	return k.Fetcher.Fetch(ctx, a, h)
}

// holdDeliverer blocks the delivery of one message key before delivering
// it: hold is closed when the delivery is reached, and the call returns
// (without delivering) when ctx ends, or delivers once release is closed.
type holdDeliverer struct {
	inner   deliver.Deliverer
	key     string
	once    sync.Once
	hold    chan struct{}
	release chan struct{}
}

func newHold(inner deliver.Deliverer, key string) *holdDeliverer {
	return &holdDeliverer{inner: inner, key: key, hold: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdDeliverer) Deliver(ctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
	if env.Trace.Key == h.key {
		held := false
		h.once.Do(func() { held = true })
		if held {
			close(h.hold)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-h.release:
			}
		}
	}
	return h.inner.Deliver(ctx, env, m)
}

// Failover: an instance dies in the middle of a check (its POP session and
// database connections drop); the account stays leased until the lease
// expires, then another instance takes it over and finishes it. Nothing is
// lost or delivered twice, and the dead instance's late journal write and
// Done are refused.
func TestSharedFailover(t *testing.T) {
	for name, engine := range sharedEngines() {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			clk := &fakeClock{}
			f := newFarm(t, open(t, clk.Now), 12, 2)
			const victim = "box007"
			kill, killNow := context.WithCancel(context.Background())
			defer killNow()
			stA := open(t, clk.Now)
			recA := &claimRecorder{Store: stA}
			hold := newHold(f.Dlv, victim+"-2")
			a := newInstance(t, stA, f, "instance-a", nil, func(o *multidrop.Options, so *schedule.Options) {
				o.Locker, so.Scheduler = recA, recA
				so.Concurrency = 1 // only the victim is in flight when it dies
				// Its first message finished, journal included, before the
				// second one is delivered.
				o.DeliveryConcurrency = 1
				o.Deliverer = hold
				o.Fetcher = killableFetcher{Fetcher: o.Fetcher, kill: kill}
			})
			var ra running
			ra.start(t, a, 10*time.Millisecond)
			select {
			case <-hold.hold:
			case <-time.After(20 * time.Second):
				t.Fatal("instance a never reached the victim's second message")
			}
			// Hard stop: the session and the database connections drop.
			killNow()
			require.NoError(t, stA.Close())
			ra.stop(t)
			require.Equal(t, []string{victim + "-1"}, keys(f.Delivered(), victim))
			require.Len(t, f.Srv.Mailbox(victim), 2, "nothing deleted: the session ended without QUIT")

			var r running
			for i := range 2 {
				r.start(t, newInstance(t, open(t, clk.Now), f, fmt.Sprintf("instance-%d", i), nil), 10*time.Millisecond)
			}
			defer r.stop(t)
			others := func() bool {
				got := f.Delivered()
				for _, k := range f.Expected() {
					if got[k] == 0 && k != victim+"-2" {
						return false
					}
				}
				return true
			}
			require.Eventually(t, others, 20*time.Second, 10*time.Millisecond)
			time.Sleep(100 * time.Millisecond) // a few polls: the live lease keeps the victim
			assert.Equal(t, 0, f.Delivered()[victim+"-2"], "taken over before the lease expired")

			clk.Advance(2 * time.Minute) // a's lease (one minute) expires
			require.Eventually(t, func() bool { return f.AllDelivered() && len(f.Srv.Mailbox(victim)) == 0 },
				20*time.Second, 10*time.Millisecond)
			r.stop(t)
			f.AssertExactlyOnce(t)

			// The dead instance comes back with its old lease: refused.
			late := open(t, clk.Now)
			old := recA.lease(victim)
			require.NotNil(t, old)
			err := late.Fenced(old).Record(t.Context(), victim, account.Record{Key: victim + "-2", Rcpts: []string{"alice@example.com"}, At: clk.Now()})
			require.ErrorIs(t, err, account.ErrLeaseLost)
			require.ErrorIs(t, late.Done(t.Context(), old, account.Next{}), account.ErrLeaseLost)
		})
	}
}

// keys returns the delivered keys of one mailbox.
func keys(delivered map[string]int, id string) []string {
	var out []string
	for k := range delivered {
		if len(k) > len(id) && k[:len(id)+1] == id+"-" {
			out = append(out, k)
		}
	}
	return out
}

// A long pause: an instance stalls in the middle of a check past its
// lease's expiry, with its POP session still open. Another instance takes
// the lease over (the POP server's maildrop lock refuses it while the old
// session lasts). When the stale instance resumes, its journal writes are
// refused and it sends no DELE: the new holder finishes the mailbox. The
// message the stale instance had in hand is delivered a second time by the
// next check, since the journal did not record it: a Maildir with KeyNames
// or an LMTP server that deduplicates absorbs that copy.
func TestSharedLongPause(t *testing.T) {
	for name, engine := range sharedEngines() {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			clk := &fakeClock{}
			f := newFarm(t, open(t, clk.Now), 1, 2)
			const victim = "box000"
			log := newCheckLog()
			hold := newHold(f.Dlv, victim+"-1")
			reports := make(chan *multidrop.Report, 8)
			rec := &claimRecorder{Store: open(t, clk.Now)}
			a := newInstance(t, rec.Store, f, "paused", nil, func(o *multidrop.Options, so *schedule.Options) {
				o.Locker, so.Scheduler = rec, rec
				o.Deliverer = hold
				// One message in hand: with more, a message finishing beside
				// the held one may find the lease lost first and end the
				// session early (correct, but not the scenario under test).
				o.DeliveryConcurrency = 1
				o.Observer = func(e multidrop.Event) {
					if e.Kind == multidrop.EventCheckEnd {
						reports <- e.Report
					}
				}
			})
			var ra running
			ra.start(t, a, 10*time.Millisecond)
			defer ra.stop(t)
			select {
			case <-hold.hold:
			case <-time.After(20 * time.Second):
				t.Fatal("the instance never reached the message")
			}

			rec.pause(true)              // the whole process stalls...
			clk.Advance(2 * time.Minute) // ...past its lease
			var rb running
			rb.start(t, newInstance(t, open(t, clk.Now), f, "other", log), 10*time.Millisecond)
			defer rb.stop(t)
			require.Eventually(t, func() bool { return len(log.errors()) > 0 }, 20*time.Second, 10*time.Millisecond,
				"the other instance claims the account")
			assert.ErrorContains(t, log.errors()[0], "IN-USE", "the maildrop is still locked by the paused session")

			close(hold.release) // the paused instance resumes
			var r *multidrop.Report
			select {
			case r = <-reports:
			case <-time.After(20 * time.Second):
				t.Fatal("the paused instance never finished")
			}
			rec.pause(false)
			require.ErrorIs(t, r.Err, account.ErrLeaseLost)
			assert.Zero(t, r.Deleted)
			assert.Len(t, f.Srv.Mailbox(victim), 2, "the stale instance deleted nothing")
			for _, c := range f.Srv.Transcript() {
				if c.Session == 1 {
					assert.NotEqual(t, "DELE", c.Name, "no DELE from the stale session")
				}
			}

			require.Eventually(t, func() bool {
				clk.Advance(time.Second) // past the other instance's backoff
				return len(f.Srv.Mailbox(victim)) == 0
			}, 20*time.Second, 20*time.Millisecond)
			got := f.Delivered()
			assert.Equal(t, 1, got[victim+"-2"])
			assert.Equal(t, 2, got[victim+"-1"], "the message in hand during the pause, once per instance")
			assert.Positive(t, f.Srv.Overlaps(victim), "the new holder's login was refused while the paused session lasted")
		})
	}
}

// sharedChildEnv carries a childConfig to TestSharedInstanceProcess.
const sharedChildEnv = "MULTIDROP_SHARED_CHILD"

type childConfig struct {
	DB      string // SQLite file
	Maildir string // root of the Maildirs
	Owner   string // instance name
}

// TestSharedInstanceProcess is one instance of TestSharedProcesses, run in
// its own process until its standard input closes.
func TestSharedInstanceProcess(t *testing.T) {
	raw := os.Getenv(sharedChildEnv)
	if raw == "" {
		t.Skip("helper process of TestSharedProcesses")
	}
	var c childConfig
	require.NoError(t, json.Unmarshal([]byte(raw), &c))
	st, err := sqlite.Open(t.Context(), c.DB, nil)
	require.NoError(t, err)
	defer st.Close()
	md, err := deliver.NewMaildir(&deliver.MaildirOptions{Template: "{root}/{user}", Root: c.Maildir, Create: true})
	require.NoError(t, err)
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	require.NoError(t, err)
	p, err := multidrop.New(&multidrop.Options{
		Store: st, Journal: st, Locker: st, Lease: multidrop.LeaseOptions{Owner: c.Owner},
		Fetcher:  &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 10 * time.Second, Data: 10 * time.Second}}},
		Resolver: resolve.New(dir, nil), Deliverer: md,
		Spool: multidrop.SpoolOptions{Dir: t.TempDir()}, LocalHost: c.Owner, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	s, err := schedule.New(p, st, &schedule.Options{Owner: c.Owner, Interval: 300 * time.Millisecond, Poll: 20 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	require.NoError(t, s.RunShared(ctx))
}

// sessions returns the POP sessions opened per mailbox.
func sessions(srv *poptest.Server) map[string]int {
	seen := map[string]map[int]bool{}
	for _, c := range srv.Transcript() {
		if u, ok := strings.CutPrefix(c.Line, "USER "); ok && c.Name == "USER" {
			if seen[u] == nil {
				seen[u] = map[int]bool{}
			}
			seen[u][c.Session] = true
		}
	}
	out := map[string]int{}
	for u, s := range seen {
		out[u] = len(s)
	}
	return out
}

// Three processes share one SQLite database and deliver into one Maildir:
// every account is checked on several intervals, every message arrives
// once and no mailbox is opened twice at once.
func TestSharedProcesses(t *testing.T) {
	if os.Getenv(sharedChildEnv) != "" {
		t.Skip("in a helper process")
	}
	dbPath := filepath.Join(t.TempDir(), "multidrop.db")
	st, err := sqlite.Open(t.Context(), dbPath, nil)
	require.NoError(t, err)
	f := newFarm(t, st, 30, 2)
	require.NoError(t, st.Close())
	root := t.TempDir()

	var g errgroup.Group
	var stdins []io.Closer
	for i := range 3 {
		cfg, err := json.Marshal(childConfig{DB: dbPath, Maildir: root, Owner: fmt.Sprintf("process-%d", i)})
		require.NoError(t, err)
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSharedInstanceProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), sharedChildEnv+"="+string(cfg))
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdins = append(stdins, in)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		g.Go(func() error {
			if err := cmd.Wait(); err != nil {
				return fmt.Errorf("%v: %s", err, out.String())
			}
			return nil
		})
	}
	done := func() bool {
		n := sessions(f.Srv)
		for _, id := range f.IDs {
			if len(f.Srv.Mailbox(id)) > 0 || n[id] < 3 {
				return false
			}
		}
		return true
	}
	assert.Eventually(t, done, 30*time.Second, 20*time.Millisecond, "every mailbox emptied and checked three times")
	for _, in := range stdins {
		require.NoError(t, in.Close())
	}
	require.NoError(t, g.Wait())

	files, err := filepath.Glob(filepath.Join(root, "alice", "new", "*"))
	require.NoError(t, err)
	re := regexp.MustCompile(`(?m)^Message-ID: <([^@>]+)@shared\.test>`)
	got := map[string]int{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		m := re.FindSubmatch(b)
		require.NotNil(t, m, name)
		got[string(m[1])]++
	}
	for _, k := range f.Expected() {
		assert.Equal(t, 1, got[k], "copies of %s", k)
	}
	assert.Len(t, files, len(f.Expected()))
	for _, id := range f.IDs {
		assert.Zero(t, f.Srv.Overlaps(id), id)
	}
}

// RunShared writes Run's rescheduling rules to the store: the interval
// after a success, Backoff after a failure, a server's LOGIN-DELAY, and a
// pause after refused credentials that RequestCheck lifts.
func TestSharedRescheduling(t *testing.T) {
	open := sharedEngines()["sqlite"](t)
	clk := &fakeClock{}
	st := open(t, clk.Now)
	f := newFarm(t, st, 3, 1)
	f.Srv.LoginDelay = 900
	ctx := t.Context()
	bad, err := st.Get(ctx, "box001")
	require.NoError(t, err)
	bad.Auth.Secret = "wrong"
	_, err = st.Put(ctx, bad)
	require.NoError(t, err)
	down, err := st.Get(ctx, "box002")
	require.NoError(t, err)
	down.Port = 1 // nothing listens there
	_, err = st.Put(ctx, down)
	require.NoError(t, err)

	log := newCheckLog()
	in := newInstance(t, st, f, "rules", log, func(o *multidrop.Options, so *schedule.Options) {
		so.Interval = time.Minute
		so.Backoff = func(n int) time.Duration { return time.Duration(n) * 7 * time.Second }
	})
	var r running
	p := r.start(t, in, 10*time.Millisecond)
	defer r.stop(t)
	require.Eventually(t, func() bool { return log.minChecks(f.IDs) >= 1 }, 10*time.Second, 10*time.Millisecond)
	for _, tc := range []struct {
		id     string
		after  time.Duration
		paused bool
	}{
		{"box000", 15 * time.Minute, false}, // LOGIN-DELAY 900 s beats the one-minute interval
		{"box001", 0, true},
		{"box002", 7 * time.Second, false},
	} {
		require.Eventually(t, func() bool { // Done follows the check's end
			next, paused, err := st.NextCheck(ctx, tc.id)
			return err == nil && (paused || next.After(fakeBase))
		}, 10*time.Second, 10*time.Millisecond, tc.id)
		next, paused, err := st.NextCheck(ctx, tc.id)
		require.NoError(t, err)
		assert.Equal(t, tc.paused, paused, tc.id)
		if !tc.paused {
			assert.Equal(t, clk.Now().Add(tc.after), next, tc.id)
		}
	}
	assert.Equal(t, 1, f.Delivered()["box000-1"])

	// The failure count grows across checks.
	clk.Advance(8 * time.Second)
	require.Eventually(t, func() bool { return log.checks("box002") >= 2 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		next, _, err := st.NextCheck(ctx, "box002")
		return err == nil && next.Equal(clk.Now().Add(14*time.Second))
	}, 10*time.Second, 10*time.Millisecond)

	// Check Now, from this Pipeline or any other: the paused account is
	// tried again at once.
	before := log.checks("box001")
	require.NoError(t, p.RequestCheck(ctx, "box001"))
	require.Eventually(t, func() bool { return log.checks("box001") > before }, 10*time.Second, 10*time.Millisecond)
	// Wake is RequestCheck under RunShared.
	before = log.checks("box001")
	require.NoError(t, p.Wake(ctx, "box001"))
	require.Eventually(t, func() bool { return log.checks("box001") > before }, 10*time.Second, 10*time.Millisecond)
	require.ErrorIs(t, p.RequestCheck(ctx, "nope"), account.ErrNotFound)
	require.Error(t, p.RunShared(ctx), "one RunShared per Schedule")
}

func TestSharedNeedsScheduler(t *testing.T) {
	store := account.NewMemoryStore()
	p, err := multidrop.New(&multidrop.Options{Store: store, Journal: account.NewMemoryJournal(),
		Resolver: resolve.New(aliceDirectory(t), nil), Deliverer: &delivertest.Deliverer{}})
	require.NoError(t, err)
	s, err := schedule.New(p, store, nil)
	require.NoError(t, err)
	require.ErrorIs(t, s.RunShared(t.Context()), schedule.ErrNoScheduler)
	require.ErrorIs(t, s.RequestCheck(t.Context(), "acct1"), schedule.ErrNoScheduler)
}

// Several instances share accounts kept in PostgreSQL: each runs RunShared
// with its own Owner, and "Check Now" from any of them (or from an admin
// page calling the store's RequestCheck) reaches whichever takes the
// account next.
func ExampleSchedule_RunShared() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	st, err := postgres.Open(ctx, os.Getenv("MULTIDROP_PG_DSN"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	md, err := deliver.NewMaildir(&deliver.MaildirOptions{Template: "/var/vmail/{domain}/{user}/Maildir"})
	if err != nil {
		fmt.Println(err)
		return
	}
	host, _ := os.Hostname()
	p, err := multidrop.New(&multidrop.Options{
		Store: st, Journal: st, Locker: st,
		Lease:     multidrop.LeaseOptions{Owner: host}, // unique per instance
		Resolver:  resolve.New(dir, nil),
		Deliverer: md,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := schedule.New(p, st, &schedule.Options{Owner: host})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Elsewhere, on a click on "Check Now":
	//	err := s.RequestCheck(ctx, accountID)
	if err := s.RunShared(ctx); err != nil {
		fmt.Println(err)
	}
}
