package fetchmailrc

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseExample(t *testing.T) {
	src, err := os.ReadFile("testdata/multidrop.fetchmailrc")
	require.NoError(t, err)
	f, err := Parse(src)
	require.NoError(t, err)
	assert.Equal(t, []Option{{2, "set daemon 300"}, {3, "set postmaster postmaster"}, {4, "set no bouncemail"}}, f.Set)
	require.Len(t, f.Polls, 4)

	p := f.Polls[0]
	assert.Equal(t, "pop.provider.example", p.Host)
	assert.Equal(t, 8, p.Line)
	assert.Equal(t, "pop3", p.Protocol)
	assert.Equal(t, 995, p.Port)
	assert.Equal(t, "X-Original-To", p.Envelope)
	assert.Equal(t, 1, p.EnvelopeSkip)
	assert.Equal(t, []string{"example.com", "example.org"}, p.LocalDomains)
	assert.Equal(t, []string{"mx.example.com"}, p.AKA)
	assert.Equal(t, "shop-", p.QVirtual)
	require.Len(t, p.Users, 1)
	u := p.Users[0]
	assert.Equal(t, "shop-domain", u.Remote)
	assert.Equal(t, `p@ss "word"`, u.Password)
	assert.Equal(t, []Mapping{{"*", "*"}}, u.Locals)
	assert.True(t, u.SSL)
	require.NotNil(t, u.SSLCertCk)
	assert.True(t, *u.SSLCertCk)
	assert.Equal(t, "AB:CD:EF", u.SSLFingerprint)
	assert.True(t, u.Keep)
	assert.True(t, u.Fetchall, "from defaults")
	assert.Equal(t, int64(1000000), u.Limit)
	assert.True(t, u.Multidrop(p))

	p = f.Polls[1]
	assert.Equal(t, "pop3", p.Protocol, "from defaults")
	u = p.Users[0]
	assert.Equal(t, "team", u.Remote)
	assert.Equal(t, "secret", u.Password)
	assert.Equal(t, []Mapping{{"alice", "alice"}, {"bob", "bob"}, {"sales", "alice"}}, u.Locals)
	assert.False(t, u.Keep)
	assert.True(t, u.Flush)
	assert.Equal(t, []Option{{20, `mda "/usr/bin/procmail -d %T"`}}, u.Other)
	assert.True(t, u.Multidrop(p))

	assert.True(t, f.Polls[2].Skip)
	assert.Equal(t, "imap", f.Polls[2].Protocol)
	assert.False(t, f.Polls[3].Users[0].Multidrop(f.Polls[3]), "one local name: single-drop")
}

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Token
	}{
		{`poll a.b, with: proto pop3;`, []Token{{"poll", false, 1}, {"a.b", false, 1}, {"with", false, 1}, {"proto", false, 1}, {"pop3", false, 1}}},
		{"# c\n'x y' \"\\x41\\101\\n\"", []Token{{"x y", true, 2}, {"AA\n", true, 2}}},
		{"a=b", []Token{{"a", false, 1}, {"=", false, 1}, {"b", false, 1}}},
		{"\"multi\nline\" next", []Token{{"multi\nline", true, 1}, {"next", false, 2}}},
	} {
		got, err := Tokenize(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{`"open`, "'\\", "\xff"} {
		_, err := Tokenize(bad)
		assert.Error(t, err, "%q", bad)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"user x", `line 1: "user" outside a poll`},
		{"poll", "poll without a server name"},
		{"poll h user", "user without a name"},
		{"poll h\n  password \"x", "line 2: unterminated"},
	} {
		_, err := Parse([]byte(tc.in))
		require.Error(t, err, tc.in)
		assert.Contains(t, err.Error(), tc.msg)
	}
}

func FuzzParse(f *testing.F) {
	src, err := os.ReadFile("testdata/multidrop.fetchmailrc")
	require.NoError(f, err)
	f.Add(src)
	f.Add([]byte("poll h user u is a = b c here no keep"))
	f.Add([]byte("defaults envelope 2 'X' poll h"))
	f.Add([]byte(`poll "h" user "u\x41\101" is * here`))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		for _, p := range file.Polls {
			for _, u := range p.Users {
				_ = u.Multidrop(p)
			}
		}
	})
}
