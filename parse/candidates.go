package parse

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/multidrop/multidrop/account"
)

// An EnvelopeHeader names a trusted envelope header and which occurrence
// of it, counted from the top, the provider writes.
type EnvelopeHeader struct {
	Name       string // e.g. "Delivered-To"; the spelling used in Candidate.Field
	Occurrence int    // 1-based; 0 means 1
}

// String returns "Name" or "Name:N".
func (e EnvelopeHeader) String() string {
	if e.Occurrence <= 1 {
		return e.Name
	}
	return e.Name + ":" + strconv.Itoa(e.Occurrence)
}

// EnvelopeEntry parses "Name" or "Name:N" (N ≥ 1), as getmail's
// "delivered-to:1".
func EnvelopeEntry(s string) (EnvelopeHeader, error) {
	name, n, hasN := strings.Cut(strings.TrimSpace(s), ":")
	name = strings.TrimSpace(name)
	if name == "" || !validFieldName(name) {
		return EnvelopeHeader{}, fmt.Errorf("parse: invalid envelope header %q", s)
	}
	e := EnvelopeHeader{Name: name, Occurrence: 1}
	if hasN {
		v, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || v < 1 {
			return EnvelopeHeader{}, fmt.Errorf("parse: invalid occurrence in envelope header %q", s)
		}
		e.Occurrence = v
	}
	return e, nil
}

func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return s != ""
}

// DefaultEnvelopeHeaders returns the envelope headers read when
// [Options.Envelope] is nil: the topmost occurrence of each of
// X-Original-To (Postfix), Delivered-To (Postfix, qmail, Dovecot, Gmail),
// X-Envelope-To, Envelope-To (Exim, cPanel), X-RCPT-TO and X-Forwarded-To.
func DefaultEnvelopeHeaders() []EnvelopeHeader {
	return []EnvelopeHeader{
		{"X-Original-To", 1}, {"Delivered-To", 1}, {"X-Envelope-To", 1},
		{"Envelope-To", 1}, {"X-RCPT-TO", 1}, {"X-Forwarded-To", 1},
	}
}

// DefaultStages returns the stage order used when [Options.Stages] is nil.
func DefaultStages() []Stage { return []Stage{StageEnvelope, StageReceived, StageGuess} }

// Options configure [Candidates]. A nil *Options means the defaults; the
// zero value of each field is documented with it.
type Options struct {
	// Mode combines the stages; "" means [account.ModeChain].
	Mode account.Mode
	// Stages lists the stages to run, in order; nil means
	// DefaultStages(). [account.ModeEnvelopeOnly] runs StageEnvelope only.
	Stages []Stage
	// Envelope lists the trusted envelope headers; nil means
	// DefaultEnvelopeHeaders(). In [account.ModeUnion] every trusted occurrence is
	// read, not only the listed one.
	Envelope []EnvelopeHeader
	// SkipReceived is the number of topmost Received fields the provider
	// writes internally. The Received stage skips them; and an envelope
	// header is trusted only while no more than SkipReceived Received
	// fields lie above it (and no message field such as From, To or
	// Subject): below that, the header is an outsider's.
	SkipReceived int
	// ReceivedBy, when not empty, accepts a Received "for" clause only
	// where the "by" host is one of these names (ASCII case-insensitive;
	// an entry starting with "." matches any host ending in it).
	ReceivedBy []string
	// ExtraHeaders are further fields read by the guessing stage, every
	// occurrence; the spelling given is used in Candidate.Field.
	ExtraHeaders []string
	// SubjectAddress makes the guessing stage read the first "(addr)" of
	// the Subject.
	SubjectAddress bool
	// Domains are the local domains, compared ASCII case-insensitively
	// after IDNA conversion; Local, when set, replaces them. With neither,
	// every candidate without a source route counts as local. They decide
	// only which stage decides in [account.ModeChain]; package resolve decides who
	// receives the message.
	Domains []string
	Local   func(domain string) bool
	// SenderFields are read, in order, for the envelope sender when there
	// is no Return-Path; nil means Sender, then From. NoSenderFallback
	// leaves the sender empty instead.
	SenderFields     []string
	NoSenderFallback bool
	// LoopID is the value of the [account.LoopField] this installation writes; a
	// message carrying it is a loop. "" means any [account.LoopField] is one.
	LoopID string
	// Limits bound the addresses parsed; ReadHeader takes the header
	// limits separately.
	Limits Limits
}

// OptionsFrom maps an account's parsing settings and its local domains
// (account.Domain and account.ExtraDomains) to Options.
func OptionsFrom(p account.Parsing, domains ...string) (*Options, error) {
	o := &Options{
		Mode:           p.Mode,
		SkipReceived:   p.SkipReceived,
		ReceivedBy:     append([]string(nil), p.ReceivedBy...),
		ExtraHeaders:   append([]string(nil), p.ExtraHeaders...),
		SubjectAddress: p.SubjectAddress,
	}
	for _, d := range domains {
		if d != "" {
			o.Domains = append(o.Domains, d)
		}
	}
	switch o.Mode {
	case "", account.ModeChain, account.ModeUnion, account.ModeEnvelopeOnly:
	default:
		return nil, fmt.Errorf("parse: unknown mode %q", p.Mode)
	}
	if p.SkipReceived < 0 {
		return nil, fmt.Errorf("parse: negative skip_received %d", p.SkipReceived)
	}
	for _, h := range p.ExtraHeaders {
		if !validFieldName(h) {
			return nil, fmt.Errorf("parse: invalid extra header %q", h)
		}
	}
	if len(p.EnvelopeHeaders) > 0 {
		o.Envelope = make([]EnvelopeHeader, 0, len(p.EnvelopeHeaders))
		for _, s := range p.EnvelopeHeaders {
			e, err := EnvelopeEntry(s)
			if err != nil {
				return nil, err
			}
			o.Envelope = append(o.Envelope, e)
		}
	}
	o.Stages = []Stage{}
	if !p.NoEnvelope {
		o.Stages = append(o.Stages, StageEnvelope)
	}
	if !p.NoReceived {
		o.Stages = append(o.Stages, StageReceived)
	}
	if !p.NoGuess {
		o.Stages = append(o.Stages, StageGuess)
	}
	if o.Mode == account.ModeEnvelopeOnly && p.NoEnvelope {
		return nil, errors.New("parse: envelope-only mode with the envelope stage turned off")
	}
	return o, nil
}

// A Warning is something wrong in the header that did not stop the parse:
// a malformed field (no candidates from it), a skipped line, a Received
// "for" clause with more than one path, a limit reached.
type Warning struct {
	Field      string // field name as written; "" for a line that is not a field
	Occurrence int    // 1-based occurrence of that field; the line number for a line
	Err        error  // a *SyntaxError, *LimitError or a plain error saying why
}

func (w Warning) String() string {
	if w.Field == "" {
		return fmt.Sprintf("line %d: %v", w.Occurrence, w.Err)
	}
	return fmt.Sprintf("%s[%d]: %v", w.Field, w.Occurrence, w.Err)
}

// LoopKind says why a message looks like it has been delivered before.
type LoopKind string

const (
	// LoopStamp: the header carries our [account.LoopField].
	LoopStamp LoopKind = "stamp"
	// LoopDelivered: a Delivered-To below the provider's trace block
	// (where an envelope header is untrusted) names one of the
	// candidates: that recipient has had the message before.
	LoopDelivered LoopKind = "delivered-to"
)

// A Loop is one loop marker found in the header.
type Loop struct {
	Kind       LoopKind
	Field      string // account.LoopField or "Delivered-To"
	Occurrence int
	Address    string // LoopDelivered: the candidate address it names
	Value      string // LoopStamp: the field value
}

// Result is what Candidates found in one header.
type Result struct {
	Mode account.Mode
	// Decided is the stage whose candidates are in Candidates ([account.ModeChain],
	// [account.ModeEnvelopeOnly]); "" in [account.ModeUnion], or when no stage found a local
	// candidate, in which case Candidates holds every candidate found.
	Decided Stage
	// Candidates are the possible recipients to resolve, top to bottom
	// within each stage, in stage order. They may repeat an address.
	Candidates []Candidate
	// Unused are candidates of stages that ran but did not decide, for the
	// explanation; they are not recipients.
	Unused []Candidate
	// Untrusted are addresses of envelope headers found below the
	// provider's trace block: written by an outsider, never used.
	Untrusted []Candidate
	// MissingEnvelope is set in [account.ModeEnvelopeOnly] when no trusted envelope
	// header gave an address: the message should be kept, not guessed at.
	MissingEnvelope bool

	// MessageID is the topmost Message-ID, "<id>" as written, or the
	// trimmed value when it has no angle brackets; "" if absent.
	MessageID string
	// Sender is the envelope sender: the topmost Return-Path, else the
	// first address of the first present Options.SenderFields. It is ""
	// for the null sender <> and when none was found; SenderField says
	// which field gave it ("" when none).
	Sender      string
	SenderField string
	// Received is the number of Received fields.
	Received int
	// ListID and Precedence are the topmost values of those fields.
	ListID     string
	Precedence string
	// Loops are the loop markers found.
	Loops []Loop
	// Warnings are the defects found, in header order within each stage.
	Warnings []Warning
}

// Candidates finds the recipient candidates of a message in its top-level
// header h, with their provenance, and the other facts the pipeline needs
// (see [Result]). A malformed field yields a warning and no candidates; the
// other fields still count. When an address limit is reached the result is
// complete up to that point and the error is a [*LimitError]. h == nil is
// an empty header.
func Candidates(h *Header, opts *Options) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	if h == nil {
		h = &Header{}
	}
	c := collector{h: h, o: opts, budget: opts.Limits.addresses(), perField: opts.Limits.addressesPerField()}
	c.res.Mode = opts.Mode
	if c.res.Mode == "" {
		c.res.Mode = account.ModeChain
	}
	switch c.res.Mode {
	case account.ModeChain, account.ModeUnion, account.ModeEnvelopeOnly:
	default:
		return nil, fmt.Errorf("parse: unknown mode %q", opts.Mode)
	}
	stages := opts.Stages
	if stages == nil {
		stages = DefaultStages()
	}
	for i, st := range stages {
		switch st {
		case StageEnvelope, StageReceived, StageGuess:
		default:
			return nil, fmt.Errorf("parse: unknown stage %q", st)
		}
		if slices.Contains(stages[:i], st) {
			return nil, fmt.Errorf("parse: stage %q listed twice", st)
		}
	}
	if c.res.Mode == account.ModeEnvelopeOnly {
		stages = []Stage{StageEnvelope}
	}
	c.scan()
	union := c.res.Mode == account.ModeUnion
	for _, st := range stages {
		var got []Candidate
		switch st {
		case StageEnvelope:
			got = c.envelope(union)
		case StageReceived:
			got = c.received(union)
		case StageGuess:
			got = c.guess(union)
		}
		if union {
			c.res.Candidates = append(c.res.Candidates, got...)
			continue
		}
		if c.res.Mode == account.ModeEnvelopeOnly {
			c.res.Candidates = got
			c.res.Decided = StageEnvelope
			c.res.MissingEnvelope = len(got) == 0
			if len(got) == 0 {
				c.res.Decided = ""
			}
			break
		}
		if c.anyLocal(got) {
			c.res.Decided = st
			c.res.Candidates = got
			break
		}
		c.res.Unused = append(c.res.Unused, got...)
	}
	if c.res.Mode == account.ModeChain && c.res.Decided == "" {
		// No stage decided: hand every candidate to the resolver, which
		// reports each as foreign.
		c.res.Candidates, c.res.Unused = c.res.Unused, nil
	}
	c.loops()
	return &c.res, c.limitErr
}

type collector struct {
	h        *Header
	o        *Options
	res      Result
	budget   int
	perField int
	limitErr error
	// trusted is the index of the first field that is not in the
	// provider's trace block: envelope headers at or below it are an
	// outsider's.
	trusted int
}

// messageFields are written by the sender; an envelope header below one is
// not the provider's.
var messageFields = [...]string{
	"From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "Sender",
	"Reply-To", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding",
}

func isMessageField(name string) bool {
	for _, m := range messageFields {
		if len(m) == len(name) && strings.EqualFold(m, name) {
			return true
		}
	}
	return false
}

func eq(a, b string) bool { return len(a) == len(b) && strings.EqualFold(a, b) }

// scan makes one pass over the header for the trust boundary and the
// simple facts.
func (c *collector) scan() {
	n := c.h.Len()
	c.trusted = n
	rp, msgID, list, prec, loopOcc := -1, -1, -1, -1, 0
	for i := 0; i < n; i++ {
		f := c.h.fields[i]
		switch {
		case eq(f.Name, "Received"):
			c.res.Received++
			if c.res.Received == c.o.SkipReceived+1 && c.trusted > i {
				c.trusted = i
			}
		case eq(f.Name, "Return-Path"):
			if rp < 0 {
				rp = i
			}
		case eq(f.Name, "Message-ID"):
			if msgID < 0 {
				msgID = i
			}
		case eq(f.Name, "List-Id"):
			if list < 0 {
				list = i
			}
		case eq(f.Name, "Precedence"):
			if prec < 0 {
				prec = i
			}
		case eq(f.Name, account.LoopField):
			loopOcc++
			if c.o.LoopID == "" || strings.EqualFold(f.Value, c.o.LoopID) {
				c.res.Loops = append(c.res.Loops, Loop{Kind: LoopStamp, Field: account.LoopField, Occurrence: loopOcc, Value: f.Value})
			}
		}
		if c.trusted > i && isMessageField(f.Name) {
			c.trusted = i
		}
	}
	for _, d := range c.h.defects {
		c.res.Warnings = append(c.res.Warnings, Warning{Occurrence: d.Line, Err: errors.New("parse: skipped header line: " + d.Reason)})
	}
	if msgID >= 0 {
		v := c.h.fields[msgID].Value
		if i := strings.IndexByte(v, '<'); i >= 0 {
			if j := strings.IndexByte(v[i:], '>'); j > 0 {
				v = v[i : i+j+1]
			}
		}
		c.res.MessageID = c.text(msgID, v)
	}
	if list >= 0 {
		c.res.ListID = c.text(list, c.h.fields[list].Value)
	}
	if prec >= 0 {
		c.res.Precedence = c.text(prec, c.h.fields[prec].Value)
	}
	c.sender(rp)
}

// text returns v, the value of the topmost field i, if it is valid UTF-8
// without control characters (it is logged, shown and used as a key);
// else it warns and returns "".
func (c *collector) text(i int, v string) string {
	ok := utf8.ValidString(v)
	for j := 0; ok && j < len(v); j++ {
		if b := v[j]; b < ' ' && b != '\t' || b == 0x7f {
			ok = false
		}
	}
	if ok {
		return v
	}
	c.warn(c.h.fields[i].Name, 1, errors.New("parse: control character or invalid UTF-8 in the value"))
	return ""
}

func (c *collector) sender(rp int) {
	if rp >= 0 {
		f := c.h.fields[rp]
		v := strings.TrimSpace(f.Value)
		if isNullPath(v) {
			c.res.SenderField = "Return-Path"
			return
		}
		a, err := Mailbox(v)
		if err == nil {
			c.res.Sender, c.res.SenderField = a.Address, "Return-Path"
			return
		}
		c.warn(f.Name, 1, err)
	}
	if c.o.NoSenderFallback {
		return
	}
	names := c.o.SenderFields
	if names == nil {
		names = []string{"Sender", "From"}
	}
	for _, name := range names {
		for i := range c.h.fields {
			f := c.h.fields[i]
			if !eq(f.Name, name) {
				continue
			}
			// Only the first address is wanted; the limit stops the
			// parse there, but a syntax error before it rejects the
			// field.
			p := addrParser{s: f.Value, max: 1}
			err := p.list()
			if err != nil && !isLimit(err) {
				c.warn(f.Name, 1, err)
			} else if len(p.out) > 0 {
				c.res.Sender, c.res.SenderField = p.out[0].Address, name
				return
			}
			break
		}
	}
}

// isNullPath reports whether v is "<>", possibly with white space or a
// comment inside.
func isNullPath(v string) bool {
	if len(v) < 2 || v[0] != '<' {
		return false
	}
	p := addrParser{s: v, i: 1}
	if _, err := p.cfws(); err != nil {
		return false
	}
	if p.i >= len(v) || v[p.i] != '>' {
		return false
	}
	p.i++
	if _, err := p.cfws(); err != nil {
		return false
	}
	return p.i == len(v)
}

func isLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}

func (c *collector) warn(field string, occ int, err error) {
	c.res.Warnings = append(c.res.Warnings, Warning{Field: field, Occurrence: occ, Err: err})
}

// addresses parses field i once, within the per-field and per-message
// limits, and turns its addresses into candidates.
func (c *collector) addresses(dst []Candidate, i int, field string, occ int, st Stage) []Candidate {
	if c.budget <= 0 {
		c.limit(&LimitError{What: LimitAddresses, Limit: c.o.Limits.addresses()}, field, occ)
		return dst
	}
	max := c.perField
	perMessage := false
	if c.budget < max {
		max, perMessage = c.budget, true
	}
	p := addrParser{s: c.h.fields[i].Value, max: max}
	err := p.list()
	if err != nil {
		if le, ok := err.(*LimitError); ok {
			if perMessage {
				le = &LimitError{What: LimitAddresses, Limit: c.o.Limits.addresses()}
			}
			c.limit(le, field, occ)
		} else {
			// A malformed field yields no candidates.
			c.warn(field, occ, err)
			return dst
		}
	}
	if len(p.out) == 0 && err == nil {
		if strings.TrimSpace(c.h.fields[i].Value) == "" {
			c.warn(field, occ, errors.New("parse: empty field"))
		}
		return dst
	}
	c.budget -= len(p.out)
	for _, a := range p.out {
		dst = append(dst, Candidate{
			Address: a.Address, Name: a.Name, Field: field, Occurrence: occ, Stage: st,
			Local: a.Local, Domain: a.Domain, Route: a.Route,
		})
	}
	return dst
}

func (c *collector) limit(le *LimitError, field string, occ int) {
	c.warn(field, occ, le)
	if c.limitErr == nil {
		c.limitErr = le
	}
}

// envelope is the envelope-header stage.
func (c *collector) envelope(union bool) []Candidate {
	env := c.o.Envelope
	if env == nil {
		env = DefaultEnvelopeHeaders()
	}
	var out []Candidate
	for _, e := range env {
		want := max(e.Occurrence, 1)
		occ := 0
		for i := range c.h.fields {
			if !eq(c.h.fields[i].Name, e.Name) {
				continue
			}
			occ++
			if !union && occ != want {
				continue
			}
			if i >= c.trusted {
				c.res.Untrusted = c.addresses(c.res.Untrusted, i, e.Name, occ, StageEnvelope)
			} else {
				out = c.addresses(out, i, e.Name, occ, StageEnvelope)
			}
			if !union {
				break
			}
		}
	}
	return out
}

// received is the Received "for" stage.
func (c *collector) received(union bool) []Candidate {
	var out []Candidate
	occ := 0
	for i := range c.h.fields {
		f := c.h.fields[i]
		if !eq(f.Name, "Received") {
			continue
		}
		occ++
		if occ <= c.o.SkipReceived {
			continue
		}
		r := parseReceived(f.Value)
		if len(c.o.ReceivedBy) > 0 && !hostMatches(r.by, c.o.ReceivedBy) {
			continue
		}
		if !r.hasFor {
			continue
		}
		switch {
		case len(r.forArgs) != 1:
			c.warn(f.Name, occ, fmt.Errorf("parse: \"for\" clause with %d paths, not 1", len(r.forArgs)))
		case c.budget <= 0:
			c.limit(&LimitError{What: LimitAddresses, Limit: c.o.Limits.addresses()}, f.Name, occ)
		default:
			a, err := Mailbox(r.forArgs[0])
			if err != nil {
				c.warn(f.Name, occ, err)
				break
			}
			c.budget--
			out = append(out, Candidate{
				Address: a.Address, Field: "Received", Occurrence: occ, Stage: StageReceived,
				Local: a.Local, Domain: a.Domain, Route: a.Route,
			})
		}
		if !union {
			break
		}
	}
	return out
}

var resentFields = [...]string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
var guessFields = [...]string{"To", "Cc", "Bcc", "Apparently-To"}

// guess is the header-guessing stage.
func (c *collector) guess(union bool) []Candidate {
	var out []Candidate
	// In [account.ModeChain], Resent-To/Cc/Bcc replace To/Cc/Bcc/Apparently-To when
	// present; only those of the topmost resent block count: the run of
	// Resent-* fields around the topmost Resent-To/Cc/Bcc.
	first, end := -1, -1
	if !union {
		for i := range c.h.fields {
			if isResentRcpt(c.h.fields[i].Name) {
				first, end = i, i+1
				break
			}
		}
		for first > 0 && isResent(c.h.fields[first-1].Name) {
			first--
		}
		for end > 0 && end < c.h.Len() && isResent(c.h.fields[end].Name) {
			end++
		}
	}
	var occ [len(resentFields) + len(guessFields)]int
	if union || first >= 0 {
		for i := range c.h.fields {
			name := c.h.fields[i].Name
			for k, r := range resentFields {
				if eq(name, r) {
					occ[k]++
					if union || i >= first && i < end {
						out = c.addresses(out, i, r, occ[k], StageGuess)
					}
				}
			}
		}
	}
	if union || first < 0 {
		for i := range c.h.fields {
			name := c.h.fields[i].Name
			for k, g := range guessFields {
				if eq(name, g) {
					occ[len(resentFields)+k]++
					out = c.addresses(out, i, g, occ[len(resentFields)+k], StageGuess)
				}
			}
		}
	}
	for _, x := range c.o.ExtraHeaders {
		n := 0
		for i := range c.h.fields {
			if eq(c.h.fields[i].Name, x) {
				n++
				out = c.addresses(out, i, x, n, StageGuess)
			}
		}
	}
	if c.o.SubjectAddress {
		for i := range c.h.fields {
			if eq(c.h.fields[i].Name, "Subject") {
				if a, ok := subjectAddress(c.h.fields[i].Value); ok && c.budget > 0 {
					c.budget--
					out = append(out, Candidate{
						Address: a.Address, Field: "Subject", Occurrence: 1, Stage: StageGuess,
						Local: a.Local, Domain: a.Domain,
					})
				}
				break
			}
		}
	}
	return out
}

func isResent(name string) bool {
	return len(name) > 7 && strings.EqualFold(name[:7], "Resent-")
}

func isResentRcpt(name string) bool {
	for _, r := range resentFields {
		if eq(name, r) {
			return true
		}
	}
	return false
}

// subjectAddress returns the first "(local@domain)" of a Subject.
func subjectAddress(s string) (Address, bool) {
	for {
		i := strings.IndexByte(s, '(')
		if i < 0 {
			return Address{}, false
		}
		s = s[i+1:]
		j := strings.IndexAny(s, "()")
		if j < 0 {
			return Address{}, false
		}
		if s[j] == ')' && strings.IndexByte(s[:j], '@') > 0 {
			p := addrParser{s: strings.TrimSpace(s[:j]), max: 1}
			if err := p.words(); err == nil && p.i < len(p.s) && p.s[p.i] == '@' {
				if err := p.addrSpec("", "", 0, false); err == nil && p.i == len(p.s) {
					return p.out[0], true
				}
			}
		}
		s = s[j:]
	}
}

// anyLocal reports whether a candidate is in a local domain.
func (c *collector) anyLocal(cands []Candidate) bool {
	for i := range cands {
		if cands[i].Route == "" && c.isLocal(cands[i].Domain) {
			return true
		}
	}
	return false
}

func (c *collector) isLocal(domain string) bool {
	if c.o.Local != nil {
		return c.o.Local(domain)
	}
	if len(c.o.Domains) == 0 {
		return true
	}
	for _, d := range c.o.Domains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	// IDNA: compare the ASCII forms when either side is not plain ASCII
	// or is punycode.
	ad, ok := asciiDomain(domain)
	if !ok {
		return false
	}
	for _, d := range c.o.Domains {
		if a, ok := asciiDomain(d); ok && strings.EqualFold(a, ad) {
			return true
		}
	}
	return false
}

func asciiDomain(d string) (string, bool) {
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return d, true
	}
	a, err := idna.Lookup.ToASCII(d)
	return a, err == nil
}

// loops reports Delivered-To fields below the provider's trace block that
// name a chosen candidate: a delivery agent before the provider already
// delivered the message to that address. One inside the block is the
// provider's statement of the recipient, not a loop.
func (c *collector) loops() {
	if len(c.res.Candidates) == 0 {
		return
	}
	var set map[string]bool
	if len(c.res.Candidates) > 8 {
		set = make(map[string]bool, len(c.res.Candidates))
		for _, cd := range c.res.Candidates {
			set[strings.ToLower(cd.Address)] = true
		}
	}
	has := func(a string) bool {
		if set != nil {
			return set[strings.ToLower(a)]
		}
		for _, cd := range c.res.Candidates {
			if strings.EqualFold(cd.Address, a) {
				return true
			}
		}
		return false
	}
	occ := 0
	for i := range c.h.fields {
		if !eq(c.h.fields[i].Name, "Delivered-To") {
			continue
		}
		occ++
		if i < c.trusted {
			continue
		}
		p := addrParser{s: c.h.fields[i].Value, max: min(c.perField, 16)}
		_ = p.list()
		for _, a := range p.out {
			if has(a.Address) {
				c.res.Loops = append(c.res.Loops, Loop{Kind: LoopDelivered, Field: "Delivered-To", Occurrence: occ, Address: a.Address})
			}
		}
	}
}
