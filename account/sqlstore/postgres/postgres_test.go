package postgres_test

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/postgres"
	"github.com/multidrop/multidrop/internal/pgtest"
)

// schemaDSN returns a DSN for a fresh schema, dropped when the test ends
// (see internal/pgtest: MULTIDROP_PG_DSN names the server).
func schemaDSN(t testing.TB) string { return pgtest.Schema(t, "mdtest") }

// needPG skips the test, with one line, when no PostgreSQL is configured
// (fails it under CI=true).
func needPG(t testing.TB) string { return pgtest.DSN(t) }

func open(t *testing.T, dsn string, now func() time.Time) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, &sqlstore.Options{Now: now})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestStore(t *testing.T) {
	needPG(t)
	accounttest.TestStore(t, func(t *testing.T) account.MutableStore { return open(t, schemaDSN(t), nil) })
}

func TestJournal(t *testing.T) {
	needPG(t)
	accounttest.TestJournal(t, func(t *testing.T, now func() time.Time) account.Journal {
		return open(t, schemaDSN(t), now)
	})
}

func TestLocker(t *testing.T) {
	needPG(t)
	accounttest.TestLocker(t, func(t *testing.T, now func() time.Time) account.Locker {
		return open(t, schemaDSN(t), now)
	})
}

func TestFencing(t *testing.T) {
	needPG(t)
	accounttest.TestFencing(t, func(t *testing.T, now func() time.Time) (account.Locker, account.Fencer) {
		s := open(t, schemaDSN(t), now)
		return s, s
	})
}

// The pool keeps the connections of a check's concurrent journal reads:
// with database/sql's default of two idle connections, every burst would
// open new ones, each a new server process.
func TestPoolKeepsConnections(t *testing.T) {
	needPG(t)
	s := open(t, schemaDSN(t), nil)
	accounttest.ReadConcurrently(t, s, 8, 20)
	assert.Zero(t, s.DB().Stats().MaxIdleClosed, "connections closed for want of idle room")
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := schemaDSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn, nil)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	s := open(t, dsn, nil)
	var n int
	require.NoError(t, s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n))
	assert.Equal(t, sqlstore.PostgreSQL.SchemaVersion(), n, "each migration applied once")
}

// TestInstancesShareLeases runs three stores (three connection pools, as
// three instances would have) that race for the leases of many accounts:
// each account is held by exactly one of them at a time, and a fenced write
// through a lease lost to expiry is refused.
func TestInstancesShareLeases(t *testing.T) {
	dsn := schemaDSN(t)
	clk := accounttest.NewClock()
	stores := []*sqlstore.Store{open(t, dsn, clk.Now), open(t, dsn, clk.Now), open(t, dsn, clk.Now)}
	ctx := t.Context()
	const accounts = 30
	var mu sync.Mutex
	holders := map[string][]string{}
	var wg sync.WaitGroup
	for i, s := range stores {
		owner := fmt.Sprintf("instance-%d", i)
		wg.Go(func() {
			for a := range accounts {
				id := fmt.Sprintf("acct-%02d", a)
				l, err := s.Acquire(ctx, id, owner, time.Minute)
				if err != nil {
					if !assert.ErrorIs(t, err, account.ErrLeaseHeld) {
						return
					}
					continue
				}
				mu.Lock()
				holders[id] = append(holders[id], owner)
				mu.Unlock()
				assert.NoError(t, s.Fenced(l).Record(ctx, id, account.Record{Key: "k", Rcpts: []string{owner}, At: clk.Now()}))
			}
		})
	}
	wg.Wait()
	require.Len(t, holders, accounts)
	for id, h := range holders {
		assert.Len(t, h, 1, "account %s leased by %v at once", id, h)
		got, err := stores[0].Delivered(ctx, id, "k")
		require.NoError(t, err)
		assert.Equal(t, h, got.Rcpts)
	}

	// Failover: instance 0's lease expires, instance 1 takes over, instance
	// 0's late write is refused.
	old, err := stores[0].Acquire(ctx, "failover", "instance-0", time.Minute)
	require.NoError(t, err)
	clk.Advance(2 * time.Minute)
	nl, err := stores[1].Acquire(ctx, "failover", "instance-1", time.Minute)
	require.NoError(t, err)
	assert.Greater(t, nl.Token(), old.Token())
	assert.ErrorIs(t, stores[0].Fenced(old).Record(ctx, "failover", account.Record{Key: "k", Rcpts: []string{"late"}, At: clk.Now()}), account.ErrLeaseLost)
	assert.ErrorIs(t, old.Renew(ctx, time.Minute), account.ErrLeaseLost)
}

const childEnv = "MULTIDROP_PG_CHILD"

// TestChildProcess is the second process of TestTwoProcessLeases.
func TestChildProcess(t *testing.T) {
	dsn := os.Getenv(childEnv)
	if dsn == "" {
		t.Skip("helper process for TestTwoProcessLeases")
	}
	s, err := postgres.Open(t.Context(), dsn, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	defer s.Close()
	l, err := s.Acquire(t.Context(), "acct", "child", time.Hour)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("token", l.Token())
}

func TestTwoProcessLeases(t *testing.T) {
	dsn := schemaDSN(t)
	s := open(t, dsn, nil)
	ctx := t.Context()
	child := func() string {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildProcess$")
		cmd.Env = append(os.Environ(), childEnv+"="+dsn)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	l, err := s.Acquire(ctx, "acct", "parent", time.Hour)
	require.NoError(t, err)
	assert.Contains(t, child(), "lease held by another owner")
	require.NoError(t, l.Release(ctx))
	assert.Contains(t, child(), fmt.Sprintf("token %d", l.Token()+1))
	assert.ErrorIs(t, s.Fenced(l).Record(ctx, "acct", account.Record{Key: "k", Rcpts: []string{"x"}, At: time.Now()}), account.ErrLeaseLost)
}

// TestDatabaseClock runs leases on the database's clock (Options.Now nil),
// which instances with skewed clocks share: a short lease really expires
// and is taken over by another instance, and the stale holder is refused.
func TestDatabaseClock(t *testing.T) {
	dsn := schemaDSN(t)
	a, b := open(t, dsn, nil), open(t, dsn, nil)
	ctx := t.Context()
	old, err := a.Acquire(ctx, "acct", "one", 100*time.Millisecond)
	require.NoError(t, err)
	_, err = b.Acquire(ctx, "acct", "two", time.Minute)
	require.ErrorIs(t, err, account.ErrLeaseHeld)
	var nl account.Lease
	require.Eventually(t, func() bool {
		nl, err = b.Acquire(ctx, "acct", "two", time.Minute)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the lease expires by the database clock")
	assert.Greater(t, nl.Token(), old.Token())
	assert.ErrorIs(t, old.Renew(ctx, time.Minute), account.ErrLeaseLost)
	assert.ErrorIs(t, a.Fenced(old).Record(ctx, "acct", account.Record{Key: "k", Rcpts: []string{"x"}, At: time.Now()}), account.ErrLeaseLost)
	require.NoError(t, b.Fenced(nl).Record(ctx, "acct", account.Record{Key: "k", Rcpts: []string{"x"}, At: time.Now()}))
	var left int64
	require.NoError(t, b.DB().QueryRowContext(ctx,
		`SELECT expires_at - CAST(EXTRACT(EPOCH FROM now()) * 1000000000 AS BIGINT) FROM leases WHERE account_id = 'acct'`).Scan(&left))
	assert.InDelta(t, float64(time.Minute), float64(left), float64(5*time.Second), "expires_at is on the database clock")
}

// A database in release 1's layout (schema version 2, final marks and
// notices as marker recipients), written here with SQL, migrates on Open
// and holds typed states.
func TestOpensRelease1Database(t *testing.T) {
	dsn := schemaDSN(t)
	s := open(t, dsn, nil)
	ctx := t.Context()
	db := s.DB()
	for _, q := range []string{`DROP TABLE journal_marks`, `ALTER TABLE accounts DROP COLUMN version`,
		`DROP TABLE check_history`, `DROP TABLE deleted_accounts`, `DROP TABLE journal_guard`, `DELETE FROM schema_migrations WHERE version > 2`} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	for key, rcpts := range accounttest.Release1Markers {
		for _, r := range rcpts {
			_, err := db.ExecContext(ctx, `INSERT INTO journal_deliveries (account_id, msg_key, rcpt, delivered_at) VALUES ($1, $2, $3, $4)`,
				"acct", key, r, at)
			require.NoError(t, err)
		}
	}
	_, err := db.ExecContext(ctx, `INSERT INTO journal_message_ids (account_id, message_id, rcpt, expires_at) VALUES ($1, $2, $3, $4)`,
		"acct", "<m@example.org> 1", "alice@example.com", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	require.NoError(t, err)

	s2 := open(t, dsn, nil)
	var markers int
	require.NoError(t, s2.DB().QueryRowContext(ctx,
		`SELECT COUNT(*) FROM journal_deliveries WHERE rcpt IN ('', '!oversize-notice', '!foreign-notice')`).Scan(&markers))
	assert.Zero(t, markers, "marker rows moved out")
	accounttest.TestRelease1Upgrade(t, s2)
}

func TestHistory(t *testing.T) {
	needPG(t)
	accounttest.TestHistory(t, func(t *testing.T) account.History { return open(t, schemaDSN(t), nil) })
}

func TestJournalRetention(t *testing.T) {
	needPG(t)
	accounttest.TestJournalRetention(t, func(t *testing.T, now func() time.Time) (account.MutableStore, account.Journal) {
		s := open(t, schemaDSN(t), now)
		return s, s
	})
}
