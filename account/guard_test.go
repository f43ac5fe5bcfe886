package account_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/multidrop/multidrop/account"
)

func TestGuardAdd(t *testing.T) {
	ex := func(key string, none bool) account.Examined { return account.Examined{Key: key, NoRecipient: none} }
	tripped := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		g         account.Guard
		size      int
		add       []account.Examined
		want      []account.Examined
		noRcpt    int
		holdsWant bool
	}{
		{name: "empty", size: 3, add: []account.Examined{ex("a", true)}, want: []account.Examined{ex("a", true)}, noRcpt: 1},
		{name: "oldest dropped", size: 3,
			g:    account.Guard{Window: []account.Examined{ex("a", true), ex("b", true)}},
			add:  []account.Examined{ex("c", false), ex("d", false)},
			want: []account.Examined{ex("b", true), ex("c", false), ex("d", false)}, noRcpt: 1},
		{name: "a key examined again counts once, where it was last", size: 5,
			g:    account.Guard{Window: []account.Examined{ex("a", true), ex("b", false)}},
			add:  []account.Examined{ex("a", false), ex("c", true)},
			want: []account.Examined{ex("b", false), ex("a", false), ex("c", true)}, noRcpt: 1},
		{name: "tripped stays", size: 2,
			g:    account.Guard{Tripped: tripped, Window: []account.Examined{ex("a", true)}},
			add:  []account.Examined{ex("b", true), ex("c", true)},
			want: []account.Examined{ex("b", true), ex("c", true)}, noRcpt: 2, holdsWant: true},
		{name: "no size: unbounded", add: []account.Examined{ex("a", true), ex("b", true), ex("c", false)},
			want: []account.Examined{ex("a", true), ex("b", true), ex("c", false)}, noRcpt: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]account.Examined(nil), tc.g.Window...)
			got := tc.g.Add(tc.size, tc.add...)
			assert.Equal(t, tc.want, got.Window)
			assert.Equal(t, tc.noRcpt, got.NoRecipient())
			assert.Equal(t, tc.holdsWant, got.Holds())
			assert.Equal(t, before, tc.g.Window, "Add leaves g alone")
		})
	}
}
