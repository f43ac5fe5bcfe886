package multidrop_test

import (
	"context"
	"fmt"
	"io"
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
	"github.com/multidrop/multidrop/pop/poptest"
)

// crashMailbox: three messages, five (message, recipient) pairs.
var crashMailbox = []struct {
	uid, id string
	data    []byte
	rcpts   []string
}{
	{"u1", "<m1@x>", msg("one", "Message-ID: <m1@x>", "From: a@remote.test", "To: alice@example.com, bob@example.com"), []string{"alice@example.com", "bob@example.com"}},
	{"u2", "<m2@x>", msg("two", "Delivered-To: carol@example.com", "Received: by mx.provider.test; Mon, 1 Nov 2026 10:00:00 +0000", "Message-ID: <m2@x>", "From: a@remote.test", "To: list@remote.test"), []string{"carol@example.com"}},
	{"u3", "<m3@x>", msg("three", "Message-ID: <m3@x>", "From: a@remote.test", "To: alice@example.com", "Cc: carol@example.com"), []string{"alice@example.com", "carol@example.com"}},
}

// crashDeliverer delivers through inner; when armed it delivers only the
// first k recipients of the next call with at least k and then "crashes"
// the check.
type crashDeliverer struct {
	inner deliver.Deliverer
	mu    sync.Mutex
	armed bool
	k     int
	crash func()
}

func (d *crashDeliverer) Deliver(ctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
	d.mu.Lock()
	armed := d.armed && len(env.To) >= d.k
	if armed {
		d.armed = false
		env.To = env.To[:d.k]
	}
	d.mu.Unlock()
	res, err := d.inner.Deliver(ctx, env, m)
	if armed {
		d.crash()
	}
	return res, err
}

// crashJournal cancels the check right after its n-th successful record
// write: a Record, or a RecordBatch (a group commit) when the journal has
// it.
type crashJournal struct {
	account.Journal
	mu    sync.Mutex
	n     int
	crash func()
}

func (j *crashJournal) Record(ctx context.Context, id string, r account.Record) error {
	return j.wrote(j.Journal.Record(ctx, id, r))
}

// crashBatchJournal is a crashJournal over a BatchRecorder.
type crashBatchJournal struct{ *crashJournal }

func (j crashBatchJournal) RecordBatch(ctx context.Context, id string, recs []account.Record) error {
	return j.wrote(j.Journal.(account.BatchRecorder).RecordBatch(ctx, id, recs))
}

func (j *crashJournal) wrote(err error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err == nil && j.n > 0 {
		j.n--
		if j.n == 0 {
			j.crash()
		}
	}
	return err
}

func TestCrashPoints(t *testing.T) {
	cases := map[string]crashSetup{
		"after RETR":                 {faults: []poptest.Fault{{Kind: poptest.DropAfter, Session: 1, Command: "RETR", Arg: "2"}}},
		"after first recipient":      {dlvK: 1},
		"after second recipient":     {dlvK: 2},
		"after journal write":        {jrnlN: 1},
		"after final-mark write":     {jrnlN: 2},
		"after DELE":                 {faults: []poptest.Fault{{Kind: poptest.DropAfter, Session: 1, Command: "DELE", Arg: "1"}}},
		"before QUIT":                {deleCrash: true},
		"QUIT sent, no reply":        {faults: []poptest.Fault{{Kind: poptest.Drop, Session: 1, Command: "QUIT"}}},
		"connection cut mid-RETR":    {faults: []poptest.Fault{{Kind: poptest.DropAfterBytes, Session: 1, Bytes: 700}}},
		"RETR refused with SYS/TEMP": {faults: []poptest.Fault{{Kind: poptest.Reply, Session: 1, Command: "RETR", Arg: "2", Text: "-ERR [SYS/TEMP] busy"}}},
		"no fault":                   {},
	}
	for name, tc := range cases {
		for _, conc := range []int{1, 8} {
			for _, batch := range []bool{false, true} {
				for _, wrapped := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/concurrency %d/group commit %v/wrapped %v", name, conc, batch, wrapped), func(t *testing.T) {
						tc.batch, tc.wrapped = batch, wrapped
						crashPoint(t, tc, conc)
					})
				}
			}
		}
	}
}

// crashSetup is one case of TestCrashPoints.
type crashSetup struct {
	faults    []poptest.Fault
	dlvK      int  // crash after delivering to k recipients of a call (0: no)
	jrnlN     int  // crash after the n-th journal Record (0: no)
	deleCrash bool // crash when the server answers the first DELE (before QUIT)
	batch     bool // the journal writes records in group commits
	wrapped   bool // the Fetcher only delegates to the Downloader
}

func crashPoint(t *testing.T, tc crashSetup, conc int) {
	srv := &poptest.Server{Faults: tc.faults}
	var msgs []poptest.Message
	byUID := map[string][]string{}
	for _, m := range crashMailbox {
		msgs = append(msgs, poptest.Message{UID: m.uid, Data: m.data})
		byUID[m.uid] = m.rcpts
	}
	srv.AddUser(popUser, popPass, msgs...)

	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu       sync.Mutex
		snapshot = map[int][]string{} // session -> UIDs in its maildrop
		bad      []string
	)
	var e *env
	cd := &crashDeliverer{armed: tc.dlvK > 0, k: tc.dlvK, crash: cancel}
	cj := &crashJournal{n: tc.jrnlN, crash: cancel}
	e = newEnv(t, srv, nil, func(e *env, o *multidrop.Options) {
		cd.inner = e.dlv
		o.Deliverer = cd
		cj.Journal = o.Journal
		o.Journal = cj
		if tc.batch {
			o.Journal = crashBatchJournal{cj}
		}
		o.DeliveryConcurrency = conc
		if tc.wrapped {
			o.Fetcher = &delegatingFetcher{inner: o.Fetcher}
		}
	})
	srv.Rewrite = func(c poptest.Command, reply []byte) []byte {
		if c.Name != "DELE" {
			return reply
		}
		mu.Lock()
		uids := snapshot[c.Session]
		mu.Unlock()
		n, _ := strconv.Atoi(strings.TrimPrefix(c.Line, "DELE "))
		if n < 1 || n > len(uids) {
			bad = append(bad, fmt.Sprintf("session %d: DELE %d of an unlisted number", c.Session, n))
			return reply
		}
		got := e.delivered()
		for _, r := range byUID[uids[n-1]] {
			if got[r] == 0 {
				bad = append(bad, fmt.Sprintf("session %d: DELE %d (%s) before %s had it", c.Session, n, uids[n-1], r))
			}
		}
		if tc.deleCrash && c.Session == 1 {
			cancel()
		}
		return reply
	}

	for session := 1; session <= 4; session++ {
		// The server lets go of the mailbox of a session cut short once it
		// sees the connection end; the restarted check comes after that.
		require.Eventually(t, func() bool { return !srv.Locked(popUser) }, 5*time.Second, time.Millisecond)
		var uids []string
		for _, m := range srv.Mailbox(popUser) {
			uids = append(uids, m.UID)
		}
		mu.Lock()
		snapshot[session] = uids
		mu.Unlock()
		c := ctx
		if session > 1 {
			// A restart: a new Pipeline over the same journal.
			c = t.Context()
			var err error
			e.p, err = multidrop.New(e.opts)
			require.NoError(t, err)
		}
		_, _ = e.p.Check(c, e.acct.ID)
		require.Equal(t, session, srv.Sessions(), "one session per check")
	}
	assert.False(t, cd.armed, "the deliverer's crash point was reached")
	if !(tc.batch && conc > 1 && tc.jrnlN > 1) { // group commits may merge the writes
		assert.Zero(t, cj.n, "the journal's crash point was reached")
	}
	assert.Empty(t, bad)
	assert.Empty(t, srv.Mailbox(popUser), "every message deleted in the end")
	// Every (message, recipient) pair exactly once.
	count := map[string]int{}
	for _, d := range e.dlv.Deliveries() {
		for _, m := range crashMailbox {
			if strings.Contains(string(d.Data), "Message-ID: "+m.id) {
				for _, r := range d.Results {
					if r.Status == deliver.Delivered {
						count[m.id+" "+r.Recipient]++
					}
				}
			}
		}
	}
	want := map[string]int{}
	for _, m := range crashMailbox {
		for _, r := range m.rcpts {
			want[m.id+" "+r] = 1
		}
	}
	assert.Equal(t, want, count)

}
