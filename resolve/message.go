package resolve

import (
	"context"
	"strings"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

// Message resolves what [parse.Candidates] found in one message with r and
// completes the result with what parse already decided:
//
//   - a message carrying our own loop stamp ([parse.LoopStamp]) is
//     delivered to nobody: every candidate is rejected with [ReasonLoop]
//     and r is not called;
//   - a candidate named by a [parse.LoopDelivered] marker (that recipient
//     has had the message already) is rejected with [ReasonLoop] before r
//     sees it;
//   - p.Untrusted are rejected with [ReasonUntrusted]; p.Unused, the
//     candidates of earlier stages that found no local address in Chain
//     mode, with [ReasonForeign].
//
// The explanation lists r's steps first, then these. It is the call the
// pipeline makes for each message.
func Message(ctx context.Context, r Resolver, a account.Account, p *parse.Result) (Result, error) {
	var extra []Decision
	cands := p.Candidates
	stamped := false
	for _, l := range p.Loops {
		if l.Kind == parse.LoopStamp {
			stamped = true
		}
	}
	switch {
	case stamped:
		for _, c := range cands {
			extra = append(extra, Decision{Candidate: c, Reason: ReasonLoop, Detail: "the message carries this installation's " + account.LoopField + " stamp"})
		}
		cands = nil
	case len(p.Loops) > 0:
		kept := make([]parse.Candidate, 0, len(cands))
		for _, c := range cands {
			if l, ok := deliveredLoop(p.Loops, c.Address); ok {
				extra = append(extra, Decision{Candidate: c, Reason: ReasonLoop, Detail: where(parse.Candidate{Field: l.Field, Occurrence: l.Occurrence}) + " shows it was delivered to this address before"})
				continue
			}
			kept = append(kept, c)
		}
		cands = kept
	}
	var res Result
	if len(cands) > 0 || !stamped {
		var err error
		res, err = r.Resolve(ctx, a, cands)
		if err != nil {
			return Result{}, err
		}
	}
	for _, c := range p.Untrusted {
		extra = append(extra, Decision{Candidate: c, Reason: ReasonUntrusted, Detail: "below the provider's trace fields: written by an outsider"})
	}
	for _, c := range p.Unused {
		// parse moves a stage's candidates here when none of them was in a
		// local domain and a later stage decided.
		extra = append(extra, Decision{Candidate: c, Reason: ReasonForeign, Detail: "stage " + string(c.Stage) + " found no local address; stage " + string(p.Decided) + " decided"})
	}
	e := &res.Explanation
	if e.Mode == "" {
		e.Mode = account.Mode(p.Mode)
	}
	if e.Decided == "" {
		e.Decided = p.Decided
	}
	if len(extra) > 0 {
		e.Steps = append(e.Steps, extra...)
		for _, s := range extra {
			res.Rejected = append(res.Rejected, Rejection{Candidate: s.Candidate, Reason: s.Reason, Detail: s.Detail})
		}
	}
	return res, nil
}

func deliveredLoop(loops []parse.Loop, addr string) (parse.Loop, bool) {
	for _, l := range loops {
		if l.Kind == parse.LoopDelivered && strings.EqualFold(l.Address, addr) {
			return l, true
		}
	}
	return parse.Loop{}, false
}
