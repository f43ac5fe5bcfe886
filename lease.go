package multidrop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/multidrop/multidrop/account"
)

// heldLease is the lease a check runs under: renewed in the background every
// third of its TTL, checked before each delivery, and cancelling the check
// the moment it is known lost, so that the session ends without QUIT and an
// instance that lost the account neither delivers nor deletes any further.
type heldLease struct {
	l       account.Lease
	ttl     time.Duration
	cancel  context.CancelCauseFunc
	now     func() time.Time
	renewed atomic.Int64 // Unix nanoseconds of the last renewal
	done    chan struct{}
	wg      sync.WaitGroup
}

// holdLease starts renewing l, taken for ttl; call release to stop.
func (p *Pipeline) holdLease(ctx context.Context, l account.Lease, ttl time.Duration, cancel context.CancelCauseFunc) *heldLease {
	h := &heldLease{l: l, ttl: ttl, cancel: cancel, now: p.opt.Now, done: make(chan struct{})}
	h.renewed.Store(h.now().UnixNano())
	h.wg.Go(func() {
		t := time.NewTicker(h.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := h.renew(ctx); err != nil {
					return
				}
			}
		}
	})
	return h
}

func (h *heldLease) renew(ctx context.Context) error {
	if err := h.l.Renew(ctx, h.ttl); err != nil {
		return h.lost(err)
	}
	h.renewed.Store(h.now().UnixNano())
	return nil
}

// lost cancels the check when err says the lease is gone, and returns err.
func (h *heldLease) lost(err error) error {
	if errors.Is(err, account.ErrLeaseLost) {
		h.cancel(fmt.Errorf("multidrop: lease lost: %w", err))
	}
	return err
}

// fresh makes sure the lease is still held before an irreversible step (a
// delivery). When the last renewal is older than a third of the TTL — the
// process was paused, or the renewer is late — it renews now, on the
// database's clock; a lease taken over meanwhile fails here.
func (h *heldLease) fresh(ctx context.Context) error {
	if h == nil {
		return nil
	}
	if h.now().Sub(time.Unix(0, h.renewed.Load())) < h.ttl/3 {
		return nil
	}
	return h.renew(ctx)
}

// release stops the renewals.
func (h *heldLease) release() {
	close(h.done)
	h.wg.Wait()
}

// fencedJournal is a lease-fenced journal whose refused writes cancel the
// check at once.
type fencedJournal struct {
	account.Journal
	h *heldLease
}

func (j fencedJournal) Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error) {
	m, err := j.Journal.Sync(ctx, accountID, uids, now)
	return m, j.h.lost(err)
}

// DeliveredBatch reads through the journal's own batch read, which the
// embedding would hide.
func (j fencedJournal) DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]account.Delivery, error) {
	return account.DeliveredAll(ctx, j.Journal, accountID, keys)
}

func (j fencedJournal) Record(ctx context.Context, accountID string, r account.Record) error {
	return j.h.lost(j.Journal.Record(ctx, accountID, r))
}

func (j fencedJournal) Forget(ctx context.Context, accountID string, keys ...string) error {
	return j.h.lost(j.Journal.Forget(ctx, accountID, keys...))
}

func (j fencedJournal) RecordBatch(ctx context.Context, accountID string, recs []account.Record) error {
	return j.h.lost(account.RecordAll(ctx, j.Journal, accountID, recs))
}

func (j fencedJournal) SetGuard(ctx context.Context, accountID string, g account.Guard) error {
	return j.h.lost(j.Journal.SetGuard(ctx, accountID, g))
}
