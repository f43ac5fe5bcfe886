package parse

import (
	"strings"
	"unicode"
)

// DefaultTextLength is the most runes [Text] keeps when max is 0.
const DefaultTextLength = 200

// Text returns the value of an unstructured header field such as Subject,
// or of From, as text to show a person: RFC 2047 encoded words decoded
// (with the charsets go-message knows; an undecodable word stays as it
// is), folding undone, runs of white space made one space, control and
// invalid characters replaced by U+FFFD, and at most max runes
// (DefaultTextLength when max is 0), cut with "...".
func Text(v string, max int) string {
	if max <= 0 {
		max = DefaultTextLength
	}
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	var b strings.Builder
	n := 0
	space := false
	for _, r := range strings.ToValidUTF8(v, "\uFFFD") {
		if unicode.IsSpace(r) {
			space = n > 0
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			r = '\uFFFD'
		}
		if space {
			if n+1 >= max {
				return b.String() + "..."
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if n >= max {
			b.WriteString("...")
			return b.String()
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
