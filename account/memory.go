package account

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a [MutableStore] held in memory, safe for concurrent use.
// It returns copies: changing a returned Account (its slices and maps
// included) does not change the stored one. List returns accounts sorted by
// ID.
//
// When Journal is set, deleting an account keeps its journal in Journal
// for JournalRetention (0 means [DefaultJournalRetention]): an account
// created again with the same ID, host and user within that period finds
// it; another mailbox under the same ID, or a later one, starts with an
// empty journal. Set the fields before first use.
type MemoryStore struct {
	Journal          *MemoryJournal
	JournalRetention time.Duration
	// Now is the clock of the retention; nil means time.Now.
	Now func() time.Time

	mu       sync.RWMutex
	accounts map[string]Account
	deleted  map[string]deletedAccount
}

// deletedAccount is what a MemoryStore remembers of a deleted account.
type deletedAccount struct {
	host, user string
	at         time.Time
}

var _ MutableStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{accounts: map[string]Account{}, deleted: map[string]deletedAccount{}}
}

func (s *MemoryStore) retentionStart() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	r := s.JournalRetention
	if r <= 0 {
		r = DefaultJournalRetention
	}
	return now().Add(-r)
}

// adopt runs, with s.mu held, when account a is created: the journal of a
// deleted account with its ID is a's when host and user match within the
// retention period, and dropped otherwise.
func (s *MemoryStore) adopt(a Account) {
	d, ok := s.deleted[a.ID]
	if !ok {
		return
	}
	delete(s.deleted, a.ID)
	if !strings.EqualFold(d.host, a.Host) || d.user != a.Auth.User || !d.at.After(s.retentionStart()) {
		s.Journal.drop(a.ID)
	}
}

// Get returns the account with this ID or an error wrapping [ErrNotFound].
func (s *MemoryStore) Get(ctx context.Context, id string) (Account, error) {
	if err := ctx.Err(); err != nil {
		return Account{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.accounts[id]
	if !ok {
		return Account{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return a.Clone(), nil
}

// List returns the accounts that match f, sorted by ID.
func (s *MemoryStore) List(ctx context.Context, f Filter) ([]Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	match := f.matcher()
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		if match(a) {
			out = append(out, a.Clone())
		}
	}
	slices.SortFunc(out, func(a, b Account) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Put validates a, assigns a new ID (see [NewID]) when a.ID is empty, and
// stores a copy, replacing any account with the same ID.
func (s *MemoryStore) Put(ctx context.Context, a Account) (Account, error) {
	return s.write(ctx, a, writePut)
}

// Create validates a, assigns a new ID when a.ID is empty, and stores a
// copy with Version 1; it fails with [ErrExists] when the ID is taken.
func (s *MemoryStore) Create(ctx context.Context, a Account) (Account, error) {
	return s.write(ctx, a, writeCreate)
}

// Update validates a and replaces the stored account with the same ID
// when its Version is a.Version, incrementing it; it fails with
// [ErrConflict] when the versions differ and with [ErrNotFound] when
// there is no such account.
func (s *MemoryStore) Update(ctx context.Context, a Account) (Account, error) {
	return s.write(ctx, a, writeUpdate)
}

// writeMode is how a write treats an account already stored.
type writeMode int

const (
	writePut    writeMode = iota // replace it, or create
	writeCreate                  // fail with ErrExists
	writeUpdate                  // replace it at a.Version only; never create
)

// write is Put, Create and Update: one validation, one lock, the version
// rule of each.
func (s *MemoryStore) write(ctx context.Context, a Account, mode writeMode) (Account, error) {
	if err := ctx.Err(); err != nil {
		return Account{}, err
	}
	if err := a.Validate(); err != nil {
		return Account{}, err
	}
	a = a.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.ID == "" && mode != writeUpdate {
		a.ID = NewID()
	}
	old, exists := s.accounts[a.ID]
	switch {
	case mode == writeCreate && exists:
		return Account{}, fmt.Errorf("%w: %q", ErrExists, a.ID)
	case mode == writeUpdate && !exists:
		return Account{}, fmt.Errorf("%w: %q", ErrNotFound, a.ID)
	case mode == writeUpdate && old.Version != a.Version:
		return Account{}, fmt.Errorf("%w: account %q is at version %d, not %d", ErrConflict, a.ID, old.Version, a.Version)
	}
	s.adopt(a) // a deleted account's journal, kept or dropped
	a.Version = old.Version + 1
	s.accounts[a.ID] = a
	return a.Clone(), nil
}

// Delete removes the accounts with these IDs. Unknown IDs are ignored.
// With a Journal, it keeps their journals (see [MemoryStore]) and drops
// those of accounts deleted longer ago than the retention period.
func (s *MemoryStore) Delete(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	for _, id := range ids {
		if a, ok := s.accounts[id]; ok {
			s.deleted[id] = deletedAccount{host: a.Host, user: a.Auth.User, at: now()}
		}
		delete(s.accounts, id)
	}
	start := s.retentionStart()
	for id, d := range s.deleted {
		if !d.at.After(start) {
			delete(s.deleted, id)
			s.Journal.drop(id)
		}
	}
	return nil
}

// matcher returns the predicate of f. A domain that is not a valid name
// matches nothing rather than failing, so that a search box cannot break
// the list view.
func (f Filter) matcher() func(Account) bool {
	if f.Domain == "" {
		return func(Account) bool { return true }
	}
	want, err := NormalizeDomain(f.Domain)
	if err != nil {
		return func(Account) bool { return false }
	}
	return func(a Account) bool { return slices.Contains(a.Domains(), want) }
}

// Matches reports whether a is selected by f: f.Domain is empty, or equals
// a.Domain or one of a.ExtraDomains after [NormalizeDomain] (so the
// comparison ignores case and the Unicode/Punycode spelling).
func (f Filter) Matches(a Account) bool {
	return f.matcher()(a)
}

// MemoryJournal is a [Journal] held in memory, safe for concurrent use. Its
// state is lost with the process: use it for tests and for embedders that
// keep messages on the server (nothing is lost, but a restart may deliver
// again). It is also a [Fencer] for leases from a [MemoryLocker].
type MemoryJournal struct {
	// Now is the clock used to expire Message-ID records; nil means
	// time.Now.
	Now func() time.Time

	mu       sync.Mutex
	accounts map[string]*JournalState
}

var (
	_ Journal = (*MemoryJournal)(nil)
	_ Fencer  = (*MemoryJournal)(nil)

	_ BatchRecorder = (*MemoryJournal)(nil)
	_ BatchRecorder = (*fencedMemoryJournal)(nil)
	_ BatchReader   = (*MemoryJournal)(nil)
	_ BatchReader   = (*fencedMemoryJournal)(nil)
)

// NewMemoryJournal returns an empty MemoryJournal.
func NewMemoryJournal() *MemoryJournal {
	return &MemoryJournal{accounts: map[string]*JournalState{}}
}

func (j *MemoryJournal) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *MemoryJournal) state(id string) *JournalState {
	st := j.accounts[id]
	if st == nil {
		st = &JournalState{}
		j.accounts[id] = st
	}
	return st
}

// drop forgets the state of an account (for [MemoryStore]); j may be nil.
func (j *MemoryJournal) drop(accountID string) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.accounts, accountID)
}

// Sync implements [Journal].
func (j *MemoryJournal) Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error) {
	return j.sync(ctx, nil, accountID, uids, now)
}

func (j *MemoryJournal) sync(ctx context.Context, f *fence, accountID string, uids []string, now time.Time) (map[string]time.Time, error) {
	var seen map[string]time.Time
	err := j.write(ctx, f, accountID, func(st *JournalState) { seen = st.Sync(uids, now, j.now()) })
	return seen, err
}

// Delivered implements [Journal].
func (j *MemoryJournal) Delivered(ctx context.Context, accountID, key string) (Delivery, error) {
	if err := ctx.Err(); err != nil {
		return Delivery{}, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state(accountID).Delivered(key), nil
}

// DeliveredBatch implements [BatchReader].
func (j *MemoryJournal) DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state(accountID).DeliveredBatch(keys), nil
}

// Record implements [Journal].
func (j *MemoryJournal) Record(ctx context.Context, accountID string, r Record) error {
	return j.write(ctx, nil, accountID, func(st *JournalState) { st.Record(r) })
}

// DeliveredID implements [Journal].
func (j *MemoryJournal) DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state(accountID).DeliveredToID(messageID, j.now()), nil
}

// MessageIDs implements [IDLister].
func (j *MemoryJournal) MessageIDs(ctx context.Context, accountID string, limit int) ([]string, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	ids, all := j.state(accountID).MessageIDList(limit)
	return ids, all, nil
}

// RecordBatch implements [BatchRecorder].
func (j *MemoryJournal) RecordBatch(ctx context.Context, accountID string, recs []Record) error {
	return j.write(ctx, nil, accountID, func(st *JournalState) { st.RecordBatch(recs) })
}

// Forget implements [Journal].
func (j *MemoryJournal) Forget(ctx context.Context, accountID string, keys ...string) error {
	return j.forget(ctx, nil, accountID, keys)
}

func (j *MemoryJournal) forget(ctx context.Context, f *fence, accountID string, keys []string) error {
	return j.write(ctx, f, accountID, func(st *JournalState) { st.Forget(keys) })
}

// Guard implements [Journal].
func (j *MemoryJournal) Guard(ctx context.Context, accountID string) (Guard, error) {
	if err := ctx.Err(); err != nil {
		return Guard{}, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state(accountID).GuardState(), nil
}

// SetGuard implements [Journal].
func (j *MemoryJournal) SetGuard(ctx context.Context, accountID string, g Guard) error {
	return j.write(ctx, nil, accountID, func(st *JournalState) { st.SetGuard(g) })
}

// write applies a change to an account's state under the journal's mutex,
// after the fence's check (f may be nil: no lease).
func (j *MemoryJournal) write(ctx context.Context, f *fence, accountID string, change func(*JournalState)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := f.check(accountID); err != nil {
		return err
	}
	change(j.state(accountID))
	return nil
}

// Fenced implements [Fencer]. lease must come from a [MemoryLocker]; with any
// other lease every write fails.
func (j *MemoryJournal) Fenced(lease Lease) Journal {
	return &fencedMemoryJournal{j: j, f: &fence{lease: lease}}
}

type fence struct{ lease Lease }

// check runs with the journal's mutex held, so that a takeover that happens
// after it passes is ordered after the write by every later journal access.
func (f *fence) check(accountID string) error {
	if f == nil {
		return nil
	}
	l, ok := f.lease.(*memoryLease)
	if !ok {
		return fmt.Errorf("account: fenced memory journal needs a lease from MemoryLocker, not %T", f.lease)
	}
	if l.accountID != accountID {
		return fmt.Errorf("%w: lease is for account %q, not %q", ErrLeaseLost, l.accountID, accountID)
	}
	return l.current()
}

type fencedMemoryJournal struct {
	j *MemoryJournal
	f *fence
}

func (fj *fencedMemoryJournal) Sync(ctx context.Context, accountID string, uids []string, now time.Time) (map[string]time.Time, error) {
	return fj.j.sync(ctx, fj.f, accountID, uids, now)
}

func (fj *fencedMemoryJournal) Delivered(ctx context.Context, accountID, key string) (Delivery, error) {
	return fj.j.Delivered(ctx, accountID, key)
}

func (fj *fencedMemoryJournal) DeliveredBatch(ctx context.Context, accountID string, keys []string) (map[string]Delivery, error) {
	return fj.j.DeliveredBatch(ctx, accountID, keys)
}

func (fj *fencedMemoryJournal) Record(ctx context.Context, accountID string, r Record) error {
	return fj.j.write(ctx, fj.f, accountID, func(st *JournalState) { st.Record(r) })
}

func (fj *fencedMemoryJournal) DeliveredID(ctx context.Context, accountID, messageID string) ([]string, error) {
	return fj.j.DeliveredID(ctx, accountID, messageID)
}

func (fj *fencedMemoryJournal) MessageIDs(ctx context.Context, accountID string, limit int) ([]string, bool, error) {
	return fj.j.MessageIDs(ctx, accountID, limit)
}

func (fj *fencedMemoryJournal) RecordBatch(ctx context.Context, accountID string, recs []Record) error {
	return fj.j.write(ctx, fj.f, accountID, func(st *JournalState) { st.RecordBatch(recs) })
}

func (fj *fencedMemoryJournal) Forget(ctx context.Context, accountID string, keys ...string) error {
	return fj.j.forget(ctx, fj.f, accountID, keys)
}

func (fj *fencedMemoryJournal) Guard(ctx context.Context, accountID string) (Guard, error) {
	return fj.j.Guard(ctx, accountID)
}

func (fj *fencedMemoryJournal) SetGuard(ctx context.Context, accountID string, g Guard) error {
	return fj.j.write(ctx, fj.f, accountID, func(st *JournalState) { st.SetGuard(g) })
}

// JournalState is the journal of one account as plain data, the form in
// which [MemoryJournal] and the JSON store keep it. Its methods implement
// the semantics documented on [Journal]; they are not safe for concurrent
// use.
type JournalState struct {
	// Seen maps each listed UID to the time it was first seen.
	Seen map[string]time.Time `json:"seen,omitempty"`
	// Deliveries maps a message key to the recipients delivered for it,
	// sorted.
	Deliveries map[string][]string `json:"deliveries,omitempty"`
	// Final holds the message keys marked final (value true).
	Final map[string]bool `json:"final,omitempty"`
	// Notices maps a message key to the notices sent about it, sorted.
	Notices map[string][]Notice `json:"notices,omitempty"`
	// MessageIDs maps a Message-ID to its recipients and the expiry of each
	// record.
	MessageIDs map[string]map[string]time.Time `json:"message_ids,omitempty"`
	// Guard is the deletion guard's state; nil when it records nothing.
	Guard *Guard `json:"guard,omitempty"`
}

// Sync records uids as seen at now if new, forgets the UIDs no longer
// listed together with their delivery records (records under keys that
// were never listed as UIDs, such as digests, stay until Forget), drops
// Message-ID records expired at clock, and returns the first-seen times.
func (st *JournalState) Sync(uids []string, now, clock time.Time) map[string]time.Time {
	listed := make(map[string]struct{}, len(uids))
	for _, u := range uids {
		listed[u] = struct{}{}
	}
	for u := range st.Seen {
		if _, ok := listed[u]; !ok {
			delete(st.Seen, u)
			st.forget(u)
		}
	}
	if st.Seen == nil && len(uids) > 0 {
		st.Seen = map[string]time.Time{}
	}
	out := make(map[string]time.Time, len(uids))
	for _, u := range uids {
		t, ok := st.Seen[u]
		if !ok {
			t = now
			st.Seen[u] = t
		}
		out[u] = t
	}
	st.pruneIDs(clock)
	return out
}

func (st *JournalState) pruneIDs(now time.Time) {
	for id, rcpts := range st.MessageIDs {
		for r, exp := range rcpts {
			if !exp.After(now) {
				delete(rcpts, r)
			}
		}
		if len(rcpts) == 0 {
			delete(st.MessageIDs, id)
		}
	}
}

// Delivered returns the state of key.
func (st *JournalState) Delivered(key string) Delivery {
	return Delivery{Rcpts: slices.Clone(st.Deliveries[key]), Final: st.Final[key], Notices: slices.Clone(st.Notices[key])}
}

// DeliveredBatch returns the states of keys, leaving out the keys with
// nothing recorded (see [BatchReader]).
func (st *JournalState) DeliveredBatch(keys []string) map[string]Delivery {
	out := make(map[string]Delivery, len(keys))
	for _, k := range keys {
		if d := st.Delivered(k); !d.empty() {
			out[k] = d
		}
	}
	return out
}

// Record applies r: its part for the key, then its Message-ID record. The
// delivery time is not kept in this form.
func (st *JournalState) Record(r Record) {
	if r.identified() {
		st.recordID(r.MessageID, r.IDRcpts, r.Expires)
	}
	if !r.keyed() {
		return
	}
	d := st.Delivered(r.Key).merge(r)
	if len(d.Rcpts) > 0 {
		if st.Deliveries == nil {
			st.Deliveries = map[string][]string{}
		}
		st.Deliveries[r.Key] = d.Rcpts
	}
	if d.Final {
		if st.Final == nil {
			st.Final = map[string]bool{}
		}
		st.Final[r.Key] = true
	}
	if len(d.Notices) > 0 {
		if st.Notices == nil {
			st.Notices = map[string][]Notice{}
		}
		st.Notices[r.Key] = d.Notices
	}
}

// RecordBatch applies each record in order.
func (st *JournalState) RecordBatch(recs []Record) {
	for _, r := range recs {
		st.Record(r)
	}
}

// DeliveredToID returns the recipients recorded for messageID that have
// not expired at now, sorted.
func (st *JournalState) DeliveredToID(messageID string, now time.Time) []string {
	var out []string
	for r, exp := range st.MessageIDs[messageID] {
		if exp.After(now) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// MessageIDList returns the Message-IDs recorded and true, or nil and
// false when there are more than limit (see [IDLister]).
func (st *JournalState) MessageIDList(limit int) ([]string, bool) {
	if len(st.MessageIDs) > limit {
		return nil, false
	}
	return slices.Collect(maps.Keys(st.MessageIDs)), true
}

// recordID records rcpts for messageID until expires (a later expiry
// already recorded is kept).
func (st *JournalState) recordID(messageID string, rcpts []string, expires time.Time) {
	if st.MessageIDs == nil {
		st.MessageIDs = map[string]map[string]time.Time{}
	}
	m := st.MessageIDs[messageID]
	if m == nil {
		m = map[string]time.Time{}
		st.MessageIDs[messageID] = m
	}
	for _, r := range rcpts {
		if expires.After(m[r]) {
			m[r] = expires
		}
	}
}

// Forget removes the delivery records and the seen entry of each key.
func (st *JournalState) Forget(keys []string) {
	for _, k := range keys {
		st.forget(k)
		delete(st.Seen, k)
	}
}

// forget removes the state of one key.
func (st *JournalState) forget(key string) {
	delete(st.Deliveries, key)
	delete(st.Final, key)
	delete(st.Notices, key)
}

// Empty reports whether st holds nothing.
func (st *JournalState) Empty() bool {
	return len(st.Seen) == 0 && len(st.Deliveries) == 0 && len(st.Final) == 0 && len(st.Notices) == 0 && len(st.MessageIDs) == 0 &&
		st.Guard == nil
}

// GuardState returns the deletion guard's state.
func (st *JournalState) GuardState() Guard {
	if st.Guard == nil {
		return Guard{}
	}
	return st.Guard.clone()
}

// SetGuard replaces the deletion guard's state; the zero Guard clears it.
func (st *JournalState) SetGuard(g Guard) {
	if g.IsZero() {
		st.Guard = nil
		return
	}
	g = g.clone()
	st.Guard = &g
}

// Clone returns a deep copy of st.
func (st *JournalState) Clone() *JournalState {
	c := &JournalState{Seen: maps.Clone(st.Seen), Final: maps.Clone(st.Final)}
	if st.Deliveries != nil {
		c.Deliveries = make(map[string][]string, len(st.Deliveries))
		for k, v := range st.Deliveries {
			c.Deliveries[k] = slices.Clone(v)
		}
	}
	if st.Notices != nil {
		c.Notices = make(map[string][]Notice, len(st.Notices))
		for k, v := range st.Notices {
			c.Notices[k] = slices.Clone(v)
		}
	}
	if st.MessageIDs != nil {
		c.MessageIDs = make(map[string]map[string]time.Time, len(st.MessageIDs))
		for k, v := range st.MessageIDs {
			c.MessageIDs[k] = maps.Clone(v)
		}
	}
	if st.Guard != nil {
		g := st.Guard.clone()
		c.Guard = &g
	}
	return c
}

// MemoryLocker is a [Locker] for one process. Leases expire by the clock
// Now; the fencing token of an account grows with every Acquire and never
// goes back, even after Release.
type MemoryLocker struct {
	// Now is the clock of lease expiry; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	leases map[string]*leaseRow
}

var _ Locker = (*MemoryLocker)(nil)

type leaseRow struct {
	owner   string
	expires time.Time
	token   int64
}

// NewMemoryLocker returns a MemoryLocker with no leases.
func NewMemoryLocker() *MemoryLocker {
	return &MemoryLocker{leases: map[string]*leaseRow{}}
}

func (l *MemoryLocker) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// ErrBadTTL is returned by Acquire and Renew for a TTL that is not positive.
var ErrBadTTL = errors.New("account: lease TTL must be positive")

// Acquire returns a new lease on accountID for owner, valid for ttl. It
// fails with a [*LeaseHeldError] while another owner holds an unexpired
// lease, unless [OwnerGone] says that owner is a dead process of this host. An
// owner that acquires again gets a new lease with a higher token, and its
// previous lease is lost.
func (l *MemoryLocker) Acquire(ctx context.Context, accountID, owner string, ttl time.Duration) (Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, ErrBadTTL
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	row := l.leases[accountID]
	if row == nil {
		row = &leaseRow{}
		l.leases[accountID] = row
	}
	if row.owner != "" && row.owner != owner && row.expires.After(now) && !OwnerGone(row.owner) {
		return nil, &LeaseHeldError{AccountID: accountID, Owner: row.owner, Expires: row.expires}
	}
	row.owner = owner
	row.expires = now.Add(ttl)
	row.token++
	return &memoryLease{locker: l, accountID: accountID, owner: owner, token: row.token}, nil
}

type memoryLease struct {
	locker    *MemoryLocker
	accountID string
	owner     string
	token     int64
}

func (m *memoryLease) Token() int64 { return m.token }

// current reports whether the lease is the account's live lease.
func (m *memoryLease) current() error {
	l := m.locker
	l.mu.Lock()
	defer l.mu.Unlock()
	return m.currentLocked(l.now())
}

func (m *memoryLease) currentLocked(now time.Time) error {
	row := m.locker.leases[m.accountID]
	if row == nil || row.token != m.token || row.owner != m.owner || !row.expires.After(now) {
		return fmt.Errorf("%w: account %q, token %d", ErrLeaseLost, m.accountID, m.token)
	}
	return nil
}

func (m *memoryLease) Renew(ctx context.Context, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ttl <= 0 {
		return ErrBadTTL
	}
	l := m.locker
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if err := m.currentLocked(now); err != nil {
		return err
	}
	l.leases[m.accountID].expires = now.Add(ttl)
	return nil
}

// Release ends the lease if it is still the account's current lease; it is a
// no-op otherwise (never touching a newer holder's lease).
func (m *memoryLease) Release(ctx context.Context) error {
	l := m.locker
	l.mu.Lock()
	defer l.mu.Unlock()
	row := l.leases[m.accountID]
	if row != nil && row.token == m.token && row.owner == m.owner {
		row.owner = ""
		row.expires = time.Time{}
	}
	return nil
}
