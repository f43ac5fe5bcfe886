package parse

import (
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// An Address is one mailbox parsed from an address field.
type Address struct {
	// Name is the display name, with RFC 2047 encoded-words decoded.
	Name string
	// Address is the addr-spec, local@domain. The local part is written
	// as a quoted string when it is not a dot-atom ("a@b"@example.com), so
	// the domain is always what follows the last "@".
	Address string
	// Local is the local part without quoting; Domain is the domain as
	// written (a dot-atom or a [domain-literal]), not case-folded.
	Local, Domain string
	// Route is the obsolete source route of an angle address written
	// <@a,@b:user@domain> (RFC 5322 §4.4), as "@a,@b"; empty otherwise.
	// Such an address is not plain local-delivery syntax: package resolve
	// does not treat it as local.
	Route string
}

// A SyntaxError reports a malformed address field. The whole field is
// rejected: no address of it is used.
type SyntaxError struct {
	Offset int    // byte offset in the field value
	Reason string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("parse: malformed address at offset %d: %s", e.Offset, e.Reason)
}

// AddressList parses an RFC 5322 address-list (§3.4), as in To or Cc,
// with the obsolete syntax of §4.4 and UTF-8 (RFC 6532). Groups contribute
// their members; an empty group (undisclosed-recipients:;) contributes
// nothing. RFC 2047 encoded-words are decoded in display names only; an
// addr-spec containing "=?" is an error. Comments are skipped wherever
// CFWS is allowed and never contribute to an address.
//
// A malformed list returns no addresses and a [*SyntaxError]. It runs in
// time linear in len(s) and stops with a [*LimitError] after
// [DefaultMaxAddressesPerField] addresses, returning those.
func AddressList(s string) ([]Address, error) {
	p := addrParser{s: s, max: DefaultMaxAddressesPerField}
	err := p.list()
	if err != nil && !isLimit(err) {
		return nil, err
	}
	return p.out, err
}

// Mailbox parses exactly one mailbox (name-addr or addr-spec).
func Mailbox(s string) (Address, error) {
	p := addrParser{s: s, max: 1}
	if err := p.mailboxOrGroup(false); err != nil {
		return Address{}, err
	}
	if p.i < len(p.s) {
		return Address{}, p.fail("unexpected text after the address")
	}
	return p.out[0], nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

type tokKind uint8

const (
	tokAtom tokKind = iota
	tokQuoted
	tokDot
)

type token struct {
	kind       tokKind
	start, end int  // raw span, quotes included
	escaped    bool // quoted string with a quoted-pair
	cfwsBefore bool
}

type addrParser struct {
	s    string
	i    int
	max  int
	toks []token
	out  []Address
	tbuf [8]token // first backing array of toks
}

func (p *addrParser) fail(reason string) error {
	return &SyntaxError{Offset: p.i, Reason: reason}
}

// list parses address-list, allowing the empty elements of obs-addr-list.
func (p *addrParser) list() error {
	for {
		if _, err := p.cfws(); err != nil {
			return err
		}
		if p.i == len(p.s) {
			return nil
		}
		if p.s[p.i] == ',' {
			p.i++
			continue
		}
		if err := p.address(); err != nil {
			return err
		}
		if _, err := p.cfws(); err != nil {
			return err
		}
		if p.i == len(p.s) {
			return nil
		}
		if p.s[p.i] != ',' {
			return p.fail("expected ',' between addresses")
		}
		p.i++
	}
}

// address parses a mailbox or a group.
func (p *addrParser) address() error { return p.mailboxOrGroup(true) }

func (p *addrParser) mailboxOrGroup(groupOK bool) error {
	start := p.i
	if err := p.words(); err != nil {
		return err
	}
	if p.i == len(p.s) {
		if len(p.toks) == 0 {
			return p.fail("missing address")
		}
		return p.fail("missing '@' in address")
	}
	switch p.s[p.i] {
	case '<':
		name, err := p.phrase(false)
		if err != nil {
			return err
		}
		return p.angleAddr(name)
	case ':':
		if !groupOK {
			return p.fail("group inside a group or where a mailbox is required")
		}
		if _, err := p.phrase(true); err != nil {
			return err
		}
		p.i++
		return p.group()
	case '@':
		return p.addrSpec("", "", start, false)
	}
	if c := p.s[p.i]; c < ' ' || c == 0x7f {
		return p.fail("control character")
	}
	if len(p.toks) == 0 {
		return p.fail(fmt.Sprintf("unexpected character %q", p.s[p.i]))
	}
	return p.fail("missing '@' in address")
}

// group parses group-list ";" after the colon.
func (p *addrParser) group() error {
	for {
		if _, err := p.cfws(); err != nil {
			return err
		}
		if p.i == len(p.s) {
			return p.fail("group without ';'")
		}
		switch p.s[p.i] {
		case ';':
			p.i++
			_, err := p.cfws()
			return err
		case ',':
			p.i++
			continue
		}
		if err := p.mailboxOrGroup(false); err != nil {
			return err
		}
		if _, err := p.cfws(); err != nil {
			return err
		}
		if p.i == len(p.s) {
			return p.fail("group without ';'")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ';':
		default:
			return p.fail("expected ',' or ';' in group")
		}
	}
}

// angleAddr parses obs-angle-addr / angle-addr at '<'.
func (p *addrParser) angleAddr(name string) error {
	start := p.i
	p.i++ // '<'
	if _, err := p.cfws(); err != nil {
		return err
	}
	var route string
	if p.i < len(p.s) && (p.s[p.i] == '@' || p.s[p.i] == ',') {
		r, err := p.obsRoute()
		if err != nil {
			return err
		}
		route = r
	}
	if err := p.words(); err != nil {
		return err
	}
	if p.i == len(p.s) || p.s[p.i] != '@' {
		if p.i < len(p.s) && p.s[p.i] == '>' && len(p.toks) == 0 {
			return p.fail("empty angle address")
		}
		return p.fail("missing '@' in address")
	}
	return p.addrSpec(name, route, start, true)
}

// addrSpec parses the rest of an addr-spec whose local-part words are in
// p.toks, p.i being at the '@', and the '>' closing an angle address when
// angle is set.
func (p *addrParser) addrSpec(name, route string, start int, angle bool) error {
	local, localStart, contiguous, err := p.localPart()
	if err != nil {
		return err
	}
	at := p.i
	p.i++
	domain, dcontig, err := p.domain()
	if err != nil {
		return err
	}
	var raw string
	if contiguous && dcontig {
		raw = p.s[localStart : at+1+len(domain)]
	}
	if angle {
		if p.i == len(p.s) || p.s[p.i] != '>' {
			return p.fail("missing '>'")
		}
		p.i++
		if _, err := p.cfws(); err != nil {
			return err
		}
	}
	return p.emit(name, local, domain, route, raw, start)
}

// obsRoute parses obs-route up to and including its ':' and returns the
// domain list normalised as "@a,@b".
func (p *addrParser) obsRoute() (string, error) {
	var b strings.Builder
	n := 0
	for {
		if _, err := p.cfws(); err != nil {
			return "", err
		}
		if p.i == len(p.s) {
			return "", p.fail("unterminated source route")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			continue
		case ':':
			if n == 0 {
				return "", p.fail("empty source route")
			}
			p.i++
			return b.String(), nil
		case '@':
			p.i++
			d, _, err := p.domain()
			if err != nil {
				return "", err
			}
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('@')
			b.WriteString(d)
			n++
		default:
			return "", p.fail("invalid source route")
		}
	}
}

func (p *addrParser) emit(name, local, domain, route, raw string, start int) error {
	if strings.Contains(local, "=?") || strings.Contains(domain, "=?") {
		p.i = start
		return p.fail("encoded-word inside an addr-spec")
	}
	if len(p.out) >= p.max {
		return &LimitError{What: LimitAddressesPerField, Limit: p.max}
	}
	addr := raw
	if addr == "" {
		addr = quoteLocal(local) + "@" + domain
	}
	p.out = append(p.out, Address{Name: name, Address: addr, Local: local, Domain: domain, Route: route})
	return nil
}

// cfws skips white space, folding and comments; it reports whether any was
// skipped. Comments nest; they are scanned once, so deep nesting is linear.
func (p *addrParser) cfws() (bool, error) {
	skipped := false
	for p.i < len(p.s) {
		switch c := p.s[p.i]; c {
		case ' ', '\t':
			p.i++
		case '\r':
			if p.i+2 < len(p.s) && p.s[p.i+1] == '\n' && (p.s[p.i+2] == ' ' || p.s[p.i+2] == '\t') {
				p.i += 3
			} else {
				return skipped, p.fail("bare CR")
			}
		case '\n':
			if p.i+1 < len(p.s) && (p.s[p.i+1] == ' ' || p.s[p.i+1] == '\t') {
				p.i += 2
			} else {
				return skipped, p.fail("bare LF")
			}
		case '(':
			if err := p.comment(); err != nil {
				return skipped, err
			}
		default:
			return skipped, nil
		}
		skipped = true
	}
	return skipped, nil
}

func (p *addrParser) comment() error {
	start := p.i
	depth := 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				p.i++
				return nil
			}
		case c == '\\':
			p.i++
			if p.i == len(p.s) {
				return p.fail("unterminated comment")
			}
		}
		// Any other byte is skipped: a comment is never used, so a stray
		// control character or 8-bit byte (a legacy charset) in one does
		// not make the address unusable, as net/mail agrees.
		p.i++
	}
	p.i = start
	return p.fail("unterminated comment")
}

// words scans atoms, quoted strings and dots into p.toks, skipping CFWS,
// and stops before the first other character.
func (p *addrParser) words() error {
	if p.toks == nil {
		p.toks = p.tbuf[:0]
	}
	p.toks = p.toks[:0]
	for {
		sk, err := p.cfws()
		if err != nil {
			return err
		}
		if p.i == len(p.s) {
			return nil
		}
		c := p.s[p.i]
		t := token{start: p.i, cfwsBefore: sk}
		switch {
		case c == '.':
			p.i++
			t.kind = tokDot
		case c == '"':
			esc, err := p.quoted()
			if err != nil {
				return err
			}
			t.kind, t.escaped = tokQuoted, esc
		case c == '=' && p.encodedWord():
			t.kind = tokAtom
		case isAtext(c) || c >= utf8.RuneSelf:
			if err := p.atom(); err != nil {
				return err
			}
			t.kind = tokAtom
		default:
			return nil
		}
		t.end = p.i
		p.toks = append(p.toks, t)
	}
}

// encodedWord consumes an RFC 2047 encoded-word at p.i if there is one
// ("=?" charset "?" encoding "?" encoded-text "?="), followed by a
// delimiter. Its encoded-text may hold characters that are not atext, such
// as '@', which some mailers write; it is still one word of a phrase.
func (p *addrParser) encodedWord() bool {
	s, i := p.s, p.i
	if !strings.HasPrefix(s[i:], "=?") {
		return false
	}
	j := i + 2
	part := 0 // 0 charset, 1 encoding, 2 text
	for ; j < len(s); j++ {
		c := s[j]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		if c != '?' {
			continue
		}
		if part < 2 {
			part++
			continue
		}
		if j+1 < len(s) && s[j+1] == '=' {
			j += 2
			break
		}
		return false
	}
	if part < 2 || j > len(s) || s[j-1] != '=' || s[j-2] != '?' {
		return false
	}
	if j < len(s) {
		switch s[j] {
		case ' ', '\t', '\r', '\n', '<', '(', '"', ',', ':', ';':
		default:
			return false
		}
	}
	p.i = j
	return true
}

func (p *addrParser) atom() error {
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c < utf8.RuneSelf {
			if !isAtext(c) {
				return nil
			}
			p.i++
			continue
		}
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if r == utf8.RuneError && n <= 1 {
			return p.fail("invalid UTF-8")
		}
		p.i += n
	}
	return nil
}

func (p *addrParser) quoted() (bool, error) {
	start := p.i
	p.i++
	esc := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return esc, nil
		case c == '\\':
			esc = true
			p.i++
			if p.i == len(p.s) {
				p.i = start
				return esc, p.fail("unterminated quoted string")
			}
			if q := p.s[p.i]; q < ' ' && q != '\t' || q == 0x7f {
				return esc, p.fail("control character in quoted string")
			}
			if p.s[p.i] >= utf8.RuneSelf {
				continue // validated as a rune below
			}
		case c == '\r' || c == '\n':
			// Folding inside a quoted string: CRLF WSP.
			if _, err := p.cfwsFoldOnly(); err != nil {
				return esc, err
			}
			continue
		case c == '\t':
		case c < ' ' || c == 0x7f:
			return esc, p.fail("control character in quoted string")
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && n <= 1 {
				return esc, p.fail("invalid UTF-8 in quoted string")
			}
			p.i += n
			continue
		}
		p.i++
	}
	p.i = start
	return esc, p.fail("unterminated quoted string")
}

// cfwsFoldOnly accepts one line break that is followed by white space.
func (p *addrParser) cfwsFoldOnly() (bool, error) {
	if p.s[p.i] == '\r' {
		if p.i+1 < len(p.s) && p.s[p.i+1] == '\n' {
			p.i++
		} else {
			return false, p.fail("bare CR")
		}
	}
	if p.i+1 < len(p.s) && (p.s[p.i+1] == ' ' || p.s[p.i+1] == '\t') {
		p.i++
		return true, nil
	}
	return false, p.fail("bare LF")
}

// phrase checks that p.toks form a display name (obs-phrase: a word, then
// words, dots and CFWS) and returns it decoded. A group name must not be
// empty; a display name may be.
func (p *addrParser) phrase(required bool) (string, error) {
	if len(p.toks) == 0 {
		if required {
			return "", p.fail("empty group name")
		}
		return "", nil
	}
	// obs-phrase starts with a word; a leading '.' (".NET Team") is
	// accepted anyway, as most mail software does: a display name never
	// decides where mail goes.
	var b strings.Builder
	prevEncoded := false
	for i, t := range p.toks {
		raw := p.s[t.start:t.end]
		if t.kind == tokAtom && len(raw) > 8 && strings.HasPrefix(raw, "=?") && strings.HasSuffix(raw, "?=") {
			if dec, ok := decodeWord(raw); ok {
				if i > 0 && t.cfwsBefore && !prevEncoded {
					b.WriteByte(' ')
				}
				b.WriteString(dec)
				prevEncoded = true
				continue
			}
		}
		if i > 0 && t.cfwsBefore {
			b.WriteByte(' ')
		}
		prevEncoded = false
		if t.kind == tokQuoted {
			b.WriteString(unquote(raw, t.escaped))
		} else {
			b.WriteString(raw)
		}
	}
	return b.String(), nil
}

// decodeWord decodes one RFC 2047 encoded-word; the result must be valid
// UTF-8 without control characters, else the word is kept as written.
func decodeWord(w string) (string, bool) {
	d, err := wordDecoder.Decode(w)
	if err != nil || !utf8.ValidString(d) {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	return d, true
}

// localPart checks that p.toks form a local-part (dot-atom, quoted-string
// or obs-local-part: words separated by dots) and returns it unquoted. It
// reports whether the raw text is one contiguous, unquoted dot-atom.
func (p *addrParser) localPart() (local string, start int, contiguous bool, err error) {
	n := len(p.toks)
	if n == 0 {
		return "", 0, false, p.fail("empty local part")
	}
	start = p.toks[0].start
	contiguous = p.toks[n-1].end == p.i
	for i, t := range p.toks {
		wantWord := i%2 == 0
		if (t.kind == tokDot) == wantWord {
			if t.kind == tokDot {
				return "", 0, false, p.fail("misplaced '.' in local part")
			}
			return "", 0, false, p.fail("words without '.' in local part")
		}
		if t.kind == tokQuoted || i > 0 && t.cfwsBefore {
			contiguous = false
		}
	}
	if p.toks[n-1].kind == tokDot {
		return "", 0, false, p.fail("local part ends with '.'")
	}
	if contiguous {
		return p.s[start:p.toks[n-1].end], start, true, nil
	}
	var b strings.Builder
	for _, t := range p.toks {
		raw := p.s[t.start:t.end]
		if t.kind == tokQuoted {
			b.WriteString(unquote(raw, t.escaped))
		} else {
			b.WriteString(raw)
		}
	}
	return b.String(), start, false, nil
}

// domain parses a domain after '@': dot-atom, obs-domain or a
// domain-literal, with surrounding CFWS. It reports whether the domain was
// written directly after the '@' with nothing skipped inside it.
func (p *addrParser) domain() (string, bool, error) {
	sk, err := p.cfws()
	if err != nil {
		return "", false, err
	}
	if p.i == len(p.s) {
		return "", false, p.fail("missing domain")
	}
	if p.s[p.i] == '[' {
		start := p.i
		p.i++
		clean := true
		gap, content := false, false // white space seen; dtext seen
		for {
			if p.i == len(p.s) {
				p.i = start
				return "", false, p.fail("unterminated domain literal")
			}
			c := p.s[p.i]
			if c == ']' {
				p.i++
				break
			}
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				clean, gap = false, true
				p.i++
				continue
			}
			if gap && content {
				// Joining "1 2" into "12" would make up an address.
				return "", false, p.fail("white space inside domain literal")
			}
			gap, content = false, true
			switch {
			case c == '[' || c == '\\' || c == '@':
				// '@' is dtext in RFC 5322 but never in an RFC 5321
				// address literal; refusing it keeps the domain after
				// the last '@' of every address.
				return "", false, p.fail("invalid character in domain literal")
			case c < ' ' || c == 0x7f:
				return "", false, p.fail("control character in domain literal")
			case c >= utf8.RuneSelf:
				return "", false, p.fail("non-ASCII domain literal")
			}
			p.i++
		}
		lit := p.s[start:p.i]
		if !clean {
			lit = strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, lit)
		}
		sk2, err := p.cfws()
		return lit, !sk && !sk2 && clean, err
	}
	if err := p.words(); err != nil {
		return "", false, err
	}
	n := len(p.toks)
	if n == 0 {
		return "", false, p.fail("missing domain")
	}
	contiguous := !sk
	for i, t := range p.toks {
		wantWord := i%2 == 0
		if t.kind == tokQuoted {
			return "", false, p.fail("quoted string in domain")
		}
		if (t.kind == tokDot) == wantWord {
			if t.kind == tokDot {
				return "", false, p.fail("misplaced '.' in domain")
			}
			return "", false, p.fail("words without '.' in domain")
		}
		if i > 0 && t.cfwsBefore {
			contiguous = false
		}
	}
	if p.toks[n-1].kind == tokDot {
		return "", false, p.fail("domain ends with '.'")
	}
	if contiguous {
		return p.s[p.toks[0].start:p.toks[n-1].end], true, nil
	}
	var b strings.Builder
	for _, t := range p.toks {
		b.WriteString(p.s[t.start:t.end])
	}
	return b.String(), false, nil
}

func unquote(raw string, escaped bool) string {
	in := raw[1 : len(raw)-1]
	if !escaped && !strings.ContainsAny(in, "\r\n") {
		return in
	}
	var b strings.Builder
	b.Grow(len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch c {
		case '\\':
			i++
			b.WriteByte(in[i])
		case '\r', '\n':
			// Folding: the line break is removed, the white space kept.
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// isAtext reports whether c is an ASCII atext character (RFC 5322 §3.2.3).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isDotAtom reports whether s is a dot-atom-text (UTF-8 atext allowed).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case c >= utf8.RuneSelf:
		case !isAtext(c):
			return false
		}
	}
	return true
}

// quoteLocal returns local as a dot-atom if it is one, else as a quoted
// string.
func quoteLocal(local string) string {
	if isDotAtom(local) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 2)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}
