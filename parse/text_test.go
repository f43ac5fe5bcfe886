package parse_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/multidrop/multidrop/parse"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello", "hello"},
		{"=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus Bern", "Grüße aus Bern"},
		{"=?ISO-8859-1?B?SGFsbG8g5A==?=", "Hallo ä"},
		{"folded\r\n\tsubject  with   spaces ", "folded subject with spaces"},
		{"bell\x07 and \x1b[31m escape", "bell\uFFFD and \uFFFD[31m escape"},
		{"right\u202eto-left", "right\uFFFDto-left"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"=?x-unknown?Q?abc?=", "=?x-unknown?Q?abc?="},
		{"Alice <alice@example.com>", "Alice <alice@example.com>"},
	} {
		assert.Equal(t, tc.want, parse.Text(tc.in, 0), "%q", tc.in)
	}
	long := strings.Repeat("ab ", 200)
	got := parse.Text(long, 10)
	assert.Equal(t, "ab ab ab a...", got)
	assert.LessOrEqual(t, len([]rune(parse.Text(long, 0))), parse.DefaultTextLength+3)
}
