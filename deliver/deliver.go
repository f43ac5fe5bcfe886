package deliver

import (
	"context"
	"io"
)

// A Deliverer delivers one message to its recipients and says, per
// recipient, what happened. A recipient missing from the results counts as a
// temporary failure. The error is for failures of the whole attempt (it may
// come with partial results); msg is read at most to its end.
type Deliverer interface {
	Deliver(ctx context.Context, env Envelope, msg io.Reader) (Results, error)
}

// Func adapts a function to a Deliverer.
type Func func(ctx context.Context, env Envelope, msg io.Reader) (Results, error)

// Deliver calls f.
func (f Func) Deliver(ctx context.Context, env Envelope, msg io.Reader) (Results, error) {
	return f(ctx, env, msg)
}

// Envelope is what SMTP would have carried.
type Envelope struct {
	From string   // envelope sender, "" for the null sender <>
	To   []string // validated canonical recipients
	// Trace describes where the message came from, for the Received field
	// the deliverers prepend.
	Trace Trace
}

// Trace describes the origin of a message.
type Trace struct {
	Host string // POP server the message was fetched from
	Key  string // message key (UIDL or digest), used as the Received id
	// Account and Digest (e.g. "sha256:<hex>" of the message as fetched)
	// make a message's identity unique across accounts and across a server
	// that reuses UIDs; Maildir's key-derived file names include them.
	Account string
	Digest  string
}

// Status is the outcome for one recipient.
type Status int

const (
	Temporary Status = iota // not delivered; try again later (the zero value)
	Delivered               // durably delivered
	Permanent               // refused for good (unknown user, policy)
)

// Result is the outcome for one recipient.
type Result struct {
	Recipient string
	Status    Status
	Err       error // nil when Delivered
}

// Results holds one Result per recipient, in envelope order.
type Results []Result
