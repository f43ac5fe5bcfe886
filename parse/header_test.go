package parse

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		fields  []Field
		body    string
		defects int
	}{
		{
			name:   "crlf",
			in:     "From: a@b.c\r\nTo: d@e.f\r\n\r\nbody\r\n",
			fields: []Field{{"From", "a@b.c"}, {"To", "d@e.f"}},
			body:   "body\r\n",
		},
		{
			name:   "bare lf",
			in:     "From: a@b.c\nTo: d@e.f\n\nbody\n",
			fields: []Field{{"From", "a@b.c"}, {"To", "d@e.f"}},
			body:   "body\n",
		},
		{
			name:   "folded",
			in:     "To: a@b.c,\r\n  d@e.f,\r\n\tg@h.i\r\nSubject:  x  \r\n\r\n",
			fields: []Field{{"To", "a@b.c,  d@e.f,\tg@h.i"}, {"Subject", "x"}},
		},
		{
			name:   "header only without blank line",
			in:     "From: a@b.c\r\nTo: d@e.f\r\n",
			fields: []Field{{"From", "a@b.c"}, {"To", "d@e.f"}},
		},
		{
			name:   "header only without final newline",
			in:     "From: a@b.c\r\nTo: d@e.f",
			fields: []Field{{"From", "a@b.c"}, {"To", "d@e.f"}},
		},
		{
			name:   "headerless",
			in:     "\r\nFrom: not a header\r\n",
			fields: []Field{},
			body:   "From: not a header\r\n",
		},
		{
			name:   "empty input",
			in:     "",
			fields: []Field{},
		},
		{
			name:    "mbox from line and junk skipped",
			in:      "From someone Mon Jan 1\r\nTo: a@b.c\r\nthis is not a field\r\n cont of junk\r\nCc: d@e.f\r\n\r\nx",
			fields:  []Field{{"To", "a@b.c"}, {"Cc", "d@e.f"}},
			body:    "x",
			defects: 2,
		},
		{
			name:    "continuation before first field",
			in:      " leading\r\nTo: a@b.c\r\n\r\n",
			fields:  []Field{{"To", "a@b.c"}},
			defects: 1,
		},
		{
			name:   "obsolete space before colon and empty value",
			in:     "Subject : hi\r\nX-Empty:\r\n\r\n",
			fields: []Field{{"Subject", "hi"}, {"X-Empty", ""}},
		},
		{
			name:   "utf-8 and whitespace-only continuation",
			in:     "Subject: Grüße\r\n \r\n more\r\n\r\n",
			fields: []Field{{"Subject", "Grüße  more"}},
		},
		{
			name:   "cr before eof",
			in:     "To: a@b.c\r",
			fields: []Field{{"To", "a@b.c"}},
		},
		{
			name:    "invalid name character",
			in:      "Bad\x00Name: x\r\nTo: a@b.c\r\n\r\n",
			fields:  []Field{{"To", "a@b.c"}},
			defects: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
			h, err := ReadHeader(br, nil)
			require.NoError(t, err)
			got := h.Fields()
			if got == nil {
				got = []Field{}
			}
			assert.Equal(t, tt.fields, got)
			assert.Len(t, h.Defects(), tt.defects)
			rest, err := io.ReadAll(br)
			require.NoError(t, err)
			assert.Equal(t, tt.body, string(rest))
		})
	}
}

func TestHeaderAccessors(t *testing.T) {
	h, err := ReadHeader(bufio.NewReader(strings.NewReader("Received: 1\r\nreceived: 2\r\nTo: x@y\r\n\r\n")), nil)
	require.NoError(t, err)
	assert.Equal(t, 3, h.Len())
	assert.Equal(t, "1", h.Get("RECEIVED"))
	assert.Equal(t, []string{"1", "2"}, h.Values("Received"))
	assert.True(t, h.Has("to"))
	assert.False(t, h.Has("Cc"))
	assert.Equal(t, "", h.Get("Cc"))
	assert.Equal(t, Field{"received", "2"}, h.Field(1))
	fs := h.Fields()
	fs[0].Value = "changed"
	assert.Equal(t, "1", h.Get("Received"), "Fields returns a copy")

	var nilH *Header
	assert.Equal(t, 0, nilH.Len())
	assert.Equal(t, "", nilH.Get("To"))
	assert.Nil(t, nilH.Values("To"))

	n := NewHeader(Field{"To", "a@b"})
	assert.Equal(t, "a@b", n.Get("to"))
}

func TestReadHeaderLimits(t *testing.T) {
	big := "X-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"
	many := strings.Repeat("X: y\r\n", 6000) + "\r\n"
	long := "Subject: " + strings.Repeat("s", 70<<10) + "\r\n\r\n"
	tests := []struct {
		name  string
		in    string
		lim   *Limits
		what  string
		limit int
	}{
		{"2 MiB header", "To: " + strings.Repeat("someone@example.com,\r\n ", (2<<20)/24) + "x@y\r\n\r\n", nil, LimitHeaderBytes, DefaultMaxHeaderBytes},
		{"one 2 MiB line", big, &Limits{MaxLineLength: -1}, LimitHeaderBytes, DefaultMaxHeaderBytes},
		{"line length", long, nil, LimitLineLength, DefaultMaxLineLength},
		{"fields", many, nil, LimitFields, DefaultMaxFields},
		{"small fields", "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", &Limits{MaxFields: 2}, LimitFields, 2},
		{"junk lines count as fields", strings.Repeat("junk\r\n", 6000) + "\r\n", nil, LimitFields, DefaultMaxFields},
		{"small bytes", "A: 1\r\nB: 2\r\n\r\n", &Limits{MaxHeaderBytes: 8}, LimitHeaderBytes, 8},
		{"small line", "A: 12345\r\n\r\n", &Limits{MaxLineLength: 6}, LimitLineLength, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ReadHeader(bufio.NewReader(strings.NewReader(tt.in)), tt.lim)
			var le *LimitError
			require.True(t, errors.As(err, &le), "got %v", err)
			assert.Equal(t, tt.what, le.What)
			assert.Equal(t, tt.limit, le.Limit)
			assert.Contains(t, le.Error(), "parse: "+tt.what)
			require.NotNil(t, h, "partial header returned")
		})
	}
	// Exactly at the limits is fine.
	h, err := ReadHeader(bufio.NewReader(strings.NewReader("A: 1234\r\n\r\n")), &Limits{MaxLineLength: 7, MaxHeaderBytes: 11, MaxFields: 1})
	require.NoError(t, err)
	assert.Equal(t, "1234", h.Get("A"))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReadHeaderIOError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("To: a@b.c\r\nCc: x"), errReader{boom})
	h, err := ReadHeader(bufio.NewReader(r), nil)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, "a@b.c", h.Get("To"))
}

// TestReadHeaderLineLimitExact checks the line limit at its boundary
// whatever the buffer size, so a CR or LF falling at a buffer edge is not
// counted.
func TestReadHeaderLineLimitExact(t *testing.T) {
	const limit = 40
	for size := 16; size <= 48; size++ {
		for _, eol := range []string{"\r\n", "\n", "\r"} {
			for _, extra := range []int{0, 1} {
				line := "X: " + strings.Repeat("v", limit-3+extra)
				in := line + eol + "\r\n"
				if eol == "\r" {
					in = line + eol // a CR before EOF
				}
				br := bufio.NewReaderSize(strings.NewReader(in), size)
				h, err := ReadHeader(br, &Limits{MaxLineLength: limit})
				if extra == 0 {
					require.NoError(t, err, "size %d eol %q", size, eol)
					assert.Equal(t, limit-3, len(h.Get("X")))
					continue
				}
				var le *LimitError
				require.True(t, errors.As(err, &le), "size %d eol %q: %v", size, eol, err)
				assert.Equal(t, LimitLineLength, le.What)
			}
		}
	}
}
