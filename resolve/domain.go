package resolve

import (
	"errors"
	"strings"

	"golang.org/x/net/idna"
)

// asciiDomain returns the lower-case ASCII (A-label) form of a domain name,
// validated with the IDNA2008 lookup profile (RFC 5891 §5, UTS #46 strict:
// STD3 rules, hyphen and joiner checks, bidi rule). Plain LDH names take a
// fast path that allocates only when the name has upper-case letters.
func asciiDomain(d string) (string, error) {
	if d == "" {
		return "", errors.New("empty domain")
	}
	if ldh(d) {
		return asciiLower(d), nil
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", err
	}
	if len(a) > 253 {
		return "", errors.New("domain name longer than 253 octets")
	}
	for label := range strings.SplitSeq(a, ".") {
		if label == "" || len(label) > 63 {
			return "", errors.New("empty or over-long label")
		}
	}
	return a, nil
}

// ldh reports whether d is a well-formed host name of letters, digits and
// hyphens (RFC 952/1123) with no A-label: such a name needs no IDNA mapping
// beyond lower-casing.
func ldh(d string) bool {
	if len(d) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		label := d[start:i]
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if len(label) >= 4 && label[2] == '-' && label[3] == '-' {
			return false // "xn--" and other reserved "??--" labels go through IDNA
		}
		start = i + 1
	}
	return true
}

// asciiLower lower-cases ASCII letters only (RFC 5321 §2.4: local parts are
// case-sensitive in principle, but every real mail system folds ASCII).
// It returns s itself when nothing changes.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// hasPrefixFold and hasSuffixFold compare ASCII case-insensitively.
func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

func hasSuffixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[len(s)-len(p):], p)
}

// addrProblem is why an address could not even be split.
type addrProblem struct {
	reason Reason
	detail string
}

// splitAddress splits an addr-spec at its last "@" and unquotes a quoted
// local part. It refuses what no local delivery may come from: control
// characters, source routes, empty parts.
func splitAddress(s string) (local, domain string, p *addrProblem) {
	if s == "" {
		return "", "", &addrProblem{ReasonInvalid, "empty address"}
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return "", "", &addrProblem{ReasonInvalid, "control character in address"}
		}
	}
	if s[0] == '@' {
		return "", "", &addrProblem{ReasonInvalid, "source route (RFC 5321 §4.1.2 obsolete route syntax)"}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", "", &addrProblem{ReasonInvalid, "no domain"}
	}
	local, domain = s[:at], s[at+1:]
	if domain == "" {
		return "", "", &addrProblem{ReasonInvalid, "empty domain"}
	}
	if len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"' {
		local = unquote(local[1 : len(local)-1])
	}
	if local == "" {
		return "", "", &addrProblem{ReasonInvalid, "empty local part"}
	}
	return local, domain, nil
}

// unquote removes the backslash escapes of a quoted-string's content.
func unquote(q string) string {
	if strings.IndexByte(q, '\\') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' && i+1 < len(q) {
			i++
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
