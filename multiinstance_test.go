package multidrop_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/account/sqlstore"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/resolve"

	"github.com/multidrop/multidrop/internal/farmtest"
)

// These tests run several Pipelines (the instances of a deployment) on one
// database, against SQLite and, when MULTIDROP_PG_DSN is set, PostgreSQL.
// The scheduling of shared instances (RunShared) is tested in package
// schedule.

// The shared databases and the farm of mailboxes are package farmtest's.
var (
	sharedEngines = farmtest.Engines
	newFarm       = farmtest.New
)

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
				dlv := deliver.Deliverer(f.Dlv)
				if i == 0 { // the first delivery of instance 0 waits
					dlv = deliver.Func(func(ctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
						once.Do(func() {
							close(inside)
							<-release
						})
						return f.Dlv.Deliver(ctx, env, m)
					})
				}
				p, err := multidrop.New(&multidrop.Options{Store: st, Journal: st, Locker: st,
					Resolver: resolve.New(f.Dir, nil), Deliverer: dlv,
					Lease: multidrop.LeaseOptions{Owner: fmt.Sprint("instance-", i)}, Logger: slog.New(slog.DiscardHandler)})
				require.NoError(t, err)
				pipes[i] = p
			}
			id := f.IDs[0]
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
			assert.Equal(t, 1, f.Srv.Sessions(), "the second instance did not open the mailbox")
			close(release)
			<-done
			require.NoError(t, first)
			f.AssertExactlyOnce(t)
		})
	}
}
