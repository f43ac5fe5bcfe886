package pop

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/multidrop/multidrop/account"
)

// A Fetcher collects the messages of one remote mailbox. It owns the
// protocol; the Handler owns every decision. Fetch returns nil only when the
// session was committed (QUIT answered +OK), so every Delete the handler
// returned has taken effect.
//
// Fetch honours the optional interfaces of its Handler: it asks a [Planner]
// for the plan before any download, and it calls a [Settler]'s Settle after
// the last Handle and before any DELE. A Fetcher that wraps another (for
// metrics, a proxy, a rate limit) passes the Handler on unchanged and so
// behaves exactly as the one it wraps. A Fetcher that cannot settle must
// keep every message whose Handle returned [Defer].
type Fetcher interface {
	Fetch(ctx context.Context, a account.Account, h Handler) error
}

// A Handler receives each retrieved message. body is valid until Handle
// returns; the Fetcher drains whatever the handler left unread. The returned
// Action is Delete or Keep; an error keeps the message and is reported by
// Fetch after the remaining messages are handled (it does not stop the
// session), except [ErrStop].
type Handler interface {
	Handle(ctx context.Context, m MessageInfo, body io.Reader) (Action, error)
}

// ErrStop, returned by a Handler (possibly wrapped) with an Action, asks the
// Fetcher to retrieve no further message: the returned Action still applies
// to this message, replies already in flight are read, the deletions so far
// are sent and the session commits with QUIT. Fetch then returns nil if the
// commit succeeded. It is how a graceful shutdown finishes the message in
// hand.
var ErrStop = errors.New("pop: stop after this message")

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, m MessageInfo, body io.Reader) (Action, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, m MessageInfo, body io.Reader) (Action, error) {
	return f(ctx, m, body)
}

// A Settler is a Handler that may postpone its decisions: its Handle may
// return Defer once it has read the body, to decide later — after delivering
// in the background while the next messages download — and Settle returns
// the decisions. [Fetcher.Fetch] calls Settle once, after the last Handle
// (also after [ErrStop]) and before it sends any DELE, and deletes the
// deferred messages Settle maps to Delete; any other deferred message is
// kept. When the session breaks before that, Settle is not called: the
// Handler learns the outcome from what Fetch returns, and nothing deferred
// was deleted.
type Settler interface {
	Handler
	// Settle waits for the deferred decisions and returns them by message
	// number. An error is reported by Fetch; the deferred messages it does
	// not map to Delete are kept.
	Settle(ctx context.Context) (map[int]Action, error)
}

// A Planner is a Handler that also decides, from the scan listing and before
// any download, what to do with each message. A Handler that is not a Planner
// gets every message retrieved in server order.
type Planner interface {
	Plan(ctx context.Context, s Scan) ([]Step, error)
}

// Scan is what a session learned before the first download.
type Scan struct {
	Messages []MessageInfo // in server order
	// LoginDelay is the server's LOGIN-DELAY (RFC 2449), 0 if none: the
	// value announced after login, else the one announced before it.
	LoginDelay time.Duration
	// LoggedIn is when the login succeeded.
	LoggedIn time.Time
	// Expire is the server's EXPIRE in days (RFC 2449): -1 when NEVER or not
	// advertised, 0 when the server deletes retrieved messages itself.
	Expire int
}

// NextLogin returns the earliest time the server accepts the next login
// to this maildrop: LoggedIn plus LoginDelay, or the zero time when the
// server announced no delay. A scheduler should persist it per account and
// not log in again before it, across restarts too. After a [LOGIN-DELAY]
// refusal, the package function [NextLogin] gives the same from the error.
func (s Scan) NextLogin() time.Time {
	if s.LoginDelay <= 0 || s.LoggedIn.IsZero() {
		return time.Time{}
	}
	return s.LoggedIn.Add(s.LoginDelay)
}

// Step is one planned operation. Steps run in order; a message without a
// step is kept.
type Step struct {
	Message MessageInfo
	Action  Action // Retrieve, Keep or Delete
}

// Action is a decision about one message.
type Action int

const (
	// Keep leaves the message on the server (in a plan: skip it unread).
	Keep Action = iota
	// Delete marks the message for deletion (committed by QUIT).
	Delete
	// Retrieve downloads the message and passes it to the Handler (plans only).
	Retrieve
	// Defer postpones the decision to the Settler's Settle (Handle of a
	// Settler only; a Handler that is not a Settler gets its message kept,
	// with an error).
	Defer
)

func (a Action) String() string {
	switch a {
	case Keep:
		return "keep"
	case Delete:
		return "delete"
	case Retrieve:
		return "retrieve"
	case Defer:
		return "defer"
	}
	return "action(" + itoa(int(a)) + ")"
}

// MessageInfo describes a message from the scan listing.
type MessageInfo struct {
	Number int    // message number in this session
	UID    string // UIDL, "" when the server has none or it is unusable
	Size   int64  // size in octets as listed by the server
	// UIDProblem says why UID is unusable as a key ("" when it is fine):
	// "missing", "empty", "too long", "invalid", "duplicate". The caller
	// should then key the message by its content.
	UIDProblem string
}
