package pop

import (
	"bytes"
	"strconv"
	"strings"
)

// Capabilities are the server's answer to CAPA (RFC 2449): upper-case
// capability names mapped to their arguments.
type Capabilities map[string][]string

// Has reports whether the server announced the capability name.
func (c Capabilities) Has(name string) bool {
	_, ok := c[strings.ToUpper(name)]
	return ok
}

// SASL returns the announced SASL mechanisms, upper-case.
func (c Capabilities) SASL() []string {
	var out []string
	for _, m := range c["SASL"] {
		out = append(out, strings.ToUpper(m))
	}
	return out
}

// Expire returns the EXPIRE capability in days: -1 for NEVER or when not
// announced, 0 when the server deletes retrieved messages itself.
func (c Capabilities) Expire() int {
	a, ok := c["EXPIRE"]
	if !ok || len(a) == 0 || strings.EqualFold(a[0], "NEVER") {
		return -1
	}
	n, err := strconv.Atoi(a[0])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// LoginDelay returns the LOGIN-DELAY capability in seconds, 0 when none.
func (c Capabilities) LoginDelay() int {
	a, ok := c["LOGIN-DELAY"]
	if !ok || len(a) == 0 {
		return 0
	}
	n, err := strconv.Atoi(a[0])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func badListing(cmd string, line []byte) error {
	return &ProtocolError{Command: cmd, Err: ErrBadListing, Detail: escape(line)}
}

// parseUint parses a decimal number of at most 18 digits, no sign.
func parseUint(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, strconv.ErrSyntax
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

func parseNumber(b []byte) (int, bool) {
	if len(b) > 9 {
		return 0, false
	}
	n, err := parseUint(b)
	if err != nil || n == 0 {
		return 0, false
	}
	return int(n), true
}

// parseListLine parses "msg size" (RFC 1939 scan listing); text after the
// size is ignored, as the RFC allows.
func parseListLine(line []byte) (int, int64, error) {
	f := bytes.Fields(line)
	if len(f) < 2 {
		return 0, 0, badListing("LIST", line)
	}
	n, ok := parseNumber(f[0])
	size, err := parseUint(f[1])
	if !ok || err != nil {
		return 0, 0, badListing("LIST", line)
	}
	return n, size, nil
}

// parseUIDLine parses "msg unique-id" (RFC 1939 section 7). The id is
// returned as sent, possibly empty or invalid; only the number must be
// well formed.
func parseUIDLine(line []byte) (int, string, error) {
	num, rest, _ := bytes.Cut(line, []byte(" "))
	n, ok := parseNumber(num)
	if !ok {
		return 0, "", badListing("UIDL", line)
	}
	return n, string(bytes.TrimRight(rest, " ")), nil
}

// MaxUIDLength is the longest unique id RFC 1939 allows.
const MaxUIDLength = 70

// uidProblem checks a unique id as RFC 1939 defines it: 1 to 70 characters
// in the range 0x21 to 0x7E.
func uidProblem(uid string) string {
	switch {
	case uid == "":
		return "empty"
	case len(uid) > MaxUIDLength:
		return "too long"
	}
	for i := 0; i < len(uid); i++ {
		if uid[i] < 0x21 || uid[i] > 0x7e {
			return "invalid"
		}
	}
	return ""
}
