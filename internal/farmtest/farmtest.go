// Package farmtest holds what the tests of several instances sharing one
// database need: the databases to run on (SQLite, and PostgreSQL when
// MULTIDROP_PG_DSN is set) and a farm of POP mailboxes, one account each,
// whose deliveries are counted. The root package's and package schedule's
// multi-instance tests use it.
package farmtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/account/sqlstore/postgres"
	"github.com/multidrop/multidrop/account/sqlstore/sqlite"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/deliver/delivertest"
	"github.com/multidrop/multidrop/internal/pgtest"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

// An Opener opens a new Store, with its own connection pool, on the
// test's database; now is the store's clock (nil: the database's).
type Opener func(t testing.TB, now func() time.Time) *sqlstore.Store

// Engines returns the databases to run a shared test on: SQLite (one file)
// and PostgreSQL (a fresh schema of MULTIDROP_PG_DSN), the latter skipped
// with one line without MULTIDROP_PG_DSN and failed under CI=true.
func Engines() map[string]func(t *testing.T) Opener {
	openWith := func(open func(ctx context.Context, now func() time.Time) (*sqlstore.Store, error)) Opener {
		return func(t testing.TB, now func() time.Time) *sqlstore.Store {
			s, err := open(context.Background(), now)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	}
	return map[string]func(t *testing.T) Opener{
		"sqlite": func(t *testing.T) Opener {
			path := filepath.Join(t.TempDir(), "multidrop.db")
			return openWith(func(ctx context.Context, now func() time.Time) (*sqlstore.Store, error) {
				return sqlite.Open(ctx, path, &sqlstore.Options{Now: now})
			})
		},
		"postgres": func(t *testing.T) Opener {
			dsn := pgtest.Schema(t, "mdshared")
			return openWith(func(ctx context.Context, now func() time.Time) (*sqlstore.Store, error) {
				return postgres.Open(ctx, dsn, &sqlstore.Options{Now: now})
			})
		},
	}
}

// Farm is a poptest server with n mailboxes (box000, box001, ...), one
// account each in the store, and a recording Deliverer shared by the
// instances; every user is alice@example.com.
type Farm struct {
	Srv  *poptest.Server
	Dlv  *delivertest.Deliverer
	IDs  []string
	Dir  resolve.Directory
	next map[string]int // next message number per mailbox
}

// New starts a farm of n mailboxes with per messages each, their accounts
// put in st.
func New(t *testing.T, st *sqlstore.Store, n, per int) *Farm {
	t.Helper()
	f := &Farm{Srv: &poptest.Server{}, Dlv: &delivertest.Deliverer{}, next: map[string]int{}}
	f.Srv.Start(t)
	addr := f.Srv.Addr()
	i := strings.LastIndexByte(addr, ':')
	port, err := strconv.Atoi(addr[i+1:])
	require.NoError(t, err)
	host := addr[:i]
	for i := range n {
		id := fmt.Sprintf("box%03d", i)
		f.IDs = append(f.IDs, id)
		f.Srv.AddUser(id, "pw-"+id)
		f.Add(id, per)
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
	f.Dir = dir
	return f
}

// Add appends k messages to a mailbox, with UIDs "<box>-<n>".
func (f *Farm) Add(id string, k int) {
	var ms []poptest.Message
	for range k {
		f.next[id]++
		uid := fmt.Sprintf("%s-%d", id, f.next[id])
		data := "Message-ID: <" + uid + "@shared.test>\r\nTo: alice@example.com\r\nSubject: " + uid + "\r\n\r\nbody of " + uid + "\r\n"
		ms = append(ms, poptest.Message{UID: uid, Data: []byte(data)})
	}
	f.Srv.AddMessages(id, ms...)
}

// Expected lists the UIDs added so far.
func (f *Farm) Expected() []string {
	var out []string
	for _, id := range f.IDs {
		for k := 1; k <= f.next[id]; k++ {
			out = append(out, fmt.Sprintf("%s-%d", id, k))
		}
	}
	return out
}

// Delivered counts the delivered copies per message key.
func (f *Farm) Delivered() map[string]int {
	out := map[string]int{}
	for _, d := range f.Dlv.Deliveries() {
		for _, r := range d.Results {
			if r.Status == deliver.Delivered {
				out[d.Envelope.Trace.Key]++
			}
		}
	}
	return out
}

// AllDelivered reports whether every message added so far was delivered.
func (f *Farm) AllDelivered() bool {
	got := f.Delivered()
	for _, k := range f.Expected() {
		if got[k] == 0 {
			return false
		}
	}
	return true
}

// AssertExactlyOnce checks that every message was delivered once, no
// mailbox was opened by two sessions at once, and every mailbox is empty.
func (f *Farm) AssertExactlyOnce(t *testing.T) {
	t.Helper()
	got := f.Delivered()
	for _, k := range f.Expected() {
		assert.Equal(t, 1, got[k], "deliveries of %s", k)
	}
	assert.Len(t, got, len(f.Expected()), "nothing else was delivered")
	for _, id := range f.IDs {
		assert.Zero(t, f.Srv.Overlaps(id), "overlapping sessions on %s", id)
		assert.Empty(t, f.Srv.Mailbox(id), "mailbox %s", id)
	}
}
