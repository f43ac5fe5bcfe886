package resolve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// A Directory knows the users of the local domains. Lookup returns the
// canonical addresses of the mailboxes that receive mail for local@domain:
// one for a user, several for an alias that expands to several users, none
// (and a nil error) when there is no such user. domain is in lower-case
// ASCII (A-label) form; local is the local part after stripping and
// subaddress removal, in the spelling of the message. An error (an outage,
// a timeout) makes the resolver fail, so the message is kept and retried.
//
// The returned addresses are what the message is delivered to; they must be
// in one of the account's local domains, or the resolver refuses them (no
// relay). The caller does not modify the returned slice.
type Directory interface {
	Lookup(ctx context.Context, domain, local string) ([]string, error)
}

// NameLookup is an optional interface of a [Directory] that also knows its
// users' real names, for display-name matching (MDaemon's real-name
// engine, enabled per account by Resolving.MatchDisplayName). LookupName
// returns the canonical addresses of the users of domain whose real name is
// name, compared case-insensitively with white space collapsed; the resolver
// delivers only when exactly one user matches.
type NameLookup interface {
	LookupName(ctx context.Context, domain, name string) ([]string, error)
}

// DirectoryFunc adapts a function to a [Directory].
type DirectoryFunc func(ctx context.Context, domain, local string) ([]string, error)

// Lookup calls f.
func (f DirectoryFunc) Lookup(ctx context.Context, domain, local string) ([]string, error) {
	return f(ctx, domain, local)
}

// User is one entry of a [Table].
type User struct {
	Address string // canonical address, e.g. "alice@example.com"
	Name    string // real name, for display-name matching; may be empty
}

// Table is the plain-data content of a [Static] directory.
type Table struct {
	Users []User
	// Aliases maps an address to the users that receive its mail; a target
	// without "@" is a user of the alias's own domain. Every target must be
	// one of Users: a table never relays.
	Aliases map[string][]string
	// CaseSensitive compares local parts byte for byte. By default ASCII
	// letters are compared case-insensitively, as every common mail server
	// does; non-ASCII letters always compare exactly.
	CaseSensitive bool
}

// Static is an immutable in-memory [Directory] and [NameLookup], safe for
// concurrent use. Make one with [NewStatic].
type Static struct {
	caseSensitive bool
	byDomain      map[string]map[string][]string // ASCII domain -> local key -> canonical addresses
	names         map[string]map[string][]string // ASCII domain -> normalised real name -> addresses
	users         int
}

var (
	_ Directory  = (*Static)(nil)
	_ NameLookup = (*Static)(nil)
	_ Directory  = DirectoryFunc(nil)
)

// NewStatic validates t and builds a directory from it. Addresses must be
// unique (compared as Lookup compares them), domains valid IDNA names, and
// alias targets users of the table.
func NewStatic(t Table) (*Static, error) {
	s := &Static{
		caseSensitive: t.CaseSensitive,
		byDomain:      make(map[string]map[string][]string),
		names:         make(map[string]map[string][]string),
	}
	for _, u := range t.Users {
		local, domain, err := s.key(u.Address)
		if err != nil {
			return nil, err
		}
		m := s.byDomain[domain]
		if m == nil {
			m = make(map[string][]string)
			s.byDomain[domain] = m
		}
		if _, dup := m[local]; dup {
			return nil, fmt.Errorf("resolve: duplicate user %q", u.Address)
		}
		m[local] = []string{u.Address}
		s.users++
		if n := normName(u.Name); n != "" {
			nm := s.names[domain]
			if nm == nil {
				nm = make(map[string][]string)
				s.names[domain] = nm
			}
			nm[n] = append(nm[n], u.Address)
		}
	}
	// Aliases in a stable order so errors are reproducible.
	keys := make([]string, 0, len(t.Aliases))
	for k := range t.Aliases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type aliasKey struct{ local, domain string }
	isAlias := make(map[aliasKey]bool, len(keys))
	for _, alias := range keys {
		local, domain, err := s.key(alias)
		if err != nil {
			return nil, err
		}
		isAlias[aliasKey{local, domain}] = true
	}
	for _, alias := range keys {
		local, domain, _ := s.key(alias)
		m := s.byDomain[domain]
		if m == nil {
			m = make(map[string][]string)
			s.byDomain[domain] = m
		}
		if _, dup := m[local]; dup {
			return nil, fmt.Errorf("resolve: alias %q duplicates a user or alias", alias)
		}
		targets := t.Aliases[alias]
		if len(targets) == 0 {
			return nil, fmt.Errorf("resolve: alias %q has no users", alias)
		}
		var addrs []string
		for _, target := range targets {
			tl, td := target, domain
			var err error
			if strings.Contains(target, "@") {
				tl, td, err = s.key(target)
				if err != nil {
					return nil, fmt.Errorf("resolve: alias %q: %w", alias, err)
				}
			} else if !s.caseSensitive {
				tl = asciiLower(tl)
			}
			got := s.byDomain[td][tl]
			if len(got) != 1 || isAlias[aliasKey{tl, td}] {
				return nil, fmt.Errorf("resolve: alias %q: target %q is not a user of the directory", alias, target)
			}
			if !slices.Contains(addrs, got[0]) {
				addrs = append(addrs, got[0])
			}
		}
		m[local] = addrs
	}
	return s, nil
}

// key splits and normalises an address of the table.
func (s *Static) key(addr string) (local, domain string, err error) {
	l, d, p := splitAddress(strings.TrimSpace(addr))
	if p != nil {
		return "", "", fmt.Errorf("resolve: address %q: %s", addr, p.detail)
	}
	if strings.ContainsAny(l, "@%!") {
		return "", "", fmt.Errorf("resolve: address %q: routing character in local part", addr)
	}
	d, err = asciiDomain(d)
	if err != nil {
		return "", "", fmt.Errorf("resolve: address %q: domain: %w", addr, err)
	}
	if !s.caseSensitive {
		l = asciiLower(l)
	}
	return l, d, nil
}

// Len returns the number of users (aliases not counted).
func (s *Static) Len() int { return s.users }

// Lookup implements [Directory]. It never fails; domain may be given in any
// IDNA spelling.
func (s *Static) Lookup(ctx context.Context, domain, local string) ([]string, error) {
	m := s.byDomain[domain]
	if m == nil {
		d, err := asciiDomain(domain)
		if err != nil {
			return nil, nil
		}
		m = s.byDomain[d]
	}
	if !s.caseSensitive {
		local = asciiLower(local)
	}
	return m[local], nil
}

// LookupName implements [NameLookup].
func (s *Static) LookupName(ctx context.Context, domain, name string) ([]string, error) {
	m := s.names[domain]
	if m == nil {
		d, err := asciiDomain(domain)
		if err != nil {
			return nil, nil
		}
		m = s.names[d]
	}
	return m[normName(name)], nil
}

// normName folds a real name for comparison: surrounding quotes removed,
// white space collapsed, letters lower-cased (Unicode).
func normName(s string) string {
	s = strings.TrimSpace(s)
	for len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// ParseDirectory reads a directory file and returns its table. The format
// is line-based, UTF-8:
//
//	# comment; blank lines are ignored
//	alice@example.com            Alice Liddell
//	bob@example.com
//	sales@example.com: alice, bob@example.com
//
// A user line is an address, optionally followed by white space and the
// user's real name. An alias line is an address, a colon and a
// comma-separated list of users: full addresses, or local parts meaning a
// user of the alias's own domain. Aliases expand to users only, never to
// other aliases or outside addresses.
func ParseDirectory(r io.Reader) (Table, error) {
	var t Table
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		addrEnd := strings.IndexAny(line, " \t:")
		if addrEnd < 0 {
			t.Users = append(t.Users, User{Address: line})
			continue
		}
		addr, rest := line[:addrEnd], strings.TrimSpace(line[addrEnd:])
		if !strings.Contains(addr, "@") {
			return Table{}, &SyntaxError{Line: n, Msg: fmt.Sprintf("%q is not an address", addr)}
		}
		if !strings.HasPrefix(rest, ":") {
			t.Users = append(t.Users, User{Address: addr, Name: strings.Join(strings.Fields(rest), " ")})
			continue
		}
		var targets []string
		for f := range strings.SplitSeq(rest[1:], ",") {
			if f = strings.TrimSpace(f); f != "" {
				targets = append(targets, f)
			}
		}
		if len(targets) == 0 {
			return Table{}, &SyntaxError{Line: n, Msg: fmt.Sprintf("alias %q has no users", addr)}
		}
		if t.Aliases == nil {
			t.Aliases = make(map[string][]string)
		}
		if _, dup := t.Aliases[addr]; dup {
			return Table{}, &SyntaxError{Line: n, Msg: fmt.Sprintf("alias %q defined twice", addr)}
		}
		t.Aliases[addr] = targets
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Table{}, &SyntaxError{Line: n + 1, Msg: "line longer than 1 MiB"}
		}
		return Table{}, fmt.Errorf("resolve: reading directory: %w", err)
	}
	return t, nil
}
