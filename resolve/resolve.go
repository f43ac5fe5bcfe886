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
	// Explanation tells, candidate by candidate, what was decided and why.
	// Resolvers other than [Mapper] may leave it empty.
	Explanation Explanation
}

// Recipient is one valid local recipient and the candidate that produced it.
type Recipient struct {
	Address   string // canonical user@domain
	Candidate parse.Candidate
	Via       Via // how the candidate led to this user; may be empty
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
	// ReasonSuperseded marks the candidates of a later stage in Chain mode
	// once an earlier stage has decided (see [Explanation.Decided]).
	ReasonSuperseded Reason = "superseded by an earlier stage"
)

// Via says how a candidate led to a recipient.
type Via string

const (
	ViaDirectory   Via = "directory"    // the directory knows the address (after stripping and subaddress removal)
	ViaAlias       Via = "alias"        // an alias of the account (Resolving.Aliases)
	ViaRule        Via = "rule"         // a routing rule with action deliver
	ViaDisplayName Via = "display name" // the display name is a user's real name
	ViaCatchAll    Via = "catch-all"    // the account's catch-all user
)
