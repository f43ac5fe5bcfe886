package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/internal/fetchmailrc"
)

// fetchmailImport is what a fetchmail configuration becomes: accounts,
// lines of a users/aliases file, and what could not be mapped, line by
// line.
type fetchmailImport struct {
	Accounts []account.Account
	Users    []string // users file lines, in order, without duplicates
	Notes    []string // "line N: what, and what to do"
}

func (fi *fetchmailImport) note(line int, format string, args ...any) {
	fi.Notes = append(fi.Notes, fmt.Sprintf("line %d: %s", line, fmt.Sprintf(format, args...)))
}

func (fi *fetchmailImport) user(line string) {
	if !slices.Contains(fi.Users, line) {
		fi.Users = append(fi.Users, line)
	}
}

// accountID makes an account ID from a fetchmail user and server.
func accountID(user, host string) string {
	id := []rune(user + "@" + host)
	for i, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:@", r)) {
			id[i] = '_'
		}
	}
	s := string(id)
	if len(s) > account.MaxIDLength {
		s = s[:account.MaxIDLength]
	}
	return s
}

// convertFetchmailrc maps the multidrop POP3 entries of f to accounts
// (domain is the local domain of entries without localdomains; "" skips
// them).
func convertFetchmailrc(f *fetchmailrc.File, domain string) *fetchmailImport {
	fi := &fetchmailImport{}
	for _, s := range f.Set {
		switch {
		case strings.HasPrefix(s.Text, "set daemon "):
			fi.note(s.Line, "%s: the check interval is pipeline.interval in the configuration file (or each account's retrieval.interval)", s.Text)
		case strings.HasPrefix(s.Text, "set postmaster "):
			fi.note(s.Line, "%s: set the accounts' policy.postmaster (with policy.no_recipient \"postmaster\") to send undeliverable mail there", s.Text)
		default:
			fi.note(s.Line, "%s: not mapped (global fetchmail setting)", s.Text)
		}
	}
	for _, p := range f.Polls {
		switch p.Protocol {
		case "", "pop3", "auto", "apop", "rpop", "kpop", "sdps":
		default:
			fi.note(p.Line, "poll %s: protocol %s: only POP3 mailboxes can be imported; skipped", p.Host, p.Protocol)
			continue
		}
		for _, u := range p.Users {
			if u.Remote == "" {
				fi.note(u.Line, "poll %s: a user entry without a user name; skipped", p.Host)
				continue
			}
			if !u.Multidrop(p) {
				fi.note(u.Line, "poll %s user %s: a single-drop entry (all mail to one local user), not a multidrop mailbox; skipped", p.Host, u.Remote)
				continue
			}
			fi.add(p, u, domain)
		}
	}
	return fi
}

func (fi *fetchmailImport) add(p *fetchmailrc.Poll, u *fetchmailrc.User, domain string) {
	doms := p.LocalDomains
	if len(doms) == 0 {
		if domain == "" {
			fi.note(p.Line, "poll %s user %s: no localdomains: give the local domain with -domain; skipped", p.Host, u.Remote)
			return
		}
		doms = []string{domain}
	}
	host := p.Host
	if p.Via != "" {
		host = p.Via
	}
	a := account.Account{
		ID:           accountID(u.Remote, p.Host),
		Enabled:      !p.Skip,
		Description:  "imported from fetchmailrc line " + strconv.Itoa(u.Line),
		Host:         host,
		Port:         p.Port,
		Domain:       doms[0],
		ExtraDomains: slices.Clone(doms[1:]),
		Auth:         account.Auth{User: u.Remote, Secret: u.Password},
	}
	line := u.Line
	if p.Skip {
		fi.note(p.Line, "skip %s: imported disabled (enable it with accounts enable %s)", p.Host, a.ID)
	}
	if u.SSL {
		a.Security = account.SecurityTLS
	} else {
		a.Security = account.SecurityStartTLS
		fi.note(line, "user %s: no ssl: the account requires STLS (security starttls); for a server without TLS use accounts edit %s -security none -allow-insecure", u.Remote, a.ID)
	}
	if u.SSLCertCk != nil && !*u.SSLCertCk {
		fi.note(line, "user %s: no sslcertck: multidrop always verifies the server's certificate", u.Remote)
	}
	if u.SSLFingerprint != "" {
		fi.note(line, "user %s: sslfingerprint %q is a digest of the whole certificate; multidrop pins the public key: run accounts test %s and put its sha256 pin into tls.pin_sha256", u.Remote, u.SSLFingerprint, a.ID)
	}
	if u.SSLProto != "" {
		fi.note(line, "user %s: sslproto %q: not mapped (TLS 1.2 or later is always used)", u.Remote, u.SSLProto)
	}
	switch p.Auth {
	case "", "any", "password":
	case "cram-md5":
		a.Auth.Mechanism = account.MechanismCRAMMD5
	case "apop":
		a.Auth.Mechanism = account.MechanismAPOP
	case "external":
		a.Auth.Mechanism = account.MechanismExternal
	default:
		fi.note(p.Line, "poll %s: auth %s: not mapped; the strongest mechanism the server offers is used", p.Host, p.Auth)
	}
	if p.Protocol == "apop" {
		a.Auth.Mechanism = account.MechanismAPOP
	}
	if !u.HasPassword {
		fi.note(line, "user %s: no password in the file (fetchmail asked or read ~/.netrc): set it with accounts edit %s -password", u.Remote, a.ID)
	}
	switch {
	case p.NoEnvelope:
		a.Parsing.NoEnvelope = true
	case p.Envelope != "":
		h := p.Envelope
		if p.EnvelopeSkip > 0 {
			h += ":" + strconv.Itoa(p.EnvelopeSkip+1)
		}
		a.Parsing.EnvelopeHeaders = []string{h}
	}
	if p.QVirtual != "" {
		a.Resolving.StripPrefix = p.QVirtual
	}
	if len(p.AKA) > 0 {
		fi.note(p.Line, "poll %s: aka %s: not needed (multidrop recognises local recipients by their domain, not by the server's DNS names)", p.Host, strings.Join(p.AKA, " "))
	}
	a.Retrieval.LeaveOnServer = u.Keep
	if u.Fetchall {
		fi.note(line, "user %s: fetchall: every message not yet delivered is retrieved (the default)", u.Remote)
	}
	if u.Flush {
		fi.note(line, "user %s: flush: not mapped (messages are deleted once delivered unless leave_on_server)", u.Remote)
	}
	a.Retrieval.MaxMessageSize = u.Limit
	a.Retrieval.MaxMessages = u.FetchLimit
	for _, m := range u.Locals {
		switch {
		case m.Remote == "*":
			fi.note(line, "user %s: is * here: every user of %s receives their own mail: list them in the users file (fetchmail took them from the system's accounts)", u.Remote, strings.Join(doms, ", "))
		case m.Remote == m.Local:
			fi.user(m.Local + "@" + doms[0])
		default:
			fi.user(m.Local + "@" + doms[0])
			for _, d := range doms {
				fi.user(m.Remote + "@" + d + ": " + m.Local + "@" + doms[0])
			}
		}
	}
	for _, o := range append(slices.Clone(p.Other), u.Other...) {
		fi.note(o.Line, "%s: not mapped", o.Text)
	}
	fi.Accounts = append(fi.Accounts, a)
}

// importFetchmailrc is "accounts import -fetchmailrc FILE": the accounts
// are added (none when one is invalid or exists already), the users file
// lines written to users (standard output when ""), the notes printed.
func (ac *accountsCmd) importFetchmailrc(path, users, domain string, args []string) int {
	if len(args) > 0 {
		return ac.errorf(ExitConfig, "-fetchmailrc takes no further arguments")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ac.errorf(ExitConfig, "%v", err)
	}
	f, err := fetchmailrc.Parse(b)
	if err != nil {
		return ac.errorf(ExitConfig, "%s: %v", path, err)
	}
	fi := convertFetchmailrc(f, domain)
	var errs []string
	for _, a := range fi.Accounts {
		if err := a.Validate(); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", a.ID, err))
		}
		if _, err := ac.d.Store().Get(ac.ctx, a.ID); err == nil {
			errs = append(errs, fmt.Sprintf("%s: exists already", a.ID))
		}
	}
	if len(errs) > 0 {
		return ac.errorf(ExitConfig, "%s: nothing imported:\n  %s", path, strings.Join(errs, "\n  "))
	}
	for _, a := range fi.Accounts {
		if _, err := ac.d.Store().Put(ac.ctx, a); err != nil {
			return ac.errorf(ExitFailed, "account %s: %v", a.ID, err)
		}
		fmt.Fprintf(ac.env.Stdout, "imported %s (%s@%s for %s)\n", a.ID, a.Auth.User, a.Address(), strings.Join(a.Domains(), ", "))
	}
	var w io.Writer = ac.env.Stdout
	if users != "" {
		fh, err := os.OpenFile(users, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return ac.errorf(ExitFailed, "%v", err)
		}
		defer fh.Close()
		w = fh
	} else if len(fi.Users) > 0 {
		fmt.Fprintln(ac.env.Stdout, "\nusers file lines (add them to directory.path):")
	}
	fmt.Fprintf(w, "# from %s\n", path)
	for _, l := range fi.Users {
		fmt.Fprintln(w, l)
	}
	if len(fi.Notes) > 0 {
		fmt.Fprintf(ac.env.Stdout, "\nnot mapped, or mapped differently (%d):\n", len(fi.Notes))
		for _, n := range fi.Notes {
			fmt.Fprintln(ac.env.Stdout, "  "+n)
		}
	}
	fmt.Fprintf(ac.env.Stdout, "\n%d %s imported\n", len(fi.Accounts), plural(len(fi.Accounts), "account", "accounts"))
	return ExitOK
}
