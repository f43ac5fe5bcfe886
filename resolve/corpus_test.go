package resolve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
	"github.com/multidrop/multidrop/parse"
)

var update = flag.Bool("update", false, "rewrite the expectations of resolve/testdata/corpus (review the diff by hand)")

// A corpus case is one file in testdata/corpus:
//
//	# what the case shows (any number of comment lines)
//	# account: {"parsing":{"mode":"union"}}   (optional, merged into testAccount)
//	=== header
//	<the message header, as received, possibly with a body>
//	=== parse
//	<what parse found: mode, deciding stage, warnings, loops>
//	=== candidates
//	<stage Field#N "Name" <address>, one per line; untrusted and unused marked>
//	=== recipients
//	<address <- Field#N (via)>
//	=== rejected
//	<Field#N <address>: reason (detail)>
//
// Everything from "=== parse" on is the expectation, regenerated with
// go test -run TestCorpus -update.
type corpusCase struct {
	path     string
	prologue string // comment lines and "=== header\n"
	header   []byte
	expected string
	account  account.Account
}

const (
	headerMark = "=== header\n"
	parseMark  = "\n=== parse\n"
)

func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.txt"))
	require.NoError(t, err)
	var cases []corpusCase
	for _, path := range files {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		h := bytes.Index(data, []byte(headerMark))
		require.GreaterOrEqual(t, h, 0, "%s: no %q line", path, headerMark)
		c := corpusCase{path: path, prologue: string(data[:h+len(headerMark)]), account: testAccount()}
		rest := data[h+len(headerMark):]
		if p := bytes.Index(rest, []byte(parseMark)); p >= 0 {
			c.header, c.expected = rest[:p+1], string(rest[p+1:])
		} else {
			c.header = rest
		}
		for line := range strings.SplitSeq(c.prologue, "\n") {
			if js, ok := strings.CutPrefix(line, "# account:"); ok {
				require.NoError(t, json.Unmarshal([]byte(js), &c.account), "%s: account line", path)
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// runCase runs parse and resolve on one header the way the pipeline does.
func runCase(t testing.TB, m *Mapper, a account.Account, header []byte) (*parse.Result, Result, error) {
	h, err := parse.ReadHeader(bufio.NewReader(bytes.NewReader(header)), nil)
	if err != nil {
		return nil, Result{}, err
	}
	opts, err := parse.OptionsFrom(a.Parsing, append([]string{a.Domain}, a.ExtraDomains...)...)
	require.NoError(t, err)
	opts.Local = func(domain string) bool { return m.Local(a, domain) }
	pr, perr := parse.Candidates(h, opts)
	if pr == nil {
		return nil, Result{}, perr
	}
	res, err := Message(t.Context(), m, a, pr)
	if err != nil {
		return pr, res, err
	}
	return pr, res, perr
}

// quoteAddr shows s as it is, but control characters and invalid UTF-8
// as \xNN escapes, so every golden file stays printable text.
func quoteAddr(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", s[i])
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

func formatCandidate(c parse.Candidate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s#%d ", c.Stage, c.Field, c.Occurrence)
	if c.Name != "" {
		b.WriteString(strconv.Quote(c.Name) + " ")
	}
	b.WriteString("<" + quoteAddr(c.Address) + ">")
	if c.Route != "" {
		b.WriteString(" route " + c.Route)
	}
	return b.String()
}

// formatOutcome renders what the corpus compares.
func formatOutcome(pr *parse.Result, res Result, err error) string {
	var b strings.Builder
	b.WriteString("=== parse\n")
	if pr != nil {
		fmt.Fprintf(&b, "mode %s, decided %q\n", pr.Mode, pr.Decided)
		if pr.MissingEnvelope {
			b.WriteString("missing envelope\n")
		}
		for _, w := range pr.Warnings {
			b.WriteString("warning " + quoteAddr(w.String()) + "\n")
		}
		for _, l := range pr.Loops {
			fmt.Fprintf(&b, "loop %s %s#%d %s\n", l.Kind, l.Field, l.Occurrence, quoteAddr(l.Address+l.Value))
		}
	}
	if err != nil {
		b.WriteString("error " + err.Error() + "\n")
	}
	b.WriteString("=== candidates\n")
	if pr != nil {
		for _, c := range pr.Candidates {
			b.WriteString(formatCandidate(c) + "\n")
		}
		for _, c := range pr.Untrusted {
			b.WriteString("untrusted " + formatCandidate(c) + "\n")
		}
		for _, c := range pr.Unused {
			b.WriteString("unused " + formatCandidate(c) + "\n")
		}
	}
	b.WriteString("=== recipients\n")
	for _, r := range res.Recipients {
		fmt.Fprintf(&b, "%s <- %s (%s)\n", r.Address, where(r.Candidate), r.Via)
	}
	b.WriteString("=== rejected\n")
	for _, r := range res.Rejected {
		fmt.Fprintf(&b, "%s <%s>: %s", where(r.Candidate), quoteAddr(r.Candidate.Address), r.Reason)
		if r.Detail != "" {
			b.WriteString(" (" + r.Detail + ")")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	require.GreaterOrEqual(t, len(cases), 80, "the corpus must keep at least 80 cases")
	m := New(testDirectory(t), nil)
	dir := testDirectory(t)
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".txt"), func(t *testing.T) {
			pr, res, err := runCase(t, m, c.account, c.header)
			got := formatOutcome(pr, res, err)
			if *update {
				out := c.prologue + string(c.header) + got
				require.NoError(t, os.WriteFile(c.path, []byte(out), 0o644))
				return
			}
			assert.Equal(t, c.expected, got)
			// Whatever the case: every recipient is a user of the directory
			// in its canonical spelling, in a local domain.
			for _, r := range res.Recipients {
				local, domain, _ := strings.Cut(r.Address, "@")
				users, _ := dir.Lookup(t.Context(), domain, local)
				assert.Contains(t, users, r.Address)
			}
		})
	}
}
