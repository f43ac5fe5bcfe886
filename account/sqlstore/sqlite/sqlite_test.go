package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
)

func open(t *testing.T, path string, now func() time.Time) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, &sqlstore.Options{Now: now})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func temp(t *testing.T, now func() time.Time) *sqlstore.Store {
	return open(t, filepath.Join(t.TempDir(), "multidrop.db"), now)
}

func TestStore(t *testing.T) {
	accounttest.TestStore(t, func(t *testing.T) account.MutableStore { return temp(t, nil) })
}

func TestJournal(t *testing.T) {
	accounttest.TestJournal(t, func(t *testing.T, now func() time.Time) account.Journal { return temp(t, now) })
}

func TestFencedJournal(t *testing.T) {
	// A fenced journal with a live lease behaves as the journal.
	accounttest.TestJournal(t, func(t *testing.T, now func() time.Time) account.Journal {
		s := temp(t, now)
		return &perAccountFence{s: s, t: t}
	})
}

// The pool keeps the connections of a check's concurrent journal reads:
// with database/sql's default of two idle connections, every burst would
// open new ones (and prepare the statements again on each).
func TestPoolKeepsConnections(t *testing.T) {
	s := temp(t, nil)
	accounttest.ReadConcurrently(t, s, 8, 20)
	st := s.DB().Stats()
	assert.Zero(t, st.MaxIdleClosed, "connections closed for want of idle room")
	assert.Equal(t, 8, st.MaxOpenConnections)
}

// With a one-connection pool, common for SQLite writers, no journal write
// may need a second connection inside its transaction (a statement
// prepared there would wait for the transaction's own connection).
func TestOneConnection(t *testing.T) {
	one := func(t *testing.T, now func() time.Time) *sqlstore.Store {
		s := temp(t, now)
		s.DB().SetMaxOpenConns(1)
		return s
	}
	t.Run("Journal", func(t *testing.T) {
		accounttest.TestJournal(t, func(t *testing.T, now func() time.Time) account.Journal { return one(t, now) })
	})
	t.Run("Fenced", func(t *testing.T) {
		accounttest.TestJournal(t, func(t *testing.T, now func() time.Time) account.Journal {
			return &perAccountFence{s: one(t, now), t: t}
		})
	})
	t.Run("Fencing", func(t *testing.T) {
		accounttest.TestFencing(t, func(t *testing.T, now func() time.Time) (account.Locker, account.Fencer) {
			s := one(t, now)
			return s, s
		})
	})
}

// perAccountFence acquires a long lease per account on first use and routes
// every call through the fenced journal of that lease.
type perAccountFence struct {
	s  *sqlstore.Store
	t  *testing.T
	mu sync.Mutex
	j  map[string]account.Journal
}

func (p *perAccountFence) get(id string) account.Journal {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.j == nil {
		p.j = map[string]account.Journal{}
	}
	if j, ok := p.j[id]; ok {
		return j
	}
	l, err := p.s.Acquire(p.t.Context(), id, "suite", 1000*time.Hour)
	require.NoError(p.t, err)
	p.j[id] = p.s.Fenced(l)
	return p.j[id]
}

func (p *perAccountFence) Sync(ctx context.Context, id string, uids []string, now time.Time) (map[string]time.Time, error) {
	return p.get(id).Sync(ctx, id, uids, now)
}
func (p *perAccountFence) Delivered(ctx context.Context, id, key string) (account.Delivery, error) {
	return p.get(id).Delivered(ctx, id, key)
}
func (p *perAccountFence) DeliveredBatch(ctx context.Context, id string, keys []string) (map[string]account.Delivery, error) {
	return account.DeliveredAll(ctx, p.get(id), id, keys)
}
func (p *perAccountFence) Record(ctx context.Context, id string, r account.Record) error {
	return p.get(id).Record(ctx, id, r)
}
func (p *perAccountFence) DeliveredID(ctx context.Context, id, mid string) ([]string, error) {
	return p.get(id).DeliveredID(ctx, id, mid)
}
func (p *perAccountFence) Forget(ctx context.Context, id string, keys ...string) error {
	return p.get(id).Forget(ctx, id, keys...)
}
func (p *perAccountFence) Guard(ctx context.Context, id string) (account.Guard, error) {
	return p.get(id).Guard(ctx, id)
}
func (p *perAccountFence) SetGuard(ctx context.Context, id string, g account.Guard) error {
	return p.get(id).SetGuard(ctx, id, g)
}

func TestLocker(t *testing.T) {
	accounttest.TestLocker(t, func(t *testing.T, now func() time.Time) account.Locker { return temp(t, now) })
}

func TestFencing(t *testing.T) {
	accounttest.TestFencing(t, func(t *testing.T, now func() time.Time) (account.Locker, account.Fencer) {
		s := temp(t, now)
		return s, s
	})
}

func TestOpenSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, path, nil)
	ctx := t.Context()
	var mode string
	require.NoError(t, s.DB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)
	var sync, fk, busy int
	require.NoError(t, s.DB().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync))
	assert.Equal(t, 2, sync, "synchronous=FULL")
	require.NoError(t, s.DB().QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
	assert.Equal(t, 1, fk)
	require.NoError(t, s.DB().QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy))
	assert.Equal(t, 10000, busy)
	_, err := s.Put(ctx, accounttest.Sample("example.com"))
	require.NoError(t, err)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
	}

	var versions []int
	rows, err := s.DB().QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	require.NoError(t, err)
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	var want []int
	for v := 1; v <= sqlstore.SQLite.SchemaVersion(); v++ {
		want = append(want, v)
	}
	assert.Equal(t, want, versions)
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path, nil)
	require.NoError(t, err)
	a, err := s.Put(ctx, accounttest.Sample("example.com"))
	require.NoError(t, err)
	require.NoError(t, s.Record(ctx, a.ID, account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: time.Now()}))
	require.NoError(t, s.Close())

	s2 := open(t, path, nil)
	back, err := s2.Get(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, a, back)
	got, err := s2.Delivered(ctx, a.ID, "u1")
	require.NoError(t, err)
	assert.Equal(t, []string{"x@example.com"}, got.Rcpts)
	var n int
	require.NoError(t, s2.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n))
	assert.Equal(t, sqlstore.SQLite.SchemaVersion(), n, "each migration applied once")
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, path, nil)
	_, err := s.DB().ExecContext(t.Context(), "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
	require.NoError(t, err)
	_, err = sqlite.Open(t.Context(), path, nil)
	assert.ErrorIs(t, err, sqlstore.ErrSchemaTooNew)
}

func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := sqlite.Open(t.Context(), path, nil)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
}

func TestCorruptRow(t *testing.T) {
	s := temp(t, nil)
	ctx := t.Context()
	a, err := s.Put(ctx, accounttest.Sample("example.com"))
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, "UPDATE accounts SET data = '{not json' WHERE id = ?", a.ID)
	require.NoError(t, err)
	_, err = s.Get(ctx, a.ID)
	var ce *sqlstore.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, a.ID, ce.ID)
	_, err = s.List(ctx, account.Filter{})
	assert.ErrorAs(t, err, &ce)
}

func TestDeleteKeepsTokens(t *testing.T) {
	s := temp(t, nil)
	ctx := t.Context()
	a, err := s.Put(ctx, accounttest.Sample("example.com"))
	require.NoError(t, err)
	l1, err := s.Acquire(ctx, a.ID, "one", time.Minute)
	require.NoError(t, err)
	require.NoError(t, l1.Release(ctx))
	require.NoError(t, s.Record(ctx, a.ID, account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: time.Now()}))
	require.NoError(t, s.Delete(ctx, a.ID))
	a.Host = "pop.other.example"
	_, err = s.Put(ctx, a)
	require.NoError(t, err)
	got, err := s.Delivered(ctx, a.ID, "u1")
	require.NoError(t, err)
	assert.Empty(t, got, "an account re-created for another mailbox starts with an empty journal")
	l2, err := s.Acquire(ctx, a.ID, "one", time.Minute)
	require.NoError(t, err)
	assert.Greater(t, l2.Token(), l1.Token())
}

// The two-process test: the child process runs this test function with
// MULTIDROP_SQLITE_CHILD set and acts on the database named there.
const childEnv = "MULTIDROP_SQLITE_CHILD"

func TestChildProcess(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("helper process for TestTwoProcesses")
	}
	path, op, _ := strings.Cut(spec, "|")
	s, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	defer s.Close()
	switch op {
	case "acquire":
		l, err := s.Acquire(t.Context(), "acct", "child", time.Hour)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		fmt.Println("token", l.Token())
	case "record":
		for i := range 40 {
			if err := s.Record(t.Context(), "acct", account.Record{Key: fmt.Sprintf("k%d", i), Rcpts: []string{"child@example.com"}, At: time.Now()}); err != nil {
				fmt.Println("error", err)
				os.Exit(4)
			}
		}
		fmt.Println("ok")
	}
}

func runChild(t *testing.T, path, op string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestChildProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), childEnv+"="+path+"|"+op)
	return cmd
}

func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	s := open(t, path, nil)
	ctx := t.Context()

	l, err := s.Acquire(ctx, "acct", "parent", time.Hour)
	require.NoError(t, err)
	out, err := runChild(t, path, "acquire").Output()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "lease held by another owner", "the child must not get the parent's lease")

	require.NoError(t, l.Release(ctx))
	out, err = runChild(t, path, "acquire").Output()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), fmt.Sprintf("token %d", l.Token()+1))
	_, err = s.Acquire(ctx, "acct", "parent", time.Hour)
	assert.ErrorIs(t, err, account.ErrLeaseHeld, "now the child holds it")
	assert.ErrorIs(t, l.Renew(ctx, time.Hour), account.ErrLeaseLost)

	// Concurrent writers in two processes: nothing lost, nobody fails.
	child := runChild(t, path, "record")
	var childOut strings.Builder
	child.Stdout = &childOut
	require.NoError(t, child.Start())
	for i := range 40 {
		require.NoError(t, s.Record(ctx, "acct", account.Record{Key: fmt.Sprintf("k%d", i), Rcpts: []string{"parent@example.com"}, At: time.Now()}))
	}
	require.NoError(t, child.Wait(), childOut.String())
	assert.Contains(t, childOut.String(), "ok")
	for i := range 40 {
		got, err := s.Delivered(ctx, "acct", fmt.Sprintf("k%d", i))
		require.NoError(t, err)
		assert.Equal(t, []string{"child@example.com", "parent@example.com"}, got.Rcpts)
	}
}

// TestDatabaseClock runs leases on the database's clock (Options.Now nil):
// a short lease really expires and is taken over, and the stale holder's
// renewal and fenced writes are refused.
func TestDatabaseClock(t *testing.T) {
	s := temp(t, nil)
	checkDatabaseClock(t, s)
}

func checkDatabaseClock(t *testing.T, s *sqlstore.Store) {
	ctx := t.Context()
	old, err := s.Acquire(ctx, "acct", "one", 100*time.Millisecond)
	require.NoError(t, err)
	_, err = s.Acquire(ctx, "acct", "two", time.Minute)
	require.ErrorIs(t, err, account.ErrLeaseHeld)
	require.NoError(t, s.Fenced(old).Record(ctx, "acct", account.Record{MessageID: "<m@x>", IDRcpts: []string{"a@example.com"}, Expires: time.Now().Add(time.Hour)}))
	got, err := s.DeliveredID(ctx, "acct", "<m@x>")
	require.NoError(t, err)
	assert.Equal(t, []string{"a@example.com"}, got, "the database clock agrees with the local one")

	var nl account.Lease
	require.Eventually(t, func() bool {
		nl, err = s.Acquire(ctx, "acct", "two", time.Minute)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the lease expires by the database clock")
	assert.Greater(t, nl.Token(), old.Token())
	assert.ErrorIs(t, old.Renew(ctx, time.Minute), account.ErrLeaseLost)
	assert.ErrorIs(t, s.Fenced(old).Record(ctx, "acct", account.Record{Key: "k", Rcpts: []string{"x"}, At: time.Now()}), account.ErrLeaseLost)
	require.NoError(t, nl.Renew(ctx, time.Minute))
	require.NoError(t, s.Fenced(nl).Record(ctx, "acct", account.Record{Key: "k", Rcpts: []string{"x"}, At: time.Now()}))
}

// TestLargeSync crosses the batch size of the multi-row statements.
func TestLargeSync(t *testing.T) {
	s := temp(t, nil)
	ctx := t.Context()
	uids := make([]string, 1234)
	for i := range uids {
		uids[i] = fmt.Sprintf("u%05d", i)
	}
	t0 := time.Unix(1000, 0).UTC()
	seen, err := s.Sync(ctx, "acct", uids, t0)
	require.NoError(t, err)
	require.Len(t, seen, len(uids))
	require.NoError(t, s.Record(ctx, "acct", account.Record{Key: "u00007", Rcpts: []string{"x@example.com"}, At: t0}))
	require.NoError(t, s.Record(ctx, "acct", account.Record{Key: "u01200", Rcpts: []string{"x@example.com"}, At: t0}))
	seen, err = s.Sync(ctx, "acct", uids[1100:], t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, seen, 134)
	assert.Equal(t, t0, seen["u01200"])
	for key, want := range map[string]int{"u00007": 0, "u01200": 1} {
		got, err := s.Delivered(ctx, "acct", key)
		require.NoError(t, err)
		assert.Len(t, got.Rcpts, want, key)
	}
	var n int
	require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM journal_seen").Scan(&n))
	assert.Equal(t, 134, n)
}

// A database written by release 1 (schema version 2, final marks and
// notices as marker recipients) opens, migrates, and holds typed states.
func TestOpensRelease1Database(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "release1.db"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "release1.db")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	s := open(t, path, nil)
	var markers int
	require.NoError(t, s.DB().QueryRowContext(t.Context(),
		`SELECT COUNT(*) FROM journal_deliveries WHERE rcpt IN ('', '!oversize-notice', '!foreign-notice')`).Scan(&markers))
	assert.Zero(t, markers, "marker rows moved out")
	accounttest.TestRelease1Upgrade(t, s)
}

func TestHistory(t *testing.T) {
	accounttest.TestHistory(t, func(t *testing.T) account.History { return temp(t, nil) })
}

func TestJournalRetention(t *testing.T) {
	accounttest.TestJournalRetention(t, func(t *testing.T, now func() time.Time) (account.MutableStore, account.Journal) {
		s := temp(t, now)
		return s, s
	})
}

// Every connection opened with DSN caches at most 256 KiB of pages, not
// SQLite's default 2 MiB, and keeps the durability settings.
func TestDSNPragmas(t *testing.T) {
	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(t.TempDir(), "m.db")))
	require.NoError(t, err)
	defer db.Close()
	for _, c := range []struct {
		pragma string
		want   string
	}{{"cache_size", "-256"}, {"synchronous", "2"}, {"journal_mode", "wal"}, {"foreign_keys", "1"}} {
		var got string
		require.NoError(t, db.QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got))
		assert.Equal(t, c.want, got, c.pragma)
	}
}
