package resolve

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

func cand(field string, occ int, stage parse.Stage, addr string) parse.Candidate {
	return parse.Candidate{Address: addr, Field: field, Occurrence: occ, Stage: stage}
}

func to(addr string) parse.Candidate { return cand("To", 1, parse.StageGuess, addr) }

func named(name, addr string) parse.Candidate {
	c := to(addr)
	c.Name = name
	return c
}

// outcome summarises a Result for comparison: recipients, then
// "address: reason" per rejection.
func summary(r Result) (recipients []string, rejected []string) {
	for _, x := range r.Recipients {
		recipients = append(recipients, x.Address)
	}
	for _, x := range r.Rejected {
		rejected = append(rejected, x.Candidate.Address+": "+string(x.Reason))
	}
	return recipients, rejected
}

func TestMapperResolve(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(a *account.Account)
		cands    []parse.Candidate
		want     []string
		rejected []string
	}{
		{name: "plain", cands: []parse.Candidate{to("alice@example.com")}, want: []string{"alice@example.com"}},
		{name: "canonical spelling", cands: []parse.Candidate{to("ERIN@EXAMPLE.COM")}, want: []string{"Erin@Example.com"}},
		{name: "uppercase domain", cands: []parse.Candidate{to("bob@ExAmPlE.CoM")}, want: []string{"bob@example.com"}},
		{name: "unknown", cands: []parse.Candidate{to("zed@example.com")}, rejected: []string{"zed@example.com: unknown user"}},
		{name: "foreign", cands: []parse.Candidate{to("alice@example.org")}, rejected: []string{"alice@example.org: foreign domain"}},
		{name: "lookalike domain", cands: []parse.Candidate{to("alice@example.com.evil.com")}, rejected: []string{"alice@example.com.evil.com: foreign domain"}},
		{name: "suffix not subdomain", cands: []parse.Candidate{to("alice@notexample.com")}, rejected: []string{"alice@notexample.com: foreign domain"}},
		{name: "subdomain off", cands: []parse.Candidate{to("alice@mail.example.com")}, rejected: []string{"alice@mail.example.com: foreign domain"}},
		{name: "subdomain on", edit: func(a *account.Account) { a.Resolving.Subdomains = true },
			cands: []parse.Candidate{to("alice@mail.example.com")}, want: []string{"alice@example.com"}},
		{name: "trailing dot", cands: []parse.Candidate{to("alice@example.com.")}, rejected: []string{"alice@example.com.: invalid address"}},
		{name: "ip literal", cands: []parse.Candidate{to("alice@[192.0.2.1]")}, rejected: []string{"alice@[192.0.2.1]: foreign domain"}},
		{name: "percent hack", cands: []parse.Candidate{to("evil%evil.com@example.com")}, rejected: []string{"evil%evil.com@example.com: invalid address"}},
		{name: "bang hack", cands: []parse.Candidate{to("evil.com!evil@example.com")}, rejected: []string{"evil.com!evil@example.com: invalid address"}},
		{name: "quoted at local", cands: []parse.Candidate{to("a@example.com@evil.com")}, rejected: []string{"a@example.com@evil.com: foreign domain"}},
		{name: "quoted at in local domain", cands: []parse.Candidate{to(`"alice@evil.com"@example.com`)}, rejected: []string{`"alice@evil.com"@example.com: invalid address`}},
		{name: "source route", cands: []parse.Candidate{to("@example.com:evil@evil.com")}, rejected: []string{"@example.com:evil@evil.com: invalid address"}},
		{name: "no domain", cands: []parse.Candidate{to("alice")}, rejected: []string{"alice: invalid address"}},
		{name: "nul", cands: []parse.Candidate{to("alice\x00@example.com")}, rejected: []string{"alice\x00@example.com: invalid address"}},
		{name: "punycode", cands: []parse.Candidate{to("anna@xn--bcher-kva.example")}, want: []string{"anna@bücher.example"}},
		{name: "idn upper", cands: []parse.Candidate{to("ANNA@BÜCHER.example")}, want: []string{"anna@bücher.example"}},
		{name: "bad punycode", cands: []parse.Candidate{to("anna@xn--zz-.example")}, rejected: []string{"anna@xn--zz-.example: invalid address"}},
		{name: "plus", cands: []parse.Candidate{to("alice+news@example.com")}, want: []string{"alice@example.com"}},
		{name: "plus exact user first", edit: func(a *account.Account) { a.Resolving.SubaddressSeparator = account.SubaddressOff },
			cands: []parse.Candidate{to("alice-work@example.com"), to("alice-news@example.com")},
			want:  []string{"alice-work@example.com"}, rejected: []string{"alice-news@example.com: unknown user"}},
		{name: "qmail separator", edit: func(a *account.Account) { a.Resolving.SubaddressSeparator = "-" },
			cands: []parse.Candidate{to("bob-lists@example.com"), to("alice-work@example.com")},
			want:  []string{"bob@example.com", "alice-work@example.com"}},
		{name: "custom separator", edit: func(a *account.Account) { a.Resolving.SubaddressSeparator = "_" },
			cands: []parse.Candidate{to("bob_x@example.com"), to("carol+x@example.com")},
			want:  []string{"bob@example.com"}, rejected: []string{"carol+x@example.com: unknown user"}},
		{name: "directory alias", cands: []parse.Candidate{to("team@example.com")}, want: []string{"alice@example.com", "bob@example.com"}},
		{name: "duplicates", cands: []parse.Candidate{to("alice@example.com"), cand("Cc", 1, parse.StageGuess, "ALICE@example.com"), to("alice+x@example.com")},
			want: []string{"alice@example.com"}, rejected: []string{"ALICE@example.com: duplicate", "alice+x@example.com: duplicate"}},
		{name: "alias overlaps", cands: []parse.Candidate{to("bob@example.com"), to("team@example.com")},
			want: []string{"bob@example.com", "alice@example.com"}},
		{name: "account alias local part", edit: func(a *account.Account) {
			a.Resolving.Aliases = map[string][]string{"info": {"carol", "dave@example.com"}}
		},
			cands: []parse.Candidate{to("INFO@example.com"), to("info@bücher.example")},
			want:  []string{"carol@example.com", "dave@example.com"}, rejected: []string{"info@bücher.example: duplicate"}},
		{name: "account alias full", edit: func(a *account.Account) { a.Resolving.Aliases = map[string][]string{"Info@Example.com": {"carol"}} },
			cands: []parse.Candidate{to("info+x@example.com"), to("info@xn--bcher-kva.example")},
			want:  []string{"carol@example.com"}, rejected: []string{"info@xn--bcher-kva.example: unknown user"}},
		{name: "account alias on a subdomain", edit: func(a *account.Account) {
			a.Resolving.Subdomains = true
			a.Resolving.Aliases = map[string][]string{"info@eu.example.com": {"carol"}, "info@example.com": {"dave"}}
		}, cands: []parse.Candidate{to("info@EU.example.com"), to("info@us.example.com")},
			want: []string{"carol@example.com", "dave@example.com"}},
		{name: "alias to missing user", edit: func(a *account.Account) { a.Resolving.Aliases = map[string][]string{"info": {"ghost"}} },
			cands: []parse.Candidate{to("info@example.com")}, rejected: []string{"info@example.com: unknown user"}},
		{name: "strip prefix", edit: func(a *account.Account) { a.Resolving.StripPrefix = "example-" },
			cands: []parse.Candidate{to("Example-bob@example.com"), to("example-@example.com")},
			want:  []string{"bob@example.com"}, rejected: []string{"example-@example.com: unknown user"}},
		{name: "strip suffix", edit: func(a *account.Account) { a.Resolving.StripSuffix = ".isp" },
			cands: []parse.Candidate{to("dave.isp@example.com")}, want: []string{"dave@example.com"}},
		{name: "deny rule", edit: func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{{Match: "contains", Pattern: "ALICE", Action: account.RuleDeny}}
		}, cands: []parse.Candidate{to("alice@example.com"), to("bob@example.com")},
			want: []string{"bob@example.com"}, rejected: []string{"alice@example.com: denied by rule"}},
		{name: "deny beats alias", edit: func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{{Match: "equals", Pattern: "team@example.com", Action: account.RuleDeny}}
		}, cands: []parse.Candidate{to("TEAM@example.com")}, rejected: []string{"TEAM@example.com: denied by rule"}},
		{name: "deliver rule for foreign", edit: func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{{Match: "regexp", Pattern: `^mailbox@isp\.net$`, Action: account.RuleDeliver, Users: []string{"postmaster"}}}
		}, cands: []parse.Candidate{to("MAILBOX@isp.net"), to("other@isp.net")},
			want: []string{"postmaster@example.com"}, rejected: []string{"other@isp.net: foreign domain"}},
		{name: "first rule wins", edit: func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{
				{Match: "contains", Pattern: "sales", Action: account.RuleDeliver, Users: []string{"carol@example.com"}},
				{Match: "contains", Pattern: "sales", Action: account.RuleDeny},
			}
		}, cands: []parse.Candidate{to("sales@example.com")}, want: []string{"carol@example.com"}},
		{name: "catch-all", edit: func(a *account.Account) { a.Resolving.CatchAll = "postmaster" },
			cands: []parse.Candidate{to("zed@example.com"), to("x@evil.com"), to("y%z@example.com")},
			want:  []string{"postmaster@example.com"}, rejected: []string{"x@evil.com: foreign domain", "y%z@example.com: invalid address"}},
		{name: "catch-all missing", edit: func(a *account.Account) { a.Resolving.CatchAll = "nobody" },
			cands: []parse.Candidate{to("zed@example.com")}, rejected: []string{"zed@example.com: unknown user"}},
		{name: "display name for foreign", edit: func(a *account.Account) { a.Resolving.MatchDisplayName = true },
			cands: []parse.Candidate{named("Bob Smith", "mailbox@isp.net"), named("Liddell, Alice", "x@isp.net"), named("John Smith", "y@isp.net"), named("Nobody", "z@isp.net")},
			want:  []string{"bob@example.com", "alice@example.com"}, rejected: []string{"y@isp.net: foreign domain", "z@isp.net: foreign domain"}},
		{name: "address beats display name", edit: func(a *account.Account) { a.Resolving.MatchDisplayName = true },
			cands: []parse.Candidate{named("Bob Smith", "alice@example.com"), named("Carol Jones", "zed@example.com")},
			want:  []string{"alice@example.com", "carol@example.com"}},
		{name: "display name off", cands: []parse.Candidate{named("Bob Smith", "mailbox@isp.net")}, rejected: []string{"mailbox@isp.net: foreign domain"}},
		{name: "cap", edit: func(a *account.Account) { a.Resolving.MaxRecipients = 2 },
			cands: []parse.Candidate{to("alice@example.com"), to("bob@example.com"), to("carol@example.com"), to("x@evil.com")},
			want:  []string{"alice@example.com", "bob@example.com"}, rejected: []string{"carol@example.com: over recipient cap", "x@evil.com: over recipient cap"}},
		{name: "cap inside alias", edit: func(a *account.Account) { a.Resolving.MaxRecipients = 2 },
			cands: []parse.Candidate{to("carol@example.com"), to("team@example.com"), to("dave@example.com")},
			want:  []string{"carol@example.com", "alice@example.com"}, rejected: []string{"dave@example.com: over recipient cap"}},
		{name: "chain: envelope decides", cands: []parse.Candidate{
			cand("Delivered-To", 1, parse.StageEnvelope, "bob@example.com"),
			to("alice@example.com"),
		}, want: []string{"bob@example.com"}, rejected: []string{"alice@example.com: superseded by an earlier stage"}},
		{name: "chain: unknown local envelope still decides", cands: []parse.Candidate{
			cand("Delivered-To", 1, parse.StageEnvelope, "zed@example.com"),
			to("alice@example.com"),
		}, rejected: []string{"zed@example.com: unknown user", "alice@example.com: superseded by an earlier stage"}},
		{name: "chain: foreign envelope falls through", cands: []parse.Candidate{
			cand("Delivered-To", 1, parse.StageEnvelope, "mailbox@isp.net"),
			cand("Received", 2, parse.StageReceived, "x@isp.net"),
			to("alice@example.com"),
		}, want: []string{"alice@example.com"}, rejected: []string{"mailbox@isp.net: foreign domain", "x@isp.net: foreign domain"}},
		{name: "union", edit: func(a *account.Account) { a.Parsing.Mode = account.ModeUnion }, cands: []parse.Candidate{
			cand("Delivered-To", 1, parse.StageEnvelope, "bob@example.com"),
			to("alice@example.com"),
		}, want: []string{"bob@example.com", "alice@example.com"}},
		{name: "envelope-only", edit: func(a *account.Account) { a.Parsing.Mode = account.ModeEnvelopeOnly }, cands: []parse.Candidate{
			cand("X-Original-To", 1, parse.StageEnvelope, "bob@example.com"),
			to("alice@example.com"),
		}, want: []string{"bob@example.com"}, rejected: []string{"alice@example.com: untrusted position"}},
		{name: "extra domain", cands: []parse.Candidate{to("anna@Bücher.Example")}, want: []string{"anna@bücher.example"}},
		{name: "fullwidth maps to ascii", cands: []parse.Candidate{to("alice@ｅｘａｍｐｌｅ.com")}, want: []string{"alice@example.com"}},
		{name: "empty", cands: nil},
	}
	dir := testDirectory(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAccount()
			if tt.edit != nil {
				tt.edit(&a)
			}
			res, err := New(dir, nil).Resolve(t.Context(), a, tt.cands)
			require.NoError(t, err)
			got, rejected := summary(res)
			assert.Equal(t, tt.want, got, "recipients")
			assert.Equal(t, tt.rejected, rejected, "rejected")
			require.Len(t, res.Explanation.Steps, len(tt.cands))
			for i, s := range res.Explanation.Steps {
				assert.Equal(t, tt.cands[i], s.Candidate)
				assert.Equal(t, s.Reason == "", s.Kept(), "step %d: %s", i, s)
			}
			if t.Failed() {
				t.Log(res.Explanation)
			}
		})
	}
}

// The recipient carries the candidate that produced it, and the
// explanation says how.
func TestMapperProvenance(t *testing.T) {
	a := testAccount()
	a.Resolving.Aliases = map[string][]string{"info": {"carol"}}
	cands := []parse.Candidate{
		cand("Delivered-To", 1, parse.StageEnvelope, "info+web@example.com"),
		cand("Delivered-To", 1, parse.StageEnvelope, "alice+x@example.com"),
	}
	res, err := New(testDirectory(t), nil).Resolve(t.Context(), a, cands)
	require.NoError(t, err)
	require.Len(t, res.Recipients, 2)
	assert.Equal(t, Recipient{Address: "carol@example.com", Candidate: cands[0], Via: ViaAlias}, res.Recipients[0])
	assert.Equal(t, Recipient{Address: "alice@example.com", Candidate: cands[1], Via: ViaDirectory}, res.Recipients[1])
	assert.Equal(t, parse.StageEnvelope, res.Explanation.Decided)
	assert.Equal(t, account.ModeChain, res.Explanation.Mode)
	s := res.Explanation.String()
	assert.Contains(t, s, "mode chain, decided by stage envelope: 2 candidates, 2 kept, 0 rejected")
	assert.Contains(t, s, `Delivered-To#1 (envelope) <info+web@example.com>: kept -> carol@example.com via alias (subaddress "+web" removed; alias "info")`)
	assert.Contains(t, s, `<alice+x@example.com>: kept -> alice@example.com via directory (subaddress "+x" removed)`)
}

func TestMapperDirectoryError(t *testing.T) {
	boom := errors.New("ldap down")
	dir := DirectoryFunc(func(ctx context.Context, domain, local string) ([]string, error) {
		if local == "bob" {
			return nil, boom
		}
		return []string{local + "@" + domain}, nil
	})
	m := New(dir, nil)
	res, err := m.Resolve(t.Context(), testAccount(), []parse.Candidate{to("alice@example.com"), to("bob@example.com")})
	var le *LookupError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "bob", le.Key)
	assert.Equal(t, "example.com", le.Domain)
	assert.Equal(t, `resolve: directory lookup of "bob" in example.com: ldap down`, err.Error())
	assert.Empty(t, res.Recipients, "no partial result on error")
}

func TestMapperTimeout(t *testing.T) {
	dir := DirectoryFunc(func(ctx context.Context, domain, local string) ([]string, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		m := New(dir, &Options{Timeout: 30 * time.Second})
		_, err := m.Resolve(t.Context(), testAccount(), []parse.Candidate{to("alice@example.com")})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		var le *LookupError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 30*time.Second, time.Since(start))

		// The default is 30s too.
		_, err = New(dir, nil).Resolve(t.Context(), testAccount(), []parse.Candidate{to("alice@example.com")})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 60*time.Second, time.Since(start))
	})

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := New(testDirectory(t), nil).Resolve(ctx, testAccount(), []parse.Candidate{to("alice@example.com")})
	require.ErrorIs(t, err, context.Canceled)
}

// A directory answering with an outside address never makes it a
// recipient: no relay.
func TestMapperForeignDirectoryAnswer(t *testing.T) {
	dir := DirectoryFunc(func(ctx context.Context, domain, local string) ([]string, error) {
		switch local {
		case "fwd":
			return []string{"someone@gmail.com"}, nil
		case "mixed":
			return []string{"x@evil.com", "alice@example.com"}, nil
		}
		return nil, nil
	})
	res, err := New(dir, nil).Resolve(t.Context(), testAccount(), []parse.Candidate{to("fwd@example.com"), to("mixed@example.com")})
	require.NoError(t, err)
	got, rejected := summary(res)
	assert.Equal(t, []string{"alice@example.com"}, got)
	assert.Equal(t, []string{"fwd@example.com: foreign domain"}, rejected)
	assert.Contains(t, res.Explanation.Steps[1].Detail, "x@evil.com")
}

func TestMapperConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(a *account.Account)
		field string
	}{
		{"empty domain", func(a *account.Account) { a.Domain = "" }, "domain"},
		{"bad extra", func(a *account.Account) { a.ExtraDomains = []string{"bad..x"} }, "extra_domains[0]"},
		{"mode", func(a *account.Account) { a.Parsing.Mode = "guess" }, "parsing.mode"},
		{"regexp", func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{{Match: "regexp", Pattern: "(", Action: account.RuleDeny}}
		}, "resolving.rules[0].pattern"},
		{"match", func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{{Match: "like", Pattern: "x", Action: account.RuleDeny}}
		}, "resolving.rules[0].match"},
		{"action", func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{{Match: "equals", Pattern: "x", Action: "bounce"}}
		}, "resolving.rules[0].action"},
		{"relay rule", func(a *account.Account) {
			a.Resolving.Rules = []account.Rule{{Match: "equals", Pattern: "x", Action: account.RuleDeliver, Users: []string{"me@gmail.com"}}}
		}, "resolving.rules[0].users"},
		{"relay alias", func(a *account.Account) { a.Resolving.Aliases = map[string][]string{"x": {"me@gmail.com"}} }, `resolving.aliases["x"]`},
		{"foreign alias key", func(a *account.Account) { a.Resolving.Aliases = map[string][]string{"x@gmail.com": {"alice"}} }, `resolving.aliases["x@gmail.com"]`},
		{"catch-all relay", func(a *account.Account) { a.Resolving.CatchAll = "me@gmail.com" }, "resolving.catch_all"},
		{"negative cap", func(a *account.Account) { a.Resolving.MaxRecipients = -1 }, "resolving.max_recipients"},
	}
	m := New(testDirectory(t), nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testAccount()
			tt.edit(&a)
			_, err := m.Resolve(t.Context(), a, []parse.Candidate{to("alice@example.com")})
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.field, ce.Field)
			assert.Equal(t, "test", ce.Account)
		})
	}
}

// Settings are compiled once per account content: a changed account is
// recompiled, an unchanged one reuses the cache.
func TestMapperCache(t *testing.T) {
	m := New(testDirectory(t), nil)
	a := testAccount()
	a.Resolving.Rules = []account.Rule{{Match: "regexp", Pattern: "^x", Action: account.RuleDeny}}
	a.Resolving.Aliases = map[string][]string{"info": {"carol"}}
	c1 := m.settings(a)
	assert.Same(t, c1, m.settings(a))
	b := testAccount()
	b.Resolving.Rules = []account.Rule{{Match: "regexp", Pattern: "^x", Action: account.RuleDeny}}
	b.Resolving.Aliases = map[string][]string{"info": {"carol"}}
	assert.Same(t, c1, m.settings(b), "equal content, other slices")

	a.Resolving.Rules[0].Pattern = "^y" // the caller mutates its account
	c2 := m.settings(a)
	assert.NotSame(t, c1, c2)
	a.Resolving.Aliases["info"][0] = "dave"
	assert.NotSame(t, c2, m.settings(a))
	a.ExtraDomains = nil
	c3 := m.settings(a)
	assert.Equal(t, []string{"example.com"}, c3.domains)

	allocs := testing.AllocsPerRun(100, func() { m.settings(a) })
	assert.Zero(t, allocs, "cache hit allocates")
}

func TestMapperConcurrent(t *testing.T) {
	m := New(testDirectory(t), nil)
	done := make(chan error)
	for i := range 8 {
		go func() {
			a := testAccount()
			a.ID = fmt.Sprint("acct", i%3)
			a.Resolving.MaxRecipients = 1 + i%2
			var err error
			for range 200 {
				var res Result
				res, err = m.Resolve(t.Context(), a, []parse.Candidate{to("alice@example.com"), to("bob@example.com")})
				if err == nil && len(res.Recipients) != a.Resolving.MaxRecipients {
					err = fmt.Errorf("got %d recipients with cap %d", len(res.Recipients), a.Resolving.MaxRecipients)
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-done)
	}
}

func TestExplanationLogValue(t *testing.T) {
	res, err := New(testDirectory(t), nil).Resolve(t.Context(), testAccount(), []parse.Candidate{
		to("alice@example.com"), to("x@evil.com"), to("y@evil.com"), to("zed@example.com"),
	})
	require.NoError(t, err)
	v := res.Explanation.LogValue()
	got := map[string]string{}
	for _, a := range v.Group() {
		got[a.Key] = a.Value.String()
	}
	assert.Equal(t, map[string]string{"mode": "chain", "decided": "guess", "candidates": "4", "kept": "1", "rejected": "3",
		"foreign_domain": "2", "unknown_user": "1"}, got)

	many := Explanation{Mode: account.ModeUnion, Steps: make([]Decision, 250)}
	assert.Contains(t, many.String(), "  ... 50 more\n")
	var b countingBuffer
	n, err := many.WriteTo(&b)
	require.NoError(t, err)
	assert.Equal(t, int64(b.n), n)
	assert.Equal(t, 251, b.lines)
}

type countingBuffer struct{ n, lines int }

func (c *countingBuffer) Write(p []byte) (int, error) {
	c.n += len(p)
	for _, b := range p {
		if b == '\n' {
			c.lines++
		}
	}
	return len(p), nil
}
