// Package accounttest holds the conformance suites that every implementation
// of the roles of package [account] passes: [TestStore] for a
// [account.MutableStore], [TestJournal] for an [account.Journal],
// [TestLocker] for an [account.Locker], [TestFencing] for an
// [account.Fencer], [TestHistory] for an [account.History] and
// [TestJournalRetention] for a store that keeps a deleted account's
// journal. An embedder with its own storage runs them from its
// tests:
//
//	func TestMyStore(t *testing.T) {
//		accounttest.TestStore(t, func(t *testing.T) account.MutableStore {
//			return mystore.Open(t.TempDir())
//		})
//	}
package accounttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

// Sample returns a valid account for domain with every kind of field set
// (slices, maps, nested structs), and an empty ID.
func Sample(domain string) account.Account {
	return account.Account{
		Enabled:      true,
		Description:  "Mailbox of " + domain,
		Host:         "pop." + domain,
		Port:         995,
		Domain:       domain,
		ExtraDomains: []string{"mail." + domain},
		Security:     account.SecurityTLS,
		TLS: account.TLS{
			ServerName: "pop." + domain,
			PinSHA256:  []string{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		},
		Auth: account.Auth{User: "catchall@" + domain, Secret: "s3cret", Mechanism: account.MechanismAuto},
		Timeouts: account.Timeouts{
			Dial: 10 * time.Second, Command: 30 * time.Second, Data: time.Minute,
		},
		Retrieval: account.Retrieval{
			LeaveOnServer: true, DeleteAfterDays: 7, MaxMessageSize: 50 << 20,
			Oversize: account.OversizeSkip, Interval: 5 * time.Minute,
		},
		Parsing: account.Parsing{
			Mode:            account.ModeChain,
			EnvelopeHeaders: []string{"Delivered-To:1", "X-Envelope-To"},
			ReceivedBy:      []string{"mx." + domain},
			ExtraHeaders:    []string{"Resent-To"},
		},
		Resolving: account.Resolving{
			Aliases: map[string][]string{"sales": {"alice", "bob"}},
			Rules: []account.Rule{
				{Match: "regexp", Pattern: `^news-.*`, Action: account.RuleDeliver, Users: []string{"carol"}},
				{Match: "equals", Pattern: "spam@" + domain, Action: account.RuleDeny},
			},
			CatchAll: "postmaster",
		},
		Policy: account.Policy{
			NoRecipient: account.NoRecipientPostmaster,
			Foreign:     account.ForeignReport,
			Postmaster:  "postmaster@" + domain,
		},
	}
}

// Clock is a settable clock for the suites.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func ids(as []account.Account) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

// TestStore runs the MutableStore conformance suite. newStore returns a new,
// empty store for each subtest.
func TestStore(t *testing.T, newStore func(t *testing.T) account.MutableStore) {
	t.Run("PutAssignsIDAndGetReturnsIt", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		in := Sample("example.com")
		got, err := s.Put(ctx, in)
		require.NoError(t, err)
		require.NotEmpty(t, got.ID)
		in.ID = got.ID
		in.Version = 1
		assert.Equal(t, in, got)
		back, err := s.Get(ctx, got.ID)
		require.NoError(t, err)
		assert.Equal(t, in, back)

		other, err := s.Put(ctx, Sample("example.com"))
		require.NoError(t, err)
		assert.NotEqual(t, got.ID, other.ID, "IDs must be unique")
	})

	t.Run("PutKeepsGivenIDAndUpdates", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := Sample("example.org")
		a.ID = "acct-1"
		_, err := s.Put(ctx, a)
		require.NoError(t, err)
		a.Host = "pop2.example.org"
		a.ExtraDomains = nil
		a.Resolving.Aliases = map[string][]string{"info": {"dave"}}
		a.Version = 42 // ignored by Put
		got, err := s.Put(ctx, a)
		require.NoError(t, err)
		assert.Equal(t, "acct-1", got.ID)
		assert.Equal(t, int64(2), got.Version, "Put increments the stored version")
		a.Version = 2
		back, err := s.Get(ctx, "acct-1")
		require.NoError(t, err)
		assert.Equal(t, a, back)
		all, err := s.List(ctx, account.Filter{})
		require.NoError(t, err)
		assert.Len(t, all, 1, "an update must not add an account")
	})

	t.Run("GetUnknown", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(t.Context(), "nope")
		assert.ErrorIs(t, err, account.ErrNotFound)
	})

	t.Run("PutRefusesInvalid", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		bad := Sample("example.com")
		bad.Host = ""
		bad.Port = 70000
		_, err := s.Put(ctx, bad)
		var ve *account.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "Host", ve.Field)
		all, err := s.List(ctx, account.Filter{})
		require.NoError(t, err)
		assert.Empty(t, all, "an invalid account must not be stored")
	})

	t.Run("ListSortedByIDAndFilteredByDomain", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		put := func(id, domain string, extra ...string) {
			a := Sample(domain)
			a.ID = id
			a.ExtraDomains = extra
			_, err := s.Put(ctx, a)
			require.NoError(t, err)
		}
		put("c", "example.com")
		put("a", "Example.NET", "example.com")
		put("b", "bücher.example", "shop.example")
		put("d", "other.example")

		all, err := s.List(ctx, account.Filter{})
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c", "d"}, ids(all))

		for _, tc := range []struct {
			domain string
			want   []string
		}{
			{"example.com", []string{"a", "c"}},
			{"EXAMPLE.com.", []string{"a", "c"}},
			{"example.net", []string{"a"}},
			{"xn--bcher-kva.example", []string{"b"}},
			{"BÜCHER.example", []string{"b"}},
			{"shop.example", []string{"b"}},
			{"nothing.example", []string{}},
			{"not a domain", []string{}},
		} {
			got, err := s.List(ctx, account.Filter{Domain: tc.domain})
			require.NoError(t, err, tc.domain)
			assert.Equal(t, tc.want, ids(got), tc.domain)
		}
	})

	t.Run("DeleteSeveral", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		var all []string
		for i := range 4 {
			a, err := s.Put(ctx, Sample(fmt.Sprintf("d%d.example", i)))
			require.NoError(t, err)
			all = append(all, a.ID)
		}
		require.NoError(t, s.Delete(ctx, all[0], all[2], "unknown"))
		left, err := s.List(ctx, account.Filter{})
		require.NoError(t, err)
		want := []string{all[1], all[3]}
		slices.Sort(want)
		assert.Equal(t, want, ids(left))
		_, err = s.Get(ctx, all[0])
		assert.ErrorIs(t, err, account.ErrNotFound)
		require.NoError(t, s.Delete(ctx))
	})

	t.Run("ReturnsCopies", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		in := Sample("example.com")
		got, err := s.Put(ctx, in)
		require.NoError(t, err)
		want := in.Clone()
		want.ID = got.ID
		want.Version = got.Version

		in.ExtraDomains[0] = "changed.example"
		in.Resolving.Aliases["sales"][0] = "mallory"
		got.TLS.PinSHA256[0] = "changed"
		got.Resolving.Rules[0].Users[0] = "mallory"
		back, err := s.Get(ctx, got.ID)
		require.NoError(t, err)
		assert.Equal(t, want, back)

		back.Resolving.Aliases["sales"] = nil
		list, err := s.List(ctx, account.Filter{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		list[0].Parsing.EnvelopeHeaders[0] = "X-Changed"
		again, err := s.Get(ctx, got.ID)
		require.NoError(t, err)
		assert.Equal(t, want, again)
	})

	t.Run("CreateAndUpdate", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := Sample("example.com")
		a.ID = "acct-1"
		a.Version = 7 // ignored by Create
		got, err := s.Create(ctx, a)
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.Version)
		_, err = s.Create(ctx, a)
		require.ErrorIs(t, err, account.ErrExists)
		back, err := s.Get(ctx, "acct-1")
		require.NoError(t, err)
		assert.Equal(t, got, back, "a refused Create changes nothing")

		anon, err := s.Create(ctx, Sample("example.org"))
		require.NoError(t, err)
		assert.NotEmpty(t, anon.ID, "Create assigns an ID")
		assert.NotEqual(t, "acct-1", anon.ID)

		edit := back.Clone()
		edit.Host = "pop2.example.com"
		upd, err := s.Update(ctx, edit)
		require.NoError(t, err)
		assert.Equal(t, int64(2), upd.Version)
		back, err = s.Get(ctx, "acct-1")
		require.NoError(t, err)
		assert.Equal(t, upd, back)

		stale := edit.Clone() // still at version 1
		stale.Host = "pop3.example.com"
		_, err = s.Update(ctx, stale)
		require.ErrorIs(t, err, account.ErrConflict)
		back, err = s.Get(ctx, "acct-1")
		require.NoError(t, err)
		assert.Equal(t, "pop2.example.com", back.Host, "a stale Update changes nothing")

		put, err := s.Put(ctx, stale)
		require.NoError(t, err)
		assert.Equal(t, int64(3), put.Version)

		bad := put.Clone()
		bad.Host = ""
		_, err = s.Update(ctx, bad)
		var ve *account.ValidationError
		require.ErrorAs(t, err, &ve)

		gone := Sample("example.net")
		gone.ID = "never-created"
		gone.Version = 1
		_, err = s.Update(ctx, gone)
		require.ErrorIs(t, err, account.ErrNotFound)
		_, err = s.Get(ctx, "never-created")
		require.ErrorIs(t, err, account.ErrNotFound, "Update never creates")
	})

	t.Run("ParallelCreatesOfOneID", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		const n = 20
		var ok, exists atomic.Int32
		var hosts sync.Map
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				a := Sample("example.com")
				a.ID = "same"
				a.Host = fmt.Sprintf("pop%d.example.com", i)
				got, err := s.Create(ctx, a)
				switch {
				case err == nil:
					ok.Add(1)
					hosts.Store("winner", got.Host)
				case errors.Is(err, account.ErrExists):
					exists.Add(1)
				default:
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, int32(1), ok.Load(), "exactly one Create succeeds")
		assert.Equal(t, int32(n-1), exists.Load())
		back, err := s.Get(ctx, "same")
		require.NoError(t, err)
		winner, _ := hosts.Load("winner")
		assert.Equal(t, winner, back.Host, "the stored account is the winner's, not replaced later")
		assert.Equal(t, int64(1), back.Version)
	})

	t.Run("ParallelUpdatesOfOneVersion", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := Sample("example.com")
		a.ID = "same"
		base, err := s.Create(ctx, a)
		require.NoError(t, err)
		const n = 10
		var ok atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				e := base.Clone()
				e.Description = fmt.Sprintf("edit %d", i)
				_, err := s.Update(ctx, e)
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.Is(err, account.ErrConflict):
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, int32(1), ok.Load(), "exactly one Update of a version succeeds")
		back, err := s.Get(ctx, "same")
		require.NoError(t, err)
		assert.Equal(t, int64(2), back.Version)
	})

	t.Run("DeleteRacingUpdateNeverRevives", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for round := range 20 {
			a := Sample("example.com")
			a.ID = fmt.Sprintf("race-%02d", round)
			got, err := s.Create(ctx, a)
			require.NoError(t, err)
			got.Description = "edited"
			var updErr, delErr error
			var wg sync.WaitGroup
			wg.Go(func() { _, updErr = s.Update(ctx, got) })
			wg.Go(func() { delErr = s.Delete(ctx, got.ID) })
			wg.Wait()
			require.NoError(t, delErr)
			if updErr != nil {
				require.ErrorIs(t, updErr, account.ErrNotFound, "round %d", round)
			}
			_, err = s.Get(ctx, got.ID)
			require.ErrorIs(t, err, account.ErrNotFound, "round %d: the deleted account came back", round)
			_, err = s.Update(ctx, got)
			require.ErrorIs(t, err, account.ErrNotFound, "round %d: Update after Delete", round)
			_, err = s.Get(ctx, got.ID)
			require.ErrorIs(t, err, account.ErrNotFound, "round %d", round)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		const n = 8
		errs := make(chan error, 3*n)
		for i := range n {
			wg.Go(func() {
				a := Sample(fmt.Sprintf("c%d.example", i))
				a.ID = fmt.Sprintf("c%02d", i)
				if _, err := s.Put(ctx, a); err != nil {
					errs <- err
				}
				if _, err := s.List(ctx, account.Filter{Domain: a.Domain}); err != nil {
					errs <- err
				}
				if _, err := s.Get(ctx, a.ID); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		all, err := s.List(ctx, account.Filter{})
		require.NoError(t, err)
		assert.Len(t, all, n)
	})
}

// TestJournal runs the Journal conformance suite. newJournal returns a new,
// empty journal for each subtest, using now as its clock for Message-ID
// expiry.
func TestJournal(t *testing.T, newJournal func(t *testing.T, now func() time.Time) account.Journal) {
	t.Run("SyncFirstSeenAndPrune", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		t0 := clk.Now()
		seen, err := j.Sync(ctx, "a", []string{"u1", "u2"}, t0)
		require.NoError(t, err)
		assert.Equal(t, map[string]time.Time{"u1": t0, "u2": t0}, norm(seen))

		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: t0}))
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u2", Rcpts: []string{"y@example.com"}, At: t0}))
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "digest:abc", Rcpts: []string{"z@example.com"}, At: t0}))

		t1 := t0.Add(time.Hour)
		seen, err = j.Sync(ctx, "a", []string{"u2", "u3"}, t1)
		require.NoError(t, err)
		assert.Equal(t, map[string]time.Time{"u2": t0, "u3": t1}, norm(seen), "first-seen times are kept")

		got, err := rcptsOf(j.Delivered(ctx, "a", "u1"))
		require.NoError(t, err)
		assert.Empty(t, got, "records of a vanished UID are pruned")
		got, err = rcptsOf(j.Delivered(ctx, "a", "u2"))
		require.NoError(t, err)
		assert.Equal(t, []string{"y@example.com"}, got)
		got, err = rcptsOf(j.Delivered(ctx, "a", "digest:abc"))
		require.NoError(t, err)
		assert.Equal(t, []string{"z@example.com"}, got, "keys that were never UIDs stay until Forget")

		seen, err = j.Sync(ctx, "a", nil, t1)
		require.NoError(t, err)
		assert.Empty(t, seen)
		got, err = rcptsOf(j.Delivered(ctx, "a", "u2"))
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("AccountsAreSeparate", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		_, err := j.Sync(ctx, "a", []string{"u1"}, clk.Now())
		require.NoError(t, err)
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: clk.Now()}))
		seen, err := j.Sync(ctx, "b", []string{"u9"}, clk.Now())
		require.NoError(t, err)
		assert.Len(t, seen, 1)
		got, err := rcptsOf(j.Delivered(ctx, "a", "u1"))
		require.NoError(t, err)
		assert.Equal(t, []string{"x@example.com"}, got, "syncing another account prunes nothing here")
		got, err = rcptsOf(j.Delivered(ctx, "b", "u1"))
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("RecordAccumulates", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "k", Rcpts: []string{"b@example.com", "a@example.com"}, At: clk.Now()}))
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "k", Rcpts: []string{"c@example.com", "a@example.com"}, At: clk.Now()}))
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "k", Rcpts: nil, At: clk.Now()}))
		got, err := rcptsOf(j.Delivered(ctx, "a", "k"))
		require.NoError(t, err)
		assert.Equal(t, []string{"a@example.com", "b@example.com", "c@example.com"}, got)
	})

	t.Run("States", func(t *testing.T) {
		// Each state of a key (see account.Journal) is recorded, read back
		// and merged apart from the recipients, through Record and through
		// RecordAll (a batch for a BatchRecorder).
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		now := clk.Now()
		_, err := j.Sync(ctx, "a", []string{"u1", "u2", "u3"}, now)
		require.NoError(t, err)
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: now}))
		got, err := j.Delivered(ctx, "a", "u1")
		require.NoError(t, err)
		assert.Equal(t, account.Delivery{Rcpts: []string{"x@example.com"}}, got, "recipients alone are not final")

		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u1", Final: true, At: now}))
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u2", Notices: []account.Notice{account.NoticeOversize}, At: now}))
		require.NoError(t, account.RecordAll(ctx, j, "a", []account.Record{
			{Key: "u3", Rcpts: []string{"y@example.com"}, At: now},
			{Key: "u3", Notices: []account.Notice{account.NoticeForeign}, At: now},
			{Key: "u3", Rcpts: []string{"x@example.com"}, Final: true, Notices: []account.Notice{account.NoticeForeign, account.NoticeOversize}, At: now},
			{Key: "u1", Final: true, At: now},
		}))
		want := map[string]account.Delivery{
			"u1": {Rcpts: []string{"x@example.com"}, Final: true},
			"u2": {Notices: []account.Notice{account.NoticeOversize}},
			"u3": {Rcpts: []string{"x@example.com", "y@example.com"}, Final: true,
				Notices: []account.Notice{account.NoticeForeign, account.NoticeOversize}},
			"u4": {},
		}
		for key, w := range want {
			got, err := j.Delivered(ctx, "a", key)
			require.NoError(t, err)
			assert.Equal(t, w, got, key)
			assert.Equal(t, slices.Contains(w.Notices, account.NoticeOversize), got.Notified(account.NoticeOversize), key)
		}
		got, err = j.Delivered(ctx, "b", "u1")
		require.NoError(t, err)
		assert.Equal(t, account.Delivery{}, got, "states are per account")

		// A final mark or a notice is never taken for a recipient.
		require.NoError(t, j.Record(ctx, "a", account.Record{Key: "u2", Rcpts: []string{"", "!oversize-notice"}, At: now}))
		got, err = j.Delivered(ctx, "a", "u2")
		require.NoError(t, err)
		assert.Equal(t, account.Delivery{Rcpts: []string{"", "!oversize-notice"}, Notices: []account.Notice{account.NoticeOversize}}, got,
			"recipients are opaque strings")

		// Sync prunes the states of a vanished UID, Forget those of a key.
		_, err = j.Sync(ctx, "a", []string{"u2", "u3"}, now)
		require.NoError(t, err)
		require.NoError(t, j.Forget(ctx, "a", "u2"))
		for _, key := range []string{"u1", "u2"} {
			got, err := j.Delivered(ctx, "a", key)
			require.NoError(t, err)
			assert.Equal(t, account.Delivery{}, got, key)
		}
		got, err = j.Delivered(ctx, "a", "u3")
		require.NoError(t, err)
		assert.Equal(t, want["u3"], got)
		// A reused UID starts without marks.
		_, err = j.Sync(ctx, "a", []string{"u1", "u2", "u3"}, now)
		require.NoError(t, err)
		got, err = j.Delivered(ctx, "a", "u1")
		require.NoError(t, err)
		assert.False(t, got.Final)
	})

	t.Run("Guard", func(t *testing.T) {
		// The deletion guard's state of an account is stored whole, read
		// back, kept by Sync and Forget, per account, and cleared by the
		// zero Guard.
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		got, err := j.Guard(ctx, "a")
		require.NoError(t, err)
		assert.True(t, got.IsZero(), "nothing recorded")

		window := account.Guard{}.Add(3,
			account.Examined{Key: "u1", NoRecipient: true},
			account.Examined{Key: "u2"},
			account.Examined{Key: "digest:x", NoRecipient: true})
		for _, tc := range []struct {
			name string
			g    account.Guard
		}{
			{"window", window},
			{"tripped", account.Guard{Window: window.Window, Tripped: clk.Now().Add(time.Minute)}},
			{"tripped, empty window", account.Guard{Tripped: clk.Now().Add(2 * time.Minute)}},
			{"released", account.Guard{Released: clk.Now().Add(3 * time.Minute)}},
		} {
			require.NoError(t, j.SetGuard(ctx, "a", tc.g), tc.name)
			got, err := j.Guard(ctx, "a")
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.g.Window, got.Window, tc.name)
			assert.True(t, tc.g.Tripped.Equal(got.Tripped), "%s: tripped %v, want %v", tc.name, got.Tripped, tc.g.Tripped)
			assert.True(t, tc.g.Released.Equal(got.Released), "%s: released %v, want %v", tc.name, got.Released, tc.g.Released)
			assert.Equal(t, tc.g.Holds(), got.Holds(), tc.name)
		}

		require.NoError(t, j.SetGuard(ctx, "a", window))
		_, err = j.Sync(ctx, "a", []string{"u9"}, clk.Now())
		require.NoError(t, err)
		require.NoError(t, j.Forget(ctx, "a", "u1", "u2"))
		got, err = j.Guard(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, window.Window, got.Window, "Sync and Forget leave the guard alone")
		assert.Equal(t, 2, got.NoRecipient())
		assert.False(t, got.Holds())
		other, err := j.Guard(ctx, "b")
		require.NoError(t, err)
		assert.True(t, other.IsZero(), "guards are per account")

		require.NoError(t, j.SetGuard(ctx, "a", account.Guard{}))
		got, err = j.Guard(ctx, "a")
		require.NoError(t, err)
		assert.True(t, got.IsZero(), "the zero Guard clears it")
	})

	t.Run("MessageIDTTL", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		const mid = "<abc@example.net>"
		require.NoError(t, j.Record(ctx, "a", account.Record{MessageID: mid, IDRcpts: []string{"x@example.com"}, Expires: clk.Now().Add(time.Hour)}))
		require.NoError(t, j.Record(ctx, "a", account.Record{MessageID: mid, IDRcpts: []string{"y@example.com"}, Expires: clk.Now().Add(3 * time.Hour)}))
		got, err := j.DeliveredID(ctx, "a", mid)
		require.NoError(t, err)
		assert.Equal(t, []string{"x@example.com", "y@example.com"}, got)
		other, err := j.DeliveredID(ctx, "b", mid)
		require.NoError(t, err)
		assert.Empty(t, other)

		clk.Advance(2 * time.Hour)
		got, err = j.DeliveredID(ctx, "a", mid)
		require.NoError(t, err)
		assert.Equal(t, []string{"y@example.com"}, got, "x expired")

		// A later record extends, an earlier one does not shorten.
		require.NoError(t, j.Record(ctx, "a", account.Record{MessageID: mid, IDRcpts: []string{"y@example.com"}, Expires: clk.Now().Add(-time.Minute)}))
		require.NoError(t, j.Record(ctx, "a", account.Record{MessageID: mid, IDRcpts: []string{"x@example.com"}, Expires: clk.Now().Add(time.Hour)}))
		got, err = j.DeliveredID(ctx, "a", mid)
		require.NoError(t, err)
		assert.Equal(t, []string{"x@example.com", "y@example.com"}, got)

		clk.Advance(2 * time.Hour)
		_, err = j.Sync(ctx, "a", nil, clk.Now()) // prunes expired records
		require.NoError(t, err)
		got, err = j.DeliveredID(ctx, "a", mid)
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("MessageIDs", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		l, ok := j.(account.IDLister)
		if !ok {
			t.Skipf("%T is not an account.IDLister", j)
		}
		ctx := t.Context()
		exp := clk.Now().Add(time.Hour)
		require.NoError(t, j.Record(ctx, "a", account.Record{MessageID: "<1@x> d1", IDRcpts: []string{"x@example.com", "y@example.com"}, Expires: exp}))
		require.NoError(t, j.Record(ctx, "a", account.Record{MessageID: "<2@x> d2", IDRcpts: []string{"x@example.com"}, Expires: exp}))
		require.NoError(t, j.Record(ctx, "b", account.Record{MessageID: "<3@x> d3", IDRcpts: []string{"x@example.com"}, Expires: exp}))
		set := func(ids []string) []string {
			slices.Sort(ids)
			return slices.Compact(ids)
		}
		for _, tc := range []struct {
			account string
			limit   int
			want    []string
			all     bool
		}{
			{"a", 10, []string{"<1@x> d1", "<2@x> d2"}, true},
			{"a", 3, []string{"<1@x> d1", "<2@x> d2"}, true},
			{"a", 1, nil, false},
			{"b", 10, []string{"<3@x> d3"}, true},
			{"c", 10, nil, true},
		} {
			ids, all, err := l.MessageIDs(ctx, tc.account, tc.limit)
			require.NoError(t, err)
			assert.Equal(t, tc.all, all, "%s limit %d", tc.account, tc.limit)
			assert.Equal(t, tc.want, set(ids), "%s limit %d", tc.account, tc.limit)
		}
	})

	t.Run("RecordBatch", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		now := clk.Now()
		const mid = "<batch@example.net>"
		// Repeated rows within one batch, as copies of one message finishing
		// together give: the later expiry wins, recipients are a set.
		recs := []account.Record{
			{Key: "u1", Rcpts: []string{"a@example.com", ""}, At: now, MessageID: mid, IDRcpts: []string{"a@example.com"}, Expires: now.Add(time.Hour)},
			{Key: "u2", Rcpts: []string{"b@example.com", "a@example.com"}, At: now, MessageID: mid, IDRcpts: []string{"a@example.com", "b@example.com"}, Expires: now.Add(3 * time.Hour)},
			{Key: "u2", Rcpts: []string{"b@example.com"}, At: now},
			{Key: "u3"},
		}
		require.NoError(t, account.RecordAll(ctx, j, "a", recs))
		require.NoError(t, account.RecordAll(ctx, j, "a", nil))
		for key, want := range map[string][]string{
			"u1": {"", "a@example.com"},
			"u2": {"a@example.com", "b@example.com"},
			"u3": nil,
		} {
			got, err := rcptsOf(j.Delivered(ctx, "a", key))
			require.NoError(t, err)
			assert.Equal(t, want, got, key)
		}
		clk.Advance(2 * time.Hour)
		got, err := j.DeliveredID(ctx, "a", mid)
		require.NoError(t, err)
		assert.Equal(t, []string{"a@example.com", "b@example.com"}, got, "the later expiry of a repeated row wins")
		other, err := j.DeliveredID(ctx, "b", mid)
		require.NoError(t, err)
		assert.Empty(t, other)
	})

	t.Run("DeliveredBatch", func(t *testing.T) {
		// The states of many keys read at once (in one read by a
		// BatchReader, with Delivered for each otherwise) are those
		// Delivered returns, keys with nothing recorded left out, per
		// account; more keys than one query of a database store takes.
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		now := clk.Now()
		const n = 1203
		keys := make([]string, n)
		want := map[string]account.Delivery{}
		var recs []account.Record
		for i := range keys {
			k := "u" + strconv.Itoa(i)
			keys[i] = k
			var r account.Record
			switch i % 4 {
			case 0:
				continue // nothing recorded
			case 1:
				r = account.Record{Key: k, Rcpts: []string{"y@example.com", "x@example.com"}}
				want[k] = account.Delivery{Rcpts: []string{"x@example.com", "y@example.com"}}
			case 2:
				r = account.Record{Key: k, Rcpts: []string{"x@example.com"}, Final: true}
				want[k] = account.Delivery{Rcpts: []string{"x@example.com"}, Final: true}
			case 3:
				r = account.Record{Key: k, Final: true, Notices: []account.Notice{account.NoticeOversize, account.NoticeForeign}}
				want[k] = account.Delivery{Final: true, Notices: []account.Notice{account.NoticeForeign, account.NoticeOversize}}
			}
			r.At = now
			recs = append(recs, r)
		}
		_, err := j.Sync(ctx, "a", keys, now)
		require.NoError(t, err)
		require.NoError(t, account.RecordAll(ctx, j, "a", recs))
		require.NoError(t, j.Record(ctx, "b", account.Record{Key: "u0", Final: true, At: now}))

		got, err := account.DeliveredAll(ctx, j, "a", append(slices.Clone(keys), "unknown"))
		require.NoError(t, err)
		assert.Equal(t, want, got)
		for _, k := range []string{"u0", "u1", "u2", "u3", keys[n-1]} {
			d, err := j.Delivered(ctx, "a", k)
			require.NoError(t, err)
			assert.Equal(t, want[k], d, "Delivered agrees for %s", k)
		}
		got, err = account.DeliveredAll(ctx, j, "b", []string{"u0", "u1"})
		require.NoError(t, err)
		assert.Equal(t, map[string]account.Delivery{"u0": {Final: true}}, got, "states are per account")
		got, err = account.DeliveredAll(ctx, j, "a", nil)
		require.NoError(t, err)
		assert.Empty(t, got)
	})

	t.Run("Forget", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		t0 := clk.Now()
		_, err := j.Sync(ctx, "a", []string{"u1", "u2"}, t0)
		require.NoError(t, err)
		for _, k := range []string{"u1", "u2", "d1"} {
			require.NoError(t, j.Record(ctx, "a", account.Record{Key: k, Rcpts: []string{"x@example.com"}, At: t0}))
		}
		require.NoError(t, j.Forget(ctx, "a", "u1", "d1", "unknown"))
		for k, want := range map[string]int{"u1": 0, "d1": 0, "u2": 1} {
			got, err := rcptsOf(j.Delivered(ctx, "a", k))
			require.NoError(t, err)
			assert.Len(t, got, want, k)
		}
		require.NoError(t, j.Forget(ctx, "a"))
		// u1 reappearing (a reused UID) is new again.
		seen, err := j.Sync(ctx, "a", []string{"u1", "u2"}, t0.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, map[string]time.Time{"u1": t0.Add(time.Hour), "u2": t0}, norm(seen))
	})

	t.Run("Concurrent", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx := t.Context()
		const workers, per = 4, 10
		var wg sync.WaitGroup
		var failures atomic.Int32
		for w := range workers {
			wg.Go(func() {
				acct := fmt.Sprintf("acct%d", w%2)
				for i := range per {
					key := fmt.Sprintf("k%d", i)
					rcpt := fmt.Sprintf("w%d@example.com", w)
					if err := j.Record(ctx, acct, account.Record{Key: key, Rcpts: []string{rcpt}, At: clk.Now()}); err != nil {
						t.Error(err)
						failures.Add(1)
					}
					if _, err := rcptsOf(j.Delivered(ctx, acct, key)); err != nil {
						t.Error(err)
						failures.Add(1)
					}
				}
			})
		}
		wg.Wait()
		require.Zero(t, failures.Load())
		for a := range 2 {
			for i := range per {
				got, err := rcptsOf(j.Delivered(ctx, fmt.Sprintf("acct%d", a), fmt.Sprintf("k%d", i)))
				require.NoError(t, err)
				assert.Len(t, got, workers/2, "no record lost")
			}
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		clk := NewClock()
		j := newJournal(t, clk.Now)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.Error(t, j.Record(ctx, "a", account.Record{Key: "k", Rcpts: []string{"x@example.com"}, At: clk.Now()}))
		got, err := rcptsOf(j.Delivered(t.Context(), "a", "k"))
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

// norm drops monotonic and location differences so times compare with
// assert.Equal.
func norm(m map[string]time.Time) map[string]time.Time {
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v.UTC().Round(0)
	}
	return out
}

// TestLocker runs the Locker conformance suite. newLocker returns a locker
// with no leases whose expiry clock is now.
func TestLocker(t *testing.T, newLocker func(t *testing.T, now func() time.Time) account.Locker) {
	t.Run("Exclusive", func(t *testing.T) {
		clk := NewClock()
		l := newLocker(t, clk.Now)
		ctx := t.Context()
		a, err := l.Acquire(ctx, "acct", "one", time.Minute)
		require.NoError(t, err)
		_, err = l.Acquire(ctx, "acct", "two", time.Minute)
		assert.ErrorIs(t, err, account.ErrLeaseHeld)
		b, err := l.Acquire(ctx, "other", "two", time.Minute)
		require.NoError(t, err, "leases are per account")
		require.NoError(t, b.Release(ctx))

		require.NoError(t, a.Release(ctx))
		c, err := l.Acquire(ctx, "acct", "two", time.Minute)
		require.NoError(t, err, "a released lease can be taken")
		assert.Greater(t, c.Token(), a.Token())
		require.NoError(t, a.Release(ctx), "releasing a lost lease is harmless")
		_, err = l.Acquire(ctx, "acct", "three", time.Minute)
		assert.ErrorIs(t, err, account.ErrLeaseHeld, "a stale Release must not free a newer lease")
	})

	t.Run("ExpiryTakeoverAndRenewAfterLoss", func(t *testing.T) {
		clk := NewClock()
		l := newLocker(t, clk.Now)
		ctx := t.Context()
		a, err := l.Acquire(ctx, "acct", "one", time.Minute)
		require.NoError(t, err)
		clk.Advance(50 * time.Second)
		require.NoError(t, a.Renew(ctx, time.Minute))
		clk.Advance(50 * time.Second)
		_, err = l.Acquire(ctx, "acct", "two", time.Minute)
		assert.ErrorIs(t, err, account.ErrLeaseHeld, "the renewal extended the lease")

		clk.Advance(11 * time.Second)
		b, err := l.Acquire(ctx, "acct", "two", time.Minute)
		require.NoError(t, err, "an expired lease is taken over")
		assert.Greater(t, b.Token(), a.Token())
		assert.ErrorIs(t, a.Renew(ctx, time.Minute), account.ErrLeaseLost)
		require.NoError(t, b.Renew(ctx, time.Minute))
	})

	t.Run("RenewAfterExpiryWithoutTakeover", func(t *testing.T) {
		clk := NewClock()
		l := newLocker(t, clk.Now)
		ctx := t.Context()
		a, err := l.Acquire(ctx, "acct", "one", time.Minute)
		require.NoError(t, err)
		clk.Advance(2 * time.Minute)
		assert.ErrorIs(t, a.Renew(ctx, time.Minute), account.ErrLeaseLost, "an expired lease is lost")
	})

	t.Run("TokensGrow", func(t *testing.T) {
		clk := NewClock()
		l := newLocker(t, clk.Now)
		ctx := t.Context()
		var last int64
		for i := range 5 {
			owner := fmt.Sprintf("o%d", i%2)
			le, err := l.Acquire(ctx, "acct", owner, time.Minute)
			require.NoError(t, err)
			assert.Greater(t, le.Token(), last)
			last = le.Token()
			if i%2 == 0 {
				require.NoError(t, le.Release(ctx))
			} else {
				clk.Advance(2 * time.Minute)
			}
		}
		// Same owner again while live: a new lease, the old one is lost.
		x, err := l.Acquire(ctx, "acct", "same", time.Minute)
		require.NoError(t, err)
		y, err := l.Acquire(ctx, "acct", "same", time.Minute)
		require.NoError(t, err)
		assert.Greater(t, y.Token(), x.Token())
		assert.ErrorIs(t, x.Renew(ctx, time.Minute), account.ErrLeaseLost)
		require.NoError(t, y.Renew(ctx, time.Minute))
	})

	t.Run("BadTTL", func(t *testing.T) {
		l := newLocker(t, NewClock().Now)
		_, err := l.Acquire(t.Context(), "acct", "one", 0)
		assert.Error(t, err)
	})

	t.Run("ConcurrentAcquire", func(t *testing.T) {
		clk := NewClock()
		l := newLocker(t, clk.Now)
		ctx := t.Context()
		const n = 8
		var wg sync.WaitGroup
		var won atomic.Int32
		var other atomic.Int32
		for i := range n {
			wg.Go(func() {
				_, err := l.Acquire(ctx, "acct", fmt.Sprintf("o%d", i), time.Minute)
				switch {
				case err == nil:
					won.Add(1)
				case !isHeld(err):
					t.Error(err)
					other.Add(1)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), won.Load(), "exactly one owner wins")
		assert.Zero(t, other.Load())
	})

	// A lease whose owner is a process of this host that is gone is taken
	// over at once; one of a live process, of another host, or not made by
	// ProcessOwner is refused with a LeaseHeldError naming the holder and
	// the expiry.
	t.Run("CrashedOwnerTakeover", func(t *testing.T) {
		me := account.ProcessOwner()
		parts := strings.Split(me, ":")
		require.Len(t, parts, 3, "owner %q", me)
		host, tag := parts[0], parts[2]
		otherTag := strings.Repeat("0", strings.IndexByte(tag, '-')) + "-1"
		if strings.HasPrefix(tag, otherTag[:len(otherTag)-2]) {
			otherTag = strings.Repeat("1", strings.IndexByte(tag, '-')) + "-1"
		}
		const deadPid = "2147483647" // above any pid_max
		pid, ppid := strconv.Itoa(os.Getpid()), strconv.Itoa(os.Getppid())
		for _, tc := range []struct {
			name, holder string
			takeover     bool
		}{
			{"dead pid of this host", host + ":" + deadPid + ":" + tag, true},
			{"this pid in an earlier process", host + ":" + pid + ":" + otherTag, true},
			{"live pid of this host", host + ":" + ppid + ":" + tag, false},
			{"this process", account.ProcessOwner(), false},
			{"other host", "other-" + host + ":" + deadPid + ":" + tag, false},
			{"other format", "multidropd@" + host + ":" + deadPid, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				clk := NewClock()
				l := newLocker(t, clk.Now)
				ctx := t.Context()
				old, err := l.Acquire(ctx, "acct", tc.holder, time.Minute)
				require.NoError(t, err)
				expires := clk.Now().Add(time.Minute)
				clk.Advance(time.Second)
				me := account.ProcessOwner()
				l2, err := l.Acquire(ctx, "acct", me, time.Minute)
				if tc.takeover {
					require.NoError(t, err, "taken over at once")
					assert.Greater(t, l2.Token(), old.Token())
					assert.ErrorIs(t, old.Renew(ctx, time.Minute), account.ErrLeaseLost)
					_, err = l.Acquire(ctx, "acct", account.ProcessOwner(), time.Minute)
					assert.ErrorIs(t, err, account.ErrLeaseHeld, "the new holder is alive")
					return
				}
				require.ErrorIs(t, err, account.ErrLeaseHeld)
				var held *account.LeaseHeldError
				require.ErrorAs(t, err, &held)
				assert.Equal(t, "acct", held.AccountID)
				assert.Equal(t, tc.holder, held.Owner)
				assert.True(t, held.Expires.Equal(expires), "expires %v, want %v", held.Expires, expires)
				assert.NoError(t, old.Renew(ctx, time.Minute), "the holder keeps its lease")
			})
		}
	})
}

func isHeld(err error) bool { return errors.Is(err, account.ErrLeaseHeld) }

// TestFencing runs the Fencer conformance suite: newPair returns a locker and
// the journal that fences with its leases, both on the clock now.
func TestFencing(t *testing.T, newPair func(t *testing.T, now func() time.Time) (account.Locker, account.Fencer)) {
	t.Run("StaleHolderRefused", func(t *testing.T) {
		clk := NewClock()
		l, f := newPair(t, clk.Now)
		ctx := t.Context()
		old, err := l.Acquire(ctx, "acct", "one", time.Minute)
		require.NoError(t, err)
		oj := f.Fenced(old)
		_, err = oj.Sync(ctx, "acct", []string{"u1"}, clk.Now())
		require.NoError(t, err)
		require.NoError(t, oj.Record(ctx, "acct", account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: clk.Now()}))
		err = oj.Record(ctx, "other", account.Record{Key: "u1", Rcpts: []string{"x@example.com"}, At: clk.Now()})
		assert.ErrorIs(t, err, account.ErrLeaseLost, "a lease covers its own account only")

		clk.Advance(2 * time.Minute) // the holder pauses past expiry
		err = oj.Record(ctx, "acct", account.Record{Key: "u1", Rcpts: []string{"late@example.com"}, At: clk.Now()})
		assert.ErrorIs(t, err, account.ErrLeaseLost, "expired, even before a takeover")

		nl, err := l.Acquire(ctx, "acct", "two", time.Minute)
		require.NoError(t, err)
		nj := f.Fenced(nl)

		for name, write := range map[string]func() error{
			"Record": func() error {
				return oj.Record(ctx, "acct", account.Record{Key: "u1", Rcpts: []string{"late@example.com"}, At: clk.Now()})
			},
			"Record by Message-ID": func() error {
				return oj.Record(ctx, "acct", account.Record{MessageID: "<m@x>", IDRcpts: []string{"late@example.com"}, Expires: clk.Now().Add(time.Hour)})
			},
			"RecordAll": func() error {
				return account.RecordAll(ctx, oj, "acct", []account.Record{{Key: "u1", Rcpts: []string{"late@example.com"}, At: clk.Now(),
					MessageID: "<m@x>", IDRcpts: []string{"late@example.com"}, Expires: clk.Now().Add(time.Hour)}})
			},
			"Forget": func() error { return oj.Forget(ctx, "acct", "u1") },
			"SetGuard": func() error {
				return oj.SetGuard(ctx, "acct", account.Guard{Tripped: clk.Now()})
			},
			"Sync": func() error {
				_, err := oj.Sync(ctx, "acct", nil, clk.Now())
				return err
			},
		} {
			assert.ErrorIs(t, write(), account.ErrLeaseLost, name)
		}
		got, err := rcptsOf(nj.Delivered(ctx, "acct", "u1"))
		require.NoError(t, err)
		assert.Equal(t, []string{"x@example.com"}, got, "stale writes left no trace")
		g, err := nj.Guard(ctx, "acct")
		require.NoError(t, err)
		assert.False(t, g.Holds(), "a stale holder cannot trip the guard")
		require.NoError(t, nj.SetGuard(ctx, "acct", account.Guard{Tripped: clk.Now()}))
		g, err = nj.Guard(ctx, "acct")
		require.NoError(t, err)
		assert.True(t, g.Holds(), "the current holder can")
		ids, err := nj.DeliveredID(ctx, "acct", "<m@x>")
		require.NoError(t, err)
		assert.Empty(t, ids)
		require.NoError(t, nj.Record(ctx, "acct", account.Record{Key: "u1", Rcpts: []string{"y@example.com"}, At: clk.Now()}))
		require.NoError(t, nl.Release(ctx))
		assert.ErrorIs(t, nj.Record(ctx, "acct", account.Record{Key: "u1", Rcpts: []string{"z@example.com"}, At: clk.Now()}), account.ErrLeaseLost,
			"a released lease fences too")
	})
}

// rcptsOf returns the recipients of a Delivered result.
func rcptsOf(d account.Delivery, err error) ([]string, error) { return d.Rcpts, err }

// ReadConcurrently runs rounds of n concurrent journal reads (Delivered and
// DeliveredID, as a check delivering n messages at once does), for tests of
// a store's connection pool.
func ReadConcurrently(t *testing.T, j account.Journal, n, rounds int) {
	t.Helper()
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Go(func() {
				_, err := rcptsOf(j.Delivered(t.Context(), "pool", fmt.Sprint("uid-", i)))
				errs <- err
				_, err = j.DeliveredID(t.Context(), "pool", fmt.Sprint("<id-", i, "@example.org> 0"))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
}

// Release1Markers are the rows a journal of release 1 held for the states
// that are now typed: under each key, the recipients as written then, with
// "" for the final mark and "!oversize-notice" and "!foreign-notice" for
// the notices. The fixtures of the stores' upgrade tests hold them, for
// account "acct", with the Message-ID record "<m@example.org> 1" for
// alice@example.com expiring in 2099.
var Release1Markers = map[string][]string{
	"u-final":    {"alice@example.com", "bob@example.com", ""},
	"u-partial":  {"alice@example.com"},
	"u-oversize": {"!oversize-notice"},
	"u-foreign":  {"carol@example.com", "!foreign-notice", ""},
	"digest:abc": {""},
}

// TestRelease1Upgrade checks that j, opened over the data of
// [Release1Markers], holds them as typed states and no marker recipient,
// and that the upgraded journal works on: a new final mark and a Forget.
func TestRelease1Upgrade(t *testing.T, j account.Journal) {
	ctx := t.Context()
	want := map[string]account.Delivery{
		"u-final":    {Rcpts: []string{"alice@example.com", "bob@example.com"}, Final: true},
		"u-partial":  {Rcpts: []string{"alice@example.com"}},
		"u-oversize": {Notices: []account.Notice{account.NoticeOversize}},
		"u-foreign":  {Rcpts: []string{"carol@example.com"}, Final: true, Notices: []account.Notice{account.NoticeForeign}},
		"digest:abc": {Final: true},
	}
	for key, w := range want {
		got, err := j.Delivered(ctx, "acct", key)
		require.NoError(t, err)
		assert.Equal(t, w, got, key)
	}
	ids, err := j.DeliveredID(ctx, "acct", "<m@example.org> 1")
	require.NoError(t, err)
	assert.Equal(t, []string{"alice@example.com"}, ids)

	require.NoError(t, j.Record(ctx, "acct", account.Record{Key: "u-partial", Rcpts: []string{"bob@example.com"}, Final: true, At: time.Now()}))
	require.NoError(t, j.Forget(ctx, "acct", "u-foreign"))
	got, err := j.Delivered(ctx, "acct", "u-partial")
	require.NoError(t, err)
	assert.Equal(t, account.Delivery{Rcpts: []string{"alice@example.com", "bob@example.com"}, Final: true}, got)
	got, err = j.Delivered(ctx, "acct", "u-foreign")
	require.NoError(t, err)
	assert.Equal(t, account.Delivery{}, got)
}

// SampleCheck returns a check record of accountID started at start, with
// every field set.
func SampleCheck(accountID string, start time.Time) account.CheckRecord {
	return account.CheckRecord{
		AccountID: accountID,
		Start:     start,
		Duration:  1500 * time.Millisecond,
		Counts: account.CheckCounts{
			Listed: 9, Retrieved: 8, Delivered: 7, Deleted: 6, Kept: 5, Dropped: 4, Skipped: 3, Bytes: 1 << 40,
		},
		Error:     "pop: RETR 3: connection reset",
		State:     "backoff",
		NextLogin: start.Add(15 * time.Minute),
		Messages: []account.CheckMessage{
			{UID: "u1", Subject: "Grüße", From: "a@example.org", Recipients: []string{"alice", "bob"},
				Outcome: "delivered", Reason: "envelope", Warnings: []string{"foreign recipient x@example.net"}},
			{UID: "u2", Outcome: "kept", Reason: "temporary failure"},
		},
	}
}

// TestHistory runs the History conformance suite. newHistory returns a
// new, empty history for each subtest.
func TestHistory(t *testing.T, newHistory func(t *testing.T) account.History) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	t.Run("EmptyAndRoundTrip", func(t *testing.T) {
		h := newHistory(t)
		ctx := t.Context()
		got, err := h.Checks(ctx, "a", 0)
		require.NoError(t, err)
		assert.NotNil(t, got)
		assert.Empty(t, got)

		rec := SampleCheck("a", t0)
		require.NoError(t, h.AddCheck(ctx, rec))
		got, err = h.Checks(ctx, "a", 0)
		require.NoError(t, err)
		assert.Equal(t, []account.CheckRecord{rec}, got)

		err = h.AddCheck(ctx, SampleCheck("", t0))
		assert.ErrorIs(t, err, account.ErrNoAccountID)
	})

	t.Run("NewestFirstPerAccountWithLimit", func(t *testing.T) {
		h := newHistory(t)
		ctx := t.Context()
		for _, m := range []int{2, 0, 3, 1} { // out of order
			require.NoError(t, h.AddCheck(ctx, SampleCheck("a", t0.Add(time.Duration(m)*time.Minute))))
		}
		require.NoError(t, h.AddCheck(ctx, SampleCheck("b", t0.Add(time.Hour))))
		got, err := h.Checks(ctx, "a", 0)
		require.NoError(t, err)
		require.Len(t, got, 4)
		for i, r := range got {
			assert.Equal(t, "a", r.AccountID)
			assert.True(t, r.Start.Equal(t0.Add(time.Duration(3-i)*time.Minute)), "record %d starts %v", i, r.Start)
		}
		got, err = h.Checks(ctx, "a", 2)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.True(t, got[1].Start.Equal(t0.Add(2*time.Minute)))
		got, err = h.Checks(ctx, "b", 10)
		require.NoError(t, err)
		assert.Len(t, got, 1)
	})

	t.Run("KeepsTheNewestFifty", func(t *testing.T) {
		h := newHistory(t)
		ctx := t.Context()
		const n = account.HistoryLimit + 10
		for i := range n {
			rec := SampleCheck("a", t0.Add(time.Duration(i)*time.Minute))
			rec.Messages = nil
			require.NoError(t, h.AddCheck(ctx, rec))
		}
		got, err := h.Checks(ctx, "a", 0)
		require.NoError(t, err)
		require.Len(t, got, account.HistoryLimit)
		assert.True(t, got[0].Start.Equal(t0.Add((n-1)*time.Minute)))
		assert.True(t, got[len(got)-1].Start.Equal(t0.Add(10*time.Minute)), "the oldest ten are pruned")
		got, err = h.Checks(ctx, "a", 1000)
		require.NoError(t, err)
		assert.Len(t, got, account.HistoryLimit)
	})

	t.Run("ReturnsCopies", func(t *testing.T) {
		h := newHistory(t)
		ctx := t.Context()
		rec := SampleCheck("a", t0)
		want := rec.Clone()
		require.NoError(t, h.AddCheck(ctx, rec))
		rec.Messages[0].Recipients[0] = "mallory"
		got, err := h.Checks(ctx, "a", 0)
		require.NoError(t, err)
		require.Len(t, got, 1)
		got[0].Messages[0].Warnings[0] = "changed"
		again, err := h.Checks(ctx, "a", 0)
		require.NoError(t, err)
		assert.Equal(t, []account.CheckRecord{want}, again)
	})

	t.Run("Concurrent", func(t *testing.T) {
		h := newHistory(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 20 {
			wg.Go(func() {
				id := fmt.Sprintf("acct-%d", i%4)
				if err := h.AddCheck(ctx, SampleCheck(id, t0.Add(time.Duration(i)*time.Second))); err != nil {
					errs <- err
				}
				if _, err := h.Checks(ctx, id, 0); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for i := range 4 {
			got, err := h.Checks(ctx, fmt.Sprintf("acct-%d", i), 0)
			require.NoError(t, err)
			assert.Len(t, got, 5)
		}
	})
}

// TestJournalRetention runs the suite of a store that keeps the journal of
// a deleted account for a retention period (see
// [account.DefaultJournalRetention]): newPair returns a new, empty store
// and its journal with the default retention, using now as their clock.
func TestJournalRetention(t *testing.T, newPair func(t *testing.T, now func() time.Time) (account.MutableStore, account.Journal)) {
	rcpts := []string{"alice@example.com"}
	setup := func(t *testing.T) (*Clock, account.MutableStore, account.Journal, account.Account) {
		clk := NewClock()
		s, j := newPair(t, clk.Now)
		a := Sample("example.com")
		a.ID = "acct"
		a, err := s.Create(t.Context(), a)
		require.NoError(t, err)
		require.NoError(t, j.Record(t.Context(), a.ID, account.Record{Key: "uid-1", Rcpts: rcpts, At: clk.Now()}))
		require.NoError(t, j.SetGuard(t.Context(), a.ID, account.Guard{Tripped: clk.Now()}))
		require.NoError(t, s.Delete(t.Context(), a.ID))
		return clk, s, j, a
	}
	// delivered returns the recipients of the kept journal, after checking
	// that its deletion guard state went (or stayed) with them.
	delivered := func(t *testing.T, j account.Journal) []string {
		got, err := j.Delivered(t.Context(), "acct", "uid-1")
		require.NoError(t, err)
		g, err := j.Guard(t.Context(), "acct")
		require.NoError(t, err)
		assert.Equal(t, len(got.Rcpts) > 0, g.Holds(), "the guard state is kept and dropped with the journal")
		return got.Rcpts
	}

	t.Run("SameMailboxFindsIt", func(t *testing.T) {
		for _, how := range []string{"Create", "Put"} {
			t.Run(how, func(t *testing.T) {
				clk, s, j, a := setup(t)
				clk.Advance(account.DefaultJournalRetention - time.Hour)
				a.Description = "back again"
				a.Host = strings.ToUpper(a.Host) // host names compare without case
				var err error
				if how == "Create" {
					_, err = s.Create(t.Context(), a)
				} else {
					_, err = s.Put(t.Context(), a)
				}
				require.NoError(t, err)
				assert.Equal(t, rcpts, delivered(t, j), "the journal of the deleted account was kept")
			})
		}
	})

	t.Run("AnotherMailboxDoesNot", func(t *testing.T) {
		for _, change := range []string{"host", "user"} {
			t.Run(change, func(t *testing.T) {
				_, s, j, a := setup(t)
				if change == "host" {
					a.Host = "pop.elsewhere.example"
				} else {
					a.Auth.User = "someone-else"
				}
				_, err := s.Create(t.Context(), a)
				require.NoError(t, err)
				assert.Empty(t, delivered(t, j), "another mailbox under the same ID starts afresh")
				// Deleted and created again as the first mailbox: the
				// journal was dropped for good.
				require.NoError(t, s.Delete(t.Context(), a.ID))
				_, err = s.Create(t.Context(), Sample("example.com"))
				require.NoError(t, err)
				assert.Empty(t, delivered(t, j))
			})
		}
	})

	t.Run("ExpiresAfterRetention", func(t *testing.T) {
		clk, s, j, a := setup(t)
		clk.Advance(account.DefaultJournalRetention + time.Hour)
		_, err := s.Create(t.Context(), a)
		require.NoError(t, err)
		assert.Empty(t, delivered(t, j), "a journal older than the retention period is gone")
	})

	t.Run("ExpiredJournalsArePrunedOnDelete", func(t *testing.T) {
		clk, s, j, _ := setup(t)
		clk.Advance(account.DefaultJournalRetention + time.Hour)
		other, err := s.Create(t.Context(), Sample("example.org"))
		require.NoError(t, err)
		require.NoError(t, s.Delete(t.Context(), other.ID))
		assert.Empty(t, delivered(t, j), "deleting any account drops the expired journals")
	})
}
