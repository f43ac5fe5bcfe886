package multidrop

import (
	"context"
	"hash/maphash"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/multidrop/multidrop/account"
)

// The filter answers for the IDs the check recorded, and sends to the
// journal an ID whose record may have been committed though its write
// failed, and the IDs the journal had when the check planned.
func TestIDFilter(t *testing.T) {
	f := &idFilter{seed: maphash.MakeSeed(), set: map[uint64]struct{}{}, own: map[string][]string{}}
	f.set[maphash.String(f.seed, "<old@x> 1")] = struct{}{}
	_, ok := f.recipients("<old@x> 1")
	assert.False(t, ok, "known to the journal: ask it")
	r, ok := f.recipients("<new@x> 2")
	assert.True(t, ok)
	assert.Empty(t, r)
	f.recorded("<new@x> 2", []string{"a@example.com"})
	r, ok = f.recipients("<new@x> 2")
	assert.True(t, ok)
	assert.Equal(t, []string{"a@example.com"}, r)
	f.unsure("<new@x> 3")
	_, ok = f.recipients("<new@x> 3")
	assert.False(t, ok, "a failed write may have committed: ask the journal")
	var none *idFilter
	_, ok = none.recipients("<new@x> 2")
	assert.False(t, ok)
	none.unsure("<new@x> 2")
}

// nilBatch is a journal whose batch read returns no map when nothing is
// recorded, as an embedder's account.BatchReader may.
type nilBatch struct{ account.Journal }

func (nilBatch) DeliveredBatch(context.Context, string, []string) (map[string]account.Delivery, error) {
	return nil, nil
}

func TestStatesOfNilBatch(t *testing.T) {
	c := &check{j: nilBatch{account.NewMemoryJournal()}, a: account.Account{ID: "a"}}
	states, err := c.statesOf(t.Context(), []string{"u1", "u2"})
	assert.NoError(t, err)
	assert.Len(t, states, 2)
}
