package multidrop_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
)

// guardRun checks one account again and again, a few minutes apart, the
// way a deployment does: with one Pipeline, with a new Pipeline (and a
// reopened journal) for every check, as after a restart, or alternating
// between two Pipelines that share a SQLite journal and its leases.
type guardRun struct {
	t      *testing.T
	e      *env
	mode   string
	path   string // the SQLite journal, except for "one Pipeline"
	ps     []*multidrop.Pipeline
	stores []*sqlstore.Store // opened so far
	n      int               // checks so far
}

const (
	onePipeline = "one Pipeline"
	restarts    = "a restart before each check"
	twoShared   = "two Pipelines sharing a SQLite journal"
)

var guardModes = []string{onePipeline, restarts, twoShared}

func newGuardRun(t *testing.T, mode string, srv *poptest.Server, opts ...envOpt) *guardRun {
	g := &guardRun{t: t, mode: mode}
	if mode != onePipeline {
		g.path = filepath.Join(t.TempDir(), "journal.db")
		opts = append(opts, func(e *env, o *multidrop.Options) {
			st := g.open()
			e.journal, o.Journal, o.Locker = st, st, st
		})
	}
	g.e = newEnv(t, srv, nil, opts...)
	g.ps = []*multidrop.Pipeline{g.e.p}
	if mode == twoShared {
		o := *g.e.opts
		st := g.open()
		o.Journal, o.Locker = st, st
		p, err := multidrop.New(&o)
		require.NoError(t, err)
		g.ps = append(g.ps, p)
	}
	return g
}

// open opens the SQLite journal, closed when the test ends.
func (g *guardRun) open() *sqlstore.Store {
	st, err := sqlite.Open(g.t.Context(), g.path, &sqlstore.Options{Now: func() time.Time {
		if g.e == nil { // opening, within newEnv
			return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		}
		return g.e.now
	}})
	require.NoError(g.t, err)
	g.t.Cleanup(func() { _ = st.Close() })
	g.stores = append(g.stores, st)
	return st
}

// pipeline returns the Pipeline of the next check.
func (g *guardRun) pipeline() *multidrop.Pipeline {
	switch g.mode {
	case restarts:
		o := *g.e.opts
		st := g.open()
		o.Journal, o.Locker = st, st
		p, err := multidrop.New(&o)
		require.NoError(g.t, err)
		return p
	case twoShared:
		return g.ps[g.n%2]
	}
	return g.e.p
}

// check adds msgs to the mailbox, lets five minutes pass and checks.
func (g *guardRun) check(msgs ...poptest.Message) *multidrop.Report {
	g.t.Helper()
	g.e.srv.AddMessages(popUser, msgs...)
	g.e.now = g.e.now.Add(5 * time.Minute)
	p := g.pipeline()
	g.n++
	r, err := p.Check(g.t.Context(), g.e.acct.ID)
	require.NotNil(g.t, r, "check %d: %v", g.n, err)
	require.True(g.t, r.Committed, "check %d", g.n)
	return r
}

// guardMsgs returns n messages numbered from *next, to whom(i).
func guardMsgs(next *int, n int, whom func(i int) string) []poptest.Message {
	var out []poptest.Message
	for range n {
		i := *next
		*next++
		out = append(out, poptest.Message{UID: fmt.Sprint("m", i),
			Data: msg("x", fmt.Sprintf("Message-ID: <m%d@remote.test>", i), "From: x@remote.test", "To: "+whom(i))})
	}
	return out
}

// The scenario: a domain whose directory knows none of its users,
// checked every five minutes, two or three messages each time. The guard
// trips on the second check (5 messages without a recipient of 5) and
// keeps every later message, whatever runs the checks.
func TestGuardRemembersAcrossChecks(t *testing.T) {
	nobody := func(int) string { return "nobody@example.com" }
	for _, mode := range guardModes {
		t.Run(mode, func(t *testing.T) {
			srv := &poptest.Server{}
			var events []multidrop.Event
			var mu sync.Mutex
			g := newGuardRun(t, mode, srv, func(_ *env, o *multidrop.Options) {
				o.Observer = func(e multidrop.Event) {
					if e.Kind == multidrop.EventGuard || e.Kind == multidrop.EventGuardReleased {
						mu.Lock()
						events = append(events, e)
						mu.Unlock()
					}
				}
			})
			next := 0
			for i, n := range []int{2, 3, 2, 3, 2, 3} {
				r := g.check(guardMsgs(&next, n, nobody)...)
				if i == 0 {
					require.NoError(t, r.Err, "check 1: 2 of 2 is below GuardMin")
					assert.Nil(t, r.Guard)
					assert.Equal(t, 2, r.Deleted)
					continue
				}
				require.ErrorIs(t, r.Err, multidrop.ErrDeletionGuard, "check %d", i+1)
				assert.Zero(t, r.Deleted, "check %d", i+1)
				require.NotNil(t, r.Guard, "check %d", i+1)
				assert.Equal(t, multidrop.GuardHold{Since: g.e.now.Add(-time.Duration(i-1) * 5 * time.Minute).UTC(),
					NoRecipient: next, Examined: next}, normHold(r.Guard), "check %d", i+1)
				for _, m := range r.Messages {
					assert.Equal(t, "no valid recipient; kept by the deletion guard", m.Reason, m.UID)
				}
			}
			assert.Len(t, srv.Mailbox(popUser), next-2, "only the first check's two messages were deleted")
			mu.Lock()
			assert.Len(t, events, 1, "one event when it trips")
			mu.Unlock()

			// The administrator confirms: the next check deletes what the
			// guard kept, and later checks judge a new window.
			released, err := g.pipeline().ReleaseGuard(t.Context(), g.e.acct.ID)
			require.NoError(t, err)
			assert.True(t, released)
			r := g.check()
			require.NoError(t, r.Err)
			assert.Nil(t, r.Guard)
			assert.Equal(t, next-2, r.Deleted)
			assert.Empty(t, srv.Mailbox(popUser))
			r = g.check(guardMsgs(&next, 2, nobody)...)
			require.NoError(t, r.Err)
			assert.Equal(t, 2, r.Deleted, "a new window: 2 of 2 is below GuardMin")
			r = g.check(guardMsgs(&next, 3, nobody)...)
			require.ErrorIs(t, r.Err, multidrop.ErrDeletionGuard, "and it trips again on the new window")
			assert.Equal(t, multidrop.GuardHold{Since: g.e.now.UTC(), NoRecipient: 5, Examined: 5}, normHold(r.Guard))
			mu.Lock()
			assert.Len(t, events, 3)
			assert.Equal(t, multidrop.EventGuardReleased, events[1].Kind)
			mu.Unlock()
		})
	}
}

func normHold(h *multidrop.GuardHold) multidrop.GuardHold {
	if h == nil {
		return multidrop.GuardHold{}
	}
	out := *h
	out.Since = out.Since.UTC()
	return out
}

// The window judges domains by their recent mail: a healthy domain with
// occasional spam never trips it; one with mostly spam does, unless its
// administrator raised GuardShare or turned the guard off.
func TestGuardWindow(t *testing.T) {
	spamEvery := func(k int) func(int) string {
		return func(i int) string {
			if i%k == 0 {
				return "nobody@example.com"
			}
			return "alice@example.com"
		}
	}
	mostlySpam := func(i int) string { // 3 of 4
		if i%4 == 3 {
			return "alice@example.com"
		}
		return "nobody@example.com"
	}
	for _, tc := range []struct {
		name   string
		share  float64
		window int
		whom   func(int) string
		trips  int // the check that trips it; 0: none
	}{
		{name: "healthy, one spam in five", whom: spamEvery(5)},
		{name: "healthy, one spam in three", whom: spamEvery(3)},
		{name: "every other message spam: half is most", whom: spamEvery(2), trips: 4},
		{name: "mostly spam", whom: mostlySpam, trips: 3},
		{name: "mostly spam, GuardShare 0.9", share: 0.9, whom: mostlySpam},
		{name: "mostly spam, GuardShare over 1: off", share: 1.5, whom: mostlySpam},
		{name: "all spam, GuardShare over 1: off", share: 1.5, whom: func(int) string { return "nobody@example.com" }},
		{name: "every other message spam, GuardShare 0.6", share: 0.6, whom: spamEvery(2)},
		{name: "every other message spam, window 40", window: 40, whom: spamEvery(2), trips: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &poptest.Server{}
			g := newGuardRun(t, onePipeline, srv, func(_ *env, o *multidrop.Options) {
				o.Guard.Share, o.Guard.Window = tc.share, tc.window
			})
			next, spam := 0, 0
			for i := range 30 {
				first := next
				r := g.check(guardMsgs(&next, 2+i%2, tc.whom)...)
				for j := first; j < next; j++ {
					if tc.whom(j) == "nobody@example.com" {
						spam++
					}
				}
				if tc.trips > 0 && i+1 >= tc.trips {
					require.ErrorIs(t, r.Err, multidrop.ErrDeletionGuard, "check %d", i+1)
					require.NotNil(t, r.Guard, "check %d", i+1)
					continue
				}
				require.NoError(t, r.Err, "check %d", i+1)
				require.Nil(t, r.Guard, "check %d", i+1)
			}
			assert.Equal(t, next-spam, g.e.delivered()["alice@example.com"], "every valid message is delivered")
			if tc.trips == 0 {
				assert.Empty(t, srv.Mailbox(popUser), "the spam is deleted")
			} else {
				assert.NotEmpty(t, srv.Mailbox(popUser), "the spam since the trip is kept")
				for _, m := range srv.Mailbox(popUser) {
					assert.Contains(t, string(m.Data), "To: nobody@example.com", m.UID)
				}
			}
		})
	}
}

// While the guard holds an account, the mail that has a recipient is still
// delivered and deleted; each check logs a warning, and Pipeline.Guard
// shows the state between checks.
func TestGuardHoldsOnlyMessagesWithoutRecipient(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	srv := &poptest.Server{}
	g := newGuardRun(t, onePipeline, srv, func(_ *env, o *multidrop.Options) {
		o.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	next := 0
	r := g.check(guardMsgs(&next, 5, func(int) string { return "nobody@example.com" })...)
	require.ErrorIs(t, r.Err, multidrop.ErrDeletionGuard)
	r = g.check(guardMsgs(&next, 2, func(int) string { return "alice@example.com" })...)
	require.ErrorIs(t, r.Err, multidrop.ErrDeletionGuard, "the five kept again")
	assert.Equal(t, 2, r.Deleted)
	assert.Equal(t, 2, g.e.delivered()["alice@example.com"])
	assert.Equal(t, multidrop.GuardHold{Since: g.e.now.Add(-5 * time.Minute).UTC(), NoRecipient: 5, Examined: 7}, normHold(r.Guard))
	for _, m := range r.Messages {
		if m.Action == pop.Keep {
			assert.Equal(t, multidrop.OutcomeKept, m.Outcome)
		}
	}

	st, err := g.e.p.Guard(t.Context(), g.e.acct.ID)
	require.NoError(t, err)
	assert.True(t, st.Holds())
	assert.Equal(t, 5, st.NoRecipient())
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	assert.Contains(t, out, "deletion guard tripped")
	assert.Contains(t, out, "deletion guard holds the account")
	assert.Contains(t, out, "no_recipient=5 examined=7")

	released, err := g.e.p.ReleaseGuard(t.Context(), g.e.acct.ID)
	require.NoError(t, err)
	assert.True(t, released)
	released, err = g.e.p.ReleaseGuard(t.Context(), g.e.acct.ID)
	require.NoError(t, err)
	assert.False(t, released, "released already")
}

// ReleaseGuard takes the account's lease: while another instance checks
// it, the release waits for a later try.
func TestReleaseGuardBusy(t *testing.T) {
	g := newGuardRun(t, twoShared, nil)
	lease, err := g.stores[1].Acquire(t.Context(), g.e.acct.ID, "elsewhere", time.Minute)
	require.NoError(t, err)
	_, err = g.ps[0].ReleaseGuard(t.Context(), g.e.acct.ID)
	require.ErrorIs(t, err, multidrop.ErrAccountBusy)
	require.NoError(t, lease.Release(t.Context()))
	_, err = g.ps[0].ReleaseGuard(t.Context(), g.e.acct.ID)
	require.NoError(t, err)
	st, err := g.ps[1].Guard(t.Context(), g.e.acct.ID)
	require.NoError(t, err)
	assert.False(t, st.Released.IsZero(), "the release is in the shared journal")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// guardWrites counts the SetGuard calls of a journal.
type guardWrites struct {
	account.Journal
	mu sync.Mutex
	n  int
}

func (j *guardWrites) SetGuard(ctx context.Context, id string, g account.Guard) error {
	j.mu.Lock()
	j.n++
	j.mu.Unlock()
	return j.Journal.SetGuard(ctx, id, g)
}

func (j *guardWrites) writes() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.n
}

// The guard's state is written when it changes: a check that only
// examines again the messages the guard keeps writes nothing, nor does
// one that examines nothing.
func TestGuardWritesOnlyChanges(t *testing.T) {
	j := &guardWrites{Journal: account.NewMemoryJournal()}
	srv := &poptest.Server{}
	g := newGuardRun(t, onePipeline, srv, withJournal(j))
	next := 0
	nobody := func(int) string { return "nobody@example.com" }
	for _, tc := range []struct {
		name   string
		add    int
		writes int
	}{
		{"trips", 5, 1},
		{"the same five again", 0, 1},
		{"one more", 1, 2},
		{"the same six again", 0, 2},
	} {
		r := g.check(guardMsgs(&next, tc.add, nobody)...)
		require.ErrorIs(t, r.Err, multidrop.ErrDeletionGuard, tc.name)
		assert.Equal(t, tc.writes, j.writes(), tc.name)
	}
	r := g.check()
	assert.Equal(t, 2, j.writes(), "nothing new")
	require.NotNil(t, r.Guard)
	assert.Equal(t, 6, r.Guard.Examined)
}
