package account

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get (and wrapped by others) for an unknown ID.
var ErrNotFound = errors.New("account: not found")

// ErrExists is returned (wrapped) by [MutableStore.Create] when an account
// with the ID exists already.
var ErrExists = errors.New("account: already exists")

// ErrConflict is returned (wrapped) by [MutableStore.Update] when the
// account was changed since it was read: its Version is not the stored one.
var ErrConflict = errors.New("account: changed by someone else")

// Filter selects accounts in List. The zero Filter selects all.
type Filter struct {
	Domain string // only accounts whose Domain (or an extra domain) is this one
}

// Store is the read side of the account storage (the AccountStore role).
type Store interface {
	Get(ctx context.Context, id string) (Account, error)
	List(ctx context.Context, f Filter) ([]Account, error)
}

// MutableStore is a Store that can be changed. Each write validates the
// account (see Account.Validate) and returns the stored account, whose
// Version the store sets: 1 when created, one more on each write.
//
//   - Create stores a new account, assigning an ID when it is empty; it
//     fails with [ErrExists] when the ID is taken. Of several concurrent
//     Creates of one ID exactly one succeeds.
//   - Update replaces an existing account if its Version is the stored
//     one (compare-and-swap), failing with [ErrConflict] otherwise and with
//     [ErrNotFound] when the account does not exist (an Update never
//     brings back a deleted account).
//   - Put stores the account unconditionally, creating or replacing it
//     whatever its Version (for imports); it assigns an ID when it is empty.
//   - Delete removes accounts; unknown IDs are ignored.
type MutableStore interface {
	Store
	Create(ctx context.Context, a Account) (Account, error)
	Update(ctx context.Context, a Account) (Account, error)
	Put(ctx context.Context, a Account) (Account, error)
	Delete(ctx context.Context, ids ...string) error
}

// Journal is the per-account state the pipeline keeps between checks. Every
// write is durable when it returns. An error from any method means the state
// is unknown: the caller must not delete anything on the server.
type Journal interface {
	// Sync records the UIDs present in the current listing with now as their
	// first-seen time if new, forgets every UID (and its delivery records)
	// that is no longer listed, and returns the first-seen time of each
	// listed UID.
	Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error)
	// Delivered returns the recipients already delivered for a message key.
	Delivered(ctx context.Context, accountID, key string) ([]string, error)
	// Record durably records that key was delivered to rcpts.
	Record(ctx context.Context, accountID, key string, rcpts []string, at time.Time) error
	// DeliveredID returns the recipients a message with this Message-ID was
	// delivered to within the retention period (copies of one message).
	DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error)
	// RecordID records deliveries by Message-ID, kept until expires.
	RecordID(ctx context.Context, accountID, messageID string, rcpts []string, expires time.Time) error
	// Forget removes the records of keys (after their messages were deleted
	// on the server and the session committed).
	Forget(ctx context.Context, accountID string, keys ...string) error
}

// Record is one entry of a batch of journal writes: Key was delivered to
// Rcpts at At and, when MessageID is not empty, the message with that
// Message-ID was delivered to IDRcpts, remembered until Expires. It is what
// Record and RecordID write, in one entry.
type Record struct {
	Key       string
	Rcpts     []string
	At        time.Time
	MessageID string
	IDRcpts   []string
	Expires   time.Time
}

// An IDLister is a Journal that lists the Message-IDs it holds records
// for. A check reads them once, before its first download, when they are
// few next to the messages it retrieves, and then asks DeliveredID only
// about a Message-ID among them or recorded since: one reading instead of
// one query per message, where a query costs a round trip or a read
// transaction.
type IDLister interface {
	// MessageIDs returns the Message-IDs of the account's Message-ID
	// records, in no order, possibly repeated and possibly expired, and
	// true; or, when the account has more than limit records, nil and false.
	MessageIDs(ctx context.Context, accountID string, limit int) ([]string, bool, error)
}

// A BatchRecorder is a Journal that makes several records durable in one
// write (one transaction, one commit): the Pipeline groups the records of
// deliveries that finish together, saving a synchronous commit per message.
type BatchRecorder interface {
	// RecordBatch writes every record, all or none; it is durable when it
	// returns. A fenced journal checks its lease once for the batch.
	RecordBatch(ctx context.Context, accountID string, recs []Record) error
}

// RecordAll writes recs through j: in one write when j is a BatchRecorder,
// otherwise with RecordID and then Record for each record, in order (so a
// record's key is written last, as a failure part-way leaves at worst
// Message-ID records whose key is not written).
func RecordAll(ctx context.Context, j Journal, accountID string, recs []Record) error {
	if b, ok := j.(BatchRecorder); ok {
		return b.RecordBatch(ctx, accountID, recs)
	}
	for _, r := range recs {
		if r.MessageID != "" && len(r.IDRcpts) > 0 {
			if err := j.RecordID(ctx, accountID, r.MessageID, r.IDRcpts, r.Expires); err != nil {
				return err
			}
		}
		if len(r.Rcpts) > 0 {
			if err := j.Record(ctx, accountID, r.Key, r.Rcpts, r.At); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrLeaseHeld is returned by Locker.Acquire when another owner holds a
// live lease on the account.
var ErrLeaseHeld = errors.New("account: lease held by another owner")

// ErrLeaseLost is returned by fenced operations once the lease has expired
// and may have been taken over.
var ErrLeaseLost = errors.New("account: lease lost")

// A Locker hands out exclusive, expiring leases on accounts, so that one
// mailbox is checked by one session at a time, across processes when the
// implementation is shared storage.
type Locker interface {
	Acquire(ctx context.Context, accountID, owner string, ttl time.Duration) (Lease, error)
}

// A Lease is an exclusive claim on one account until it expires.
type Lease interface {
	// Token is the fencing token: it grows with every new lease of the account.
	Token() int64
	// Renew extends the lease; it fails with ErrLeaseLost when the lease has
	// expired or was taken over.
	Renew(ctx context.Context, ttl time.Duration) error
	// Release ends the lease.
	Release(ctx context.Context) error
}

// A Fencer is a Journal that can be bound to a lease. The Journal it returns
// checks, atomically with each write (Sync, Record, RecordID, Forget), that
// lease is still the current, unexpired lease of the account, and refuses the
// write with [ErrLeaseLost] otherwise; it also refuses any account ID other
// than the lease's. An instance that paused past its lease's expiry can then
// no longer record deliveries or prune state that a newer holder relies on.
// The lease must come from the Locker paired with the journal (see the
// implementations).
type Fencer interface {
	Fenced(lease Lease) Journal
}
