package multidrop_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop"
	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/parse"
	"github.com/multidrop/multidrop/pop/poptest"
	"github.com/multidrop/multidrop/resolve"
)

// pausingDeliverer lets a test act in the middle of a delivery, as a long GC
// pause or a stalled process would.
type pausingDeliverer struct {
	inner deliver.Deliverer
	pause func()
}

func (d *pausingDeliverer) Deliver(ctx context.Context, env deliver.Envelope, m io.Reader) (deliver.Results, error) {
	res, err := d.inner.Deliver(ctx, env, m)
	if d.pause != nil {
		d.pause()
		d.pause = nil
	}
	return res, err
}

// An instance whose lease expired during a pause and was taken over can no
// longer record or delete: the fenced journal refuses its writes.
func TestStaleInstanceIsFenced(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("a", "Message-ID: <f@x>", "To: alice@example.com")})
	locker := account.NewMemoryLocker()
	var e *env
	pd := &pausingDeliverer{}
	e = newEnv(t, srv, nil, func(e *env, o *multidrop.Options) {
		locker.Now = func() time.Time { return e.now }
		o.Locker = locker
		o.Lease.TTL = time.Minute
		pd.inner = o.Deliverer
		o.Deliverer = pd
	})
	pd.pause = func() {
		e.now = e.now.Add(2 * time.Minute) // the lease expired during the pause
		_, err := locker.Acquire(context.Background(), e.acct.ID, "other-instance", time.Minute)
		require.NoError(t, err, "another instance took the account over")
	}
	r := e.check()
	require.ErrorIs(t, r.Err, account.ErrLeaseLost)
	assert.Equal(t, 0, r.Deleted)
	assert.Len(t, srv.Mailbox(popUser), 1, "no DELE from the stale instance")
	for _, c := range srv.Transcript() {
		assert.NotEqual(t, "DELE", c.Name)
	}
	// The delivery it made is not recorded: the new holder decides. (A
	// Maildir with KeyNames makes that second delivery a no-op.)
	got, err := e.journal.Delivered(t.Context(), e.acct.ID, "u1")
	require.NoError(t, err)
	assert.Empty(t, got)

	// While the other instance holds the lease, checks here are refused.
	_, err = e.p.Check(t.Context(), e.acct.ID)
	require.ErrorIs(t, err, multidrop.ErrAccountBusy)
}

// A pause before the delivery (here in the resolver) is caught by the lease
// check that precedes every delivery: the stale instance delivers nothing.
func TestPauseBeforeDeliveryDeliversNothing(t *testing.T) {
	srv := &poptest.Server{}
	srv.AddUser(popUser, popPass, poptest.Message{UID: "u1", Data: msg("a", "Message-ID: <p@x>", "To: alice@example.com")})
	locker := account.NewMemoryLocker()
	var e *env
	paused := false
	e = newEnv(t, srv, nil, func(e *env, o *multidrop.Options) {
		locker.Now = func() time.Time { return e.now }
		o.Locker = locker
		o.Lease.TTL = time.Minute
		inner := o.Resolver
		o.Resolver = resolve.Func(func(ctx context.Context, a account.Account, c []parse.Candidate) (resolve.Result, error) {
			if !paused {
				paused = true
				e.now = e.now.Add(2 * time.Minute)
				_, err := locker.Acquire(context.Background(), a.ID, "other-instance", time.Minute)
				require.NoError(t, err)
			}
			return inner.Resolve(ctx, a, c)
		})
	})
	r := e.check()
	require.ErrorIs(t, r.Err, account.ErrLeaseLost)
	assert.Empty(t, e.delivered(), "nothing delivered under a lost lease")
	assert.Len(t, srv.Mailbox(popUser), 1)
}
