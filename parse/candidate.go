package parse

// Stage names the recipient-recovery stage that produced a candidate.
type Stage string

const (
	StageEnvelope Stage = "envelope" // a trusted envelope header (Delivered-To, X-Original-To, ...)
	StageReceived Stage = "received" // a Received "for" clause
	StageGuess    Stage = "guess"    // To, Cc, Resent-*, custom headers, Subject
)

// A Candidate is one possible recipient found in a header, with its provenance.
type Candidate struct {
	Address    string // addr-spec as parsed: local@domain, domain not yet normalised
	Name       string // display name, RFC 2047-decoded, if any
	Field      string // canonical header field name it came from, e.g. "Delivered-To"
	Occurrence int    // 1-based occurrence of that field from the top of the header
	Stage      Stage

	// Local is the local part without quoting and Domain the domain as
	// written: Address is Local@Domain with the local part quoted when it
	// is not a dot-atom, so the domain is what follows its last "@".
	Local, Domain string
	// Route is the obsolete source route ("@a,@b") of an address written
	// <@a,@b:user@domain>; such an address is not local-delivery syntax.
	Route string
}
