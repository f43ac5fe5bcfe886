package multidrop_test

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

// resourceSampler records the most open file descriptors and goroutines of
// this process while a benchmark runs.
type resourceSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu            sync.Mutex
	maxFDs, maxGs int
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read
}

func startSampler(every time.Duration) *resourceSampler {
	s := &resourceSampler{stop: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			fds, gs := openFDs(), runtime.NumGoroutine()-1 // not counting the sampler
			s.mu.Lock()
			s.maxFDs, s.maxGs = max(s.maxFDs, fds), max(s.maxGs, gs)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// Stop stops sampling and returns the maxima.
func (s *resourceSampler) Stop() (fds, goroutines int) {
	close(s.stop)
	s.wg.Wait()
	return s.maxFDs, s.maxGs
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes, or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// waitBaseline waits until the open descriptors and goroutines are back to
// at most the given numbers (server-side connections close asynchronously).
func waitBaseline(fds, gs int) (gotFDs, gotGs int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		gotFDs, gotGs = openFDs(), runtime.NumGoroutine()
		if (gotFDs <= fds && gotGs <= gs) || time.Now().After(deadline) {
			return gotFDs, gotGs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchAccounts is the number of accounts of BenchmarkCheckAllEmpty:
// MULTIDROP_BENCH_ACCOUNTS, else 1,000.
func benchAccounts(b *testing.B) int {
	n := 1000
	if v := os.Getenv("MULTIDROP_BENCH_ACCOUNTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "MULTIDROP_BENCH_ACCOUNTS")
	}
	return n
}

// BenchmarkCheckAllEmpty measures one CheckAll round over many accounts
// with empty mailboxes, each a user of one poptest server over implicit TLS,
// 16 checks at once: the time per round and per account, the peak RSS, and
// the most descriptors and goroutines open (this process holds both ends of
// every connection). It fails when descriptors or goroutines stay above
// their number before the first round. The store is a memory store and
// journal, or SQLite (store, journal and leases in one file, synchronous
// commits). scripts/bench-scale runs it for 1,000 and 10,000 accounts.
func BenchmarkCheckAllEmpty(b *testing.B) {
	n := benchAccounts(b)
	for _, store := range []string{"memory", "sqlite"} {
		b.Run(fmt.Sprintf("store=%s/accounts=%d", store, n), func(b *testing.B) {
			benchCheckAllEmpty(b, store, n)
		})
	}
}

func benchCheckAllEmpty(b *testing.B, store string, n int) {
	srv := &poptest.Server{ImplicitTLS: true}
	for i := range n {
		srv.AddUser(fmt.Sprintf("drop%05d", i), popPass)
	}
	srv.Start(b)
	host, portStr, err := net.SplitHostPort(srv.Addr())
	require.NoError(b, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(b, err)
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	require.NoError(b, err)

	o := &multidrop.Options{
		Resolver:    resolve.New(dir, nil),
		Deliverer:   &delivertest.Deliverer{},
		Fetcher:     &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: time.Minute, Data: time.Minute}}},
		Spool:       multidrop.SpoolOptions{Dir: b.TempDir()},
		Concurrency: 16,
		Logger:      slog.New(slog.DiscardHandler),
	}
	var put func(account.Account) error
	switch store {
	case "memory":
		ms := account.NewMemoryStore()
		o.Store, o.Journal = ms, account.NewMemoryJournal()
		put = func(a account.Account) error { _, err := ms.Put(b.Context(), a); return err }
	case "sqlite":
		db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "multidrop.db"), nil)
		require.NoError(b, err)
		b.Cleanup(func() { _ = db.Close() })
		o.Store, o.Journal, o.Locker = db, db, db
		put = func(a account.Account) error { _, err := db.Put(b.Context(), a); return err }
	}
	ca := string(srv.CAPEM())
	for i := range n {
		require.NoError(b, put(account.Account{
			ID: fmt.Sprintf("acct%05d", i), Enabled: true,
			Host: host, Port: port, Domain: "example.com",
			Security: account.SecurityTLS, TLS: account.TLS{RootCAs: ca},
			Auth: account.Auth{User: fmt.Sprintf("drop%05d", i), Secret: popPass, Mechanism: account.MechanismUser},
		}))
	}
	p, err := multidrop.New(o)
	require.NoError(b, err)

	// The baseline is taken after one round: SQLite keeps the descriptor
	// of each database connection database/sql closed while another
	// connection holds a lock on the file, for reuse by the next one it
	// opens, so after the first round the process holds about as many
	// descriptors as the pool's peak of connections. Later rounds must not
	// add to them.
	startFDs, startGs := openFDs(), runtime.NumGoroutine()
	if _, err := p.CheckAll(b.Context()); err != nil {
		b.Fatal(err)
	}
	baseFDs, baseGs := waitBaseline(startFDs, startGs)
	s := startSampler(2 * time.Millisecond)
	var rounds int
	for b.Loop() {
		reports, err := p.CheckAll(b.Context())
		require.NoError(b, err)
		require.Len(b, reports, n)
		rounds++
	}
	elapsed := b.Elapsed()
	maxFDs, maxGs := s.Stop()

	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(rounds*n), "ns/account")
	b.ReportMetric(float64(maxFDs), "max-fds")
	b.ReportMetric(float64(maxGs), "max-goroutines")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	// What stays reachable after the rounds (poptest's transcript of every
	// session most of it): the rest of the peak RSS is garbage of the TLS
	// handshakes awaiting collection.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "live-heap-MiB")
	b.ReportMetric(float64(startFDs), "start-fds")
	b.ReportMetric(float64(baseFDs), "base-fds")
	b.ReportMetric(float64(baseGs), "base-goroutines")
	if baseGs > startGs {
		b.Fatalf("after the first round: %d goroutines, %d before", baseGs, startGs)
	}

	fds, gs := waitBaseline(baseFDs, baseGs)
	if fds > baseFDs || gs > baseGs {
		b.Fatalf("after %d rounds: %d descriptors and %d goroutines open, %d and %d before", rounds, fds, gs, baseFDs, baseGs)
	}
}
