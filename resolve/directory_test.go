package resolve

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStaticLookup(t *testing.T) {
	s := testDirectory(t)
	ctx := t.Context()
	tests := []struct {
		domain, local string
		want          []string
	}{
		{"example.com", "alice", []string{"alice@example.com"}},
		{"example.com", "ALICE", []string{"alice@example.com"}},
		{"EXAMPLE.COM", "alice", []string{"alice@example.com"}},
		{"example.com", "erin", []string{"Erin@Example.com"}},
		{"example.com", "team", []string{"alice@example.com", "bob@example.com"}},
		{"example.com", "nobody", nil},
		{"example.org", "alice", nil},
		{"xn--bcher-kva.example", "anna", []string{"anna@bücher.example"}},
		{"bücher.example", "Anna", []string{"anna@bücher.example"}},
		{"example.com", "ålice", nil},
		{"bad..domain", "x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.domain+"/"+tt.local, func(t *testing.T) {
			got, err := s.Lookup(ctx, tt.domain, tt.local)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, 10, s.Len())
}

func TestStaticCaseSensitive(t *testing.T) {
	s, err := NewStatic(Table{Users: []User{{Address: "Alice@example.com"}, {Address: "alice@example.com"}}, CaseSensitive: true})
	require.NoError(t, err)
	got, _ := s.Lookup(t.Context(), "example.com", "Alice")
	assert.Equal(t, []string{"Alice@example.com"}, got)
	got, _ = s.Lookup(t.Context(), "example.com", "ALICE")
	assert.Empty(t, got)
}

func TestStaticLookupName(t *testing.T) {
	s := testDirectory(t)
	tests := []struct {
		name string
		want []string
	}{
		{"Alice Liddell", []string{"alice@example.com"}},
		{"  alice   LIDDELL ", []string{"alice@example.com"}},
		{`"Bob Smith"`, []string{"bob@example.com"}},
		{"John Smith", []string{"john.smith@example.com", "jsmith@example.com"}},
		{"Nobody", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := s.LookupName(t.Context(), "example.com", tt.name)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, tt.name)
	}
	got, _ := s.LookupName(t.Context(), "xn--bcher-kva.example", "anna müller")
	assert.Equal(t, []string{"anna@bücher.example"}, got)
}

func TestNewStaticErrors(t *testing.T) {
	tests := []struct {
		name string
		t    Table
		want string
	}{
		{"duplicate", Table{Users: []User{{Address: "a@example.com"}, {Address: "A@EXAMPLE.COM"}}}, "duplicate user"},
		{"no domain", Table{Users: []User{{Address: "alice"}}}, "no domain"},
		{"bad domain", Table{Users: []User{{Address: "a@-bad-.com"}}}, "domain"},
		{"percent", Table{Users: []User{{Address: "a%b@example.com"}}}, "routing character"},
		{"alias to unknown", Table{Users: []User{{Address: "a@example.com"}}, Aliases: map[string][]string{"x@example.com": {"b"}}}, "not a user"},
		{"alias to foreign", Table{Users: []User{{Address: "a@example.com"}}, Aliases: map[string][]string{"x@example.com": {"a@evil.com"}}}, "not a user"},
		{"alias chain", Table{Users: []User{{Address: "a@example.com"}}, Aliases: map[string][]string{"x@example.com": {"a"}, "y@example.com": {"x"}}}, "not a user"},
		{"alias shadows user", Table{Users: []User{{Address: "a@example.com"}}, Aliases: map[string][]string{"A@example.com": {"a"}}}, "duplicates"},
		{"empty alias", Table{Users: []User{{Address: "a@example.com"}}, Aliases: map[string][]string{"x@example.com": nil}}, "no users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStatic(tt.t)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "resolve: "), err.Error())
		})
	}
}

func TestParseDirectory(t *testing.T) {
	in := `# users
alice@example.com     Alice   Liddell
bob@example.com
  
sales@example.com: alice, bob@example.com ,
`
	tab, err := ParseDirectory(strings.NewReader(in))
	require.NoError(t, err)
	assert.Equal(t, []User{{Address: "alice@example.com", Name: "Alice Liddell"}, {Address: "bob@example.com"}}, tab.Users)
	assert.Equal(t, map[string][]string{"sales@example.com": {"alice", "bob@example.com"}}, tab.Aliases)

	bad := []struct{ in, want string }{
		{"alice Alice\n", "line 1: \"alice\" is not an address"},
		{"a@example.com\nsales@example.com:\n", "line 2: alias \"sales@example.com\" has no users"},
		{"x@example.com: a\nx@example.com: b\n", "line 2: alias \"x@example.com\" defined twice"},
		{strings.Repeat("a", 2<<20), "line 1: line longer than 1 MiB"},
	}
	for _, b := range bad {
		_, err := ParseDirectory(strings.NewReader(b.in))
		var se *SyntaxError
		require.ErrorAs(t, err, &se)
		assert.Contains(t, err.Error(), b.want)
	}
}

func TestDirectoryFunc(t *testing.T) {
	var gotDomain, gotLocal string
	d := DirectoryFunc(func(ctx context.Context, domain, local string) ([]string, error) {
		gotDomain, gotLocal = domain, local
		return []string{"x@example.com"}, nil
	})
	got, err := d.Lookup(t.Context(), "example.com", "x")
	require.NoError(t, err)
	assert.Equal(t, []string{"x@example.com"}, got)
	assert.Equal(t, "example.com", gotDomain)
	assert.Equal(t, "x", gotLocal)
}
