package resolve

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

// fuzzCandidates turns fuzz input into candidates: one per line,
// "name|address" or just the address, the stage chosen by the line number.
func fuzzCandidates(data string) []parse.Candidate {
	stages := []parse.Stage{parse.StageEnvelope, parse.StageReceived, parse.StageGuess}
	var out []parse.Candidate
	for i, line := range strings.Split(data, "\n") {
		if i == 200 {
			break
		}
		name, addr, ok := strings.Cut(line, "|")
		if !ok {
			name, addr = "", line
		}
		c := parse.Candidate{Address: addr, Name: name, Field: "To", Occurrence: i + 1, Stage: stages[i%3]}
		if strings.HasPrefix(addr, "@") {
			if r, a, ok := strings.Cut(addr, ":"); ok {
				c.Route, c.Address = r, a
			}
		}
		out = append(out, c)
	}
	return out
}

// FuzzResolve resolves arbitrary candidates under arbitrary account
// switches. Properties: no panic; every candidate has exactly one step,
// kept or rejected; recipients are unique users of the directory in its
// canonical spelling, within the cap, never an address of another domain.
func FuzzResolve(f *testing.F) {
	f.Add("alice@example.com\nBob Smith|mailbox@isp.net\nteam@example.com", byte(0))
	f.Add("ALICE+x@EXAMPLE.COM\n\"a@b\"@example.com\nx%y@example.com\nanna@xn--bcher-kva.example", byte(0xff))
	f.Add("@example.com:evil@evil.com\nalice@[127.0.0.1]\nalice@example.com.\nzed@example.com", byte(0x10))
	dir := testDirectory(f)
	users := map[string]bool{}
	for _, u := range testTable().Users {
		users[u.Address] = true
	}
	m := New(dir, nil)
	f.Fuzz(func(t *testing.T, data string, flags byte) {
		a := testAccount()
		a.Resolving.Subdomains = flags&1 != 0
		a.Resolving.MatchDisplayName = flags&2 != 0
		if flags&4 != 0 {
			a.Resolving.CatchAll = "postmaster"
		}
		a.Parsing.Mode = []account.Mode{account.ModeChain, account.ModeUnion, account.ModeEnvelopeOnly, ""}[flags>>3&3]
		if flags&0x20 != 0 {
			a.Resolving.MaxRecipients = 2
		}
		if flags&0x40 != 0 {
			a.Resolving.Rules = []account.Rule{{Match: "contains", Pattern: "isp", Action: account.RuleDeliver, Users: []string{"carol"}}}
		}
		if flags&0x80 != 0 {
			a.Resolving.SubaddressSeparator = account.SubaddressOff
			a.Resolving.StripPrefix = "x"
		}
		cands := fuzzCandidates(data)
		res, err := m.Resolve(t.Context(), a, cands)
		if err != nil {
			t.Fatalf("Static never fails, got %v", err)
		}
		if len(res.Explanation.Steps) != len(cands) {
			t.Fatalf("%d steps for %d candidates", len(res.Explanation.Steps), len(cands))
		}
		rejected := 0
		for i, s := range res.Explanation.Steps {
			if s.Candidate != cands[i] {
				t.Fatalf("step %d is for %+v, not %+v", i, s.Candidate, cands[i])
			}
			if s.Kept() == (s.Reason != "") {
				t.Fatalf("step %d neither kept nor rejected: %s", i, s)
			}
			if s.Reason != "" {
				rejected++
			}
		}
		if rejected != len(res.Rejected) {
			t.Fatalf("%d rejected steps, %d rejections", rejected, len(res.Rejected))
		}
		max := DefaultMaxRecipients
		if a.Resolving.MaxRecipients > 0 {
			max = a.Resolving.MaxRecipients
		}
		if len(res.Recipients) > max {
			t.Fatalf("%d recipients over the cap %d", len(res.Recipients), max)
		}
		var seen []string
		for _, r := range res.Recipients {
			if !users[r.Address] {
				t.Fatalf("recipient %q is not a user of the directory", r.Address)
			}
			if slices.Contains(seen, r.Address) {
				t.Fatalf("recipient %q twice", r.Address)
			}
			seen = append(seen, r.Address)
			if !slices.Contains(cands, r.Candidate) {
				t.Fatalf("recipient from a candidate not given: %+v", r.Candidate)
			}
		}
	})
}

// FuzzParseResolve runs whole headers through parse and resolve as the
// pipeline does, seeded with the corpus. Properties: no panic, no error
// from a directory that cannot fail, and every recipient a user of the
// directory in one of the account's domains.
func FuzzParseResolve(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.header)
	}
	users := map[string]bool{}
	for _, u := range testTable().Users {
		users[u.Address] = true
	}
	m := New(testDirectory(f), nil)
	f.Fuzz(func(t *testing.T, header []byte) {
		_, res, err := runCase(t, m, testAccount(), header)
		var le *LookupError
		var ce *ConfigError
		if errors.As(err, &le) || errors.As(err, &ce) {
			t.Fatalf("resolve failed: %v", err)
		}
		// Other errors are parse's limits: typed, checked by its tests.
		for _, r := range res.Recipients {
			if !users[r.Address] {
				t.Fatalf("recipient %q is not a user of the directory", r.Address)
			}
		}
	})
}
