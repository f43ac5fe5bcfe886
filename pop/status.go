package pop

import (
	"bytes"
)

// MaxStatusLine is the longest status or listing line accepted, CRLF
// included (RFC 2449 allows 512 octets; servers' texts run longer).
const MaxStatusLine = 4096

// status is a parsed status line.
type status struct {
	ok   bool   // +OK
	cont bool   // "+ " SASL continuation
	code string // RFC 2449 response code, "" when none
	text []byte // the rest, without code; aliases the input
}

// parseStatus parses one status line without its line ending. allowCont
// accepts a SASL continuation ("+" followed by a space or nothing).
func parseStatus(line []byte, allowCont bool) (status, bool) {
	var st status
	var rest []byte
	switch {
	case hasPrefixFold(line, "+OK"):
		st.ok = true
		rest = line[3:]
	case hasPrefixFold(line, "-ERR"):
		rest = line[4:]
	case allowCont && len(line) >= 1 && line[0] == '+' && (len(line) == 1 || line[1] == ' '):
		st.cont = true
		if len(line) > 1 {
			st.text = line[2:]
		}
		return st, true
	default:
		return st, false
	}
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return st, false
		}
		rest = rest[1:]
	}
	// RFC 2449 section 8: resp-code = "[" resp-level *("/" resp-level) "]".
	if len(rest) > 0 && rest[0] == '[' {
		if end := bytes.IndexByte(rest, ']'); end > 1 && validCode(rest[1:end]) {
			st.code = string(bytes.ToUpper(rest[1:end]))
			rest = bytes.TrimLeft(rest[end+1:], " ")
		}
	}
	st.text = rest
	return st, true
}

// validCode reports whether c is resp-level *("/" resp-level), each level
// 1*(ALPHA / DIGIT / "-").
func validCode(c []byte) bool {
	level := 0
	for _, ch := range c {
		switch {
		case ch == '/':
			if level == 0 {
				return false
			}
			level = 0
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '-':
			level++
		default:
			return false
		}
	}
	return level > 0
}

func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
