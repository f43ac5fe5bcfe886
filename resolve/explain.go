package resolve

import (
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

// Explanation records how one message's candidates were resolved: the
// mode, the stage that decided (Chain mode), and one [Decision] per candidate
// in the order the candidates were given. It is plain data: the pipeline
// logs it, the admin page shows it.
type Explanation struct {
	Mode    account.Mode
	Decided parse.Stage // Chain mode: the stage whose candidates counted; "" if none did
	Steps   []Decision
}

// Decision is the fate of one candidate.
type Decision struct {
	Candidate  parse.Candidate
	Recipients []string // the recipients this candidate added; empty when rejected
	Via        Via      // how it led to them
	Reason     Reason   // why it was rejected; "" when kept
	Detail     string   // what was done: stripping, alias, rule, or the cause of the rejection
}

// Kept reports whether the step added at least one recipient.
func (s Decision) Kept() bool { return s.Reason == "" && len(s.Recipients) > 0 }

// maxStringSteps bounds the steps String shows.
const maxStringSteps = 200

// String formats the explanation on several lines, a summary first, then
// at most 200 steps; [Explanation.WriteTo] writes all of them.
func (e Explanation) String() string {
	var b strings.Builder
	e.write(&b, maxStringSteps)
	return b.String()
}

// WriteTo writes the explanation as String does, with every step.
func (e Explanation) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	e.write(cw, -1)
	return cw.n, cw.err
}

// Summary is the first line of String: mode, deciding stage, counts.
func (e Explanation) Summary() string {
	var b strings.Builder
	kept, rejected := e.counts()
	b.WriteString("mode ")
	b.WriteString(string(e.Mode))
	if e.Decided != "" {
		b.WriteString(", decided by stage ")
		b.WriteString(string(e.Decided))
	}
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(len(e.Steps)))
	b.WriteString(" candidates, ")
	b.WriteString(strconv.Itoa(kept))
	b.WriteString(" kept, ")
	b.WriteString(strconv.Itoa(rejected))
	b.WriteString(" rejected")
	return b.String()
}

func (e Explanation) counts() (kept, rejected int) {
	for i := range e.Steps {
		if e.Steps[i].Reason == "" {
			kept++
		} else {
			rejected++
		}
	}
	return kept, rejected
}

// LogValue implements slog.LogValuer: the summary and the rejection
// counts by reason (keys with underscores, e.g. foreign_domain=2), not
// every step.
func (e Explanation) LogValue() slog.Value {
	kept, rejected := e.counts()
	attrs := []slog.Attr{
		slog.String("mode", string(e.Mode)),
		slog.Int("candidates", len(e.Steps)),
		slog.Int("kept", kept),
		slog.Int("rejected", rejected),
	}
	if e.Decided != "" {
		attrs = append(attrs, slog.String("decided", string(e.Decided)))
	}
	if rejected > 0 {
		byReason := map[Reason]int{}
		var order []Reason
		for i := range e.Steps {
			if r := e.Steps[i].Reason; r != "" {
				if byReason[r] == 0 {
					order = append(order, r)
				}
				byReason[r]++
			}
		}
		for _, r := range order {
			attrs = append(attrs, slog.Int(strings.ReplaceAll(string(r), " ", "_"), byReason[r]))
		}
	}
	return slog.GroupValue(attrs...)
}

// String formats one step on one line, e.g.
//
//	Delivered-To#1 (envelope) <alice@example.com>: kept -> alice@example.com via directory
func (s Decision) String() string {
	var b strings.Builder
	s.write(&b)
	return b.String()
}

func (s Decision) write(b interface{ WriteString(string) (int, error) }) {
	c := s.Candidate
	b.WriteString(c.Field)
	b.WriteString("#")
	b.WriteString(strconv.Itoa(c.Occurrence))
	if c.Stage != "" {
		b.WriteString(" (")
		b.WriteString(string(c.Stage))
		b.WriteString(")")
	}
	b.WriteString(" ")
	if c.Name != "" {
		b.WriteString(strconv.Quote(c.Name))
		b.WriteString(" ")
	}
	b.WriteString("<")
	q := strconv.Quote(c.Address) // escapes control characters and invalid UTF-8
	b.WriteString(q[1 : len(q)-1])
	b.WriteString(">: ")
	if s.Reason != "" {
		b.WriteString("rejected: ")
		b.WriteString(string(s.Reason))
	} else {
		b.WriteString("kept -> ")
		b.WriteString(strings.Join(s.Recipients, ", "))
		if s.Via != "" {
			b.WriteString(" via ")
			b.WriteString(string(s.Via))
		}
	}
	if s.Detail != "" {
		b.WriteString(" (")
		b.WriteString(s.Detail)
		b.WriteString(")")
	}
}

func (e Explanation) write(w io.Writer, max int) {
	sw, ok := w.(io.StringWriter)
	if !ok {
		sw = stringWriter{w}
	}
	sw.WriteString(e.Summary())
	sw.WriteString("\n")
	for i := range e.Steps {
		if max >= 0 && i == max {
			sw.WriteString("  ... ")
			sw.WriteString(strconv.Itoa(len(e.Steps) - max))
			sw.WriteString(" more\n")
			break
		}
		sw.WriteString("  ")
		e.Steps[i].write(sw)
		sw.WriteString("\n")
	}
}

type stringWriter struct{ w io.Writer }

func (s stringWriter) WriteString(x string) (int, error) { return io.WriteString(s.w, x) }

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
