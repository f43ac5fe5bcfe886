package multidrop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
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

// This file uses the package's exported API only.

// errProcessDead is what a "dead" process's journal writes and deliveries
// return in TestLMTPCrashWindow: nothing it does any more is durable.
var errProcessDead = errors.New("test: the process is dead")

// lmtpCrashJournal is the durable journal of a process that dies: once
// dead is set, every write fails and changes nothing.
type lmtpCrashJournal struct {
	account.Journal
	mu   sync.Mutex
	dead bool
}

func (j *lmtpCrashJournal) alive() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.dead {
		return errProcessDead
	}
	return nil
}

func (j *lmtpCrashJournal) die() {
	j.mu.Lock()
	j.dead = true
	j.mu.Unlock()
}

func (j *lmtpCrashJournal) Sync(ctx context.Context, id string, uids []string, now time.Time) (map[string]time.Time, error) {
	if err := j.alive(); err != nil {
		return nil, err
	}
	return j.Journal.Sync(ctx, id, uids, now)
}

func (j *lmtpCrashJournal) Record(ctx context.Context, id string, r account.Record) error {
	if err := j.alive(); err != nil {
		return err
	}
	return j.Journal.Record(ctx, id, r)
}

func (j *lmtpCrashJournal) Forget(ctx context.Context, id string, keys ...string) error {
	if err := j.alive(); err != nil {
		return err
	}
	return j.Journal.Forget(ctx, id, keys...)
}

// RecordBatch keeps group commit: the records of several finished messages
// in one write. Each write takes a while, as a database commit does, so
// that delivered messages queue for the journal: the widest window.
func (j *lmtpCrashJournal) RecordBatch(ctx context.Context, id string, recs []account.Record) error {
	if err := j.alive(); err != nil {
		return err
	}
	time.Sleep(lmtpCrashCommit)
	if err := j.alive(); err != nil {
		return err // the process died during the commit: not durable
	}
	return account.RecordAll(ctx, j.Journal, id, recs)
}

// lmtpCrashCommit is the time a group commit takes in TestLMTPCrashWindow.
const lmtpCrashCommit = 3 * time.Millisecond

// lmtpCrashPending is the number of messages per delivery slot that may be
// delivered and wait for their journal record (see the package doc).
const lmtpCrashPending = 8

// lmtpCrashDeliverer stands for an LMTP or SMTP server (server records what
// it accepted) reached by a process that dies when the server has accepted
// its k-th message. A delivery in flight at that moment still reaches the
// server (its data was sent; the reply is lost with the process), so it is
// not cancelled; a dead process starts no delivery.
type lmtpCrashDeliverer struct {
	server *delivertest.Deliverer
	mu     sync.Mutex
	k, n   int
	dead   bool
	die    func()
}

func (d *lmtpCrashDeliverer) Deliver(ctx context.Context, env deliver.Envelope, msg io.Reader) (deliver.Results, error) {
	d.mu.Lock()
	dead := d.dead
	d.mu.Unlock()
	if dead {
		res := make(deliver.Results, len(env.To))
		for i, r := range env.To {
			res[i] = deliver.Result{Recipient: r, Status: deliver.Temporary, Err: errProcessDead}
		}
		return res, errProcessDead
	}
	res, err := d.server.Deliver(context.WithoutCancel(ctx), env, msg)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n++; d.n == d.k && !d.dead {
		d.dead = true
		d.die()
	}
	return res, err
}

// TestLMTPCrashWindow: a process that dies in the middle of a check (after
// an LMTP or SMTP server accepted some of its messages, with deliveries in
// flight and group commits pending) and is restarted over the same durable
// journal delivers every message, and delivers a second time only the
// messages being finished when it died: with DeliveryConcurrency 1 at most
// one, else at most 8 × DeliveryConcurrency (being delivered, or delivered
// and waiting for the journal's group commit), however many it delivered
// before.
func TestLMTPCrashWindow(t *testing.T) {
	const messages = 100
	before := runtime.NumGoroutine()
	defer func() {
		// Nothing of either process outlives its check: no goroutine, no
		// connection (each connection has its goroutines).
		for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines leaked")
	}()
	for _, conc := range []int{1, 2, 4} {
		for _, k := range []int{3, 70} {
			t.Run(fmt.Sprintf("concurrency %d/dies after %d", conc, k), func(t *testing.T) {
				lmtpCrashWindow(t, messages, conc, k)
			})
		}
	}
}

func lmtpCrashWindow(t *testing.T, messages, conc, k int) {
	const user, pass = "drop", "drop-secret"
	srv := &poptest.Server{ImplicitTLS: true}
	var msgs []poptest.Message
	for i := range messages {
		msgs = append(msgs, poptest.Message{UID: "u" + strconv.Itoa(i), Data: []byte(
			"Message-ID: <m" + strconv.Itoa(i) + "@remote.test>\r\nFrom: a@remote.test\r\nTo: alice@example.com\r\n" +
				"Subject: " + strconv.Itoa(i) + "\r\n\r\n" + strings.Repeat("body\r\n", 200))})
	}
	srv.AddUser(user, pass, msgs...)
	srv.Start(t)
	store := account.NewMemoryStore()
	// serve points the account at srv.
	serve := func(srv *poptest.Server) account.Account {
		i := strings.LastIndexByte(srv.Addr(), ':')
		port, err := strconv.Atoi(srv.Addr()[i+1:])
		require.NoError(t, err)
		a, err := store.Put(t.Context(), account.Account{
			ID: "acct1", Enabled: true, Host: srv.Addr()[:i], Port: port, Domain: "example.com",
			Security: account.SecurityTLS, TLS: account.TLS{RootCAs: string(srv.CAPEM())},
			Auth: account.Auth{User: user, Secret: pass, Mechanism: account.MechanismUser},
		})
		require.NoError(t, err)
		return a
	}
	a := serve(srv)
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	require.NoError(t, err)

	durable := account.NewMemoryJournal()
	server := &delivertest.Deliverer{}
	// Deliveries overlap: each takes a while at the server.
	server.FailCall(delivertest.Fault{Status: deliver.Delivered, Delay: 2 * time.Millisecond})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	journal := &lmtpCrashJournal{Journal: durable}
	dlv := &lmtpCrashDeliverer{server: server, k: k, die: func() {
		journal.die() // nothing the process does from now on is durable
		cancel()
	}}
	newPipeline := func(j account.Journal, d deliver.Deliverer) *multidrop.Pipeline {
		p, err := multidrop.New(&multidrop.Options{
			Store: store, Journal: j, Resolver: resolve.New(dir, nil), Deliverer: d,
			Fetcher:             &pop.Downloader{Options: pop.Options{Timeouts: account.Timeouts{Command: 5 * time.Second, Data: 5 * time.Second}}},
			Spool:               multidrop.SpoolOptions{Dir: t.TempDir()},
			Logger:              slog.New(slog.DiscardHandler),
			DeliveryConcurrency: conc,
		})
		require.NoError(t, err)
		return p
	}

	_, _ = newPipeline(journal, dlv).Check(ctx, a.ID)
	require.True(t, dlv.dead, "the process died")
	// The server notices the dead connection (and unlocks the maildrop)
	// when it notices; rather than wait for that, the same maildrop is
	// served anew.
	require.NoError(t, srv.Close())
	left := srv.Mailbox(user)
	require.Len(t, left, messages, "a dead process deletes nothing")
	srv = &poptest.Server{ImplicitTLS: true}
	srv.AddUser(user, pass, left...)
	srv.Start(t)
	a = serve(srv)

	// The restart: a new process over what the journal made durable.
	r, err := newPipeline(durable, server).Check(t.Context(), a.ID)
	require.NoError(t, err)
	require.NoError(t, r.Err)
	assert.Empty(t, srv.Mailbox(user), "the restarted check finishes the mailbox")

	got := map[string]int{}
	for _, d := range server.Deliveries() {
		for _, res := range d.Results {
			if res.Status == deliver.Delivered {
				got[d.Envelope.Trace.Key]++
			}
		}
	}
	twice := 0
	for _, m := range msgs {
		n := got[m.UID]
		assert.Positive(t, n, "%s delivered", m.UID)
		assert.LessOrEqual(t, n, 2, "%s delivered %d times", m.UID, n)
		if n > 1 {
			twice++
		}
	}
	bound := 1
	if conc > 1 {
		bound = lmtpCrashPending * conc
	}
	assert.LessOrEqual(t, twice, bound, "messages delivered twice: at most those being finished")
	t.Logf("delivered twice: %d (died when the server had accepted %d; DeliveryConcurrency %d, bound %d)", twice, k, conc, bound)
}
