package sqlstore_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/accounttest"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/postgres"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"

	"github.com/multidrop/multidrop/internal/pgtest"
)

// clock is a settable store clock shared by several stores.
type clock struct{ off atomic.Int64 }

var base = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func (c *clock) Now() time.Time          { return base.Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// opener opens a new Store (its own connection pool) on one database.
type opener func(t *testing.T, now func() time.Time) *sqlstore.Store

// engines returns an opener per engine: SQLite always, PostgreSQL when
// MULTIDROP_PG_DSN is set (a fresh schema per test).
func engines(t *testing.T) map[string]func(t *testing.T) opener {
	return map[string]func(t *testing.T) opener{
		"sqlite": func(t *testing.T) opener {
			path := filepath.Join(t.TempDir(), "multidrop.db")
			return func(t *testing.T, now func() time.Time) *sqlstore.Store {
				s, err := sqlite.Open(t.Context(), path, &sqlstore.Options{Now: now})
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, s.Close()) })
				return s
			}
		},
		"postgres": func(t *testing.T) opener {
			dsn := pgSchema(t)
			return func(t *testing.T, now func() time.Time) *sqlstore.Store {
				s, err := postgres.Open(t.Context(), dsn, &sqlstore.Options{Now: now})
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, s.Close()) })
				return s
			}
		},
	}
}

// pgSchema returns a DSN on a fresh schema of MULTIDROP_PG_DSN, dropped
// when the test ends; it skips without the variable (fails under CI=true).
func pgSchema(t *testing.T) string { return pgtest.Schema(t, "mdsched") }

func put(t *testing.T, s *sqlstore.Store, id string, enabled bool) account.Account {
	t.Helper()
	a := accounttest.Sample(id + ".example")
	a.ID, a.Enabled = id, enabled
	a, err := s.Put(t.Context(), a)
	require.NoError(t, err)
	return a
}

func claimIDs(t *testing.T, s *sqlstore.Store, owner string, limit int) ([]string, map[string]account.Claim) {
	t.Helper()
	cs, err := s.Claim(t.Context(), owner, limit, time.Minute)
	require.NoError(t, err)
	ids := []string{}
	m := map[string]account.Claim{}
	for _, c := range cs {
		ids = append(ids, c.Account.ID)
		m[c.Account.ID] = c
	}
	return ids, m
}

func TestSchedule(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			clk := &clock{}
			a, b := open(t, clk.Now), open(t, clk.Now)
			ctx := t.Context()
			put(t, a, "one", true)
			put(t, a, "two", true)
			put(t, a, "off", false)

			ids, got := claimIDs(t, a, "A", 10)
			assert.ElementsMatch(t, []string{"one", "two"}, ids, "new enabled accounts are due at once")
			assert.Equal(t, "one.example", got["one"].Account.Domain)
			ids, _ = claimIDs(t, b, "B", 10)
			assert.Empty(t, ids, "leased accounts are not handed out again")

			require.NoError(t, a.Done(ctx, got["one"].Lease, account.Next{After: time.Hour}))
			require.NoError(t, a.Done(ctx, got["two"].Lease, account.Next{After: time.Minute, Failures: 2}))
			ids, _ = claimIDs(t, b, "B", 10)
			assert.Empty(t, ids, "not due yet")
			next, paused, err := b.NextCheck(ctx, "one")
			require.NoError(t, err)
			assert.Equal(t, clk.Now().Add(time.Hour), next)
			assert.False(t, paused)

			clk.Advance(time.Minute)
			ids, got = claimIDs(t, b, "B", 10)
			require.Equal(t, []string{"two"}, ids)
			assert.Equal(t, 2, got["two"].Failures, "failures survive for backoff")

			// Check Now during the check: due again right after it,
			// whatever the check's outcome says.
			require.NoError(t, a.RequestCheck(ctx, "two"))
			require.NoError(t, b.Done(ctx, got["two"].Lease, account.Next{After: time.Hour}))
			ids, got = claimIDs(t, a, "A", 10)
			require.Equal(t, []string{"two"}, ids)

			// A paused account waits for RequestCheck or a change.
			require.NoError(t, a.Done(ctx, got["two"].Lease, account.Next{Paused: true, Failures: 1}))
			_, paused, err = a.NextCheck(ctx, "two")
			require.NoError(t, err)
			assert.True(t, paused)
			clk.Advance(24 * time.Hour)
			ids, got = claimIDs(t, a, "A", 10)
			require.Equal(t, []string{"one"}, ids, "paused is not due")
			require.NoError(t, a.Done(ctx, got["one"].Lease, account.Next{After: time.Hour}))
			require.NoError(t, b.RequestCheck(ctx, "two"))
			ids, got = claimIDs(t, a, "A", 10)
			require.Equal(t, []string{"two"}, ids, "RequestCheck lifts the pause")
			require.NoError(t, a.Done(ctx, got["two"].Lease, account.Next{Paused: true}))
			clk.Advance(time.Second)
			put(t, a, "two", true)
			ids, got = claimIDs(t, b, "B", 10)
			require.Equal(t, []string{"two"}, ids, "a changed account is resumed")

			// A lease taken over after it expired: the stale Done is
			// refused and changes nothing.
			clk.Advance(2 * time.Minute)
			ids, newer := claimIDs(t, a, "A", 10)
			require.Equal(t, []string{"two"}, ids)
			assert.Greater(t, newer["two"].Lease.Token(), got["two"].Lease.Token())
			require.ErrorIs(t, b.Done(ctx, got["two"].Lease, account.Next{After: time.Hour}), account.ErrLeaseLost)
			require.ErrorIs(t, b.Fenced(got["two"].Lease).Record(ctx, "two", account.Record{Key: "k", Rcpts: []string{"x"}, At: clk.Now()}), account.ErrLeaseLost)
			require.NoError(t, a.Done(ctx, newer["two"].Lease, account.Next{}))
			ids, _ = claimIDs(t, b, "B", 10)
			assert.Equal(t, []string{"two"}, ids, "Next{} is due at once")

			// A lease taken through Acquire keeps the account from Claim.
			clk.Advance(2 * time.Hour)
			_, err = a.Acquire(ctx, "one", "manual", time.Minute)
			require.NoError(t, err)
			ids, _ = claimIDs(t, b, "B", 10)
			assert.NotContains(t, ids, "one")

			require.ErrorIs(t, a.RequestCheck(ctx, "nope"), account.ErrNotFound)
			_, _, err = a.NextCheck(ctx, "nope")
			require.ErrorIs(t, err, account.ErrNotFound)
			_, err = a.Claim(ctx, "A", 1, 0)
			require.ErrorIs(t, err, account.ErrBadTTL)
		})
	}
}

// Concurrent Claims from several stores hand out each due account once.
func TestConcurrentClaims(t *testing.T) {
	for name, engine := range engines(t) {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			clk := &clock{}
			first := open(t, clk.Now)
			const n = 200
			for i := range n {
				put(t, first, fmt.Sprintf("acct%03d", i), true)
			}
			var mu sync.Mutex
			claimed := map[string]int{}
			var wg sync.WaitGroup
			for w := range 4 {
				s := open(t, clk.Now)
				wg.Go(func() {
					for {
						cs, err := s.Claim(t.Context(), fmt.Sprintf("owner%d", w), 7, time.Minute)
						if !assert.NoError(t, err) || len(cs) == 0 {
							return
						}
						mu.Lock()
						for _, c := range cs {
							claimed[c.Account.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			assert.Len(t, claimed, n)
			for id, k := range claimed {
				assert.Equal(t, 1, k, id)
			}
		})
	}
}
