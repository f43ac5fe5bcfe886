package fetchmailrc

import (
	"fmt"
	"strconv"
	"strings"
)

// File is a parsed run-control file.
type File struct {
	Set   []Option // "set" statements, as written
	Polls []*Poll  // "poll" and "skip" entries, in order ("defaults" applied)
}

// Option is a statement or option kept as written, with its line.
type Option struct {
	Line int
	Text string
}

func (o Option) String() string { return fmt.Sprintf("line %d: %s", o.Line, o.Text) }

// Poll is one "poll" or "skip" entry: a server and its users.
type Poll struct {
	Line     int
	Skip     bool // "skip": not polled by default
	Host     string
	Via      string
	Protocol string // as written, lower case ("pop3", "imap", "auto", ...)
	Port     int
	Auth     string
	// Envelope is the envelope header ("" when not set) and EnvelopeSkip
	// the occurrences fetchmail skips before using one; NoEnvelope is "no
	// envelope".
	Envelope     string
	EnvelopeSkip int
	NoEnvelope   bool
	QVirtual     string
	AKA          []string
	LocalDomains []string
	Users        []*User
	// Other holds the server options the parser knows of but that have no
	// field, and those it does not know.
	Other []Option
}

// User is one user entry of a poll.
type User struct {
	Line     int
	Remote   string // the mailbox's user name
	Password string
	// HasPassword is set when a password was given (it may be empty).
	HasPassword bool
	// Locals are the "is"/"to" mappings: "*" (every local user of the
	// same name), a local name, or remote = local.
	Locals   []Mapping
	Keep     bool
	Fetchall bool
	Flush    bool
	SSL      bool
	// SSLCertCk is nil when not said, else its value ("no sslcertck").
	SSLCertCk      *bool
	SSLFingerprint string
	SSLProto       string
	Limit          int64
	FetchLimit     int
	Other          []Option
}

// Mapping is one name of a user's "is ... here" list.
type Mapping struct {
	Remote string // the address's local part on the server side, or "*"
	Local  string // the local user
}

// Multidrop reports whether u is a multidrop entry: several local names,
// a wildcard, or the poll's envelope or localdomains set.
func (u *User) Multidrop(p *Poll) bool {
	if len(u.Locals) > 1 || p.Envelope != "" || len(p.LocalDomains) > 0 {
		return true
	}
	for _, m := range u.Locals {
		if m.Remote == "*" || m.Remote != m.Local {
			return true
		}
	}
	return false
}

// noise words and keywords.
var (
	noise = map[string]bool{"and": true, "with": true, "has": true, "wants": true, "options": true, "there": true}
	// serverArgs: server options and their argument count (-1: a list of
	// names up to the next keyword).
	serverArgs = map[string]int{
		"via": 1, "proto": 1, "protocol": 1, "port": 1, "service": 1, "auth": 1, "authenticate": 1,
		"timeout": 1, "interface": 1, "monitor": 1, "plugin": 1, "plugout": 1, "principal": 1,
		"esmtpname": 1, "esmtppassword": 1, "qvirtual": 1, "interval": 1, "envelope": 1,
		"tracepolls": 0, "uidl": 0, "dns": 0, "checkalias": 0, "aka": -1, "localdomains": -1, "sslcommonname": 1,
	}
	userArgs = map[string]int{
		"pass": 1, "password": 1, "passwordfile": 1, "sslcertfile": 1, "sslcertpath": 1, "sslkey": 1, "sslcert": 1,
		"sslproto": 1, "sslfingerprint": 1, "mda": 1, "bsmtp": 1, "smtpaddress": 1, "smtpname": 1,
		"preconnect": 1, "postconnect": 1, "limit": 1, "warnings": 1, "fetchlimit": 1, "fetchsizelimit": 1,
		"fastuidl": 1, "batchlimit": 1, "expunge": 1, "properties": 1,
		"smtphost": -1, "fetchdomains": -1, "antispam": -1, "folder": -1,
		"lmtp": 0, "idle": 0, "keep": 0, "flush": 0, "fetchall": 0, "rewrite": 0, "stripcr": 0, "forcecr": 0,
		"pass8bits": 0, "dropstatus": 0, "dropdelivered": 0, "mimedecode": 0, "ssl": 0, "sslcertck": 0,
		"limitflush": 0, "fetchmessages": 0, "bad-header": 1,
	}
	statements = map[string]bool{"poll": true, "skip": true, "defaults": true, "set": true, "user": true, "username": true}
)

// isKeyword reports whether t ends a list of names.
func isKeyword(t Token) bool {
	if t.Quoted {
		return false
	}
	w := strings.ToLower(t.Text)
	_, s := serverArgs[w]
	_, u := userArgs[w]
	return s || u || statements[w] || noise[w] || w == "is" || w == "to" || w == "here" || w == "no"
}

type parser struct {
	toks []Token
	i    int
}

func (p *parser) more() bool  { return p.i < len(p.toks) }
func (p *parser) peek() Token { return p.toks[p.i] }
func (p *parser) next() Token { t := p.toks[p.i]; p.i++; return t }

// atStatement reports whether the next token starts a statement.
func (p *parser) atStatement() bool {
	if !p.more() {
		return true
	}
	t := p.peek()
	if t.Quoted {
		return false
	}
	switch strings.ToLower(t.Text) {
	case "poll", "skip", "defaults", "set":
		return true
	}
	return false
}

// Parse parses a run-control file.
func Parse(src []byte) (*File, error) {
	toks, err := Tokenize(string(src))
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	f := &File{}
	var defaults *Poll
	for p.more() {
		t := p.next()
		kw := strings.ToLower(t.Text)
		if t.Quoted {
			kw = ""
		}
		switch kw {
		case "set":
			var words []string
			for !p.atStatement() {
				words = append(words, p.next().Text)
			}
			f.Set = append(f.Set, Option{Line: t.Line, Text: "set " + strings.Join(words, " ")})
		case "poll", "skip", "defaults":
			poll := &Poll{Line: t.Line, Skip: kw == "skip"}
			if kw != "defaults" {
				if !p.more() {
					return nil, &SyntaxError{Line: t.Line, Msg: kw + " without a server name"}
				}
				poll.Host = p.next().Text
				if defaults != nil {
					poll.inherit(defaults)
				}
			}
			if err := p.pollBody(poll, defaults); err != nil {
				return nil, err
			}
			if kw == "defaults" {
				defaults = poll
			} else {
				f.Polls = append(f.Polls, poll)
			}
		default:
			return nil, &SyntaxError{Line: t.Line, Msg: fmt.Sprintf("%q outside a poll, skip, defaults or set statement", t.Text)}
		}
	}
	return f, nil
}

// inherit copies the server options of d.
func (poll *Poll) inherit(d *Poll) {
	poll.Via, poll.Protocol, poll.Port, poll.Auth = d.Via, d.Protocol, d.Port, d.Auth
	poll.Envelope, poll.EnvelopeSkip, poll.NoEnvelope, poll.QVirtual = d.Envelope, d.EnvelopeSkip, d.NoEnvelope, d.QVirtual
	poll.AKA = append([]string(nil), d.AKA...)
	poll.LocalDomains = append([]string(nil), d.LocalDomains...)
	poll.Other = append([]Option(nil), d.Other...)
}

// newUser starts a user entry with the defaults' user options.
func newUser(line int, remote string, defaults *Poll) *User {
	u := &User{Line: line, Remote: remote}
	if defaults != nil && len(defaults.Users) > 0 {
		d := defaults.Users[0]
		*u = *d
		u.Line, u.Remote = line, remote
		u.Locals = append([]Mapping(nil), d.Locals...)
		u.Other = append([]Option(nil), d.Other...)
	}
	return u
}

func (p *parser) pollBody(poll *Poll, defaults *Poll) error {
	var u *User
	user := func(line int) *User {
		if u == nil {
			// User options before any "user": fetchmail's implicit user
			// (the local login), or the defaults' own.
			u = newUser(line, "", defaults)
			poll.Users = append(poll.Users, u)
		}
		return u
	}
	for !p.atStatement() {
		t := p.next()
		w := strings.ToLower(t.Text)
		if t.Quoted {
			w = ""
		}
		neg := false
		if w == "no" && p.more() {
			neg = true
			t2 := p.next()
			w = strings.ToLower(t2.Text)
		}
		switch {
		case noise[w] || w == "here":
		case w == "user" || w == "username":
			if !p.more() {
				return &SyntaxError{Line: t.Line, Msg: "user without a name"}
			}
			u = newUser(t.Line, p.next().Text, defaults)
			poll.Users = append(poll.Users, u)
		case w == "is" || w == "to":
			uu := user(t.Line)
			uu.Locals = nil
			for p.more() && !p.atStatement() && !isKeyword(p.peek()) {
				name := p.next().Text
				m := Mapping{Remote: name, Local: name}
				if p.more() && p.peek().Text == "=" && !p.peek().Quoted {
					p.next()
					if p.more() && !isKeyword(p.peek()) {
						m.Local = p.next().Text
					}
				}
				uu.Locals = append(uu.Locals, m)
			}
		case w == "envelope":
			if neg {
				poll.NoEnvelope = true
				continue
			}
			if p.more() {
				if n, err := strconv.Atoi(p.peek().Text); err == nil && !p.peek().Quoted {
					p.next()
					poll.EnvelopeSkip = n
				}
			}
			if p.more() && !p.atStatement() {
				poll.Envelope = p.next().Text
			}
		case hasKey(serverArgs, w):
			args := p.args(serverArgs[w])
			switch w {
			case "via":
				poll.Via = first(args)
			case "proto", "protocol":
				poll.Protocol = strings.ToLower(first(args))
			case "port", "service":
				poll.Port, _ = strconv.Atoi(first(args))
			case "auth", "authenticate":
				poll.Auth = strings.ToLower(first(args))
			case "qvirtual":
				poll.QVirtual = first(args)
			case "aka":
				poll.AKA = append(poll.AKA, args...)
			case "localdomains":
				poll.LocalDomains = append(poll.LocalDomains, args...)
			default:
				poll.Other = append(poll.Other, option(t.Line, neg, w, args))
			}
		case hasKey(userArgs, w):
			uu := user(t.Line)
			args := p.args(userArgs[w])
			switch w {
			case "pass", "password":
				uu.Password, uu.HasPassword = first(args), true
			case "keep":
				uu.Keep = !neg
			case "fetchall":
				uu.Fetchall = !neg
			case "flush":
				uu.Flush = !neg
			case "ssl":
				uu.SSL = !neg
			case "sslcertck":
				v := !neg
				uu.SSLCertCk = &v
			case "sslfingerprint":
				uu.SSLFingerprint = first(args)
			case "sslproto":
				uu.SSLProto = first(args)
			case "limit":
				uu.Limit, _ = strconv.ParseInt(first(args), 10, 64)
			case "fetchlimit":
				uu.FetchLimit, _ = strconv.Atoi(first(args))
			default:
				uu.Other = append(uu.Other, option(t.Line, neg, w, args))
			}
		default:
			// Unknown: kept as written (a later fetchmail's option, or a typo).
			o := option(t.Line, neg, t.Text, nil)
			if u != nil {
				u.Other = append(u.Other, o)
			} else {
				poll.Other = append(poll.Other, o)
			}
		}
	}
	return nil
}

func hasKey(m map[string]int, k string) bool { _, ok := m[k]; return ok }

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// args reads n arguments, or with n < 0 the names up to the next keyword.
func (p *parser) args(n int) []string {
	var a []string
	if n < 0 {
		for p.more() && !isKeyword(p.peek()) {
			a = append(a, p.next().Text)
		}
		return a
	}
	for ; n > 0 && p.more() && !p.atStatement(); n-- {
		a = append(a, p.next().Text)
	}
	return a
}

func option(line int, neg bool, w string, args []string) Option {
	text := w
	if neg {
		text = "no " + w
	}
	for _, a := range args {
		text += " " + strconv.Quote(a)
	}
	return Option{Line: line, Text: text}
}
