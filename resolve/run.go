package resolve

import (
	"context"
	"strconv"
	"strings"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

// run is the state of one Resolve call.
type run struct {
	ctx        context.Context
	dir        Directory
	c          *compiled
	max        int
	steps      []Decision
	recipients []Recipient
	seen       map[string]int // recipient key -> index in recipients
	decided    parse.Stage
}

func (r *run) mode() account.Mode {
	if r.c.mode == "" {
		return account.ModeChain
	}
	return r.c.mode
}

func (r *run) resolve(cands []parse.Candidate) error {
	switch r.mode() {
	case account.ModeUnion:
		for i := range cands {
			if _, err := r.one(i, &cands[i]); err != nil {
				return err
			}
		}
	case account.ModeEnvelopeOnly:
		for i := range cands {
			if cands[i].Stage != parse.StageEnvelope {
				r.steps[i] = Decision{Candidate: cands[i], Reason: ReasonUntrusted, Detail: "mode envelope-only trusts envelope headers only"}
				continue
			}
			if _, err := r.one(i, &cands[i]); err != nil {
				return err
			}
		}
	default: // chain
		var stages []parse.Stage
		for i := range cands {
			if !containsStage(stages, cands[i].Stage) {
				stages = append(stages, cands[i].Stage)
			}
		}
		for si, st := range stages {
			decides := false
			for i := range cands {
				if cands[i].Stage != st {
					continue
				}
				d, err := r.one(i, &cands[i])
				if err != nil {
					return err
				}
				decides = decides || d
			}
			if !decides {
				continue
			}
			r.decided = st
			for i := range cands {
				if containsStage(stages[si+1:], cands[i].Stage) {
					r.steps[i] = Decision{Candidate: cands[i], Reason: ReasonSuperseded,
						Detail: "stage " + string(st) + " decided"}
				}
			}
			break
		}
	}
	return nil
}

func containsStage(s []parse.Stage, st parse.Stage) bool {
	for _, x := range s {
		if x == st {
			return true
		}
	}
	return false
}

// one resolves candidate i into steps[i]. It reports whether the candidate
// counts for Chain mode: an address in a local domain, or one that led to
// a user.
func (r *run) one(i int, cand *parse.Candidate) (bool, error) {
	st := &r.steps[i]
	st.Candidate = *cand
	if len(r.recipients) >= r.max {
		st.Reason, st.Detail = ReasonOverCap, "cap of "+strconv.Itoa(r.max)+" recipients reached"
		return true, nil
	}
	o, err := r.decide(cand)
	if err != nil {
		return false, err
	}
	st.Via, st.Detail = o.via, o.detail
	if o.reason != "" {
		st.Reason = o.reason
		return o.local, nil
	}
	r.add(st, cand, o.users)
	return true, nil
}

// outcome is what decide concluded for one candidate: users (with via), or
// a reason.
type outcome struct {
	users  []string
	via    Via
	detail string
	reason Reason
	local  bool // the address is in a local domain
}

func reject(reason Reason, detail string) outcome {
	return outcome{reason: reason, detail: detail}
}

// decide applies the steps of the package documentation to one candidate.
func (r *run) decide(cand *parse.Candidate) (outcome, error) {
	c := r.c
	if cand.Route != "" {
		return reject(ReasonInvalid, "source route "+strconv.Quote(cand.Route)+" (obsolete route syntax is never local delivery)"), nil
	}
	local, domain, p := splitAddress(cand.Address)
	if p != nil {
		return reject(p.reason, p.detail), nil
	}

	// Routing rules see the address as parsed, before anything else.
	for i := range c.rules {
		ru := &c.rules[i]
		if !ru.match(cand.Address) {
			continue
		}
		if ru.deny {
			return reject(ReasonDenied, ru.String()), nil
		}
		return r.targets(ru.users, c.domains[0], ViaRule, ru.String())
	}

	// Domain.
	var ad, base, detail string
	switch {
	case domain[0] == '[':
		detail = "address literal " + domain + " is never local"
	case domain[len(domain)-1] == '.':
		return reject(ReasonInvalid, "domain "+strconv.Quote(domain)+" ends with a dot"), nil
	default:
		var err error
		ad, err = asciiDomain(domain)
		if err != nil {
			return reject(ReasonInvalid, "domain "+strconv.Quote(domain)+": "+err.Error()), nil
		}
		if base = c.local(ad); base == "" {
			detail = "domain " + ad + " is not local"
			if sub := c.parentDomain(ad); sub != "" {
				detail = "domain " + ad + " is a subdomain of " + sub + " (subdomains are not enabled)"
			}
		}
	}
	if base == "" {
		o, err := r.byName(cand.Name)
		if err != nil || o.reason == "" {
			return o, err
		}
		if o.detail != "" {
			detail += "; " + o.detail
		}
		return reject(ReasonForeign, detail), nil
	}
	if i := strings.IndexAny(local, "@%!"); i >= 0 {
		o := reject(ReasonInvalid, "routing character "+strconv.QuoteRune(rune(local[i]))+" in local part (relay attempt)")
		return o, nil
	}

	// Stripping, aliases, subaddress, directory.
	var notes []string
	if c.stripPrefix != "" && len(local) > len(c.stripPrefix) && hasPrefixFold(local, c.stripPrefix) {
		local = local[len(c.stripPrefix):]
		notes = append(notes, "prefix "+strconv.Quote(c.stripPrefix)+" stripped")
	}
	if c.stripSuffix != "" && len(local) > len(c.stripSuffix) && hasSuffixFold(local, c.stripSuffix) {
		local = local[:len(local)-len(c.stripSuffix)]
		notes = append(notes, "suffix "+strconv.Quote(c.stripSuffix)+" stripped")
	}
	keys := [2]string{local}
	if c.sep != "" {
		if j := strings.Index(local, c.sep); j > 0 {
			keys[1] = local[:j]
		}
	}
	for k, key := range keys {
		if key == "" {
			continue
		}
		note := notes
		if k == 1 {
			note = append(note[:len(note):len(note)], "subaddress "+strconv.Quote(local[len(key):])+" removed")
		}
		lk := asciiLower(key)
		targets, ok := c.aliasFull[lk+"@"+ad]
		if !ok && ad != base {
			targets, ok = c.aliasFull[lk+"@"+base]
		}
		if !ok {
			targets, ok = c.aliasLocal[lk]
		}
		if ok {
			o, err := r.targets(targets, base, ViaAlias, join(append(note, "alias "+strconv.Quote(key))))
			o.local = true
			return o, err
		}
		users, err := r.lookup(base, key)
		if err != nil {
			return outcome{}, err
		}
		if len(users) > 0 {
			return outcome{users: users, via: ViaDirectory, detail: join(note), local: true}, nil
		}
	}

	// Real name, catch-all.
	byName, err := r.byName(cand.Name)
	if err != nil || byName.reason == "" {
		byName.local = true
		return byName, err
	}
	if byName.detail != "" {
		notes = append(notes, byName.detail)
	}
	if c.res.CatchAll != "" {
		o, err := r.targets([]string{c.res.CatchAll}, base, ViaCatchAll, "catch-all "+strconv.Quote(c.res.CatchAll))
		o.local = true
		return o, err
	}
	o := reject(ReasonUnknown, join(append(notes, "no user "+strconv.Quote(keys[0])+" in "+base)))
	o.local = true
	return o, nil
}

func join(notes []string) string { return strings.Join(notes, "; ") }

// parentDomain returns the local domain that ascii is a subdomain of, if
// any (used to explain a rejection when subdomains are off).
func (c *compiled) parentDomain(ascii string) string {
	for _, d := range c.domains {
		if strings.HasSuffix(ascii, "."+d) {
			return d
		}
	}
	return ""
}

// targets resolves users named by the configuration (a local part means a
// user of domain) through the directory.
func (r *run) targets(list []string, domain string, via Via, detail string) (outcome, error) {
	var users, missing []string
	for _, t := range list {
		l, d := t, domain
		if strings.Contains(t, "@") {
			tl, td, _ := splitAddress(t) // validated when compiled
			ad, _ := asciiDomain(td)
			l, d = tl, r.c.local(ad)
		}
		got, err := r.lookup(d, l)
		if err != nil {
			return outcome{}, err
		}
		if len(got) == 0 {
			missing = append(missing, t)
		}
		users = append(users, got...)
	}
	if len(missing) > 0 {
		detail += "; not in the directory: " + strings.Join(missing, ", ")
	}
	if len(users) == 0 {
		return reject(ReasonUnknown, detail), nil
	}
	return outcome{users: users, via: via, detail: detail}, nil
}

func (r *run) lookup(domain, local string) ([]string, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, &LookupError{Domain: domain, Key: local, Err: context.Cause(r.ctx)}
	}
	users, err := r.dir.Lookup(r.ctx, domain, local)
	if err != nil {
		return nil, &LookupError{Domain: domain, Key: local, Err: err}
	}
	return users, nil
}

// byName tries display-name matching. A zero reason in the outcome means
// users were found; otherwise the outcome only carries a detail.
func (r *run) byName(name string) (outcome, error) {
	nl, ok := r.dir.(NameLookup)
	if !r.c.res.MatchDisplayName || !ok || strings.TrimSpace(name) == "" {
		return outcome{reason: ReasonUnknown}, nil
	}
	variants := []string{name}
	if first, last, ok := strings.Cut(name, ","); ok && !strings.Contains(last, ",") {
		variants = append(variants, strings.TrimSpace(last)+" "+strings.TrimSpace(first)) // "Liddell, Alice"
	}
	for _, d := range r.c.domains {
		for _, v := range variants {
			if err := r.ctx.Err(); err != nil {
				return outcome{}, &LookupError{Domain: d, Key: v, Err: context.Cause(r.ctx)}
			}
			got, err := nl.LookupName(r.ctx, d, v)
			if err != nil {
				return outcome{}, &LookupError{Domain: d, Key: v, Err: err}
			}
			switch {
			case len(got) == 1:
				return outcome{users: got, via: ViaDisplayName, detail: "real name " + strconv.Quote(v)}, nil
			case len(got) > 1: // ambiguous: never guess between users
				return outcome{reason: ReasonUnknown, detail: "real name " + strconv.Quote(v) + " matches " + strconv.Itoa(len(got)) + " users"}, nil
			}
		}
	}
	return outcome{reason: ReasonUnknown}, nil
}

// add records the users a candidate led to: only addresses in a local
// domain, each once, up to the cap.
func (r *run) add(st *Decision, cand *parse.Candidate, users []string) {
	var dup, foreign, over []string
	for _, u := range users {
		key, ok := r.accept(u)
		if !ok {
			foreign = append(foreign, u)
			continue
		}
		if j, ok := r.seen[key]; ok {
			dup = append(dup, u+" (from "+where(r.recipients[j].Candidate)+")")
			continue
		}
		if len(r.recipients) >= r.max {
			over = append(over, u)
			continue
		}
		if r.seen == nil {
			r.seen = make(map[string]int)
		}
		r.seen[key] = len(r.recipients)
		r.recipients = append(r.recipients, Recipient{Address: u, Candidate: *cand, Via: st.Via})
		st.Recipients = append(st.Recipients, u)
	}
	var notes []string
	if st.Detail != "" {
		notes = append(notes, st.Detail)
	}
	if len(dup) > 0 {
		notes = append(notes, "already a recipient: "+strings.Join(dup, ", "))
	}
	if len(foreign) > 0 {
		notes = append(notes, "directory answered an address outside the local domains, not delivered: "+strings.Join(foreign, ", "))
	}
	if len(over) > 0 {
		notes = append(notes, "over the cap of "+strconv.Itoa(r.max)+": "+strings.Join(over, ", "))
	}
	st.Detail = join(notes)
	if len(st.Recipients) > 0 {
		return
	}
	switch {
	case len(dup) > 0:
		st.Reason = ReasonDuplicate
	case len(over) > 0:
		st.Reason = ReasonOverCap
	default:
		st.Reason = ReasonForeign
	}
}

// accept checks that a directory answer is an address in a local domain
// and returns its de-duplication key.
func (r *run) accept(u string) (string, bool) {
	l, d, p := splitAddress(u)
	if p != nil || strings.ContainsAny(l, "@%!") || d[0] == '[' {
		return "", false
	}
	ad, err := asciiDomain(d)
	if err != nil || r.c.local(ad) == "" {
		return "", false
	}
	return asciiLower(l) + "@" + ad, true
}

// where names a candidate's origin, e.g. "To#2".
func where(c parse.Candidate) string {
	return c.Field + "#" + strconv.Itoa(c.Occurrence)
}

func (r *run) result(cands []parse.Candidate) Result {
	res := Result{
		Recipients:  r.recipients,
		Explanation: Explanation{Mode: r.mode(), Decided: r.decided, Steps: r.steps},
	}
	for i := range r.steps {
		if s := &r.steps[i]; s.Reason != "" {
			res.Rejected = append(res.Rejected, Rejection{Candidate: s.Candidate, Reason: s.Reason, Detail: s.Detail})
		}
	}
	return res
}
