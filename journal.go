package multidrop

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/multidrop/multidrop/account"
)

// Every journal call of a check is in this file. The journal keeps, per
// message key, an account.Delivery: the recipients that have the message,
// whether the key is final, and the notices sent about it.

// journalTimeout bounds a journal write that must outlive a cancelled check.
const journalTimeout = 30 * time.Second

// hasRecipient reports whether a key's journal recipients show rcpt done.
func hasRecipient(done []string, rcpt string) bool { return slices.Contains(done, rcpt) }

// syncJournal tells the journal the listed UIDs and returns when each was
// first seen.
func (c *check) syncJournal(ctx context.Context, uids []string) (map[string]time.Time, error) {
	return c.j.Sync(ctx, c.a.ID, uids, c.p.opt.Now())
}

// recipientsOf returns the journal's state of a message key.
func (c *check) recipientsOf(ctx context.Context, key string) (account.Delivery, error) {
	return c.j.Delivered(ctx, c.a.ID, key)
}

// statesOf returns the journal's state of each of the listed UIDs, read
// at once (one read where the journal is an account.BatchReader), with an
// entry for every UID, recorded or not.
func (c *check) statesOf(ctx context.Context, uids []string) (map[string]account.Delivery, error) {
	states, err := account.DeliveredAll(ctx, c.j, c.a.ID, uids)
	if err != nil {
		return nil, err
	}
	if states == nil { // a BatchReader with nothing recorded
		states = make(map[string]account.Delivery, len(uids))
	}
	for _, u := range uids {
		if _, ok := states[u]; !ok {
			states[u] = account.Delivery{}
		}
	}
	return states, nil
}

// recipientsOfCopy returns the journal's recipients of a copy ID.
func (c *check) recipientsOfCopy(ctx context.Context, copyID string) ([]string, error) {
	return c.j.DeliveredID(ctx, c.a.ID, copyID)
}

// deliveryRecord is the record of final recipients of a message, under its
// key and, for copies, its copy ID; with final, it also marks the key
// final.
func (c *check) deliveryRecord(key, copyID string, rcpts []string, final bool) account.Record {
	now := c.p.opt.Now()
	rec := account.Record{Key: key, Rcpts: rcpts, Final: final, At: now}
	if copyID != "" {
		rec.MessageID, rec.IDRcpts, rec.Expires = copyID, rcpts, now.Add(c.p.opt.MessageIDTTL)
	}
	return rec
}

// finalRecord is the record that marks a message key final.
func (c *check) finalRecord(key string) account.Record {
	return account.Record{Key: key, Final: true, At: c.p.opt.Now()}
}

// recordNotice records under key that the notice n was sent.
func (c *check) recordNotice(ctx context.Context, key string, n account.Notice) error {
	return c.j.Record(ctx, c.a.ID, account.Record{Key: key, Notices: []account.Notice{n}, At: c.p.opt.Now()})
}

// writeRecords writes recs in one journal write. The deliveries they
// describe happened, so the write goes on even if the check is being
// cancelled; and as records are idempotent, a failure (a busy database, a
// dropped connection) is tried once more, unless the lease is lost.
func (c *check) writeRecords(recs []account.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	err := account.RecordAll(ctx, c.j, c.a.ID, recs)
	if err != nil && !errors.Is(err, account.ErrLeaseLost) && ctx.Err() == nil {
		err = account.RecordAll(ctx, c.j, c.a.ID, recs)
	}
	return err
}

// forgetDeleted forgets the journal state of messages whose deletion was
// committed.
func (c *check) forgetDeleted(ctx context.Context, keys []string) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	if err := c.j.Forget(fctx, c.a.ID, keys...); err != nil {
		// Harmless: the records are pruned at the next listing.
		c.log.Debug("journal forget failed", "err", err)
	}
}

// listIDs lists the account's Message-ID records, up to limit, when the
// journal can; ok is false when it cannot or holds more.
func (c *check) listIDs(ctx context.Context, limit int) (ids []string, ok bool) {
	l, can := c.p.opt.Journal.(account.IDLister)
	if !can {
		return nil, false
	}
	ids, all, err := l.MessageIDs(ctx, c.a.ID, limit)
	if err != nil {
		c.log.Debug("message-id records not listed; asking for each message", "err", err)
		return nil, false
	}
	return ids, all
}
