package boltstore

import (
	"slices"
	"sync"

	"github.com/vigil/vigil/services/identity/internal/domain"
)

// recordCache keeps decoded logins and memberships, which every
// authenticated read of identity loads (GetMe, permissions, members), so
// that a read transaction finds them without decoding (issue 14).
//
// Correct because this store is the only writer of its file (bbolt locks
// it against other processes): every change passes through Update, which
// tells the cache. A store that replicas share (PostgreSQL) cannot keep
// such a cache as it is.
//
// Reads through the cache see exactly their transaction's snapshot, as if
// there were no cache, by bbolt's transaction ids (a read transaction's id
// is the last commit it sees; a write transaction's, the commit it makes):
//   - an entry remembers the snapshot it was read in (from); the value was
//     the record's for every snapshot since, as long as it stays cached;
//   - a write transaction drops the entries of the records it writes
//     before it commits, and marks them pending (no fill) until Update
//     returns; after a commit, fills from snapshots older than it are
//     refused (floor);
//   - a read uses an entry only if its snapshot is at least the entry's,
//     and fills one only if its snapshot is at least the floor and the
//     record is not pending.
//
// Write transactions neither read nor fill the cache (they must see their
// own writes, and may roll back).
type recordCache struct {
	mu      sync.RWMutex
	floor   uint64 // the last commit that wrote a cached kind of record
	logins  map[string]cached[domain.Login]
	members map[string]cached[domain.Membership] // key: {company}\x00{user}
	pending map[string]int                       // "l"+user or "m"+company\x00user → writers
}

// cached is an entry: the record v, read in snapshot from.
type cached[T any] struct {
	from uint64
	v    *T
}

// maxCachedRecords bounds each map; past it an arbitrary entry goes.
const maxCachedRecords = 20_000

func newRecordCache() *recordCache {
	return &recordCache{logins: map[string]cached[domain.Login]{}, members: map[string]cached[domain.Membership]{}, pending: map[string]int{}}
}

// cloneLogin is a copy the caller may change (Tx's contract).
func cloneLogin(l *domain.Login) *domain.Login {
	c := *l
	c.TOTPSealed, c.TOTPPendingSealed = slices.Clone(l.TOTPSealed), slices.Clone(l.TOTPPendingSealed)
	c.TOTPSecret, c.TOTPPendingSecret = slices.Clone(l.TOTPSecret), slices.Clone(l.TOTPPendingSecret)
	return &c
}

func cloneMember(m *domain.Membership) *domain.Membership {
	c := *m
	return &c
}

func (c *recordCache) login(snapshot uint64, id string) (*domain.Login, bool) {
	return lookup(c, c.logins, snapshot, id, cloneLogin)
}

func (c *recordCache) member(snapshot uint64, key string) (*domain.Membership, bool) {
	return lookup(c, c.members, snapshot, key, cloneMember)
}

// fillLogin caches a copy of l, read in snapshot, if the rules allow.
func (c *recordCache) fillLogin(snapshot uint64, l *domain.Login) {
	fill(c, c.logins, snapshot, l.ID, "l"+l.ID, cloneLogin(l))
}

func (c *recordCache) fillMember(snapshot uint64, key string, m *domain.Membership) {
	fill(c, c.members, snapshot, key, "m"+key, cloneMember(m))
}

// lookup is a copy of entries[key] if snapshot may use it.
func lookup[T any](c *recordCache, entries map[string]cached[T], snapshot uint64, key string, clone func(*T) *T) (*T, bool) {
	c.mu.RLock()
	e, ok := entries[key]
	c.mu.RUnlock()
	if !ok || snapshot < e.from {
		return nil, false
	}
	return clone(e.v), true
}

// fill caches v (a copy), read in snapshot, as entries[key] if the rules
// allow; pend is the record's pending key.
func fill[T any](c *recordCache, entries map[string]cached[T], snapshot uint64, key, pend string, v *T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if snapshot < c.floor || c.pending[pend] > 0 {
		return
	}
	if e, ok := entries[key]; ok && e.from >= snapshot {
		return
	}
	if len(entries) >= maxCachedRecords {
		for k := range entries {
			delete(entries, k)
			break
		}
	}
	entries[key] = cached[T]{from: snapshot, v: v}
}

// writing drops a record's entry and marks it pending, before the write
// transaction that changes it commits; pend is its key ("l"+user,
// "m"+company\x00user), marked the transaction's marks.
func (c *recordCache) writing(pend string, marked map[string]bool) {
	if marked[pend] {
		return
	}
	marked[pend] = true
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[pend]++
	switch pend[0] {
	case 'l':
		delete(c.logins, pend[1:])
	case 'm':
		delete(c.members, pend[1:])
	}
}

// written ends the marks of a write transaction once Update returns;
// committed is the id of its commit, 0 when it rolled back.
func (c *recordCache) written(marked map[string]bool, committed uint64) {
	if len(marked) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if committed > c.floor {
		c.floor = committed
	}
	for pend := range marked {
		if c.pending[pend]--; c.pending[pend] <= 0 {
			delete(c.pending, pend)
		}
	}
}
