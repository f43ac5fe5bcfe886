package parse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Default limits, used where a [Limits] field is zero.
const (
	DefaultMaxHeaderBytes       = 1 << 20 // 1 MiB of header, line endings included
	DefaultMaxFields            = 5000    // header fields
	DefaultMaxLineLength        = 64 << 10
	DefaultMaxAddressesPerField = 10000
	DefaultMaxAddresses         = 20000
)

// Limits bound the work done on one message's header. The zero value of each
// field means its Default* constant; a negative value means no limit (for
// tests and trusted input only).
type Limits struct {
	// MaxHeaderBytes caps the header as read, line endings and the blank
	// line included (default 1 MiB).
	MaxHeaderBytes int
	// MaxFields caps the number of header fields, skipped lines that are
	// not fields included (default 5000).
	MaxFields int
	// MaxLineLength caps one physical line, without its line ending
	// (default 64 KiB; RFC 5322 asks for at most 998, real mail exceeds it).
	MaxLineLength int
	// MaxAddressesPerField caps the addresses parsed from one field
	// (default 10000).
	MaxAddressesPerField int
	// MaxAddresses caps the addresses parsed from one message, all fields
	// together (default 20000).
	MaxAddresses int
}

func limit(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return int(^uint(0) >> 1)
	}
	return v
}

func (l *Limits) headerBytes() int {
	if l == nil {
		return DefaultMaxHeaderBytes
	}
	return limit(l.MaxHeaderBytes, DefaultMaxHeaderBytes)
}

func (l *Limits) fields() int {
	if l == nil {
		return DefaultMaxFields
	}
	return limit(l.MaxFields, DefaultMaxFields)
}

func (l *Limits) lineLength() int {
	if l == nil {
		return DefaultMaxLineLength
	}
	return limit(l.MaxLineLength, DefaultMaxLineLength)
}

func (l *Limits) addressesPerField() int {
	if l == nil {
		return DefaultMaxAddressesPerField
	}
	return limit(l.MaxAddressesPerField, DefaultMaxAddressesPerField)
}

func (l *Limits) addresses() int {
	if l == nil {
		return DefaultMaxAddresses
	}
	return limit(l.MaxAddresses, DefaultMaxAddresses)
}

// What a [LimitError] reports.
const (
	LimitHeaderBytes       = "header bytes"
	LimitFields            = "header fields"
	LimitLineLength        = "line length"
	LimitAddressesPerField = "addresses per field"
	LimitAddresses         = "addresses per message"
)

// A LimitError reports that an input exceeded one of the [Limits].
type LimitError struct {
	What  string // one of the Limit* constants
	Limit int    // the limit in force
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("parse: %s exceed the limit of %d", e.What, e.Limit)
}

// A Field is one header field: its name as written (without the colon and
// any white space before it) and its unfolded value (line breaks of folded
// lines removed, surrounding white space trimmed, otherwise as written:
// RFC 2047 encoded-words are not decoded).
type Field struct {
	Name  string
	Value string
}

// A Defect is a header line that is not a field and was skipped, such as a
// Unix "From " line or a continuation line before the first field.
type Defect struct {
	Line   int    // 1-based physical line number
	Reason string // what is wrong with it
}

// A Header is the read-only, ordered top-level header of one message.
// Names are compared ASCII-case-insensitively. The zero value is an empty
// header.
type Header struct {
	fields  []Field
	defects []Defect
}

// NewHeader returns a Header holding a copy of fields, in order. It is
// meant for embedders that parsed the header themselves and for tests.
func NewHeader(fields ...Field) *Header {
	h := &Header{fields: make([]Field, len(fields))}
	copy(h.fields, fields)
	return h
}

// Len returns the number of fields.
func (h *Header) Len() int {
	if h == nil {
		return 0
	}
	return len(h.fields)
}

// Field returns the i-th field from the top, 0-based.
func (h *Header) Field(i int) Field { return h.fields[i] }

// Fields returns a copy of all fields, top first.
func (h *Header) Fields() []Field {
	if h == nil {
		return nil
	}
	return append([]Field(nil), h.fields...)
}

// Get returns the value of the topmost field called name, or "".
func (h *Header) Get(name string) string {
	if h == nil {
		return ""
	}
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].Name, name) {
			return h.fields[i].Value
		}
	}
	return ""
}

// Has reports whether a field called name is present.
func (h *Header) Has(name string) bool {
	if h == nil {
		return false
	}
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].Name, name) {
			return true
		}
	}
	return false
}

// Values returns the values of every field called name, top first.
func (h *Header) Values(name string) []string {
	if h == nil {
		return nil
	}
	var v []string
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].Name, name) {
			v = append(v, h.fields[i].Value)
		}
	}
	return v
}

// Defects returns the skipped lines, in order.
func (h *Header) Defects() []Defect {
	if h == nil {
		return nil
	}
	return append([]Defect(nil), h.defects...)
}

// ReadHeader reads the top-level header of a message (RFC 5322 §2.2) from r
// and nothing more: it stops after the empty line that ends the header and
// consumes that line, so the next byte read from r is the first byte of the
// body. Lines may end in CRLF or a bare LF. A message without an empty line
// is all header (r is then at EOF); a message that starts with an empty
// line has an empty header.
//
// Folded lines are unfolded. A line that is not a field (no colon, a name
// with characters outside RFC 5322 ftext, a continuation before the first
// field, a Unix "From " line) is skipped and reported by [Header.Defects];
// it does not end the header.
//
// When a limit is exceeded ReadHeader returns the fields read so far and a
// [*LimitError]; r is then positioned inside the header. An I/O error other
// than io.EOF is returned as is, with the fields read so far.
func ReadHeader(r *bufio.Reader, lim *Limits) (*Header, error) {
	maxBytes, maxFields, maxLine := lim.headerBytes(), lim.fields(), lim.lineLength()
	var (
		buf     []byte // names and unfolded values, one after another
		spans   []span
		defects []Defect
		total   int
		lineNo  int
		skip    bool // inside a skipped (malformed) field
		err     error
	)
	// Size the buffers from what is already buffered: usually the whole
	// header, so they do not grow.
	hint := min(max(r.Buffered(), 512), maxBytes, 64<<10)
	buf = make([]byte, 0, hint)
	spans = make([]span, 0, max(hint/64, 8))
	h := &Header{}
	finish := func() *Header {
		s := string(buf)
		h.fields = make([]Field, len(spans))
		for i, sp := range spans {
			h.fields[i] = Field{
				Name:  s[sp.name:sp.nameEnd],
				Value: strings.TrimRight(strings.TrimLeft(s[sp.nameEnd:sp.end], " \t"), " \t"),
			}
		}
		h.defects = defects
		return h
	}
	for {
		var line []byte
		line, err = readLine(r, maxLine, &total, maxBytes)
		if err != nil && len(line) == 0 {
			if err == io.EOF {
				err = nil
			}
			break
		}
		lineNo++
		// Strip the line ending: LF, CRLF, or a CR before EOF.
		content := line
		if n := len(content); n > 0 && content[n-1] == '\n' {
			content = content[:n-1]
		}
		if n := len(content); n > 0 && content[n-1] == '\r' {
			content = content[:n-1]
		}
		if len(content) == 0 {
			if len(line) > 0 && line[len(line)-1] == '\n' {
				err = nil // the blank line ends the header
				break
			}
			// Unterminated empty last line: EOF.
			if err == io.EOF {
				err = nil
			}
			break
		}
		if content[0] == ' ' || content[0] == '\t' {
			switch {
			case skip:
			case len(spans) == 0:
				defects = append(defects, Defect{Line: lineNo, Reason: "continuation line before the first field"})
				skip = true
			default:
				buf = append(buf, content...)
				spans[len(spans)-1].end = len(buf)
			}
		} else if colon, reason := fieldName(content); reason != "" {
			if len(spans)+len(defects) == maxFields {
				err = &LimitError{What: LimitFields, Limit: maxFields}
				break
			}
			defects = append(defects, Defect{Line: lineNo, Reason: reason})
			skip = true
		} else {
			skip = false
			if len(spans)+len(defects) == maxFields {
				err = &LimitError{What: LimitFields, Limit: maxFields}
				break
			}
			name := bytes.TrimRight(content[:colon], " \t")
			start := len(buf)
			buf = append(buf, name...)
			nameEnd := len(buf)
			buf = append(buf, content[colon+1:]...)
			spans = append(spans, span{name: start, nameEnd: nameEnd, end: len(buf)})
		}
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			break
		}
	}
	return finish(), err
}

type span struct{ name, nameEnd, end int }

// fieldName returns the index of the colon ending the field name of line,
// or a reason why line is not a field.
func fieldName(line []byte) (int, string) {
	for i, c := range line {
		switch {
		case c == ':':
			// Characters before were checked; white space may only
			// trail the name.
			if len(bytes.TrimRight(line[:i], " \t")) == 0 {
				return 0, "empty field name"
			}
			return i, ""
		case c == ' ' || c == '\t':
			// Allowed only between the name and the colon (obsolete syntax).
		case c < ' ' || c > '~':
			return 0, "invalid character in field name"
		}
		if i > 0 && (line[i-1] == ' ' || line[i-1] == '\t') && c != ' ' && c != '\t' && c != ':' {
			if len(line) >= 5 && string(line[:5]) == "From " {
				return 0, `Unix "From " line`
			}
			return 0, "not a header field"
		}
	}
	return 0, "not a header field (no colon)"
}

// readLine reads one line including its LF, enforcing the line and total
// limits. It returns io.EOF with the last, unterminated line.
func readLine(r *bufio.Reader, maxLine int, total *int, maxBytes int) ([]byte, error) {
	var acc []byte
	for {
		frag, err := r.ReadSlice('\n')
		*total += len(frag)
		if *total > maxBytes {
			return nil, &LimitError{What: LimitHeaderBytes, Limit: maxBytes}
		}
		// The line's length without its ending (LF, CRLF, or a CR that
		// may yet be followed by LF in the next fragment).
		content := len(acc) + len(frag)
		at := func(k int) byte {
			if k >= len(acc) {
				return frag[k-len(acc)]
			}
			return acc[k]
		}
		if content > 0 && at(content-1) == '\n' {
			content--
		}
		if content > 0 && at(content-1) == '\r' {
			content--
		}
		if content > maxLine {
			return nil, &LimitError{What: LimitLineLength, Limit: maxLine}
		}
		if err == bufio.ErrBufferFull {
			acc = append(acc, frag...)
			continue
		}
		if acc != nil {
			frag = append(acc, frag...)
		}
		return frag, err
	}
}
