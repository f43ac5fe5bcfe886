package resolve

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/multidrop/multidrop/account"
)

// testTable is the fixed test directory shared by the unit tests, the
// corpus and the benchmarks.
func testTable() Table {
	return Table{
		Users: []User{
			{Address: "alice@example.com", Name: "Alice Liddell"},
			{Address: "bob@example.com", Name: "Bob Smith"},
			{Address: "carol@example.com", Name: "Carol Jones"},
			{Address: "dave@example.com"},
			{Address: "Erin@Example.com", Name: "Erin Example"},
			{Address: "postmaster@example.com"},
			{Address: "john.smith@example.com", Name: "John Smith"},
			{Address: "jsmith@example.com", Name: "John Smith"},
			{Address: "anna@bücher.example", Name: "Anna Müller"},
			{Address: "alice-work@example.com"},
		},
		Aliases: map[string][]string{
			"team@example.com": {"alice", "bob"},
		},
	}
}

func testDirectory(t testing.TB) *Static {
	t.Helper()
	s, err := NewStatic(testTable())
	require.NoError(t, err)
	return s
}

// testAccount is the account of the unit tests and the corpus.
func testAccount() account.Account {
	return account.Account{
		ID:           "test",
		Domain:       "example.com",
		ExtraDomains: []string{"bücher.example"},
	}
}
