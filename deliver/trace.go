package deliver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/multidrop/multidrop/account"
)

// DefaultEnvelopeFields returns the provider's envelope header fields that
// [Hygiene] renames or removes by default: the ones that name an envelope
// recipient (a Postfix that finds its own recipient in a Delivered-To field
// bounces the message as a loop; the others may show one recipient the
// envelope addresses of another), and Return-Path, which the final delivery
// agent writes afresh (RFC 5321 section 4.4). The slice is new on each call.
func DefaultEnvelopeFields() []string { return slices.Clone(defaultEnvelopeFields) }

var defaultEnvelopeFields = []string{"Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "Return-Path"}

// DefaultRenamePrefix is what [RenameEnvelopeFields] puts before a field
// name: Delivered-To becomes X-Original-Delivered-To.
const DefaultRenamePrefix = "X-Original-"

// HeaderAction says what [Hygiene] does with the provider's envelope fields.
type HeaderAction int

const (
	// RenameEnvelopeFields renames each field by prefixing its name (the
	// zero value): the information stays, but no MTA mistakes it for its own.
	RenameEnvelopeFields HeaderAction = iota
	// RemoveEnvelopeFields removes each field with its continuation lines
	// (fetchmail's "dropdelivered").
	RemoveEnvelopeFields
	// KeepEnvelopeFields leaves the header untouched.
	KeepEnvelopeFields
)

// Hygiene says how the provider's envelope fields in the top-level header
// are treated before a message is re-injected. Only the top-level header is
// rewritten; the body and attached messages pass through untouched.
type Hygiene struct {
	Action HeaderAction
	// Fields are the field names acted on, compared without regard to case;
	// nil means DefaultEnvelopeFields().
	Fields []string
	// RenamePrefix is put before each renamed field's name; "" means
	// DefaultRenamePrefix. It must consist of printable ASCII other than
	// colon ([TraceOptions.Wrap] refuses it otherwise; Reader falls back to
	// DefaultRenamePrefix).
	RenamePrefix string
}

func (h Hygiene) checkPrefix() error {
	for i := 0; i < len(h.RenamePrefix); i++ {
		if c := h.RenamePrefix[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return &Error{Message: fmt.Sprintf("invalid rename prefix %q", h.RenamePrefix), Perm: true}
		}
	}
	return nil
}

// TraceOptions are the trace fields a deliverer prepends to each message and
// the header hygiene it applies. Maildir, LMTP and SMTP embed them in their
// options; a nil *TraceOptions means the zero value.
type TraceOptions struct {
	// LocalHost is the "by" host of the Received field and the value of the
	// loop stamp; "" means the machine's host name (or "localhost" when that
	// is not a valid host name).
	LocalHost string
	// ReturnPath prepends "Return-Path: <sender>" (the envelope sender, <>
	// when it is empty or invalid), as a final delivery agent does.
	ReturnPath bool
	// DeliveredTo prepends "Delivered-To: <recipient>" when the message is
	// delivered to exactly one recipient; with several (one file hard-linked
	// to each) it is left out, so no recipient sees another's address.
	DeliveredTo bool
	// LoopStamp prepends [account.LoopField] with the local host name; a
	// message that comes back carrying a stamp of our own host has looped.
	LoopStamp bool
	// Hygiene is applied to the message's own top-level header.
	Hygiene Hygiene
	// Now returns the time written in the Received field; nil means time.Now.
	Now func() time.Time
}

// maxFoldColumns is the line length the trace fields are folded to (RFC 5322
// section 2.1.1 recommends at most 78 characters).
const maxFoldColumns = 78

// Prelude returns the header fields to prepend when delivering a message of
// env to rcpts (a subset of env.To, or all of it), CRLF-terminated:
//
//	Return-Path: <sender>                          (ReturnPath)
//	Delivered-To: rcpt                             (DeliveredTo, one recipient)
//	X-Multidrop-Loop: local.host                   (LoopStamp)
//	Received: from pop.host by local.host with POP3 id KEY for <rcpt>; date
//
// The "for" clause appears only when there is exactly one recipient. Every
// address and host is validated; one that could carry CR, LF, NUL or
// anything else that does not belong in a header field is refused with a
// permanent *Error (an invalid sender becomes <> instead).
func (o *TraceOptions) Prelude(env Envelope, rcpts []string) ([]byte, error) {
	var opts TraceOptions
	if o != nil {
		opts = *o
	}
	local, err := localHost(opts.LocalHost)
	if err != nil {
		return nil, err
	}
	for _, r := range rcpts {
		if err := checkAddress(r); err != nil {
			return nil, err
		}
	}
	var from string
	if env.Trace.Host != "" {
		if from, err = traceHost(env.Trace.Host); err != nil {
			return nil, err
		}
	}
	if err := checkKey(env.Trace.Key); err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}

	var b bytes.Buffer
	if opts.ReturnPath {
		b.WriteString("Return-Path: <" + ReversePath(env.From) + ">\r\n")
	}
	if opts.DeliveredTo && len(rcpts) == 1 {
		writeFolded(&b, "Delivered-To:", rcpts[0])
	}
	if opts.LoopStamp {
		writeFolded(&b, account.LoopField+":", local)
	}
	tok := []string{"Received:"}
	if from != "" {
		tok = append(tok, "from "+from)
	}
	tok = append(tok, "by "+local, "with POP3")
	if k := env.Trace.Key; k != "" {
		if isAtom(k) {
			tok = append(tok, "id "+k)
		} else {
			tok = append(tok, "(id "+escapeComment(k)+")")
		}
	}
	if len(rcpts) == 1 {
		tok = append(tok, "for <"+rcpts[0]+">")
	}
	tok[len(tok)-1] += ";"
	tok = append(tok, now().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	writeFolded(&b, tok...)
	return b.Bytes(), nil
}

// Wrap returns msg with the hygiene applied to its header and the Prelude
// for rcpts in front. The returned reader reads msg as it goes.
func (o *TraceOptions) Wrap(env Envelope, rcpts []string, msg io.Reader) (io.Reader, error) {
	pre, err := o.Prelude(env, rcpts)
	if err != nil {
		return nil, err
	}
	var h *Hygiene
	if o != nil {
		h = &o.Hygiene
		if err := h.checkPrefix(); err != nil {
			return nil, err
		}
	}
	return io.MultiReader(bytes.NewReader(pre), h.Reader(msg)), nil
}

// writeFolded writes one header field made of the tokens, separated by
// spaces and folded before a token that would pass maxFoldColumns. A single
// token longer than that stays whole on its own line.
func writeFolded(b *bytes.Buffer, tok ...string) {
	col := 0
	for i, t := range tok {
		switch {
		case i == 0:
		case col+1+len(t) > maxFoldColumns:
			b.WriteString("\r\n\t")
			col = 1
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(t)
		col += len(t)
	}
	b.WriteString("\r\n")
}

// ReversePath returns the address to use as the SMTP reverse-path (MAIL
// FROM) and in Return-Path for the envelope sender from: from itself when it
// is a valid address, "" (the null sender <>) when it is empty or invalid.
func ReversePath(from string) string {
	if checkAddress(from) != nil {
		return ""
	}
	return from
}

// localHost returns the validated local host name.
func localHost(h string) (string, error) {
	if h != "" {
		if !isHostname(h) {
			return "", &Error{Message: fmt.Sprintf("invalid local host name %q", h), Perm: true}
		}
		return h, nil
	}
	if name, err := os.Hostname(); err == nil && isHostname(name) {
		return name, nil
	}
	return "localhost", nil
}

// traceHost returns the Received "from" form of a POP server host (which
// may carry a port): a host name as is, an IP address as an address literal.
func traceHost(h string) (string, error) {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		if ip.Is4() || ip.Is4In6() {
			return "[" + ip.Unmap().String() + "]", nil
		}
		return "[IPv6:" + ip.WithZone("").String() + "]", nil
	}
	if !isHostname(h) {
		return "", &Error{Message: fmt.Sprintf("invalid trace host %q", h), Perm: true}
	}
	return h, nil
}

// checkKey refuses a message key that cannot go into a header field.
func checkKey(k string) error {
	if len(k) > 255 {
		return &Error{Message: "message key longer than 255 octets", Perm: true}
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] >= 0x7f {
			return &Error{Message: fmt.Sprintf("message key %q has a control, space or non-ASCII octet", k), Perm: true}
		}
	}
	return nil
}

// isAtom reports whether s is an RFC 5322 atom (atext only).
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtext(s[i]) {
			return false
		}
	}
	return true
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// escapeComment quotes the characters that end or escape an RFC 5322
// comment.
func escapeComment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '(' || c == ')' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isHostname reports whether h is a syntactically valid host name: dot-separated
// labels of letters, digits, hyphens and underscores (or UTF-8 for U-labels),
// at most 63 octets each and 253 in all, not starting or ending a label with
// a hyphen.
func isHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 || !utf8.ValidString(h) {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
				c == '-' || c == '_' || c >= 0x80
			if !ok {
				return false
			}
		}
	}
	return true
}

// checkAddress reports whether addr is a valid canonical mailbox
// (local@domain, RFC 5321 section 4.1.2 with the RFC 6531 UTF-8 extension):
// a dot-atom or quoted-string local part of at most 64 octets, a host name or
// address literal domain, at most 254 octets in all; never a control
// character, space outside quotes, or invalid UTF-8. The error is a permanent
// *Error.
func checkAddress(addr string) error {
	bad := func(why string) error {
		return &Error{Code: 553, Enhanced: "5.1.3", Message: fmt.Sprintf("invalid address %q: %s", addr, why), Perm: true}
	}
	if addr == "" {
		return bad("empty")
	}
	if len(addr) > 254 {
		return bad("longer than 254 octets")
	}
	if !utf8.ValidString(addr) {
		return bad("invalid UTF-8")
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] < ' ' || addr[i] == 0x7f {
			return bad("control character")
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return bad("not local@domain")
	}
	local, domain := addr[:at], addr[at+1:]
	if len(local) > 64 {
		return bad("local part longer than 64 octets")
	}
	if !validLocal(local) {
		return bad("invalid local part")
	}
	if strings.HasPrefix(domain, "[") {
		if !validLiteral(domain) {
			return bad("invalid address literal")
		}
	} else if !isHostname(domain) || strings.HasSuffix(domain, ".") {
		return bad("invalid domain")
	}
	return nil
}

func validLocal(l string) bool {
	if len(l) >= 2 && l[0] == '"' && l[len(l)-1] == '"' {
		q := l[1 : len(l)-1]
		for i := 0; i < len(q); i++ {
			switch c := q[i]; {
			case c == '\\':
				i++
				if i == len(q) {
					return false
				}
			case c == '"':
				return false
			}
		}
		return true
	}
	for _, a := range strings.Split(l, ".") {
		if a == "" {
			return false
		}
		for i := 0; i < len(a); i++ {
			if c := a[i]; c < 0x80 && !isAtext(c) {
				return false
			}
		}
	}
	return true
}

func validLiteral(d string) bool {
	if len(d) < 3 || d[len(d)-1] != ']' {
		return false
	}
	in := d[1 : len(d)-1]
	if v6, ok := strings.CutPrefix(in, "IPv6:"); ok {
		ip, err := netip.ParseAddr(v6)
		return err == nil && ip.Is6() && ip.Zone() == ""
	}
	ip, err := netip.ParseAddr(in)
	return err == nil && ip.Is4()
}

// Reader returns msg with h applied to its top-level header. The body and
// everything after the first empty line pass through untouched; memory use
// is bounded by a small fixed buffer whatever the length of lines. A nil h
// means the zero Hygiene.
func (h *Hygiene) Reader(msg io.Reader) io.Reader {
	var hy Hygiene
	if h != nil {
		hy = *h
	}
	if hy.Action == KeepEnvelopeFields {
		return msg
	}
	fields := hy.Fields
	if fields == nil {
		fields = defaultEnvelopeFields
	}
	f := &headerFilter{
		src:    sourceErr{r: msg},
		names:  make(map[string]bool, len(fields)),
		remove: hy.Action == RemoveEnvelopeFields,
		prefix: hy.RenamePrefix,
	}
	if f.prefix == "" {
		f.prefix = DefaultRenamePrefix
	}
	if hy.checkPrefix() != nil {
		f.prefix = DefaultRenamePrefix
	}
	for _, n := range fields {
		f.names[strings.ToLower(n)] = true
		f.peek = max(f.peek, len(n)+16) // room for obsolete WSP before the colon
	}
	f.r = filterBufs.Get().(*bufio.Reader)
	f.r.Reset(&f.src)
	f.peek = min(f.peek, f.r.Size())
	return f
}

// sourceErr reads r and keeps the last error it returned.
type sourceErr struct {
	r   io.Reader
	err error
}

func (s *sourceErr) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// filterBufs holds the read buffers of headerFilters, each used only while
// a message's header passes.
var filterBufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// headerFilter is the streaming rewriter behind Hygiene.Reader.
type headerFilter struct {
	r       *bufio.Reader   // nil once the header is past and r was drained
	src     sourceErr       // what r reads
	names   map[string]bool // lower-case field names acted on
	remove  bool
	prefix  string
	peek    int    // bytes looked at to recognise a field name
	state   int    // fs*
	drop    bool   // the current field is being removed
	pending string // rename prefix still to emit
}

const (
	fsLineStart = iota // at the start of a header line
	fsPass             // copying the rest of a header line
	fsDrop             // discarding the rest of a header line
	fsBody             // past the header: copy everything
)

func (f *headerFilter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if f.pending != "" {
			n := copy(p, f.pending)
			f.pending = f.pending[n:]
			return n, nil
		}
		switch f.state {
		case fsBody:
			if f.r != nil && f.r.Buffered() == 0 {
				// The body goes straight through; the buffer serves
				// the next message. An error the buffer held back
				// (it came with the last bytes read) is returned
				// first: a source need not repeat it.
				f.r.Reset(nil)
				filterBufs.Put(f.r)
				f.r = nil
				if err := f.src.err; err != nil {
					return 0, err
				}
			}
			if f.r == nil {
				return f.src.Read(p)
			}
			return f.r.Read(p)
		case fsPass, fsDrop:
			line, end, err := f.lineChunk()
			if len(line) == 0 {
				return 0, err
			}
			if f.state == fsDrop {
				_, _ = f.r.Discard(len(line))
				if end {
					f.state = fsLineStart
				}
				continue
			}
			n := copy(p, line)
			_, _ = f.r.Discard(n)
			if end && n == len(line) {
				f.state = fsLineStart
			}
			return n, nil
		case fsLineStart:
			if err := f.startLine(); err != nil {
				return 0, err
			}
		}
	}
}

// lineChunk returns the buffered bytes up to and including the next LF
// (end true) or all that is buffered (end false), without consuming them.
func (f *headerFilter) lineChunk() ([]byte, bool, error) {
	if f.r.Buffered() == 0 {
		if _, err := f.r.Peek(1); err != nil {
			return nil, false, err
		}
	}
	b, _ := f.r.Peek(f.r.Buffered())
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], true, nil
	}
	return b, false, nil
}

// startLine classifies the header line that starts here.
func (f *headerFilter) startLine() error {
	b, err := f.r.Peek(f.peek)
	if len(b) == 0 {
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			err = io.ErrNoProgress
		}
		return err
	}
	if err != nil && err != io.EOF {
		return err
	}
	switch {
	case b[0] == '\n' || b[0] == '\r' && len(b) > 1 && b[1] == '\n':
		f.state = fsBody // the empty line that ends the header
		return nil
	case b[0] == ' ' || b[0] == '\t':
		if f.drop {
			f.state = fsDrop
		} else {
			f.state = fsPass
		}
		return nil
	}
	f.drop = false
	colon := bytes.IndexByte(b, ':')
	nl := bytes.IndexByte(b, '\n')
	switch {
	case colon < 0 && nl < 0:
		f.state = fsPass // a name too long to be one of ours
	case colon < 0 || nl >= 0 && nl < colon:
		f.state = fsBody // not a header line: the body starts here
	default:
		name := strings.ToLower(string(bytes.TrimRight(b[:colon], " \t")))
		switch {
		case !f.names[name]:
			f.state = fsPass
		case f.remove:
			f.drop = true
			f.state = fsDrop
		default:
			f.pending = f.prefix
			f.state = fsPass
		}
	}
	return nil
}
