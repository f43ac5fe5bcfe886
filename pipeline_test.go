package multidrop_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
)

const (
	popUser = "drop"
	popPass = "drop-secret"
)

// env is one account on a poptest server, checked by a Pipeline that
// delivers into a recording Deliverer.
type env struct {
	t       *testing.T
	srv     *poptest.Server
	store   *account.MemoryStore
	journal account.Journal
	dlv     *delivertest.Deliverer
	p       *multidrop.Pipeline
	acct    account.Account
	now     time.Time
	dir     resolve.Directory
	opts    *multidrop.Options // what p was made with
}

type envOpt func(*env, *multidrop.Options)

func withJournal(j account.Journal) envOpt {
	return func(e *env, o *multidrop.Options) { e.journal = j; o.Journal = j }
}

func withDirectory(d resolve.Directory) envOpt {
	return func(e *env, o *multidrop.Options) { o.Resolver = resolve.New(d, nil) }
}

func newEnv(t *testing.T, srv *poptest.Server, edit func(*account.Account), opts ...envOpt) *env {
	t.Helper()
	if srv == nil {
		srv = &poptest.Server{}
	}
	if len(srv.Mailbox(popUser)) == 0 {
		srv.AddUser(popUser, popPass)
	}
	srv.ImplicitTLS = true
	srv.Start(t)
	host, port := splitHostPort(t, srv.Addr())
	a := account.Account{
		ID: "acct1", Enabled: true, Description: "example.com at the provider",
		Host: host, Port: port, Domain: "example.com",
		Security: account.SecurityTLS,
		TLS:      account.TLS{RootCAs: string(srv.CAPEM())},
		Auth:     account.Auth{User: popUser, Secret: popPass, Mechanism: account.MechanismUser},
	}
	if edit != nil {
		edit(&a)
	}
	store := account.NewMemoryStore()
	a, err := store.Put(t.Context(), a)
	require.NoError(t, err)

	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{
		{Address: "alice@example.com", Name: "Alice Liddell"},
		{Address: "bob@example.com"},
		{Address: "carol@example.com"},
		{Address: "postmaster@example.com"},
	}})
	require.NoError(t, err)

	mj := account.NewMemoryJournal()
	e := &env{t: t, srv: srv, store: store, journal: mj, dlv: &delivertest.Deliverer{},
		acct: a, now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), dir: dir}
	mj.Now = func() time.Time { return e.now }
	o := &multidrop.Options{
		Store:     store,
		Journal:   e.journal,
		Resolver:  resolve.New(dir, nil),
		Deliverer: e.dlv,
		Fetcher:   &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 5 * time.Second, Data: 5 * time.Second}}},
		Spool:     multidrop.SpoolOptions{Dir: t.TempDir()},
		LocalHost: "mx.local.test",
		Logger:    slog.New(slog.DiscardHandler),
		Now:       func() time.Time { return e.now },
	}
	for _, f := range opts {
		f(e, o)
	}
	e.p, err = multidrop.New(o)
	require.NoError(t, err)
	e.opts = o
	return e
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	port, err := strconv.Atoi(addr[i+1:])
	require.NoError(t, err)
	return addr[:i], port
}

// check runs one check and returns its report (the error is in r.Err).
func (e *env) check() *multidrop.Report {
	e.t.Helper()
	r, err := e.p.Check(e.t.Context(), e.acct.ID)
	if r == nil {
		require.NoError(e.t, err)
	}
	return r
}

// delivered returns, per recipient, how many copies the deliverer got.
func (e *env) delivered() map[string]int {
	out := map[string]int{}
	for _, d := range e.dlv.Deliveries() {
		for _, r := range d.Results {
			if r.Status == deliver.Delivered {
				out[r.Recipient]++
			}
		}
	}
	return out
}

// msg builds a message from header lines and a body.
func msg(body string, header ...string) []byte {
	return []byte(strings.Join(header, "\r\n") + "\r\n\r\n" + body + "\r\n")
}

func TestCheckDeliversAndDeletes(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		// One copy per envelope recipient (the provider's Delivered-To).
		poptest.Message{UID: "u1", Data: msg("hi", "Delivered-To: alice@example.com", "Received: by mx.provider.test; Mon, 1 Nov 2026 10:00:00 +0000", "Message-ID: <m1@x>", "From: x@remote.test", "To: list@remote.test", "Subject: one")},
		poptest.Message{UID: "u2", Data: msg("hi", "Delivered-To: bob@example.com", "Received: by mx.provider.test; Mon, 1 Nov 2026 10:00:00 +0000", "Message-ID: <m1@x>", "From: x@remote.test", "To: list@remote.test", "Subject: one")},
		// To/Cc only.
		poptest.Message{UID: "u3", Data: msg("hello", "Message-ID: <m3@x>", "From: x@remote.test", "To: Carol <CAROL@Example.COM>, someone@remote.test", "Subject: three")},
		// Nobody local: dropped by the default policy.
		poptest.Message{UID: "u4", Data: msg("spam", "Message-ID: <m4@x>", "From: x@remote.test", "To: nobody@example.com, y@remote.test", "Subject: four")},
	)
	e := newEnv(t, srv, nil)
	r := e.check()
	require.NoError(t, r.Err)
	assert.True(t, r.Committed)
	assert.Equal(t, 4, r.Listed)
	assert.Equal(t, 4, r.Retrieved)
	assert.Equal(t, 3, r.Delivered)
	assert.Equal(t, 4, r.Deleted)
	assert.Equal(t, 1, r.Dropped)
	assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, e.delivered())
	assert.Empty(t, srv.Mailbox(popUser))

	// The bytes delivered are the message's.
	got := e.dlv.Delivered("carol@example.com")
	require.Len(t, got, 1)
	assert.Contains(t, string(got[0]), "Subject: three\r\n")

	// The report explains each message.
	require.Len(t, r.Messages, 4)
	m4 := r.Messages[3]
	assert.Equal(t, pop.Delete, m4.Action)
	assert.Contains(t, m4.Reason, "no valid recipient")
	require.NotEmpty(t, m4.Resolution.Rejected)
	assert.Equal(t, resolve.ReasonUnknown, m4.Resolution.Rejected[0].Reason)
	assert.Equal(t, r, e.p.LastReport(e.acct.ID))
}

func TestTemporaryFailureRetriesOnlyThatRecipient(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1",
		Data: msg("hi", "Message-ID: <m1@x>", "From: x@remote.test", "To: alice@example.com, bob@example.com, carol@example.com")})
	e := newEnv(t, srv, nil)
	e.dlv.Fail("bob@example.com", delivertest.Fault{Status: deliver.Temporary, Times: 1})

	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 2, r.Delivered)
	assert.Equal(t, 1, r.Kept)
	assert.Len(t, srv.Mailbox(popUser), 1, "kept on the server after a temporary failure")

	r = e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 1, r.Delivered)
	assert.Equal(t, []string{"alice@example.com", "carol@example.com"}, r.Messages[0].Already)
	assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, e.delivered())
	assert.Empty(t, srv.Mailbox(popUser))
}

func TestCopiesDeliverOncePerRecipient(t *testing.T) {
	// The provider put one copy per envelope recipient in the mailbox, but
	// without an envelope header: each copy names all three in To.
	m := msg("hi", "Message-ID: <same@x>", "From: x@remote.test", "To: alice@example.com, bob@example.com, carol@example.com")
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "c1", Data: m}, poptest.Message{UID: "c2", Data: m}, poptest.Message{UID: "c3", Data: m})
	e := newEnv(t, srv, nil)
	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 3, r.Delivered)
	assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, e.delivered())
	assert.Empty(t, srv.Mailbox(popUser))
}

func TestNoUIDLUsesDigestKeys(t *testing.T) {
	srv := &poptest.Server{NoUIDL: true, Faults: []poptest.Fault{{Kind: poptest.Drop, Session: 1, Command: "QUIT"}}}
	srv.AddUser(popUser, popPass,
		poptest.Message{Data: msg("a", "Message-ID: <a@x>", "To: alice@example.com")},
		poptest.Message{Data: msg("b", "To: bob@example.com")}, // no Message-ID
	)
	e := newEnv(t, srv, nil)
	r := e.check()
	require.Error(t, r.Err, "the first session is cut at QUIT")
	assert.False(t, r.Committed)
	assert.Len(t, srv.Mailbox(popUser), 2)
	for _, m := range r.Messages {
		assert.True(t, strings.HasPrefix(m.Key, "sha256:"), m.Key)
	}

	r = e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 0, r.Delivered, "already delivered before the cut")
	assert.Empty(t, srv.Mailbox(popUser))
	assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1}, e.delivered())
}

// Every message's report carries the digest of its bytes as fetched,
// whatever became of it, with usable UIDs (computed with the delivery) and
// without (computed while spooling, as the key), at each concurrency.
func TestReportDigests(t *testing.T) {
	data := [][]byte{
		msg("a", "Message-ID: <a@x>", "To: alice@example.com"),                                  // delivered
		msg("b", "To: nobody@remote.test"),                                                      // no recipient: deleted
		msg("c", "Message-ID: <c@x>", "To: bob@example.com", "X: "+strings.Repeat("x", 70<<10)), // over a limit: kept
	}
	for _, noUIDL := range []bool{false, true} {
		for _, conc := range []int{1, 8} {
			t.Run(fmt.Sprintf("noUIDL=%v/concurrency=%d", noUIDL, conc), func(t *testing.T) {
				srv := &poptest.Server{NoUIDL: noUIDL}
				var msgs []poptest.Message
				for i, d := range data {
					msgs = append(msgs, poptest.Message{UID: fmt.Sprint("u", i), Data: d})
				}
				srv.AddUser(popUser, popPass, msgs...)
				e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) { o.DeliveryConcurrency = conc })
				r := e.check()
				require.Len(t, r.Messages, len(data))
				for i, m := range r.Messages {
					sum := sha256.Sum256(data[i])
					assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), m.Digest, "message %d (%s)", i, m.Reason)
				}
				assert.Equal(t, 1, r.Delivered)
			})
		}
	}
}

func TestDuplicateUIDs(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "dup", Data: msg("a", "To: alice@example.com")},
		poptest.Message{UID: "dup", Data: msg("b", "To: bob@example.com")},
	)
	e := newEnv(t, srv, nil)
	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1}, e.delivered())
	assert.Empty(t, srv.Mailbox(popUser))
	for _, m := range r.Messages {
		assert.True(t, strings.HasPrefix(m.Key, "sha256:"), "a duplicated UID is not a key: %s", m.Key)
	}
}

func TestLeaveOnServerDeleteAfterDays(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("a", "Message-ID: <a@x>", "To: alice@example.com")})
	e := newEnv(t, srv, func(a *account.Account) {
		a.Retrieval.LeaveOnServer = true
		a.Retrieval.DeleteAfterDays = 3
	})
	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 1, r.Delivered)
	assert.Len(t, srv.Mailbox(popUser), 1)

	e.now = e.now.Add(2 * 24 * time.Hour)
	r = e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 0, r.Retrieved, "a delivered message is not downloaded again")
	assert.Equal(t, 1, r.Skipped)
	assert.Len(t, srv.Mailbox(popUser), 1)

	e.now = e.now.Add(24 * time.Hour)
	r = e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 0, r.Retrieved)
	assert.Equal(t, 1, r.Deleted)
	assert.Empty(t, srv.Mailbox(popUser))
	assert.Equal(t, map[string]int{"alice@example.com": 1}, e.delivered())
}

func TestOversizePolicies(t *testing.T) {
	big := msg(strings.Repeat("x", 5000), "Message-ID: <big@x>", "To: alice@example.com")
	small := msg("s", "Message-ID: <small@x>", "To: bob@example.com")
	for _, tc := range []struct {
		policy   account.OversizePolicy
		left     int
		notices  int
		retained bool
	}{
		{account.OversizeSkip, 1, 0, true},
		{account.OversizeDelete, 0, 0, false},
		{account.OversizeNotify, 1, 1, true},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			srv := &poptest.Server{}
			srv.AddUser(popUser, popPass, poptest.Message{UID: "big", Data: big}, poptest.Message{UID: "small", Data: small})
			e := newEnv(t, srv, func(a *account.Account) {
				a.Retrieval.MaxMessageSize = 1000
				a.Retrieval.Oversize = tc.policy
				a.Policy.Postmaster = "postmaster@example.com"
			})
			for range 2 { // the notice goes out once
				r := e.check()
				require.NoError(t, r.Err)
			}
			assert.Len(t, srv.Mailbox(popUser), tc.left)
			got := e.delivered()
			assert.Equal(t, 1, got["bob@example.com"])
			assert.Zero(t, got["alice@example.com"], "the oversize message is never downloaded")
			assert.Equal(t, tc.notices, got["postmaster@example.com"])
			if tc.notices > 0 {
				n := e.dlv.Delivered("postmaster@example.com")[0]
				assert.Contains(t, string(n), "Subject: Oversize message left on")
				assert.Contains(t, string(n), "UID:            big")
			}
			for _, c := range srv.Transcript() {
				assert.NotEqual(t, "RETR 1", c.Line, "the oversize message must not be retrieved")
			}
		})
	}
}

func TestDeletionGuard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conc    int // DeliveryConcurrency: one slot judges the same way
		min     int
		share   float64
		mixed   bool // every other message has a valid recipient
		deleted int
		tripped bool
	}{
		// Concurrent, the default: the guard judges the whole check before
		// any deletion.
		{name: "defaults", deleted: 0, tripped: true},
		{name: "GuardShare over 1: off", share: 1.5, deleted: 10},
		// Half the messages are deliverable: 0.5 of them is not over 0.6.
		{name: "GuardShare 0.6, mixed", share: 0.6, mixed: true, deleted: 10},
		{name: "defaults, mixed", mixed: true, deleted: 5, tripped: true},
		{name: "GuardMin 11", min: 11, deleted: 10},
		// One slot: the same whole-check judgement, before any deletion.
		{name: "one slot, defaults", conc: 1, deleted: 0, tripped: true},
		{name: "one slot, GuardMin 2", conc: 1, min: 2, deleted: 0, tripped: true},
		{name: "one slot, GuardShare over 1: off", conc: 1, share: 1.5, deleted: 10},
		{name: "one slot, GuardShare 0.6, mixed", conc: 1, share: 0.6, mixed: true, deleted: 10},
		{name: "one slot, defaults, mixed", conc: 1, mixed: true, deleted: 5, tripped: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &poptest.Server{}
			var msgs []poptest.Message
			for i := range 10 {
				to := "someone@example.com"
				if tc.mixed && i%2 == 1 {
					to = "alice@example.com"
				}
				msgs = append(msgs, poptest.Message{UID: fmt.Sprint("n", i), Data: msg("x", fmt.Sprintf("Message-ID: <n%d@x>", i), "To: "+to)})
			}
			srv.AddUser(popUser, popPass, msgs...)
			e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) {
				o.Guard.Min, o.Guard.Share, o.DeliveryConcurrency = tc.min, tc.share, tc.conc
			})
			r := e.check()
			if tc.tripped {
				require.ErrorIs(t, r.Err, multidrop.ErrDeletionGuard)
			} else {
				require.NoError(t, r.Err)
			}
			assert.True(t, r.Committed)
			assert.Equal(t, tc.deleted, r.Deleted)
			assert.Equal(t, 10-tc.deleted, r.Kept)
			assert.Len(t, srv.Mailbox(popUser), 10-tc.deleted)
			for _, m := range r.Messages {
				if m.Action == pop.Keep {
					assert.Equal(t, "no valid recipient; kept by the deletion guard", m.Reason, m.UID)
				}
			}
			if !tc.tripped {
				return
			}
			// The next check, with the directory fixed, delivers what the
			// guard kept.
			e.opts.Resolver = resolve.New(resolve.DirectoryFunc(func(_ context.Context, domain, local string) ([]string, error) {
				return []string{"alice@example.com"}, nil // everyone is alice now
			}), nil)
			p, err := multidrop.New(e.opts)
			require.NoError(t, err)
			e.p = p
			r = e.check()
			require.NoError(t, r.Err)
			assert.Empty(t, srv.Mailbox(popUser))
			assert.Equal(t, 10-tc.deleted+boolInt(tc.mixed)*5, e.delivered()["alice@example.com"])
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestConcurrentChecksOfOneAccount(t *testing.T) {
	srv := &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.Stall, Session: 1, Command: "UIDL", Duration: 300 * time.Millisecond}}}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("a", "To: alice@example.com")})
	e := newEnv(t, srv, nil)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	started := make(chan struct{})
	wg.Go(func() { close(started); _, errs[0] = e.p.Check(t.Context(), e.acct.ID) })
	<-started
	// Wait until the first session holds the account (it is stalled at UIDL).
	require.Eventually(t, func() bool { return srv.Sessions() >= 1 }, 5*time.Second, time.Millisecond)
	_, errs[1] = e.p.Check(t.Context(), e.acct.ID)
	wg.Wait()
	require.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], multidrop.ErrAccountBusy)
	assert.Zero(t, srv.Overlaps(popUser))
	assert.Equal(t, map[string]int{"alice@example.com": 1}, e.delivered())
}

func TestDirectoryOutageKeepsEverything(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("a", "To: alice@example.com")},
		poptest.Message{UID: "u2", Data: msg("b", "To: bob@example.com")},
	)
	down := resolve.DirectoryFunc(func(ctx context.Context, domain, local string) ([]string, error) {
		return nil, errors.New("ldap: connection refused")
	})
	e := newEnv(t, srv, nil, withDirectory(down))
	r := e.check()
	require.NoError(t, r.Err, "message failures are not the session's")
	assert.Equal(t, 2, r.Retry)
	require.Len(t, r.Only(multidrop.OutcomeRetry), 2)
	for _, m := range r.Messages {
		var me *multidrop.MessageError
		require.ErrorAs(t, m.Err, &me)
		assert.Equal(t, "resolve", me.Step)
		assert.Equal(t, multidrop.OutcomeRetry, m.Outcome)
	}
	assert.True(t, r.Committed)
	assert.Equal(t, 0, r.Deleted)
	assert.Len(t, srv.Mailbox(popUser), 2)
	assert.Empty(t, e.delivered())
}

func TestNoRecipientPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy account.NoRecipientPolicy
		left   int
		pm     int
	}{
		{account.NoRecipientDelete, 0, 0},
		{account.NoRecipientKeep, 1, 0},
		{account.NoRecipientPostmaster, 0, 1},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			srv := &poptest.Server{}
			srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("a", "To: stranger@remote.test")})
			e := newEnv(t, srv, func(a *account.Account) {
				a.Policy.NoRecipient = tc.policy
				a.Policy.Postmaster = "postmaster@example.com"
			})
			r := e.check()
			require.NoError(t, r.Err)
			assert.Len(t, srv.Mailbox(popUser), tc.left)
			assert.Equal(t, tc.pm, e.delivered()["postmaster@example.com"])
		})
	}
}

func TestCheckErrors(t *testing.T) {
	e := newEnv(t, nil, nil)
	_, err := e.p.Check(t.Context(), "missing")
	require.ErrorIs(t, err, account.ErrNotFound)

	e.acct.Enabled = false
	_, err = e.store.Put(t.Context(), e.acct)
	require.NoError(t, err)
	_, err = e.p.Check(t.Context(), e.acct.ID)
	require.ErrorIs(t, err, multidrop.ErrAccountDisabled)

	_, err = multidrop.New(nil)
	require.ErrorContains(t, err, "Options.Store is required", "nil Options name the first missing collaborator")
	full := *e.opts
	for _, missing := range []string{"Store", "Journal", "Resolver", "Deliverer"} {
		o := full
		switch missing {
		case "Store":
			o.Store = nil
		case "Journal":
			o.Journal = nil
		case "Resolver":
			o.Resolver = nil
		case "Deliverer":
			o.Deliverer = nil
		}
		_, err = multidrop.New(&o)
		require.ErrorContains(t, err, "Options."+missing+" is required")
	}
}

// CheckWith a closed Stop finishes the message in hand, leaves the others
// untouched and commits.
func TestCheckWithStop(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "s1", Data: msg("one", "Message-ID: <s1@x>", "To: alice@example.com")},
		poptest.Message{UID: "s2", Data: msg("two", "Message-ID: <s2@x>", "To: alice@example.com")},
		poptest.Message{UID: "s3", Data: msg("three", "Message-ID: <s3@x>", "To: alice@example.com")},
	)
	e := newEnv(t, srv, nil)
	stop := make(chan struct{})
	close(stop) // asked before the first message
	r, err := e.p.CheckWith(t.Context(), e.acct.ID, &multidrop.CheckOptions{Stop: stop})
	require.NoError(t, err)
	assert.True(t, r.Committed, "the session ended with QUIT")
	assert.Equal(t, 1, r.Retrieved)
	assert.Equal(t, 1, r.Deleted)
	assert.Equal(t, map[string]int{"alice@example.com": 1}, e.delivered())
	assert.Len(t, srv.Mailbox(popUser), 2)
}

// countingLease counts the calls made on it.
type countingLease struct{ renewed, released atomic.Int32 }

func (l *countingLease) Token() int64 { return 1 }
func (l *countingLease) Renew(context.Context, time.Duration) error {
	l.renewed.Add(1)
	return nil
}
func (l *countingLease) Release(context.Context) error {
	l.released.Add(1)
	return nil
}

// lockerFunc is an account.Locker made of a function.
type lockerFunc func(ctx context.Context, id, owner string, ttl time.Duration) (account.Lease, error)

func (f lockerFunc) Acquire(ctx context.Context, id, owner string, ttl time.Duration) (account.Lease, error) {
	return f(ctx, id, owner, ttl)
}

// CheckWith a claim checks the claimed account as given, under the claim's
// lease (not the Locker's), and leaves the lease to its caller.
func TestCheckWithClaim(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "c1", Data: msg("hi", "Message-ID: <c1@x>", "To: alice@example.com")})
	var acquired atomic.Int32
	// A journal that cannot be fenced: the counting lease is no memory lease.
	j := struct{ account.Journal }{account.NewMemoryJournal()}
	var clock atomic.Int64 // seconds after the env's time
	e := newEnv(t, srv, nil, withJournal(j), func(e *env, o *multidrop.Options) {
		start := e.now
		o.Now = func() time.Time { return start.Add(time.Duration(clock.Load()) * time.Second) }
		inner := o.Fetcher
		o.Fetcher = fetchFunc(func(ctx context.Context, a account.Account, h pop.Handler) error {
			// Past a third of the claim's one-minute lease before the
			// delivery (not of Options.Lease.TTL, two minutes).
			clock.Add(30)
			return inner.Fetch(ctx, a, h)
		})
		o.Locker = lockerFunc(func(context.Context, string, string, time.Duration) (account.Lease, error) {
			acquired.Add(1)
			return nil, account.ErrLeaseHeld
		})
	})
	_, err := e.p.Check(t.Context(), e.acct.ID)
	require.ErrorIs(t, err, multidrop.ErrAccountBusy, "Check takes a lease of the Locker")
	require.EqualValues(t, 1, acquired.Load())

	// The store's copy is disabled: the claim's is checked all the same.
	claimed := e.acct
	e.acct.Enabled = false
	_, err = e.store.Put(t.Context(), e.acct)
	require.NoError(t, err)
	lease := &countingLease{}
	claim := &account.Claim{Account: claimed, Lease: lease}
	r, err := e.p.CheckWith(t.Context(), claimed.ID, &multidrop.CheckOptions{Claim: claim, LeaseTTL: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, 1, r.Delivered)
	assert.True(t, r.Committed)
	assert.Positive(t, lease.renewed.Load(), "renewed before the delivery, at a third of the claim's LeaseTTL")
	assert.Zero(t, lease.released.Load(), "the caller releases a claim's lease")
	assert.EqualValues(t, 1, acquired.Load(), "no lease of the Locker")
	assert.Same(t, r, e.p.LastReport(claimed.ID))

	_, err = e.p.CheckWith(t.Context(), "other", &multidrop.CheckOptions{Claim: claim})
	assert.ErrorContains(t, err, "multidrop: account other: a claim of account acct1 given")
	_, err = e.p.CheckWith(t.Context(), claimed.ID, &multidrop.CheckOptions{Claim: &account.Claim{Account: claimed}})
	assert.ErrorContains(t, err, "the claim has no lease")
}

func TestCheckAllBoundedAndIndependent(t *testing.T) {
	srv := &poptest.Server{}
	store := account.NewMemoryStore()
	dlv := &delivertest.Deliverer{}
	srv.AddUser("good", "pw", poptest.Message{UID: "1", Data: msg("a", "To: alice@example.com")})
	srv.AddUser("bad", "pw", poptest.Message{UID: "1", Data: msg("b", "To: bob@example.com")})
	srv.ImplicitTLS = true
	srv.Start(t)
	h, p := splitHostPort(t, srv.Addr())
	for _, a := range []account.Account{
		{ID: "good", Enabled: true, Host: h, Port: p, Domain: "example.com", TLS: account.TLS{RootCAs: string(srv.CAPEM())}, Auth: account.Auth{User: "good", Secret: "pw"}},
		{ID: "bad", Enabled: true, Host: h, Port: p, Domain: "example.com", TLS: account.TLS{RootCAs: string(srv.CAPEM())}, Auth: account.Auth{User: "bad", Secret: "wrong"}},
		{ID: "off", Enabled: false, Host: h, Port: p, Domain: "example.com", Auth: account.Auth{User: "x", Secret: "y"}},
	} {
		_, err := store.Put(t.Context(), a)
		require.NoError(t, err)
	}
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}, {Address: "bob@example.com"}}})
	require.NoError(t, err)
	pl, err := multidrop.New(&multidrop.Options{Store: store, Journal: account.NewMemoryJournal(), Resolver: resolve.New(dir, nil),
		Deliverer: dlv, Concurrency: 2, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	reports, err := pl.CheckAll(t.Context())
	require.Error(t, err)
	require.Len(t, reports, 2, "disabled accounts are not checked")
	ids := []string{reports[0].Account, reports[1].Account}
	slices.Sort(ids)
	assert.Equal(t, []string{"bad", "good"}, ids)
	assert.Len(t, dlv.Delivered("alice@example.com"), 1)
	assert.Empty(t, srv.Mailbox("good"))
	assert.Len(t, srv.Mailbox("bad"), 1)
}

// CheckAll runs at most Options.Concurrency checks at once, and checks
// every enabled account.
func TestCheckAllConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var in, most atomic.Int32
		f := fetchFunc(func(context.Context, account.Account, pop.Handler) error {
			n := in.Add(1)
			defer in.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Second) // until every check that can run has started
			return nil
		})
		store := account.NewMemoryStore()
		for i := range 7 {
			_, err := store.Put(t.Context(), account.Account{ID: fmt.Sprint("a", i), Enabled: true,
				Host: "pop.example.net", Domain: "example.com", Auth: account.Auth{User: "u", Secret: "p"}})
			require.NoError(t, err)
		}
		dlv := &delivertest.Deliverer{}
		dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
		require.NoError(t, err)
		p, err := multidrop.New(&multidrop.Options{Store: store, Journal: account.NewMemoryJournal(),
			Fetcher: f, Resolver: resolve.New(dir, nil), Deliverer: dlv, Concurrency: 3,
			Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		reports, err := p.CheckAll(t.Context())
		require.NoError(t, err)
		assert.Len(t, reports, 7)
		assert.Equal(t, int32(3), most.Load())
	})
}

// fetchFunc is a pop.Fetcher made of a function.
type fetchFunc func(ctx context.Context, a account.Account, h pop.Handler) error

func (f fetchFunc) Fetch(ctx context.Context, a account.Account, h pop.Handler) error {
	return f(ctx, a, h)
}

// Handler lets an embedder drive the pipeline with its own fetcher.
func TestHandlerWithOwnFetcher(t *testing.T) {
	e := newEnv(t, nil, nil)
	h := e.p.Handler(e.acct)
	m := msg("own", "Message-ID: <own@x>", "To: bob@example.com")
	steps, err := h.Plan(t.Context(), pop.Scan{Messages: []pop.MessageInfo{{Number: 1, UID: "x1", Size: int64(len(m))}}})
	require.NoError(t, err)
	require.Equal(t, pop.Retrieve, steps[0].Action)
	act, err := h.Handle(t.Context(), steps[0].Message, strings.NewReader(string(m)))
	require.NoError(t, err)
	assert.Equal(t, pop.Defer, act, "decided at Settle")
	decided, err := h.Settle(t.Context())
	require.NoError(t, err)
	assert.Equal(t, map[int]pop.Action{1: pop.Delete}, decided)
	r := h.Report(t.Context(), nil)
	assert.Equal(t, 1, r.Delivered)
	assert.Equal(t, map[string]int{"bob@example.com": 1}, e.delivered())
}

func TestSmallFirstAndCaps(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "big", Data: msg(strings.Repeat("b", 3000), "Message-ID: <big@x>", "To: alice@example.com")},
		poptest.Message{UID: "mid", Data: msg(strings.Repeat("m", 1000), "Message-ID: <mid@x>", "To: alice@example.com")},
		poptest.Message{UID: "small", Data: msg("s", "Message-ID: <small@x>", "To: alice@example.com")},
	)
	e := newEnv(t, srv, func(a *account.Account) {
		a.Retrieval.SmallFirst = true
		a.Retrieval.MaxMessages = 2
	})
	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 2, r.Retrieved)
	assert.Equal(t, 1, r.Skipped)
	left := srv.Mailbox(popUser)
	require.Len(t, left, 1)
	assert.Equal(t, "big", left[0].UID, "the two smallest went first")

	var retr []string
	for _, c := range srv.Transcript() {
		if c.Name == "RETR" {
			retr = append(retr, c.Line)
		}
	}
	assert.Equal(t, []string{"RETR 3", "RETR 2"}, retr)

	// A byte cap: the next check takes what fits (at least one message).
	e.acct.Retrieval.MaxMessages = 0
	e.acct.Retrieval.MaxBytes = 100
	_, err := e.store.Put(t.Context(), e.acct)
	require.NoError(t, err)
	r = e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 1, r.Retrieved)
	assert.Empty(t, srv.Mailbox(popUser))
}

func TestForeignRecipientsReported(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1",
		Data: msg("x", "Message-ID: <f@x>", "To: alice@example.com, \"Eve\" <eve@elsewhere.test>")})
	e := newEnv(t, srv, func(a *account.Account) {
		a.Policy.Foreign = account.ForeignReport
		a.Policy.Postmaster = "postmaster@example.com"
	})
	r := e.check()
	require.NoError(t, r.Err)
	got := e.dlv.Delivered("postmaster@example.com")
	require.Len(t, got, 1)
	assert.Contains(t, string(got[0]), "eve@elsewhere.test")
	assert.Contains(t, string(got[0]), "Auto-Submitted: auto-generated")
	assert.Equal(t, 1, e.delivered()["alice@example.com"])
	assert.Empty(t, srv.Mailbox(popUser))
}

func TestObserverAndNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("x", "To: alice@example.com")})
	var mu sync.Mutex
	kinds := map[multidrop.EventKind]int{}
	var events []multidrop.Event
	e := newEnv(t, srv, nil, func(e *env, o *multidrop.Options) {
		o.Observer = func(ev multidrop.Event) {
			mu.Lock()
			kinds[ev.Kind]++
			events = append(events, ev)
			mu.Unlock()
		}
	})
	r := e.check()
	require.NoError(t, r.Err)
	mu.Lock()
	assert.Equal(t, map[multidrop.EventKind]int{multidrop.EventCheckStart: 1, multidrop.EventCheckEnd: 1,
		multidrop.EventMessage: 1, multidrop.EventDelivery: 1}, kinds)
	for _, ev := range events {
		assert.Equal(t, e.acct.ID, ev.Account, "%v", ev.Kind)
		switch ev.Kind {
		case multidrop.EventDelivery:
			assert.Equal(t, deliver.Result{Recipient: "alice@example.com", Status: deliver.Delivered}, *ev.Result)
		case multidrop.EventMessage:
			assert.Equal(t, "u1", ev.Message.UID)
			assert.Equal(t, pop.Delete, ev.Message.Action)
		case multidrop.EventCheckEnd:
			assert.Equal(t, 1, ev.Report.Retrieved)
			assert.Equal(t, 1, ev.Report.Delivered)
			assert.Equal(t, 1, ev.Report.Deleted)
			assert.True(t, ev.Report.Committed)
		}
	}
	mu.Unlock()
	require.NoError(t, srv.Close())
	// Poll here: assert.Eventually runs its condition in a goroutine of its own.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines leaked") {
		buf := make([]byte, 1<<20)
		t.Logf("goroutines (%d, before %d):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
}

// Another message that reuses a Message-ID is not a copy: it is delivered.
func TestReusedMessageIDIsNotACopy(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "a", Data: msg("first text", "Message-ID: <1@localhost>", "To: alice@example.com")},
		poptest.Message{UID: "b", Data: msg("another text", "Message-ID: <1@localhost>", "To: alice@example.com")},
		poptest.Message{UID: "c", Data: msg("another text", "Delivered-To: alice@example.com", "Message-ID: <1@localhost>", "To: alice@example.com")},
	)
	e := newEnv(t, srv, nil)
	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 2, e.delivered()["alice@example.com"], "two different bodies; the third is a copy of the second")
	assert.Empty(t, srv.Mailbox(popUser))
}

// idCounting counts the journal's DeliveredID queries; idLister adds the
// listing of Message-IDs that lets a check skip them.
type idCounting struct {
	account.Journal
	calls atomic.Int64
}

func (j *idCounting) DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error) {
	j.calls.Add(1)
	return j.Journal.DeliveredID(ctx, accountID, messageID)
}

type idLister struct{ *idCounting }

func (j idLister) MessageIDs(ctx context.Context, accountID string, limit int) ([]string, bool, error) {
	return j.Journal.(account.IDLister).MessageIDs(ctx, accountID, limit)
}

// A journal that lists its Message-IDs is asked about a copy only when the
// copy's Message-ID is among them (the recipients of one the check
// recorded, it knows), unless the account has more records than the check
// reads (16 per message); either way each copy reaches each recipient once.
func TestCopyLookups(t *testing.T) {
	x := msg("x text", "Message-ID: <x@remote.test>", "From: x@remote.test", "To: alice@example.com")
	y := msg("y text", "Message-ID: <y@remote.test>", "From: y@remote.test", "To: bob@example.com")
	z := msg("z text", "From: z@remote.test", "To: carol@example.com")
	for _, tc := range []struct {
		name   string
		lister bool
		others int   // other Message-ID records of the account
		calls  int64 // DeliveredID queries of the second check
	}{
		{"listed", true, 0, 1},                   // x again (y's copy: recorded by this check)
		{"listed, under the bound", true, 63, 1}, // with x's: 64 records, 4 messages
		{"over the bound", true, 64, 3},          // x, y and y's copy
		{"not a lister", false, 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &poptest.Server{}
			srv.AddUser(popUser, popPass, poptest.Message{UID: "x1", Data: x})
			mj := account.NewMemoryJournal()
			cj := &idCounting{Journal: mj}
			var j account.Journal = cj
			if tc.lister {
				j = idLister{cj}
			}
			e := newEnv(t, srv, nil, withJournal(j))
			mj.Now = func() time.Time { return e.now }
			require.NoError(t, e.check().Err)
			for i := range tc.others {
				require.NoError(t, mj.Record(t.Context(), e.acct.ID, account.Record{MessageID: fmt.Sprintf("<%d@other.test> 00", i),
					IDRcpts: []string{"alice@example.com"}, Expires: e.now.Add(time.Hour)}))
			}

			srv.AddMessages(popUser,
				poptest.Message{UID: "x2", Data: x},
				poptest.Message{UID: "y1", Data: y},
				poptest.Message{UID: "y2", Data: y},
				poptest.Message{UID: "z1", Data: z},
			)
			before := cj.calls.Load()
			r := e.check()
			require.NoError(t, r.Err)
			assert.Equal(t, tc.calls, cj.calls.Load()-before)
			assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, e.delivered())
			assert.Empty(t, srv.Mailbox(popUser))
		})
	}
}

// keyReads counts the journal's reads of key states, one key at a time and
// in batches.
type keyReads struct {
	account.Journal
	one, batches atomic.Int64
}

func (j *keyReads) Delivered(ctx context.Context, accountID, key string) (account.Delivery, error) {
	j.one.Add(1)
	return j.Journal.Delivered(ctx, accountID, key)
}

func (j *keyReads) DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]account.Delivery, error) {
	j.batches.Add(1)
	return account.DeliveredAll(ctx, j.Journal, accountID, keys)
}

// A check reads the journal's states of the listed UIDs in one batch read
// and asks about no key alone: messages final in the journal are left on
// the server without a download, a key's recorded recipient gets no second
// copy.
func TestPlanReadsStatesAtOnce(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("one", "Message-ID: <1@x>", "To: alice@example.com")},
		poptest.Message{UID: "u2", Data: msg("two", "Message-ID: <2@x>", "To: bob@example.com")},
	)
	mj := account.NewMemoryJournal()
	kj := &keyReads{Journal: mj}
	e := newEnv(t, srv, func(a *account.Account) { a.Retrieval.LeaveOnServer = true }, withJournal(kj))
	mj.Now = func() time.Time { return e.now }
	require.NoError(t, e.check().Err)
	assert.Equal(t, int64(1), kj.batches.Load())

	srv.AddMessages(popUser,
		poptest.Message{UID: "u3", Data: msg("three", "Message-ID: <3@x>", "To: carol@example.com")},
		poptest.Message{UID: "u4", Data: msg("four", "Message-ID: <4@x>", "To: alice@example.com, bob@example.com")},
	)
	// u4 was delivered to alice by a check that ended before its mark.
	require.NoError(t, mj.Record(t.Context(), e.acct.ID, account.Record{Key: "u4", Rcpts: []string{"alice@example.com"}, At: e.now}))
	r := e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, int64(2), kj.batches.Load(), "one batch read per check")
	assert.Zero(t, kj.one.Load(), "no key read alone")
	assert.Equal(t, 2, r.Retrieved)
	assert.Equal(t, 2, r.Skipped)
	assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 2, "carol@example.com": 1}, e.delivered())
}

// The copies of one message, one per envelope recipient, and a repeated
// copy to one of them: the check knows the recipients of the copies it
// recorded, so it asks the journal about none, and each recipient gets the
// message once, whatever the concurrency.
func TestCopiesOfThisCheckAskNothing(t *testing.T) {
	copyTo := func(rcpt string) []byte {
		return msg("the text", "Delivered-To: "+rcpt, "Received: by mx.provider.test; Mon, 1 Nov 2026 10:00:00 +0000",
			"Message-ID: <c@remote.test>", "From: a@remote.test", "To: list@remote.test")
	}
	for _, conc := range []int{1, 8} {
		t.Run(fmt.Sprintf("concurrency %d", conc), func(t *testing.T) {
			srv := &poptest.Server{}
			srv.AddUser(popUser, popPass,
				poptest.Message{UID: "c1", Data: copyTo("alice@example.com")},
				poptest.Message{UID: "c2", Data: copyTo("bob@example.com")},
				poptest.Message{UID: "c3", Data: copyTo("alice@example.com")},
				poptest.Message{UID: "c4", Data: copyTo("carol@example.com")},
			)
			mj := account.NewMemoryJournal()
			cj := &idCounting{Journal: mj}
			e := newEnv(t, srv, nil, withJournal(idLister{cj}), func(_ *env, o *multidrop.Options) { o.DeliveryConcurrency = conc })
			mj.Now = func() time.Time { return e.now }
			require.NoError(t, e.check().Err)
			assert.Zero(t, cj.calls.Load(), "DeliveredID queries")
			assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, e.delivered())
			assert.Empty(t, srv.Mailbox(popUser))

			// The next check's copy is one the journal has records for.
			srv.AddMessages(popUser, poptest.Message{UID: "c5", Data: copyTo("alice@example.com")})
			require.NoError(t, e.check().Err)
			assert.Equal(t, int64(1), cj.calls.Load(), "DeliveredID queries")
			assert.Equal(t, map[string]int{"alice@example.com": 1, "bob@example.com": 1, "carol@example.com": 1}, e.delivered())
			assert.Empty(t, srv.Mailbox(popUser))
		})
	}
}

// An embedder's Handler may run sessions of one account side by side: each
// copy asks the journal.
func TestHandlerAsksForEveryCopy(t *testing.T) {
	mj := account.NewMemoryJournal()
	cj := &idCounting{Journal: mj}
	e := newEnv(t, nil, nil, withJournal(idLister{cj}))
	mj.Now = func() time.Time { return e.now }
	h := e.p.Handler(e.acct)
	m := msg("own", "Message-ID: <own@x>", "To: bob@example.com")
	info := []pop.MessageInfo{{Number: 1, UID: "x1", Size: int64(len(m))}, {Number: 2, UID: "x2", Size: int64(len(m))}}
	steps, err := h.Plan(t.Context(), pop.Scan{Messages: info})
	require.NoError(t, err)
	for _, st := range steps {
		_, err := h.Handle(t.Context(), st.Message, strings.NewReader(string(m)))
		require.NoError(t, err)
	}
	h.Report(t.Context(), nil)
	assert.Equal(t, int64(2), cj.calls.Load())
	assert.Equal(t, map[string]int{"bob@example.com": 1}, e.delivered())
}

// failingJournal fails the reads or writes it is told to.
type failingJournal struct {
	account.Journal
	sync, delivered, record bool
}

var errJournalDown = errors.New("journal: disk on fire")

func (j *failingJournal) Sync(ctx context.Context, id string, uids []string, now time.Time) (map[string]time.Time, error) {
	if j.sync {
		return nil, errJournalDown
	}
	return j.Journal.Sync(ctx, id, uids, now)
}

func (j *failingJournal) Delivered(ctx context.Context, id, key string) (account.Delivery, error) {
	if j.delivered {
		return account.Delivery{}, errJournalDown
	}
	return j.Journal.Delivered(ctx, id, key)
}

func (j *failingJournal) Record(ctx context.Context, id string, r account.Record) error {
	if j.record {
		return errJournalDown
	}
	return j.Journal.Record(ctx, id, r)
}

// A journal that cannot be read or written fails the check closed: no
// DELE is sent, and every message stays on the server.
func TestJournalFailureDeletesNothing(t *testing.T) {
	for name, fj := range map[string]*failingJournal{
		"listing not recorded": {sync: true},
		"records unreadable":   {delivered: true},
		"records unwritable":   {record: true},
	} {
		for _, conc := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/concurrency %d", name, conc), func(t *testing.T) {
				srv := &poptest.Server{}
				srv.AddUser(popUser, popPass,
					poptest.Message{UID: "a", Data: msg("one", "Message-ID: <a@x>", "To: alice@example.com")},
					poptest.Message{UID: "b", Data: msg("two", "Message-ID: <b@x>", "To: nobody@example.com")},
				)
				e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) {
					fj.Journal = o.Journal
					o.Journal = fj
					o.DeliveryConcurrency = conc
				})
				r, err := e.p.Check(t.Context(), e.acct.ID)
				if r != nil {
					// A write failure is the message's, reported with it.
					errs := []error{r.Err}
					for _, m := range r.Messages {
						errs = append(errs, m.Err)
					}
					err = errors.Join(errs...)
				}
				require.ErrorIs(t, err, errJournalDown)
				for _, c := range srv.Transcript() {
					assert.NotEqual(t, "DELE", c.Name, "DELE sent: %s", c.Line)
				}
				assert.Len(t, srv.Mailbox(popUser), 2)
			})
		}
	}
}

// A check logs a record per delivery, per message and per check, with the
// account, the UID, the Message-ID, the recipient and the action — and
// never the POP password.
func TestLogRecords(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Message-ID: <log@x>", "To: alice@example.com")},
		poptest.Message{UID: "u2", Data: msg("spam", "Message-ID: <spam@x>", "To: nobody@example.com")},
	)
	// The handler serialises its writes; Check has returned before the
	// buffer is read.
	var buf strings.Builder
	e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	require.NoError(t, e.check().Err)

	var records []map[string]any
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		records = append(records, rec)
	}
	find := func(msg string, match map[string]any) bool {
		for _, rec := range records {
			if rec["msg"] != msg {
				continue
			}
			ok := true
			for k, v := range match {
				ok = ok && rec[k] == v
			}
			if ok {
				return true
			}
		}
		return false
	}
	assert.True(t, find("delivered", map[string]any{"account": e.acct.ID, "uid": "u1", "message_id": "<log@x>", "rcpt": "alice@example.com"}))
	assert.True(t, find("message", map[string]any{"account": e.acct.ID, "uid": "u1", "message_id": "<log@x>", "action": "delete", "reason": "delivered"}))
	assert.True(t, find("message", map[string]any{"account": e.acct.ID, "uid": "u2", "message_id": "<spam@x>", "action": "delete"}))
	assert.True(t, find("check finished", map[string]any{"account": e.acct.ID, "retrieved": float64(2), "delivered": float64(1), "deleted": float64(2)}))
	assert.NotContains(t, buf.String(), popPass)
	// One Info record per check, the rest at Debug; no err attribute
	// without an error.
	var info []map[string]any
	for _, rec := range records {
		if rec["level"] != "DEBUG" {
			info = append(info, rec)
		}
	}
	require.Len(t, info, 1)
	assert.Equal(t, "check finished", info[0]["msg"])
	assert.Equal(t, "INFO", info[0]["level"])
	assert.NotContains(t, info[0], "err")
}

// Without Options.Logger a check logs nothing, not even to slog.Default.
func TestNoLoggerNoOutput(t *testing.T) {
	var buf strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(old) })
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass,
		poptest.Message{UID: "u1", Data: msg("hi", "Message-ID: <quiet@x>", "To: alice@example.com")},
		poptest.Message{UID: "u2", Data: msg("x", "Message-ID: <quiet2@x>", "To: bob@example.com")},
	)
	e := newEnv(t, srv, nil, func(_ *env, o *multidrop.Options) {
		o.Logger = nil
		o.Fetcher = nil // the default Downloader, with the Pipeline's logger
	})
	require.NoError(t, e.check().Err)
	assert.Equal(t, 2, e.delivered()["alice@example.com"]+e.delivered()["bob@example.com"])
	assert.Empty(t, buf.String())
}

// A looping message stays on the server, or with the quarantine policy
// goes to the postmaster and is deleted.
func TestLoopPolicies(t *testing.T) {
	stamped := msg("again", "X-Multidrop-Loop: mx.local.test", "Message-ID: <loop1@x>", "To: alice@example.com")
	deliveredBefore := []byte("Delivered-To: box@provider.net\r\nReceived: from x by mx.provider.net; Mon, 2 Nov 2026 10:00:00 +0000\r\n" +
		"Delivered-To: alice@example.com\r\nReceived: from y by mail.example.com with LMTP; Mon, 2 Nov 2026 09:00:00 +0000\r\n" +
		"Message-ID: <loop2@x>\r\nTo: alice@example.com\r\n\r\nagain\r\n")
	for _, policy := range []account.LoopPolicy{"", account.LoopQuarantine} {
		for name, m := range map[string][]byte{"stamp": stamped, "delivered before": deliveredBefore} {
			t.Run(fmt.Sprintf("%s/%q", name, policy), func(t *testing.T) {
				srv := &poptest.Server{}
				srv.AddUser(popUser, popPass, poptest.Message{UID: "l1", Data: m})
				e := newEnv(t, srv, func(a *account.Account) {
					a.Policy.Loop, a.Policy.Postmaster = policy, "postmaster@example.com"
				})
				r := e.check()
				require.NoError(t, r.Err)
				require.Len(t, r.Messages, 1)
				assert.Contains(t, r.Messages[0].Reason, "loop")
				if policy == account.LoopQuarantine {
					assert.Equal(t, map[string]int{"postmaster@example.com": 1}, e.delivered())
					assert.Contains(t, r.Messages[0].Reason, "quarantined to postmaster")
					assert.Empty(t, srv.Mailbox(popUser))
					return
				}
				assert.Empty(t, e.delivered())
				assert.Len(t, srv.Mailbox(popUser), 1)
			})
		}
	}
}

// A recipient refused for good goes without (drop, the default), or the
// message goes to the postmaster in its stead, kept on the server until
// the postmaster has it.
func TestFailedPolicies(t *testing.T) {
	m := msg("hi", "Message-ID: <f1@x>", "To: alice@example.com, bob@example.com")
	for _, tc := range []struct {
		name       string
		policy     account.FailedPolicy
		pmFailures int // temporary failures of the postmaster's delivery
		checks     int
		want       map[string]int
	}{
		{"drop", "", 0, 1, map[string]int{"alice@example.com": 1}},
		{"postmaster", account.FailedPostmaster, 0, 1, map[string]int{"alice@example.com": 1, "postmaster@example.com": 1}},
		{"postmaster, once failing", account.FailedPostmaster, 1, 2, map[string]int{"alice@example.com": 1, "postmaster@example.com": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &poptest.Server{}
			srv.AddUser(popUser, popPass, poptest.Message{UID: "f1", Data: m})
			e := newEnv(t, srv, func(a *account.Account) {
				a.Policy.Failed, a.Policy.Postmaster = tc.policy, "postmaster@example.com"
			})
			e.dlv.Fail("bob@example.com", delivertest.Fault{Status: deliver.Permanent})
			if tc.pmFailures > 0 {
				e.dlv.Fail("postmaster@example.com", delivertest.Fault{Status: deliver.Temporary, Times: tc.pmFailures})
			}
			for i := range tc.checks {
				r := e.check()
				require.NoError(t, r.Err)
				if i < tc.checks-1 {
					assert.Len(t, srv.Mailbox(popUser), 1, "kept until the postmaster has it")
				}
			}
			assert.Equal(t, tc.want, e.delivered())
			assert.Empty(t, srv.Mailbox(popUser))
		})
	}
}

// Messages without a valid recipient that wait for the whole check's guard
// are kept when the session ends before it settles, and deleted by the
// next check.
func TestNoRecipientUnsettledSessionKeeps(t *testing.T) {
	// The connection is cut inside the third message, after the first two
	// were examined.
	srv := &poptest.Server{Faults: []poptest.Fault{{Kind: poptest.DropAfterBytes, Session: 1, Bytes: 4000}}}
	var msgs []poptest.Message
	for i := range 3 {
		msgs = append(msgs, poptest.Message{UID: fmt.Sprint("n", i), Data: msg(strings.Repeat("x", 1000*i*i), fmt.Sprintf("Message-ID: <u%d@x>", i), "To: someone@example.com")})
	}
	srv.AddUser(popUser, popPass, msgs...)
	e := newEnv(t, srv, nil)
	r := e.check()
	require.Error(t, r.Err)
	assert.False(t, r.Committed)
	for _, c := range srv.Transcript() {
		assert.NotEqual(t, "DELE", c.Name)
	}
	var reasons []string
	for _, m := range r.Messages {
		if m.UID != "" && m.Action == pop.Keep {
			reasons = append(reasons, m.Reason)
		}
	}
	assert.Contains(t, reasons, "no valid recipient; kept: the session ended before the check's deletion guard judged")
	assert.Len(t, srv.Mailbox(popUser), 3)

	r = e.check()
	require.NoError(t, r.Err)
	assert.Equal(t, 3, r.Deleted)
	assert.Empty(t, srv.Mailbox(popUser))
}

// Recipients refused in two checks: the postmaster has the message once.
func TestFailedPolicyRefusalsInTwoChecks(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "f1", Data: msg("hi", "Message-ID: <f2@x>", "To: alice@example.com, bob@example.com, carol@example.com")})
	e := newEnv(t, srv, func(a *account.Account) {
		a.Policy.Failed, a.Policy.Postmaster = account.FailedPostmaster, "postmaster@example.com"
	})
	e.dlv.Fail("alice@example.com", delivertest.Fault{Status: deliver.Permanent})
	e.dlv.Fail("bob@example.com", delivertest.Fault{Status: deliver.Temporary})
	require.NoError(t, e.check().Err)
	assert.Len(t, srv.Mailbox(popUser), 1, "kept for bob")
	e.dlv.Fail("bob@example.com", delivertest.Fault{Status: deliver.Permanent})
	require.NoError(t, e.check().Err)
	assert.Equal(t, map[string]int{"carol@example.com": 1, "postmaster@example.com": 1}, e.delivered())
	assert.Empty(t, srv.Mailbox(popUser))
}

// A policy's copy to the postmaster that the postmaster's mailbox refuses
// keeps the message on the server: nobody has it.
func TestPostmasterRefusalKeeps(t *testing.T) {
	for name, m := range map[string][]byte{
		"no recipient": msg("x", "Message-ID: <p1@x>", "To: nobody@example.com"),
		"loop":         msg("x", "X-Multidrop-Loop: mx.local.test", "Message-ID: <p2@x>", "To: alice@example.com"),
	} {
		t.Run(name, func(t *testing.T) {
			srv := &poptest.Server{}
			srv.AddUser(popUser, popPass, poptest.Message{UID: "p", Data: m})
			e := newEnv(t, srv, func(a *account.Account) {
				a.Policy = account.Policy{NoRecipient: account.NoRecipientPostmaster, Loop: account.LoopQuarantine, Postmaster: "postmaster@example.com"}
			})
			e.dlv.Fail("postmaster@example.com", delivertest.Fault{Status: deliver.Permanent, Times: 1})
			r := e.check()
			require.NoError(t, r.Err)
			assert.Len(t, srv.Mailbox(popUser), 1)
			assert.Contains(t, r.Messages[0].Reason, "postmaster delivery failed; kept")
			require.NoError(t, e.check().Err)
			assert.Equal(t, map[string]int{"postmaster@example.com": 1}, e.delivered())
			assert.Empty(t, srv.Mailbox(popUser))
		})
	}
}
