package parse

import "strings"

// received holds what the Received stage needs from one Received field.
type received struct {
	by      string   // the host after "by", "" if none
	hasFor  bool     // a "for" clause was present
	forArgs []string // the words of the "for" clause
}

// parseReceived splits a Received value (RFC 5321 §4.4, RFC 5322 §3.6.7)
// into its clauses, ignoring comments, up to the ';' before the date. It
// makes one pass over v. Nothing inside a comment is ever a clause, so a
// "(for <x@y>)" comment yields nothing.
func parseReceived(v string) received {
	var r received
	clause := ""
	i := 0
	for i < len(v) {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
			continue
		case c == '(':
			i = skipComment(v, i)
			continue
		case c == ';':
			return r
		}
		start := i
		i = receivedWord(v, i)
		w := v[start:i]
		switch {
		case strings.EqualFold(w, "from"), strings.EqualFold(w, "via"),
			strings.EqualFold(w, "with"), strings.EqualFold(w, "id"):
			clause = "other"
		case strings.EqualFold(w, "by"):
			clause = "by"
		case strings.EqualFold(w, "for"):
			clause = "for"
			// A second "for" adds its paths: such a field does not
			// name exactly one.
			r.hasFor = true
		default:
			switch clause {
			case "by":
				if r.by == "" {
					r.by = w
				}
			case "for":
				r.forArgs = append(r.forArgs, w)
			}
		}
	}
	return r
}

// receivedWord returns the end of the word starting at v[i]: a run of
// characters up to white space, '(' or ';', in which quoted strings and
// angle brackets are taken whole.
func receivedWord(v string, i int) int {
	for i < len(v) {
		switch v[i] {
		case ' ', '\t', '\r', '\n', '(', ';':
			return i
		case '"':
			i = skipQuoted(v, i)
		case '<':
			i++
			for i < len(v) && v[i] != '>' {
				if v[i] == '"' {
					i = skipQuoted(v, i)
					continue
				}
				i++
			}
			if i < len(v) {
				i++
			}
		default:
			i++
		}
	}
	return i
}

// skipComment returns the index after the comment starting at v[i]
// (nested, with quoted-pairs), or len(v) if it is unterminated.
func skipComment(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(v)
}

// skipQuoted returns the index after the quoted string starting at v[i],
// or len(v) if it is unterminated.
func skipQuoted(v string, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(v)
}

// hostMatches reports whether host is one of hosts: equal ignoring ASCII
// case and a trailing dot, or, for an entry starting with ".", ending in it.
func hostMatches(host string, hosts []string) bool {
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return false
	}
	for _, h := range hosts {
		h = strings.TrimSuffix(h, ".")
		if h == "" {
			continue
		}
		if h[0] == '.' {
			if len(host) > len(h) && strings.EqualFold(host[len(host)-len(h):], h) {
				return true
			}
			continue
		}
		if strings.EqualFold(host, h) {
			return true
		}
	}
	return false
}
