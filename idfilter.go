package multidrop

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
)

// idsPerMessage bounds, per message to retrieve, the Message-ID records a
// check reads to build its idFilter: reading a record costs a small part of
// a DeliveredID query, so the reading never costs more than the queries it
// can save. maxFilterIDs bounds the hashes the filter holds.
const (
	idsPerMessage = 16
	maxFilterIDs  = 1 << 16
)

// idFilter answers, without asking the journal, which recipients a copy ID
// (a Message-ID with its body's digest) has records for, when the journal
// had none for it as the check planned: it holds a hash of each ID the
// journal had records for then, and the recipients of each ID the check
// recorded since, noted once their record is committed. While the check
// runs no other session records IDs for the account (it claimed the
// account, and holds its lease when there is a Locker), so an ID outside
// the hashes has the records this check wrote and no others; and copies
// that share a recipient are finished one after the other (see handle), so
// a copy finds the recipients of every earlier copy it shares one with. A
// Handler's check, whose sessions the embedder runs, has none. A nil
// *idFilter knows no ID: the journal is asked about each.
type idFilter struct {
	seed maphash.Seed
	mu   sync.Mutex
	set  map[uint64]struct{}
	own  map[string][]string // copy ID → recipients recorded by this check
}

// loadIDs builds c.ids when the check has the account to itself, the
// journal can list its Message-IDs and the account has few enough records
// next to the retrieve messages planned; otherwise each message asks the
// journal.
func (c *check) loadIDs(ctx context.Context, retrieve int) {
	if retrieve == 0 || !c.exclusive {
		return
	}
	ids, ok := c.listIDs(ctx, min(idsPerMessage*retrieve, maxFilterIDs))
	if !ok {
		return
	}
	f := &idFilter{seed: maphash.MakeSeed(), set: make(map[uint64]struct{}, len(ids)), own: map[string][]string{}}
	for _, id := range ids {
		f.set[maphash.String(f.seed, id)] = struct{}{}
	}
	c.ids = f
}

// recipients returns the recipients id has records for and true, or false
// when the journal must be asked: the journal had records for id (or for
// an ID of the same hash) when the check planned, or f is nil.
func (f *idFilter) recipients(id string) ([]string, bool) {
	if f == nil {
		return nil, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.set[maphash.String(f.seed, id)]; ok {
		return nil, false
	}
	return slices.Clone(f.own[id]), true
}

// recorded notes that the record of id's rcpts is committed.
func (f *idFilter) recorded(id string, rcpts []string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.own[id] = append(f.own[id], rcpts...)
}

// unsure notes that a record of id may or may not have been committed (its
// write failed, perhaps after the commit): from now on the journal is
// asked about id.
func (f *idFilter) unsure(id string) {
	if f == nil || id == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set[maphash.String(f.seed, id)] = struct{}{}
}
