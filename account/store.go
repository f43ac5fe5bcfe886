package account

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ErrNotFound is returned by Get (and wrapped by others) for an unknown ID.
var ErrNotFound = errors.New("account: not found")

// DefaultJournalRetention is how long the stores keep the journal of a
// deleted account by default: an account created again with the same ID,
// host and user within that time finds it.
const DefaultJournalRetention = 30 * 24 * time.Hour

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
//
// # States
//
// A message key (a UID, or a digest for a message without one) has a
// [Delivery], all of whose parts only grow until the key is forgotten:
//
//   - Rcpts, the recipients the message was delivered to. A retry of the
//     key delivers only to the others.
//   - Final: the message needs nothing more (every recipient has it, or a
//     policy disposed of it), so a later check may delete it on the server
//     without downloading it.
//   - Notices, the postmaster notices sent about the message
//     ([NoticeOversize], [NoticeForeign]), each sent once per message.
//
// A Message-ID record (the recipients a copy of one message was delivered
// to, until it expires) is separate from the key's state. A Journal stores
// each part as given: recipients are opaque strings, never interpreted.
//
// An account has one [Guard], the deletion guard's memory: the window of
// its most recently examined messages (whether each had a valid
// recipient), since when the guard holds the account once it tripped, and
// when the administrator released it. SetGuard replaces it whole; Sync and
// Forget never touch it, so it outlives the messages it describes.
type Journal interface {
	// Sync records the UIDs present in the current listing with now as their
	// first-seen time if new, forgets every UID (and its delivery records)
	// that is no longer listed, and returns the first-seen time of each
	// listed UID.
	Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error)
	// Delivered returns the state of a message key; the zero Delivery
	// when nothing is recorded.
	Delivered(ctx context.Context, accountID, key string) (Delivery, error)
	// Record durably adds r to the state of r.Key and, when r.MessageID is
	// not empty, to that Message-ID's record, in one write.
	Record(ctx context.Context, accountID string, r Record) error
	// DeliveredID returns the recipients a message with this Message-ID was
	// delivered to within the retention period (copies of one message).
	DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error)
	// Forget removes the records of keys (after their messages were deleted
	// on the server and the session committed).
	Forget(ctx context.Context, accountID string, keys ...string) error
	// Guard returns the account's deletion guard state; the zero Guard
	// when nothing is recorded.
	Guard(ctx context.Context, accountID string) (Guard, error)
	// SetGuard durably replaces the account's deletion guard state with g;
	// the zero Guard clears it.
	SetGuard(ctx context.Context, accountID string, g Guard) error
}

// A Notice is a postmaster notice about one message, recorded in the
// journal so that it is sent once.
type Notice string

const (
	// NoticeOversize: the message is above the account's size limit and
	// was left on the server.
	NoticeOversize Notice = "oversize"
	// NoticeForeign: the message named recipients outside the account's
	// domains (the "report" foreign policy).
	NoticeForeign Notice = "foreign"
)

// Delivery is the journal's state of one message key (see [Journal]).
// Rcpts and Notices are sorted, without repeats.
type Delivery struct {
	Rcpts   []string
	Final   bool
	Notices []Notice
}

// Notified reports whether the notice n was sent.
func (d Delivery) Notified(n Notice) bool { return slices.Contains(d.Notices, n) }

// Record is one journal write: Key was delivered to Rcpts at At, is final
// when Final is set, and had Notices sent; when MessageID is not empty,
// the message with that Message-ID was delivered to IDRcpts, remembered
// until Expires. Parts left empty change nothing.
type Record struct {
	Key       string
	Rcpts     []string
	Final     bool
	Notices   []Notice
	At        time.Time
	MessageID string
	IDRcpts   []string
	Expires   time.Time
}

// Changes reports whether r changes anything: a Journal may skip the
// records that do not.
func (r Record) Changes() bool { return r.keyed() || r.identified() }

// keyed reports whether r changes the state of r.Key.
func (r Record) keyed() bool { return len(r.Rcpts) > 0 || r.Final || len(r.Notices) > 0 }

// identified reports whether r changes a Message-ID record.
func (r Record) identified() bool { return r.MessageID != "" && len(r.IDRcpts) > 0 }

// merge returns d with r's part for the key added: the state a Journal
// holds after recording r over d.
func (d Delivery) merge(r Record) Delivery {
	out := Delivery{Final: d.Final || r.Final}
	out.Rcpts = append(slices.Clone(d.Rcpts), r.Rcpts...)
	slices.Sort(out.Rcpts)
	out.Rcpts = slices.Compact(out.Rcpts)
	out.Notices = append(slices.Clone(d.Notices), r.Notices...)
	slices.Sort(out.Notices)
	out.Notices = slices.Compact(out.Notices)
	if len(out.Rcpts) == 0 {
		out.Rcpts = nil
	}
	if len(out.Notices) == 0 {
		out.Notices = nil
	}
	return out
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

// A BatchReader is a Journal that reads the states of many message keys at
// once (a database store: one query per few hundred keys): a check reads
// those of every listed UID when it plans, instead of asking Delivered
// about each, where a question costs a round trip or a read transaction.
type BatchReader interface {
	// DeliveredBatch returns the state of each of keys, as Delivered
	// returns it, by key; a key with nothing recorded is left out.
	DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]Delivery, error)
}

// DeliveredAll returns the states of keys through j, as
// [BatchReader.DeliveredBatch] does: at once when j is a BatchReader,
// otherwise with Delivered for each.
func DeliveredAll(ctx context.Context, j Journal, accountID string, keys []string) (map[string]Delivery, error) {
	if b, ok := j.(BatchReader); ok {
		return b.DeliveredBatch(ctx, accountID, keys)
	}
	out := map[string]Delivery{}
	for _, k := range keys {
		d, err := j.Delivered(ctx, accountID, k)
		if err != nil {
			return nil, err
		}
		if !d.empty() {
			out[k] = d
		}
	}
	return out, nil
}

// empty reports whether nothing is recorded in d.
func (d Delivery) empty() bool { return len(d.Rcpts) == 0 && !d.Final && len(d.Notices) == 0 }

// A BatchRecorder is a Journal that makes several records durable in one
// write (one transaction, one commit): the Pipeline groups the records of
// deliveries that finish together, saving a synchronous commit per message.
type BatchRecorder interface {
	// RecordBatch writes every record, all or none; it is durable when it
	// returns. A fenced journal checks its lease once for the batch.
	RecordBatch(ctx context.Context, accountID string, recs []Record) error
}

// RecordAll writes recs through j: in one write when j is a BatchRecorder,
// otherwise with Record for each, in order.
func RecordAll(ctx context.Context, j Journal, accountID string, recs []Record) error {
	if b, ok := j.(BatchRecorder); ok {
		return b.RecordBatch(ctx, accountID, recs)
	}
	for _, r := range recs {
		if err := j.Record(ctx, accountID, r); err != nil {
			return err
		}
	}
	return nil
}

// ErrLeaseHeld is returned by Locker.Acquire, wrapped in a [*LeaseHeldError]
// that names the holder and the expiry, when another owner holds a live
// lease on the account.
var ErrLeaseHeld = errors.New("account: lease held by another owner")

// ErrLeaseLost is returned by fenced operations once the lease has expired
// and may have been taken over.
var ErrLeaseLost = errors.New("account: lease lost")

// A Locker hands out exclusive, expiring leases on accounts, so that one
// mailbox is checked by one session at a time, across processes when the
// implementation is shared storage. Acquire fails with a [*LeaseHeldError]
// while another owner holds a live lease; a lease whose owner [OwnerGone]
// reports gone (a crashed process of this host, see [ProcessOwner]) is
// taken over at once.
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
// checks, atomically with each write (Sync, Record, Forget, SetGuard), that
// lease is still the current, unexpired lease of the account, and refuses the
// write with [ErrLeaseLost] otherwise; it also refuses any account ID other
// than the lease's. An instance that paused past its lease's expiry can then
// no longer record deliveries or prune state that a newer holder relies on.
// The lease must come from the Locker paired with the journal (see the
// implementations).
type Fencer interface {
	Fenced(lease Lease) Journal
}
