package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
	"github.com/multidrop/multidrop/schedule"
)

// fakeFetcher records when each account was fetched and runs a scripted
// session against the handler, without a network.
type fakeFetcher struct {
	mu       sync.Mutex
	calls    map[string][]time.Time
	err      func(id string, n int) error
	scan     pop.Scan
	messages [][]byte
	during   func(id string, i int) // called before Handle of message i
	stopped  map[string]int         // account -> index at which ErrStop came
}

func (f *fakeFetcher) Fetch(ctx context.Context, a account.Account, h pop.Handler) error {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string][]time.Time{}
		f.stopped = map[string]int{}
	}
	f.calls[a.ID] = append(f.calls[a.ID], time.Now())
	n := len(f.calls[a.ID])
	f.mu.Unlock()
	if f.err != nil {
		if err := f.err(a.ID, n); err != nil {
			return err
		}
	}
	if p, ok := h.(pop.Planner); ok {
		if _, err := p.Plan(ctx, f.scan); err != nil {
			return err
		}
	}
	for i, m := range f.messages {
		if f.during != nil {
			f.during(a.ID, i)
		}
		_, err := h.Handle(ctx, pop.MessageInfo{Number: i + 1, UID: a.ID + string(rune('a'+i)), Size: int64(len(m))}, strings.NewReader(string(m)))
		if errors.Is(err, pop.ErrStop) {
			f.mu.Lock()
			f.stopped[a.ID] = i
			f.mu.Unlock()
			break
		}
	}
	return nil
}

func (f *fakeFetcher) times(id string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls[id]...)
}

func newScheduled(t *testing.T, f *fakeFetcher, accts ...account.Account) (*schedule.Schedule, *account.MemoryStore, *delivertest.Deliverer) {
	return newScheduledWith(t, f, nil, accts...)
}

// newScheduledWith is newScheduled with edit applied to the Options of the
// Schedule (Interval 10 minutes).
func newScheduledWith(t *testing.T, f *fakeFetcher, edit func(*schedule.Options), accts ...account.Account) (*schedule.Schedule, *account.MemoryStore, *delivertest.Deliverer) {
	store := account.NewMemoryStore()
	for _, a := range accts {
		a.Enabled = true
		a.Host = "pop.example.net"
		a.Domain = "example.com"
		a.Auth = account.Auth{User: "u", Secret: "p"}
		_, err := store.Put(t.Context(), a)
		require.NoError(t, err)
	}
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	require.NoError(t, err)
	dlv := &delivertest.Deliverer{}
	p, err := multidrop.New(&multidrop.Options{
		Store: store, Journal: account.NewMemoryJournal(), Fetcher: f,
		Resolver: resolve.New(dir, nil), Deliverer: dlv,
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	so := &schedule.Options{Interval: 10 * time.Minute}
	if edit != nil {
		edit(so)
	}
	s, err := schedule.New(p, store, so)
	require.NoError(t, err)
	return s, store, dlv
}

// run starts p.Run and returns a stop function that cancels it and waits.
func run(t *testing.T, p *schedule.Schedule) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}

func gaps(ts []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]))
	}
	return out
}

func TestRunIntervals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{}
		p, _, _ := newScheduled(t, f,
			account.Account{ID: "fast"},
			account.Account{ID: "slow", Retrieval: account.Retrieval{Interval: 30 * time.Minute}})
		stop := run(t, p)
		time.Sleep(2*time.Hour + time.Second)
		stop()
		fast, slow := f.times("fast"), f.times("slow")
		assert.InDelta(t, 12, len(fast), 1)
		assert.InDelta(t, 4, len(slow), 1)
		exact := 0
		for _, g := range gaps(fast) {
			assert.InDelta(t, float64(10*time.Minute), float64(g), float64(time.Minute)+1, "10 minutes ± 10%% jitter")
			if g == 10*time.Minute {
				exact++
			}
		}
		assert.Less(t, exact, len(gaps(fast)), "jittered")
		for _, g := range gaps(slow) {
			assert.InDelta(t, float64(30*time.Minute), float64(g), float64(3*time.Minute)+1)
		}
	})
}

func TestRunBackoffAfterFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{err: func(string, int) error { return errors.New("connection refused") }}
		p, _, _ := newScheduled(t, f, account.Account{ID: "down"})
		stop := run(t, p)
		time.Sleep(16 * time.Minute)
		stop()
		g := gaps(f.times("down"))
		require.GreaterOrEqual(t, len(g), 3)
		assert.Equal(t, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute}, g[:4])
	})
}

// Options.Jitter < 0: every wait is the interval exactly.
func TestRunWithoutJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{}
		p, _, _ := newScheduledWith(t, f, func(o *schedule.Options) { o.Jitter = -1 }, account.Account{ID: "exact"})
		stop := run(t, p)
		time.Sleep(time.Hour + time.Second)
		stop()
		assert.Equal(t, []time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute},
			gaps(f.times("exact")))
	})
}

func TestNewNamesTheMissingCollaborator(t *testing.T) {
	store := account.NewMemoryStore()
	p, err := multidrop.New(&multidrop.Options{Store: store, Journal: account.NewMemoryJournal(),
		Resolver: resolve.New(aliceDirectory(t), nil), Deliverer: &delivertest.Deliverer{}})
	require.NoError(t, err)
	_, err = schedule.New(nil, store, nil)
	assert.EqualError(t, err, "schedule: the Checker is required")
	_, err = schedule.New(p, nil, nil)
	assert.EqualError(t, err, "schedule: the Store is required")
}

func TestRunAuthFailurePausesUntilWokenOrChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var failing sync.Map
		failing.Store("acct", true)
		f := &fakeFetcher{err: func(id string, n int) error {
			if v, _ := failing.Load(id); v == true {
				return &pop.Error{Command: "PASS", Code: "AUTH", Text: "invalid credentials"}
			}
			return nil
		}}
		var paused []string
		var mu sync.Mutex
		p, store, _ := newScheduledWith(t, f, func(o *schedule.Options) {
			o.Observer = func(e multidrop.Event) {
				mu.Lock()
				defer mu.Unlock()
				paused = append(paused, string(e.Kind)+" "+e.Account)
			}
		}, account.Account{ID: "acct"})
		stop := run(t, p)
		time.Sleep(time.Hour)
		assert.Len(t, f.times("acct"), 1, "paused after the [AUTH] failure: no lock-out by retries")
		mu.Lock()
		assert.Equal(t, []string{"account.paused acct"}, paused)
		mu.Unlock()

		require.NoError(t, p.Wake(t.Context(), "acct"))
		synctest.Wait()
		assert.Len(t, f.times("acct"), 2, "Wake checks at once")

		// Fixing the password resumes it at the next refresh.
		failing.Store("acct", false)
		a, err := store.Get(t.Context(), "acct")
		require.NoError(t, err)
		a.Auth.Secret = "new"
		_, err = store.Put(t.Context(), a)
		require.NoError(t, err)
		time.Sleep(schedule.RefreshInterval + time.Second)
		assert.Len(t, f.times("acct"), 3)
		stop()
	})
}

func TestRunHonoursLoginDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{scan: pop.Scan{LoginDelay: time.Hour}}
		p, _, _ := newScheduled(t, f, account.Account{ID: "slowpop"})
		stop := run(t, p)
		time.Sleep(2*time.Hour + 10*time.Minute)
		stop()
		for _, g := range gaps(f.times("slowpop")) {
			assert.GreaterOrEqual(t, g, time.Hour)
		}
		assert.Len(t, f.times("slowpop"), 3)
	})
}

// A [LOGIN-DELAY] refusal reschedules after the delay the server announced
// (RFC 2449), not a fixed five minutes; with none announced, five minutes.
// An [IN-USE] refusal is no login delay: it backs off as a failure.
func TestRunLoginDelayRefusal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantGap time.Duration
	}{
		{"announced 20m", &pop.Error{Command: "PASS", Code: "LOGIN-DELAY", Text: "wait", LoginDelay: 20 * time.Minute}, 20 * time.Minute},
		{"announced 2m", &pop.Error{Command: "PASS", Code: "LOGIN-DELAY", Text: "wait", LoginDelay: 2 * time.Minute}, 2 * time.Minute},
		{"none announced", &pop.Error{Command: "PASS", Code: "LOGIN-DELAY", Text: "wait"}, 5 * time.Minute},
		{"in use", &pop.Error{Command: "PASS", Code: "IN-USE", Text: "locked"}, schedule.DefaultBackoff(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeFetcher{err: func(_ string, n int) error {
					if n == 1 {
						return tc.err
					}
					return nil
				}}
				p, _, _ := newScheduled(t, f, account.Account{ID: "busy"})
				stop := run(t, p)
				time.Sleep(tc.wantGap + 2*time.Minute) // the first check comes within a minute
				stop()
				times := f.times("busy")
				require.Len(t, times, 2, "one retry, after the delay")
				assert.Equal(t, tc.wantGap, times[1].Sub(times[0]).Truncate(time.Second))
			})
		})
	}
}

func TestRunGracefulStopFinishesMessageInHand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := []byte("To: alice@example.com\r\nMessage-ID: <g@x>\r\n\r\nhi\r\n")
		ctx, cancel := context.WithCancel(t.Context())
		f := &fakeFetcher{messages: [][]byte{m, m, m}}
		f.during = func(id string, i int) {
			if i == 1 {
				cancel()        // shutdown arrives while message 2 is in hand
				synctest.Wait() // and Run has seen it
			}
		}
		p, _, dlv := newScheduled(t, f, account.Account{ID: "a"})
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		require.NoError(t, <-done)
		f.mu.Lock()
		stoppedAt := f.stopped["a"]
		f.mu.Unlock()
		assert.Equal(t, 1, stoppedAt, "the message in hand finished, then the session stopped")
		assert.Len(t, dlv.Deliveries(), 1, "same Message-ID: one delivery; the third message was not handled")
	})
}

func TestWakeWithoutRun(t *testing.T) {
	p, _, _ := newScheduled(t, &fakeFetcher{}, account.Account{ID: "x"})
	assert.ErrorIs(t, p.Wake(t.Context(), "x"), schedule.ErrNotRunning)
}

// Wake checks an account waiting on its interval at once; a Wake that comes
// while a check of it runs gets one more check right after that one, which
// may have listed the mailbox too early.
func TestRunWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f := &fakeFetcher{err: func(_ string, n int) error {
			if n == 3 {
				<-release
			}
			return nil
		}}
		p, _, _ := newScheduled(t, f, account.Account{ID: "acct"})
		stop := run(t, p)
		time.Sleep(3 * time.Minute)
		require.Len(t, f.times("acct"), 1)

		woken := time.Now()
		require.NoError(t, p.Wake(t.Context(), "acct"))
		synctest.Wait()
		ts := f.times("acct")
		require.Len(t, ts, 2, "woken while waiting on its interval")
		assert.Equal(t, woken, ts[1])

		time.Sleep(time.Minute)
		require.NoError(t, p.Wake(t.Context(), "acct"))
		synctest.Wait() // the third check runs, held
		require.NoError(t, p.Wake(t.Context(), "acct"))
		synctest.Wait()
		require.Len(t, f.times("acct"), 3)
		time.Sleep(time.Minute)
		close(release)
		ended := time.Now()
		synctest.Wait()
		ts = f.times("acct")
		require.Len(t, ts, 4, "one more check after the running one")
		assert.Equal(t, ended, ts[3])

		time.Sleep(5 * time.Minute)
		assert.Len(t, f.times("acct"), 4, "then the interval again")
		stop()
	})
}

// A graceful stop through the real session (the Downloader, messages
// finished concurrently): the messages in hand are finished, the session
// commits with QUIT, and each message is either delivered and deleted or
// untouched and kept.
func TestRunGracefulStopCommits(t *testing.T) {
	srv := &poptest.Server{}
	var msgs []poptest.Message
	for i := range 40 {
		msgs = append(msgs, poptest.Message{UID: fmt.Sprint("g", i), Data: msg("hi", fmt.Sprintf("Message-ID: <g%d@x>", i), "To: alice@example.com")})
	}
	srv.AddUser(popUser, popPass, msgs...)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var once sync.Once
	dlv := &delivertest.Deliverer{}
	store := popAccount(t, srv)
	p, err := multidrop.New(&multidrop.Options{
		Store: store, Journal: account.NewMemoryJournal(),
		Fetcher:             &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 5 * time.Second, Data: 5 * time.Second}}},
		Resolver:            resolve.New(aliceDirectory(t), nil),
		DeliveryConcurrency: 2,
		Spool:               multidrop.SpoolOptions{Dir: t.TempDir()},
		Deliverer: deliver.Func(func(dctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
			once.Do(func() {
				cancel() // the shutdown comes while messages are in hand
				time.Sleep(200 * time.Millisecond)
			})
			return dlv.Deliver(dctx, env, m)
		}),
	})
	require.NoError(t, err)
	s, err := schedule.New(p, store, &schedule.Options{Interval: time.Second}) // the first check within 0.1 s
	require.NoError(t, err)
	require.NoError(t, s.Run(ctx))

	var quit bool
	for _, c := range srv.Transcript() {
		quit = quit || c.Name == "QUIT"
	}
	assert.True(t, quit, "the session committed")
	left := map[string]bool{}
	for _, m := range srv.Mailbox(popUser) {
		left[m.UID] = true
	}
	assert.NotEmpty(t, left, "the stop came before the end of the mailbox")
	assert.Less(t, len(left), 40, "the messages in hand were finished")
	got := map[string]int{}
	for _, d := range dlv.Deliveries() {
		got[d.Envelope.Trace.Key]++
	}
	for _, m := range msgs {
		if left[m.UID] {
			assert.Zero(t, got[m.UID], "%s kept but delivered", m.UID)
		} else {
			assert.Equal(t, 1, got[m.UID], "%s deleted", m.UID)
		}
	}
}

// Status reports Run's state of each account: the next check, failures in a
// row, a pause after refused credentials and the server's LOGIN-DELAY.
func TestRunStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{err: func(id string, n int) error {
			switch id {
			case "failing":
				return errors.New("pop: dial: connection refused")
			case "refused":
				return &pop.Error{Command: "PASS", Code: "AUTH", Text: "bad password"}
			case "delayed":
				return &pop.Error{Command: "PASS", Code: "LOGIN-DELAY", Text: "wait", LoginDelay: time.Hour}
			}
			return nil
		}}
		s, _, _ := newScheduled(t, f, account.Account{ID: "ok"}, account.Account{ID: "failing"},
			account.Account{ID: "refused"}, account.Account{ID: "delayed"})
		_, known := s.Status("ok")
		assert.False(t, known, "no Run, no state")
		stop := run(t, s)
		time.Sleep(2 * time.Minute) // every account's first check has run
		synctest.Wait()
		now := time.Now()

		st, ok := s.Status("ok")
		require.True(t, ok)
		assert.Zero(t, st.Failures)
		assert.Empty(t, st.Paused)
		assert.True(t, st.Next.After(now), "next check ahead")

		st, ok = s.Status("failing")
		require.True(t, ok)
		assert.GreaterOrEqual(t, st.Failures, 1)
		assert.True(t, st.Next.After(now))

		st, ok = s.Status("refused")
		require.True(t, ok)
		assert.Equal(t, "authentication failed", st.Paused)
		assert.True(t, st.Next.IsZero(), "paused: no next check")

		st, ok = s.Status("delayed")
		require.True(t, ok)
		assert.Equal(t, time.Hour, st.LoginDelay)
		assert.True(t, st.Next.After(now.Add(55*time.Minute)))

		stop()
		_, known = s.Status("ok")
		assert.False(t, known, "Run ended")
	})
}

// A check that the deletion guard held is no failure for the schedule: the
// account keeps its interval (its good mail is still delivered) while the
// administrator decides, instead of backing off for up to an hour.
func TestRunGuardIsNoFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var spam [][]byte
		for i := range 6 {
			spam = append(spam, msg("buy", fmt.Sprintf("Message-ID: <s%d@x>", i), "To: nobody@example.com"))
		}
		f := &fakeFetcher{messages: spam}
		s, _, _ := newScheduled(t, f, account.Account{ID: "guarded"})
		stop := run(t, s)
		time.Sleep(35 * time.Minute)
		st, ok := s.Status("guarded")
		require.True(t, ok)
		stop()
		assert.Zero(t, st.Failures, "the held guard is not counted as a failure")
		times := f.times("guarded")
		require.GreaterOrEqual(t, len(times), 3, "checked at its interval")
		for _, g := range gaps(times) {
			assert.Less(t, g, 12*time.Minute, "no backoff")
		}
	})
}
