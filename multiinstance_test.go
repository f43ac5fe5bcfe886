package multidrop_test

import (
	"context"
	"fmt"
	"io"
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
	"github.com/multidrop/multidrop/account/sqlstore/postgres"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"

	"github.com/multidrop/multidrop/internal/pgtest"
)

// These tests run several Pipelines (the instances of a deployment) on one
// database, against SQLite and, when MULTIDROP_PG_DSN is set, PostgreSQL.
// The scheduling of shared instances (RunShared) is tested in package
// schedule.

// dbOpener opens a new Store, with its own connection pool, on the test's
// database; now is the store's clock (nil: the database's).
type dbOpener func(t testing.TB, now func() time.Time) *sqlstore.Store

// sharedEngines returns the databases to run a shared test on: SQLite (one
// file) and PostgreSQL (a fresh schema), the latter skipped with one line
// without MULTIDROP_PG_DSN and failed under CI=true.
func sharedEngines() map[string]func(t *testing.T) dbOpener {
	openWith := func(open func(ctx context.Context, now func() time.Time) (*sqlstore.Store, error)) dbOpener {
		return func(t testing.TB, now func() time.Time) *sqlstore.Store {
			s, err := open(context.Background(), now)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	return map[string]func(t *testing.T) dbOpener{
		"sqlite": func(t *testing.T) dbOpener {
			path := filepath.Join(t.TempDir(), "multidrop.db")
			return openWith(func(ctx context.Context, now func() time.Time) (*sqlstore.Store, error) {
				return sqlite.Open(ctx, path, &sqlstore.Options{Now: now})
			})
		},
		"postgres": func(t *testing.T) dbOpener {
			dsn := pgTestSchema(t)
			return openWith(func(ctx context.Context, now func() time.Time) (*sqlstore.Store, error) {
				return postgres.Open(ctx, dsn, &sqlstore.Options{Now: now})
			})
		},
	}
}

// pgTestSchema returns a DSN on a fresh schema of MULTIDROP_PG_DSN, dropped
// when the test ends.
func pgTestSchema(t *testing.T) string { return pgtest.Schema(t, "mdshared") }

// farm is a poptest server with n mailboxes (box000, box001, ...), one
// account each in the store, and a recording Deliverer shared by the
// instances.
type farm struct {
	srv  *poptest.Server
	dlv  *delivertest.Deliverer
	ids  []string
	next map[string]int // next message number per mailbox
	dir  resolve.Directory
}

func newFarm(t *testing.T, st *sqlstore.Store, n, per int) *farm {
	t.Helper()
	f := &farm{srv: &poptest.Server{}, dlv: &delivertest.Deliverer{}, next: map[string]int{}}
	f.srv.Start(t)
	host, port := splitHostPort(t, f.srv.Addr())
	for i := range n {
		id := fmt.Sprintf("box%03d", i)
		f.ids = append(f.ids, id)
		f.srv.AddUser(id, "pw-"+id)
		f.add(id, per)
		_, err := st.Put(t.Context(), account.Account{
			ID: id, Enabled: true, Description: "shared " + id,
			Host: host, Port: port, Domain: "example.com",
			Security: account.SecurityNone,
			Auth:     account.Auth{User: id, Secret: "pw-" + id, Mechanism: account.MechanismUser, AllowInsecure: true},
		})
		require.NoError(t, err)
	}
	dir, err := resolve.NewStatic(resolve.Table{Users: []resolve.User{{Address: "alice@example.com"}}})
	require.NoError(t, err)
	f.dir = dir
	return f
}

// add appends k messages to a mailbox, with UIDs "<box>-<n>".
func (f *farm) add(id string, k int) {
	var ms []poptest.Message
	for range k {
		f.next[id]++
		uid := fmt.Sprintf("%s-%d", id, f.next[id])
		ms = append(ms, poptest.Message{UID: uid, Data: msg("body of "+uid,
			"Message-ID: <"+uid+"@shared.test>", "To: alice@example.com", "Subject: "+uid)})
	}
	f.srv.AddMessages(id, ms...)
}

// expected lists the UIDs added so far.
func (f *farm) expected() []string {
	var out []string
	for _, id := range f.ids {
		for k := 1; k <= f.next[id]; k++ {
			out = append(out, fmt.Sprintf("%s-%d", id, k))
		}
	}
	return out
}

// delivered counts the delivered copies per message key.
func (f *farm) delivered() map[string]int {
	out := map[string]int{}
	for _, d := range f.dlv.Deliveries() {
		for _, r := range d.Results {
			if r.Status == deliver.Delivered {
				out[d.Envelope.Trace.Key]++
			}
		}
	}
	return out
}

// assertExactlyOnce checks that every message was delivered once, no
// mailbox was opened by two sessions at once, and every mailbox is empty.
func (f *farm) assertExactlyOnce(t *testing.T) {
	t.Helper()
	got := f.delivered()
	for _, k := range f.expected() {
		assert.Equal(t, 1, got[k], "deliveries of %s", k)
	}
	assert.Len(t, got, len(f.expected()), "nothing else was delivered")
	for _, id := range f.ids {
		assert.Zero(t, f.srv.Overlaps(id), "overlapping sessions on %s", id)
		assert.Empty(t, f.srv.Mailbox(id), "mailbox %s", id)
	}
}

// Check on two instances (each its own Store on the shared database) of one
// account: while one holds the account's lease, the other's Check returns
// ErrAccountBusy without opening the mailbox.
func TestCheckBusyAcrossInstances(t *testing.T) {
	for name, engine := range sharedEngines() {
		t.Run(name, func(t *testing.T) {
			open := engine(t)
			stores := []*sqlstore.Store{open(t, nil), open(t, nil)}
			f := newFarm(t, stores[0], 1, 2)
			inside, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			pipes := make([]*multidrop.Pipeline, 2)
			for i, st := range stores {
				dlv := deliver.Deliverer(f.dlv)
				if i == 0 { // the first delivery of instance 0 waits
					dlv = deliver.Func(func(ctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
						once.Do(func() {
							close(inside)
							<-release
						})
						return f.dlv.Deliver(ctx, env, m)
					})
				}
				p, err := multidrop.New(&multidrop.Options{Store: st, Journal: st, Locker: st,
					Resolver: resolve.New(f.dir, nil), Deliverer: dlv,
					Lease: multidrop.LeaseOptions{Owner: fmt.Sprint("instance-", i)}, Logger: slog.New(slog.DiscardHandler)})
				require.NoError(t, err)
				pipes[i] = p
			}
			id := f.ids[0]
			var first error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, first = pipes[0].Check(context.Background(), id)
			}()
			<-inside
			_, err := pipes[1].Check(t.Context(), id)
			require.ErrorIs(t, err, multidrop.ErrAccountBusy)
			var held *account.LeaseHeldError
			require.ErrorAs(t, err, &held, "the refusal names the holder")
			assert.NotEmpty(t, held.Owner)
			assert.Contains(t, err.Error(), "lease held by another owner")
			assert.Equal(t, 1, f.srv.Sessions(), "the second instance did not open the mailbox")
			close(release)
			<-done
			require.NoError(t, first)
			f.assertExactlyOnce(t)
		})
	}
}
