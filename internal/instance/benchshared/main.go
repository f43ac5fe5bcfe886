// Command benchshared measures instances sharing accounts on PostgreSQL
// (scripts/bench-shared): n accounts with empty mailboxes on one in-process
// POP3 server, k Pipelines each with its own connection pool, driven by a
// schedule.Schedule running RunShared, on a fresh schema of
// $MULTIDROP_PG_DSN. It reports the time for
// one full round (every account checked once), the checks per instance, the
// database statements per check (counted in the driver), peak RSS, file
// descriptors and goroutines.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/sync/errgroup"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/internal/instance"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
	"github.com/multidrop/multidrop/schedule"
)

func main() {
	accounts := flag.Int("accounts", 10000, "accounts (empty mailboxes)")
	instances := flag.Int("instances", 3, "instances sharing the database")
	concurrency := flag.Int("concurrency", 32, "checks at once per instance")
	pool := flag.Int("pool", 40, "database connections per instance")
	poll := flag.Duration("poll", 200*time.Millisecond, "RunShared poll")
	flag.Parse()
	if err := run(*accounts, *instances, *concurrency, *pool, *poll); err != nil {
		fmt.Fprintln(os.Stderr, "benchshared:", err)
		os.Exit(1)
	}
}

func run(n, k, conc, pool int, poll time.Duration) error {
	dsn := os.Getenv("MULTIDROP_PG_DSN")
	if dsn == "" {
		return errors.New("MULTIDROP_PG_DSN is not set")
	}
	ctx := context.Background()
	schemaDSN, drop, err := freshSchema(ctx, dsn)
	if err != nil {
		return err
	}
	defer drop()

	srv := &poptest.Server{IdleTimeout: time.Minute}
	if err := srv.Listen(); err != nil {
		return err
	}
	defer srv.Close()
	hostS, portS, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(portS)

	open := func(counts *instance.Counts) (*sqlstore.Store, error) {
		conn, err := stdlib.GetDefaultDriver().(driver.DriverContext).OpenConnector(schemaDSN)
		if err != nil {
			return nil, err
		}
		db := sql.OpenDB(&instance.CountingConnector{Connector: conn, Counts: counts})
		db.SetMaxOpenConns(pool)
		db.SetMaxIdleConns(pool)
		return sqlstore.Open(ctx, db, sqlstore.PostgreSQL, nil)
	}
	setup, err := open(&instance.Counts{})
	if err != nil {
		return err
	}
	t0 := time.Now()
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		user := fmt.Sprintf("box%05d", i)
		srv.AddUser(user, "pw")
		g.Go(func() error {
			_, err := setup.Put(ctx, account.Account{
				ID: user, Enabled: true, Host: hostS, Port: port, Domain: "example.com",
				Security: account.SecurityNone,
				Auth:     account.Auth{User: user, Secret: "pw", Mechanism: account.MechanismUser, AllowInsecure: true},
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_ = setup.Close()
	fmt.Printf("setup: %d accounts in %v\n", n, time.Since(t0).Round(time.Millisecond))

	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	if err != nil {
		return err
	}
	var checked, failed atomic.Int64
	var mu sync.Mutex
	seen := make(map[string]bool, n)
	done := make(chan struct{})
	counts := make([]*instance.Counts, k)
	perInstance := make([]atomic.Int64, k)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var runs errgroup.Group
	spool, err := os.MkdirTemp("", "benchshared")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spool)
	var peakG atomic.Int64
	for i := range k {
		counts[i] = &instance.Counts{}
		st, err := open(counts[i])
		if err != nil {
			stop()
			return err
		}
		defer st.Close()
		p, err := multidrop.New(&multidrop.Options{
			Store: st, Journal: st, Locker: st,
			Lease:     multidrop.LeaseOptions{Owner: fmt.Sprintf("instance-%d", i)},
			Fetcher:   &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 30 * time.Second, Data: 30 * time.Second}}},
			Resolver:  resolve.New(dir, nil),
			Deliverer: &delivertest.Deliverer{},
			Spool:     multidrop.SpoolOptions{Dir: spool},
			Logger:    slog.New(slog.DiscardHandler),
			Observer: func(e multidrop.Event) {
				if e.Kind != multidrop.EventCheckEnd {
					return
				}
				if e.Err != nil {
					failed.Add(1)
				}
				perInstance[i].Add(1)
				mu.Lock()
				if !seen[e.Account] {
					seen[e.Account] = true
					if len(seen) == n {
						close(done)
					}
				}
				mu.Unlock()
				checked.Add(1)
			},
		})
		if err != nil {
			stop()
			return err
		}
		s, err := schedule.New(p, st, &schedule.Options{
			Owner:       fmt.Sprintf("instance-%d", i),
			Concurrency: conc,
			Interval:    5 * time.Minute,
			Poll:        poll,
		})
		if err != nil {
			stop()
			return err
		}
		runs.Go(func() error { return s.RunShared(runCtx) })
	}
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var peakFDs int
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			peakG.Store(max(peakG.Load(), int64(runtime.NumGoroutine())))
			peakFDs = max(peakFDs, fds())
		case <-time.After(10 * time.Minute):
			stop()
			return errors.New("no full round within 10 minutes")
		}
	}
	round := time.Since(start)
	stop()
	if err := runs.Wait(); err != nil {
		return err
	}
	var stmts, queries, txs int64
	for _, c := range counts {
		stmts += c.Statements()
		queries += c.Queries.Load()
		txs += c.Txs.Load()
	}
	c := checked.Load()
	fmt.Printf("instances: %d, concurrency %d each, pool %d each, poll %v\n", k, conc, pool, poll)
	fmt.Printf("full round: %d accounts in %v (%.0f checks/s)\n", n, round.Round(time.Millisecond), float64(n)/round.Seconds())
	var split []string
	for i := range perInstance {
		split = append(split, strconv.FormatInt(perInstance[i].Load(), 10))
	}
	fmt.Printf("checks: %d (%d failed), per instance %s\n", c, failed.Load(), strings.Join(split, "/"))
	fmt.Printf("database: %.2f statements per check (%.2f queries + %.2f transactions x BEGIN/COMMIT)\n",
		float64(stmts)/float64(c), float64(queries)/float64(c), float64(txs)/float64(c))
	fmt.Printf("process: peak RSS %s, peak fds %d, peak goroutines %d (all %d instances and the POP server)\n",
		peakRSS(), peakFDs, peakG.Load(), k)
	return nil
}

// freshSchema creates a schema for the run and returns a DSN on it.
func freshSchema(ctx context.Context, dsn string) (string, func(), error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "mdbench_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, err
	}
	drop := func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	}
	u, err := url.Parse(dsn)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

func fds() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
