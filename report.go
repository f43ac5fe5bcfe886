package multidrop

import (
	"slices"
	"strings"
	"time"

	"github.com/multidrop/multidrop/deliver"
	"github.com/multidrop/multidrop/parse"
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
	Dropped   int   // messages this check dropped: deleted undelivered (OutcomeDropped)
	Kept      int   // retrieved messages left on the server (listed by Only)
	Retry     int   // of those, kept for a temporary failure, to be retried (OutcomeRetry)
	Deleted   int   // messages marked for deletion (committed when Committed)
	Bytes     int64 // octets downloaded

	// Guard, when the deletion guard holds the account (it tripped in this
	// check or an earlier one and was not released), says since when and
	// on what evidence; nil otherwise. While it holds, messages without a
	// valid recipient are kept (Report.Err has ErrDeletionGuard when this
	// check kept some) until [Pipeline.ReleaseGuard].
	Guard *GuardHold

	// LoginDelay is the server's LOGIN-DELAY (RFC 2449): the scheduler does
	// not log in again sooner.
	LoginDelay time.Duration
	// NextLogin is the earliest time the server accepts the next login to
	// the account: the login plus LoginDelay after a session, or what a
	// [LOGIN-DELAY] refusal says (see [pop.NextLogin]; at least five
	// minutes when the server announced no delay). Zero when the server
	// set no constraint; an [IN-USE] refusal sets none.
	NextLogin time.Time

	// Committed is true when the session ended with QUIT +OK, so the
	// deletions took effect.
	Committed bool
	// Err is the failure of the session or the account: a connection or
	// login failure, a journal failure before any download, a session
	// that did not commit, the deletion guard, a RETR or DELE the server
	// refused. It is nil for a healthy check that kept some messages:
	// the failures of single messages are in their MessageReport (Err,
	// Outcome), counted in Retry.
	Err error

	Messages []MessageReport
}

// GuardHold describes the deletion guard holding an account: since when,
// and how many of the messages in its window (the account's most recently
// examined messages, at most Options.Guard.Window) had no valid recipient.
type GuardHold struct {
	Since       time.Time
	NoRecipient int
	Examined    int
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
	Outcome   Outcome    // what became of the message
	Reason    string     // why, in a few words
	// Subject and From are the message's Subject and From fields as text
	// to show ([parse.Text]: encoded words decoded, no control
	// characters, at most parse.DefaultTextLength characters); "" when
	// the header could not be read.
	Subject string
	From    string
	// Warnings are the defects of the header that did not stop the parse
	// (a malformed To, a skipped line), as text.
	Warnings []string
	// Resolution holds the recipients and the rejected candidates, with
	// provenance, and its Explanation.
	Resolution resolve.Result
	// Results are the per-recipient delivery results of this check.
	Results deliver.Results
	// Already lists recipients skipped because the journal shows them
	// delivered before (a retry, or another copy of the message).
	Already []string
	// Err is the failure that kept the message (a *MessageError), nil if
	// none.
	Err error

	slot int // index in Report.Messages
}

// detach gives the report copies of its own of the strings it took from
// the message's header (Subject, From, Message-ID, the addresses and
// field names of the resolution's candidates): they are substrings of the
// whole header, which the check's report would otherwise keep alive until
// the check ends, for every message of it (a few KiB each, where DKIM
// signatures and Received chains make the header long). Equal strings
// share one copy.
func (mr *MessageReport) detach() {
	copies := map[string]string{}
	own := func(s *string) {
		if *s == "" {
			return
		}
		c, ok := copies[*s]
		if !ok {
			c = strings.Clone(*s)
			copies[c] = c
		}
		*s = c
	}
	candidate := func(c *parse.Candidate) {
		for _, s := range []*string{&c.Address, &c.Name, &c.Field, &c.Local, &c.Domain, &c.Route} {
			own(s)
		}
	}
	own(&mr.Subject)
	own(&mr.From)
	own(&mr.MessageID)
	res := &mr.Resolution
	for i := range res.Recipients {
		candidate(&res.Recipients[i].Candidate)
	}
	for i := range res.Rejected {
		candidate(&res.Rejected[i].Candidate)
	}
	for i := range res.Explanation.Steps {
		candidate(&res.Explanation.Steps[i].Candidate)
	}
}

// Outcome says what became of a message in a check.
type Outcome string

const (
	// OutcomeDelivered: every recipient has the message, delivered in this
	// check or before (a retry, a copy). Deleted, or left on the server
	// when the account asks so.
	OutcomeDelivered Outcome = "delivered"
	// OutcomeRefused: every recipient refused the message permanently; it
	// is final (deleted) and delivered to nobody.
	OutcomeRefused Outcome = "refused"
	// OutcomePostmaster: delivered to the account's postmaster instead of
	// its recipients (no valid recipient, a quarantined loop, recipients
	// that refused it under the failed policy).
	OutcomePostmaster Outcome = "postmaster"
	// OutcomeDropped: deleted without a delivery by this check (no valid
	// recipient under the delete policy, oversize under the delete
	// policy).
	OutcomeDropped Outcome = "dropped"
	// OutcomeKept: left on the server, undelivered, by a decision that a
	// later check makes again (a keep policy, the deletion guard, a loop,
	// the size limit, envelope-only without an envelope).
	OutcomeKept Outcome = "kept"
	// OutcomeRetry: left on the server after a temporary failure (a
	// delivery, the journal, the spool, the session ending early); the
	// next check retries it.
	OutcomeRetry Outcome = "retry"
	// OutcomeFailed: left on the server because the message itself could
	// not be handled (a header over the limits, above MaxMessageSize).
	OutcomeFailed Outcome = "failed"
	// OutcomeSkipped: not downloaded by this check (a per-check cap); a
	// later check takes it.
	OutcomeSkipped Outcome = "skipped"
)

// Only returns the message reports with one of the outcomes, in report
// order: Only(OutcomeRetry) lists the messages kept for a temporary
// failure; Only(OutcomeKept, OutcomeRetry, OutcomeFailed) every message
// left on the server undelivered.
func (r *Report) Only(outcomes ...Outcome) []MessageReport {
	var out []MessageReport
	for _, m := range r.Messages {
		if slices.Contains(outcomes, m.Outcome) {
			out = append(out, m)
		}
	}
	return out
}

// outcomeOf is the outcome of a message whose decision did not name one.
func outcomeOf(mr *MessageReport) Outcome {
	switch {
	case mr.Err != nil:
		return OutcomeRetry
	case mr.Action == pop.Delete:
		return OutcomeDelivered
	}
	return OutcomeKept
}

// EventKind names an observer event.
type EventKind string

const (
	EventCheckStart EventKind = "check.start"
	EventCheckEnd   EventKind = "check.end"
	EventMessage    EventKind = "message"
	EventDelivery   EventKind = "delivery"
	EventGuard      EventKind = "guard" // the deletion guard tripped
	// EventGuardReleased: the administrator released the deletion guard
	// (Pipeline.ReleaseGuard).
	EventGuardReleased EventKind = "guard.released"
	// EventAccountIdle comes from package schedule: an [AUTH] failure
	// paused the account.
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
