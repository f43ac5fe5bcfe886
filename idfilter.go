package multidrop

import (
	"context"
	"hash/maphash"
	"sync"
)

// idsPerMessage bounds, per message to retrieve, the Message-ID records a
// check reads to build its idFilter: reading a record costs a small part of
// a DeliveredID query, so the reading never costs more than the queries it
// can save. maxFilterIDs bounds the filter's memory.
const (
	idsPerMessage = 16
	maxFilterIDs  = 1 << 16
)

// idFilter tells, without asking the journal, that a copy ID (a Message-ID
// with its body's digest) has no Message-ID record: it holds a hash of each
// ID the journal had records for when the check planned, and of each ID the
// check recorded since, added before the record is written. While the
// check runs no other session records IDs for the account (it claimed the
// account, and holds its lease when there is a Locker), so an ID the filter
// does not hold has no record. A Handler's check, whose sessions the
// embedder runs, has none. A nil *idFilter holds every ID.
type idFilter struct {
	seed maphash.Seed
	mu   sync.Mutex
	set  map[uint64]struct{}
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
	f := &idFilter{seed: maphash.MakeSeed(), set: make(map[uint64]struct{}, len(ids))}
	for _, id := range ids {
		f.set[maphash.String(f.seed, id)] = struct{}{}
	}
	c.ids = f
}

// mayHold reports whether id may have a Message-ID record.
func (f *idFilter) mayHold(id string) bool {
	if f == nil {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.set[maphash.String(f.seed, id)]
	return ok
}

// add notes that id is being recorded.
func (f *idFilter) add(id string) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set[maphash.String(f.seed, id)] = struct{}{}
}
