package resolve

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

// Options configures a [Mapper]. The zero value of each field is the
// documented default.
type Options struct {
	// MaxRecipients caps the recipients of one message when the account
	// sets no cap (Resolving.MaxRecipients). 0 means 100.
	MaxRecipients int
	// Timeout bounds one Resolve call, directory lookups included; when it
	// expires Resolve fails with a [*LookupError] and the message is kept.
	// 0 means 30s; a negative value means only the caller's context. It
	// does not apply to [Static] and [File], which never block.
	Timeout time.Duration
}

// DefaultMaxRecipients is the recipient cap when neither the account nor
// the Options set one.
const DefaultMaxRecipients = 100

// Mapper is the default [Resolver]: it maps the candidates of a message
// onto the users of a [Directory] following the account's Resolving
// settings (see the package documentation for the order of the steps). It
// is safe for concurrent use; per-account settings are compiled once and
// reused while the account's content is unchanged.
type Mapper struct {
	dir  Directory
	opts Options

	mu    sync.Mutex
	cache map[string]*compiled // by account ID, checked against the content
}

var _ Resolver = (*Mapper)(nil)

// maxCached bounds the compiled-settings cache; past it the cache starts
// afresh (compiling is cheap; it is only not free per message).
const maxCached = 4096

// New returns a Mapper over dir, which must not be nil.
func New(dir Directory, opts *Options) *Mapper {
	if dir == nil {
		panic("resolve: New with a nil Directory")
	}
	m := &Mapper{dir: dir, cache: make(map[string]*compiled)}
	if opts != nil {
		m.opts = *opts
	}
	if m.opts.MaxRecipients <= 0 {
		m.opts.MaxRecipients = DefaultMaxRecipients
	}
	if m.opts.Timeout == 0 {
		m.opts.Timeout = 30 * time.Second
	}
	return m
}

// Resolve implements [Resolver]. It returns an error, and no result, when
// the account's settings are invalid ([*ConfigError]) or the directory
// fails or times out ([*LookupError]); the message must then be kept.
func (m *Mapper) Resolve(ctx context.Context, a account.Account, cands []parse.Candidate) (Result, error) {
	c := m.settings(a)
	if c.err != nil {
		return Result{}, c.err
	}
	if _, inMemory := m.dir.(memoryDirectory); !inMemory && m.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.Timeout)
		defer cancel()
	}
	r := &run{ctx: ctx, dir: m.dir, c: c, steps: make([]Decision, len(cands))}
	max := c.max
	if max <= 0 {
		max = m.opts.MaxRecipients
	}
	r.max = max
	if err := r.resolve(cands); err != nil {
		return Result{}, err
	}
	return r.result(cands), nil
}

// settings returns the compiled settings of a, from the cache when the
// account's content is unchanged.
func (m *Mapper) settings(a account.Account) *compiled {
	m.mu.Lock()
	c := m.cache[a.ID]
	m.mu.Unlock()
	if c != nil && c.matches(a) {
		return c
	}
	c = compile(a)
	m.mu.Lock()
	if len(m.cache) >= maxCached {
		clear(m.cache)
	}
	m.cache[a.ID] = c
	m.mu.Unlock()
	return c
}

// memoryDirectory marks the directories of this package that answer from
// memory without blocking, so Resolve needs no timer for them.
type memoryDirectory interface{ inMemory() }

func (*Static) inMemory() {}
func (*File) inMemory()   {}

// compiled is an account's Resolving settings in the form Resolve uses.
type compiled struct {
	// The content it was built from (deep copies).
	id     string
	domain string
	extra  []string
	mode   account.Mode
	res    account.Resolving

	err         error
	domains     []string // ASCII forms; [0] is the primary domain
	sep         string   // subaddress separator, "" when off
	rules       []rule
	aliasFull   map[string][]string // lower(local)@asciidomain -> targets
	aliasLocal  map[string][]string // lower(local) -> targets
	max         int
	stripPrefix string
	stripSuffix string
}

type rule struct {
	n       int // 1-based, for explanations
	kind    string
	pattern string
	re      *regexp.Regexp
	deny    bool
	users   []string
}

func compile(a account.Account) *compiled {
	c := &compiled{
		id:     a.ID,
		domain: a.Domain,
		extra:  slices.Clone(a.ExtraDomains),
		mode:   a.Parsing.Mode,
		res:    cloneResolving(a.Resolving),
	}
	c.err = c.build()
	return c
}

func (c *compiled) fail(field string, err error) error {
	return &ConfigError{Account: c.id, Field: field, Err: err}
}

func (c *compiled) build() error {
	switch c.mode {
	case "", account.ModeChain, account.ModeUnion, account.ModeEnvelopeOnly:
	default:
		return c.fail("parsing.mode", fmt.Errorf("unknown mode %q", c.mode))
	}
	if c.domain == "" {
		return c.fail("domain", errors.New("empty"))
	}
	for i, d := range append([]string{c.domain}, c.extra...) {
		field := "domain"
		if i > 0 {
			field = "extra_domains[" + strconv.Itoa(i-1) + "]"
		}
		ad, err := asciiDomain(strings.TrimSuffix(d, "."))
		if err != nil {
			return c.fail(field, fmt.Errorf("%q: %w", d, err))
		}
		if !slices.Contains(c.domains, ad) {
			c.domains = append(c.domains, ad)
		}
	}
	r := c.res
	c.stripPrefix, c.stripSuffix = r.StripPrefix, r.StripSuffix
	switch r.SubaddressSeparator {
	case "":
		c.sep = "+"
	case account.SubaddressOff:
		c.sep = ""
	default:
		c.sep = r.SubaddressSeparator
	}
	if r.MaxRecipients < 0 {
		return c.fail("resolving.max_recipients", errors.New("negative"))
	}
	c.max = r.MaxRecipients
	if r.CatchAll != "" {
		if err := c.checkTarget(r.CatchAll); err != nil {
			return c.fail("resolving.catch_all", err)
		}
	}
	c.aliasFull = make(map[string][]string)
	c.aliasLocal = make(map[string][]string)
	for k, targets := range r.Aliases {
		field := "resolving.aliases[" + strconv.Quote(k) + "]"
		if len(targets) == 0 {
			return c.fail(field, errors.New("no users"))
		}
		for _, t := range targets {
			if err := c.checkTarget(t); err != nil {
				return c.fail(field, err)
			}
		}
		if !strings.Contains(k, "@") {
			c.aliasLocal[asciiLower(k)] = targets
			continue
		}
		l, d, p := splitAddress(k)
		if p != nil {
			return c.fail(field, errors.New(p.detail))
		}
		ad, err := asciiDomain(d)
		if err != nil {
			return c.fail(field, err)
		}
		if c.local(ad) == "" {
			return c.fail(field, fmt.Errorf("%q is not in a local domain", k))
		}
		c.aliasFull[asciiLower(l)+"@"+ad] = targets
	}
	for i, ru := range r.Rules {
		field := "resolving.rules[" + strconv.Itoa(i) + "]"
		x := rule{n: i + 1, kind: ru.Match, pattern: ru.Pattern}
		if ru.Pattern == "" {
			return c.fail(field+".pattern", errors.New("empty"))
		}
		switch ru.Match {
		case "equals", "contains":
			x.pattern = strings.ToLower(ru.Pattern)
		case "regexp":
			re, err := regexp.Compile("(?i)" + ru.Pattern)
			if err != nil {
				return c.fail(field+".pattern", err)
			}
			x.re = re
		default:
			return c.fail(field+".match", fmt.Errorf("unknown match %q (want equals, contains or regexp)", ru.Match))
		}
		switch ru.Action {
		case account.RuleDeny:
			x.deny = true
		case account.RuleDeliver:
			if len(ru.Users) == 0 {
				return c.fail(field+".users", errors.New("deliver rule without users"))
			}
			for _, u := range ru.Users {
				if err := c.checkTarget(u); err != nil {
					return c.fail(field+".users", err)
				}
			}
			x.users = ru.Users
		default:
			return c.fail(field+".action", fmt.Errorf("unknown action %q (want deliver or deny)", ru.Action))
		}
		c.rules = append(c.rules, x)
	}
	return nil
}

// checkTarget validates a user named by the configuration: a local part,
// or an address in a local domain (no relay).
func (c *compiled) checkTarget(t string) error {
	if !strings.Contains(t, "@") {
		if t == "" || strings.ContainsAny(t, "%! \t") {
			return fmt.Errorf("invalid user %q", t)
		}
		return nil
	}
	_, d, p := splitAddress(t)
	if p != nil {
		return fmt.Errorf("user %q: %s", t, p.detail)
	}
	ad, err := asciiDomain(d)
	if err != nil {
		return fmt.Errorf("user %q: %w", t, err)
	}
	if c.local(ad) == "" {
		return fmt.Errorf("user %q is not in a local domain (no relay)", t)
	}
	return nil
}

// local returns the local domain that ascii (an ASCII domain) belongs to,
// or "" if it is not local.
func (c *compiled) local(ascii string) string {
	for _, d := range c.domains {
		if ascii == d {
			return d
		}
	}
	if c.res.Subdomains {
		for _, d := range c.domains {
			if len(ascii) > len(d)+1 && ascii[len(ascii)-len(d)-1] == '.' && ascii[len(ascii)-len(d):] == d {
				return d
			}
		}
	}
	return ""
}

// matches reports whether a has the content c was compiled from. It does
// not allocate.
func (c *compiled) matches(a account.Account) bool {
	if a.ID != c.id || a.Domain != c.domain || a.Parsing.Mode != c.mode || !slices.Equal(a.ExtraDomains, c.extra) {
		return false
	}
	x, y := a.Resolving, c.res
	if x.Subdomains != y.Subdomains || x.StripPrefix != y.StripPrefix || x.StripSuffix != y.StripSuffix ||
		x.SubaddressSeparator != y.SubaddressSeparator || x.MatchDisplayName != y.MatchDisplayName ||
		x.CatchAll != y.CatchAll || x.MaxRecipients != y.MaxRecipients ||
		len(x.Aliases) != len(y.Aliases) || len(x.Rules) != len(y.Rules) {
		return false
	}
	for k, v := range x.Aliases {
		w, ok := y.Aliases[k]
		if !ok || !slices.Equal(v, w) {
			return false
		}
	}
	for i := range x.Rules {
		p, q := x.Rules[i], y.Rules[i]
		if p.Match != q.Match || p.Pattern != q.Pattern || p.Action != q.Action || !slices.Equal(p.Users, q.Users) {
			return false
		}
	}
	return true
}

func cloneResolving(r account.Resolving) account.Resolving {
	if r.Aliases != nil {
		m := make(map[string][]string, len(r.Aliases))
		for k, v := range r.Aliases {
			m[k] = slices.Clone(v)
		}
		r.Aliases = m
	}
	if r.Rules != nil {
		rules := slices.Clone(r.Rules)
		for i := range rules {
			rules[i].Users = slices.Clone(rules[i].Users)
		}
		r.Rules = rules
	}
	return r
}

func (ru *rule) match(addr string) bool {
	switch ru.kind {
	case "equals":
		return strings.EqualFold(addr, ru.pattern)
	case "contains":
		return containsFold(addr, ru.pattern)
	default:
		return ru.re.MatchString(addr)
	}
}

func (ru *rule) String() string {
	return "rule " + strconv.Itoa(ru.n) + " (" + ru.kind + " " + strconv.Quote(ru.pattern) + ")"
}

// containsFold reports whether s contains the lower-case pattern p,
// comparing case-insensitively.
func containsFold(s, p string) bool {
	return strings.Contains(strings.ToLower(s), p)
}

// Local reports whether domain (in any IDNA spelling) is one of a's local
// domains, or a subdomain of one when Resolving.Subdomains is set, exactly
// as Resolve decides it. It is meant for parse.Options.Local, so that
// parse's Chain mode and the resolver agree on what is local. An account
// with invalid settings has no local domain.
func (m *Mapper) Local(a account.Account, domain string) bool {
	c := m.settings(a)
	if c.err != nil || domain == "" || domain[0] == '[' || strings.HasSuffix(domain, ".") {
		return false
	}
	ad, err := asciiDomain(domain)
	return err == nil && c.local(ad) != ""
}
