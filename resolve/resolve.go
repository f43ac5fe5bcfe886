package resolve

import (
	"context"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

// A Resolver turns the candidates of one message into the account's valid
// local recipients. An error (a directory outage, a timeout) means nothing
// could be decided: the caller keeps the message. It is never reported as
// "no valid recipients".
type Resolver interface {
	Resolve(ctx context.Context, a account.Account, c []parse.Candidate) (Result, error)
}

// Func adapts a function to a Resolver.
type Func func(ctx context.Context, a account.Account, c []parse.Candidate) (Result, error)

// Resolve calls f.
func (f Func) Resolve(ctx context.Context, a account.Account, c []parse.Candidate) (Result, error) {
	return f(ctx, a, c)
}

// Result is the outcome of resolving one message's candidates.
type Result struct {
	Recipients []Recipient // de-duplicated, in the directory's canonical spelling
	Rejected   []Rejection // every candidate that did not become a recipient
}

// Recipient is one valid local recipient and the candidate that produced it.
type Recipient struct {
	Address   string // canonical user@domain
	Candidate parse.Candidate
}

// Rejection is a candidate that was not kept, and why.
type Rejection struct {
	Candidate parse.Candidate
	Reason    Reason
	Detail    string // free text, e.g. the rule that denied it
}

// Reason classifies a rejection.
type Reason string

const (
	ReasonForeign   Reason = "foreign domain"
	ReasonUnknown   Reason = "unknown user"
	ReasonDenied    Reason = "denied by rule"
	ReasonDuplicate Reason = "duplicate"
	ReasonLoop      Reason = "loop"
	ReasonUntrusted Reason = "untrusted position"
	ReasonOverCap   Reason = "over recipient cap"
	ReasonInvalid   Reason = "invalid address"
)
