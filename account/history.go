package account

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// HistoryLimit is how many checks a [History] keeps per account: adding
// one more drops the oldest.
const HistoryLimit = 50

// A History keeps the records of the last [HistoryLimit] checks of each
// account, for the admin pages and tools. Implementations: [MemoryHistory],
// jsonstore.History and sqlstore.Store.
type History interface {
	// AddCheck stores rec (its AccountID must not be empty) and drops the
	// account's records beyond the newest HistoryLimit.
	AddCheck(ctx context.Context, rec CheckRecord) error
	// Checks returns up to limit records of the account, newest (by
	// Start) first; limit <= 0 means all that are kept. An account
	// without records has an empty list, not an error.
	Checks(ctx context.Context, accountID string, limit int) ([]CheckRecord, error)
}

// CheckRecord is what one check of an account did.
type CheckRecord struct {
	AccountID string        `json:"account_id"`
	Start     time.Time     `json:"start"`
	Duration  time.Duration `json:"duration"`
	Counts    CheckCounts   `json:"counts"`
	// Error is the text of the error that ended or spoiled the check;
	// empty when it succeeded.
	Error string `json:"error,omitempty"`
	// State is the account's state after the check, in the caller's
	// vocabulary (such as "ok", "paused", "backoff").
	State string `json:"state,omitempty"`
	// NextLogin is the earliest time the server accepts the next login
	// to the account (its LOGIN-DELAY, RFC 2449), zero when it set no
	// constraint. A caller that checks the account reads it from the
	// newest record and does not log in before.
	NextLogin time.Time `json:"next_login,omitzero"`
	// Messages has one entry per message examined.
	Messages []CheckMessage `json:"messages,omitempty"`
}

// CheckCounts are the message counts of one check.
type CheckCounts struct {
	Listed    int   `json:"listed,omitempty"`
	Retrieved int   `json:"retrieved,omitempty"`
	Delivered int   `json:"delivered,omitempty"`
	Deleted   int   `json:"deleted,omitempty"`
	Kept      int   `json:"kept,omitempty"`
	Dropped   int   `json:"dropped,omitempty"`
	Skipped   int   `json:"skipped,omitempty"`
	Bytes     int64 `json:"bytes,omitempty"`
}

// CheckMessage is the outcome of one message in a [CheckRecord].
type CheckMessage struct {
	UID        string   `json:"uid"`
	Subject    string   `json:"subject,omitempty"`
	From       string   `json:"from,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	// Outcome is what happened to the message (such as "delivered",
	// "kept", "dropped") and Reason why, in the caller's vocabulary.
	Outcome  string   `json:"outcome,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// ErrNoAccountID is returned by [History.AddCheck] for a record without
// an AccountID.
var ErrNoAccountID = errors.New("account: check record without account ID")

// Clone returns a deep copy of r.
func (r CheckRecord) Clone() CheckRecord {
	c := r
	if r.Messages != nil {
		c.Messages = make([]CheckMessage, len(r.Messages))
		for i, m := range r.Messages {
			m.Recipients = slices.Clone(m.Recipients)
			m.Warnings = slices.Clone(m.Warnings)
			c.Messages[i] = m
		}
	}
	return c
}

// InsertCheck inserts rec into recs, which is sorted newest first, keeps
// that order (a record with the same Start goes before the older entry)
// and drops what lies beyond [HistoryLimit]. It is the pruning rule of
// every History.
func InsertCheck(recs []CheckRecord, rec CheckRecord) []CheckRecord {
	i, _ := slices.BinarySearchFunc(recs, rec.Start, func(r CheckRecord, t time.Time) int {
		return -r.Start.Compare(t) // newest first
	})
	for i > 0 && recs[i-1].Start.Equal(rec.Start) {
		i--
	}
	recs = slices.Insert(recs, i, rec)
	if len(recs) > HistoryLimit {
		clear(recs[HistoryLimit:])
		recs = recs[:HistoryLimit]
	}
	return recs
}

// MemoryHistory is a [History] held in memory, safe for concurrent use.
type MemoryHistory struct {
	mu       sync.Mutex
	accounts map[string][]CheckRecord // newest first
}

var _ History = (*MemoryHistory)(nil)

// NewMemoryHistory returns an empty MemoryHistory.
func NewMemoryHistory() *MemoryHistory {
	return &MemoryHistory{accounts: map[string][]CheckRecord{}}
}

// AddCheck implements [History].
func (h *MemoryHistory) AddCheck(ctx context.Context, rec CheckRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.AccountID == "" {
		return ErrNoAccountID
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.accounts[rec.AccountID] = InsertCheck(h.accounts[rec.AccountID], rec.Clone())
	return nil
}

// Checks implements [History].
func (h *MemoryHistory) Checks(ctx context.Context, accountID string, limit int) ([]CheckRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return CloneChecks(h.accounts[accountID], limit), nil
}

// CloneChecks returns deep copies of the first limit records of recs (all
// when limit <= 0), never nil.
func CloneChecks(recs []CheckRecord, limit int) []CheckRecord {
	if limit > 0 && len(recs) > limit {
		recs = recs[:limit]
	}
	out := make([]CheckRecord, len(recs))
	for i, r := range recs {
		out[i] = r.Clone()
	}
	return out
}
