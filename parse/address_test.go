package parse

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddressList(t *testing.T) {
	type A = Address
	tests := []struct {
		in   string
		want []Address
		err  string // substring of the error; "" for none
	}{
		// The tricky ones of the issue.
		{in: `"a@example.com"@evil.com`, want: []A{{Address: `"a@example.com"@evil.com`, Local: "a@example.com", Domain: "evil.com"}}},
		{in: `a(@example.com)@evil.com`, want: []A{{Address: "a@evil.com", Local: "a", Domain: "evil.com"}}},
		{in: `<@example.com:evil@evil.com>`, want: []A{{Address: "evil@evil.com", Local: "evil", Domain: "evil.com", Route: "@example.com"}}},
		{in: `<@a.example, @b.example:u@c.example>`, want: []A{{Address: "u@c.example", Local: "u", Domain: "c.example", Route: "@a.example,@b.example"}}},
		{in: `=?utf-8?q?a@example.com?= <x@evil.com>`, want: []A{{Name: "a@example.com", Address: "x@evil.com", Local: "x", Domain: "evil.com"}}},
		{in: `=?utf-8?q?x?=@example.com`, err: "encoded-word inside an addr-spec"},
		{in: `x@=?utf-8?q?example.com?=`, err: "encoded-word inside an addr-spec"},
		{in: `"=?utf-8?q?a?="@example.com`, err: "encoded-word inside an addr-spec"},
		{in: "a\x00b@example.com", err: "control character"},
		{in: "\"a\x00\"@example.com", err: "control character in quoted string"},
		{in: "a\xff@example.com", err: "invalid UTF-8"},
		{in: "Bob \xff <b@example.com>", err: "invalid UTF-8"},

		// Plain forms.
		{in: "alice@example.com", want: []A{{Address: "alice@example.com", Local: "alice", Domain: "example.com"}}},
		{in: "Alice <alice@example.com>", want: []A{{Name: "Alice", Address: "alice@example.com", Local: "alice", Domain: "example.com"}}},
		{in: `"Smith, John" <j@example.com>, k@example.com`, want: []A{
			{Name: "Smith, John", Address: "j@example.com", Local: "j", Domain: "example.com"},
			{Address: "k@example.com", Local: "k", Domain: "example.com"}}},
		{in: ".NET Team <n@example.com>", want: []A{{Name: ".NET Team", Address: "n@example.com", Local: "n", Domain: "example.com"}}},
		{in: "J. R. Smith <j@example.com>", want: []A{{Name: "J. R. Smith", Address: "j@example.com", Local: "j", Domain: "example.com"}}},
		{in: "alice+news@example.com", want: []A{{Address: "alice+news@example.com", Local: "alice+news", Domain: "example.com"}}},
		{in: "<alice@example.com>", want: []A{{Address: "alice@example.com", Local: "alice", Domain: "example.com"}}},

		// Groups.
		{in: "undisclosed-recipients:;", want: []A{}},
		{in: "undisclosed-recipients: ;", want: []A{}},
		{in: "team: a@example.com, B <b@example.com>;, c@example.com", want: []A{
			{Address: "a@example.com", Local: "a", Domain: "example.com"},
			{Name: "B", Address: "b@example.com", Local: "b", Domain: "example.com"},
			{Address: "c@example.com", Local: "c", Domain: "example.com"}}},
		{in: "undisclosed-recipients:", err: "group without ';'"},
		{in: "a: b: c@example.com;;", err: "group inside a group"},

		// Comments, CFWS and obsolete forms.
		{in: "alice@example.com (Alice)", want: []A{{Address: "alice@example.com", Local: "alice", Domain: "example.com"}}},
		{in: "(c) alice (x) @ (y) example (z) . com (w)", want: []A{{Address: "alice@example.com", Local: "alice", Domain: "example.com"}}},
		{in: "a . b@example.com", want: []A{{Address: "a.b@example.com", Local: "a.b", Domain: "example.com"}}},
		{in: "a@example.com,,  , b@example.com,", want: []A{
			{Address: "a@example.com", Local: "a", Domain: "example.com"},
			{Address: "b@example.com", Local: "b", Domain: "example.com"}}},
		{in: "Alice\r\n <alice@example.com>", want: []A{{Name: "Alice", Address: "alice@example.com", Local: "alice", Domain: "example.com"}}},
		{in: "((nested (deep)) comment) a@example.com", want: []A{{Address: "a@example.com", Local: "a", Domain: "example.com"}}},
		{in: "a@example.com (Andr\xe9, latin-1)", want: []A{{Address: "a@example.com", Local: "a", Domain: "example.com"}}},
		{in: "(bell \x07 (nested \x19)) a@example.com", want: []A{{Address: "a@example.com", Local: "a", Domain: "example.com"}}},

		// Quoted local parts.
		{in: `"alice"@example.com`, want: []A{{Address: "alice@example.com", Local: "alice", Domain: "example.com"}}},
		{in: `"a b"@example.com`, want: []A{{Address: `"a b"@example.com`, Local: "a b", Domain: "example.com"}}},
		{in: `"a\"b\\c"@example.com`, want: []A{{Address: `"a\"b\\c"@example.com`, Local: `a"b\c`, Domain: "example.com"}}},
		{in: `"a."@example.com`, want: []A{{Address: `"a."@example.com`, Local: "a.", Domain: "example.com"}}},
		{in: `a."b".c@example.com`, want: []A{{Address: "a.b.c@example.com", Local: "a.b.c", Domain: "example.com"}}},

		// Domain literals.
		{in: "x@[192.0.2.1]", want: []A{{Address: "x@[192.0.2.1]", Local: "x", Domain: "[192.0.2.1]"}}},
		{in: "x@[IPv6:2001:db8::1]", want: []A{{Address: "x@[IPv6:2001:db8::1]", Local: "x", Domain: "[IPv6:2001:db8::1]"}}},
		{in: "x@[ 192.0.2.1 ]", want: []A{{Address: "x@[192.0.2.1]", Local: "x", Domain: "[192.0.2.1]"}}},
		{in: "x@[192.0.2.1", err: "unterminated domain literal"},
		{in: "x@[192.0 .2.1]", err: "white space inside domain literal"},
		{in: "x@[a@b]", err: "invalid character in domain literal"},
		{in: "x@[a[b]", err: "invalid character in domain literal"},

		// UTF-8 (RFC 6532) and RFC 2047 names.
		{in: "jörg@bücher.example", want: []A{{Address: "jörg@bücher.example", Local: "jörg", Domain: "bücher.example"}}},
		{in: "Jörg <j@example.com>", want: []A{{Name: "Jörg", Address: "j@example.com", Local: "j", Domain: "example.com"}}},
		{in: "=?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M?= <j@example.com>", want: []A{{Name: "Jörg M", Address: "j@example.com", Local: "j", Domain: "example.com"}}},
		{in: "=?iso-8859-1?q?J=F6rg?= <j@example.com>", want: []A{{Name: "Jörg", Address: "j@example.com", Local: "j", Domain: "example.com"}}},
		{in: "=?utf-8?b?SsO2cmc=?= Smith <j@example.com>", want: []A{{Name: "Jörg Smith", Address: "j@example.com", Local: "j", Domain: "example.com"}}},
		{in: "=?utf-8?q?bad=FF?= <j@example.com>", want: []A{{Name: "=?utf-8?q?bad=FF?=", Address: "j@example.com", Local: "j", Domain: "example.com"}}},
		{in: "=?utf-8?q?a=0Ab?= <j@example.com>", want: []A{{Name: "=?utf-8?q?a=0Ab?=", Address: "j@example.com", Local: "j", Domain: "example.com"}}},
		{in: "=?unknown-charset?q?x?= <j@example.com>", want: []A{{Name: "=?unknown-charset?q?x?=", Address: "j@example.com", Local: "j", Domain: "example.com"}}},

		// Malformed.
		{in: "", want: []A{}},
		{in: "alice", err: "missing '@'"},
		{in: "Alice Smith alice@example.com", err: "words without '.'"},
		{in: "a@", err: "missing domain"},
		{in: "@example.com", err: "empty local part"},
		{in: ", ;", err: "unexpected character ';'"},
		{in: "a@b@c", err: "expected ','"},
		{in: "ok@example.com, bad@@example.com", err: "missing domain"},
		{in: ".a@example.com", err: "misplaced '.'"},
		{in: "a.@example.com", err: "local part ends with '.'"},
		{in: "a..b@example.com", err: "misplaced '.'"},
		{in: "a@example..com", err: "misplaced '.'"},
		{in: "a@example.com.", err: "domain ends with '.'"},
		{in: "<a@example.com", err: "missing '>'"},
		{in: "<>", err: "empty angle address"},
		{in: "(unterminated a@example.com", err: "unterminated comment"},
		{in: `"unterminated@example.com`, err: "unterminated quoted string"},
		{in: "a@example.com\nb@example.com", err: "bare LF"},
		{in: "a@example.com\rb", err: "bare CR"},
		{in: `a@"example".com`, err: "quoted string in domain"},
		{in: "<@:a@example.com>", err: "missing domain"},
		{in: "<@example.com a@example.com>", err: "words without '.' in domain"},
		{in: "<@example.com;a@example.com>", err: "invalid source route"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := AddressList(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				var se *SyntaxError
				assert.True(t, errors.As(err, &se))
				assert.Nil(t, got, "a malformed list yields no address")
				return
			}
			require.NoError(t, err)
			if got == nil {
				got = []Address{}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMailbox(t *testing.T) {
	a, err := Mailbox(" Alice <alice@example.com> ")
	require.NoError(t, err)
	assert.Equal(t, "alice@example.com", a.Address)
	assert.Equal(t, "Alice", a.Name)

	for _, bad := range []string{"a@example.com, b@example.com", "g: a@example.com;", "", "<>"} {
		_, err := Mailbox(bad)
		assert.Error(t, err, bad)
	}
}

// TestAddressListLinear feeds 1 MiB inputs that make naive parsers
// quadratic or recursive. There is no wall-clock assertion: a quadratic
// parser would need about 10^12 steps and hit the test timeout, a
// recursive one would overflow its stack; a linear one takes milliseconds.
func TestAddressListLinear(t *testing.T) {
	const n = 1 << 20
	inputs := map[string]struct {
		in string
		n  int // addresses expected; -1 for a syntax error
	}{
		"deep comments":      {strings.Repeat("(", n) + strings.Repeat(")", n) + "a@example.com", 1},
		"unclosed comments":  {strings.Repeat("(", n), -1},
		"huge phrase":        {strings.Repeat("word ", n/5) + "<a@example.com>", 1},
		"huge dotted phrase": {strings.Repeat("w.", n/2) + " <a@example.com>", 1},
		"huge local part":    {strings.Repeat("a.", n/2) + "a@example.com", 1},
		"domain literal":     {"a@[" + strings.Repeat("1", n) + "]", 1},
		"open literal":       {"a@[" + strings.Repeat("1", n), -1},
		"quoted":             {`"` + strings.Repeat(`\"`, n/2) + `"@example.com`, 1},
		"encoded words":      {strings.Repeat("=?utf-8?q?a?= ", n/14) + "<a@example.com>", 1},
		"false encoded":      {strings.Repeat("=?utf-8?q?", n/10), -1},
		"route":              {"<" + strings.Repeat("@a,", n/3) + ":a@example.com>", 1},
		"many groups":        {strings.Repeat("g:;,", n/4), 0},
		"many commas":        {strings.Repeat(",", n) + "a@example.com", 1},
	}
	for name, tt := range inputs {
		t.Run(name, func(t *testing.T) {
			as, err := AddressList(tt.in)
			if tt.n < 0 {
				var se *SyntaxError
				assert.True(t, errors.As(err, &se), "%v", err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, as, tt.n)
		})
	}
}

func TestAddressListLimit(t *testing.T) {
	in := strings.Repeat("a@b.c,", 100000)
	got, err := AddressList(in)
	var le *LimitError
	require.True(t, errors.As(err, &le), "%v", err)
	assert.Equal(t, LimitAddressesPerField, le.What)
	assert.Len(t, got, DefaultMaxAddressesPerField)
}
