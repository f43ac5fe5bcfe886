package multidrop

import (
	"time"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/pop"
	"github.com/multidrop/multidrop/resolve"
)

// Report is the outcome of one check of one account.
type Report struct {
	Account  string
	Start    time.Time
	Duration time.Duration

	Listed    int   // messages in the scan listing
	Retrieved int   // messages downloaded
	Skipped   int   // left on the server without download (seen, oversize, caps)
	Delivered int   // (message, recipient) deliveries made in this check
	Dropped   int   // messages deleted without a delivery in this check (no valid recipient, policy, or a copy delivered before)
	Kept      int   // retrieved messages left on the server
	Deleted   int   // messages marked for deletion (committed when Committed)
	Bytes     int64 // octets downloaded

	// LoginDelay is the server's LOGIN-DELAY (RFC 2449): the scheduler does
	// not log in again sooner.
	LoginDelay time.Duration

	// Committed is true when the session ended with QUIT +OK, so the
	// deletions took effect.
	Committed bool
	// Err is the error of the check as a whole (nil when the session
	// committed); message errors are in Messages and joined into Err.
	Err error

	Messages []MessageReport
}

// MessageReport explains what happened to one message.
type MessageReport struct {
	Number    int
	UID       string
	Key       string // journal key: the UID, or Digest when the UID is unusable
	Digest    string // "sha256:<hex>" of the message as fetched
	Size      int64
	MessageID string
	Action    pop.Action // what the server was told: Keep or Delete
	Reason    string     // why, in a few words
	// Resolution holds the recipients and the rejected candidates, with
	// provenance, and its Explanation.
	Resolution resolve.Result
	// Results are the per-recipient delivery results of this check.
	Results deliver.Results
	// Already lists recipients skipped because the journal shows them
	// delivered before (a retry, or another copy of the message).
	Already []string
	Err     error
}

// EventKind names an observer event.
type EventKind string

const (
	EventCheckStart  EventKind = "check.start"
	EventCheckEnd    EventKind = "check.end"
	EventMessage     EventKind = "message"
	EventDelivery    EventKind = "delivery"
	EventGuard       EventKind = "guard"
	EventAccountIdle EventKind = "account.paused"
)

// Event is passed to Options.Observer, for metrics. Fields not relevant to
// the kind are zero.
type Event struct {
	Kind    EventKind
	Account string
	Message *MessageReport // EventMessage
	Result  *deliver.Result
	Report  *Report // EventCheckEnd
	Err     error
}

func (r *Report) loginDelay() time.Duration {
	if r == nil {
		return 0
	}
	return r.LoginDelay
}
