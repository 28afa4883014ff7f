package vault

import (
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// The operator compliance pages kept built are bounded three ways: at most
// pageCacheSize pages, none of more than pageCacheMaxRows rows or a
// pageCacheBytes/8 share of the budget, and pageCacheBytes in all (pages'
// sizes estimated from their strings: an open entry's rejection reason
// may hold 2,000 characters), so that the cache stays a small part of
// the vault's memory whatever the callers ask or the data holds. The
// first pages of the busiest customers are what it keeps.
const (
	pageCacheSize    = 256
	pageCacheMaxRows = 100
	pageCacheBytes   = 32 << 20
)

// pageCache keeps operator compliance pages as built, each with the
// Revision and the day it was built at (issue 10: the first page of a
// customer's view is read by every user of the customer, far more often
// than anything it shows changes). A read takes a page from it only when
// the store, in the read's own transaction, still shows the same Revision
// on the same day in the customer's time zone: the store is the truth, so
// that replicas sharing a store never serve each other's stale pages, and
// a change is visible at the first read after its commit.
type pageCache struct {
	mu    sync.Mutex // serialises puts, which keep bytes
	lru   *lru.Cache[string, *cachedPage]
	bytes int // the estimated size of the pages kept
}

type cachedPage struct {
	rev   Revision
	today Date
	list  *ComplianceList
	size  int
}

func newPageCache() *pageCache {
	c := &pageCache{}
	l, err := lru.NewWithEvict(pageCacheSize, func(_ string, p *cachedPage) { c.bytes -= p.size })
	if err != nil { // only for a size ≤ 0
		panic(err)
	}
	c.lru = l
	return c
}

// get returns the page built for key at rev on today, if kept. The list is
// shared: callers read it, never change it.
func (c *pageCache) get(key string, rev Revision, today Date) (*ComplianceList, bool) {
	p, ok := c.lru.Get(key)
	if !ok || p.rev != rev || p.today != today {
		return nil, false
	}
	return p.list, true
}

func (c *pageCache) put(key string, rev Revision, today Date, list *ComplianceList) {
	size := list.approxBytes()
	if len(list.Summaries) > pageCacheMaxRows || size > pageCacheBytes/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.lru.Peek(key); ok { // Add replaces it without eviction
		c.bytes -= old.size
	}
	c.lru.Add(key, &cachedPage{rev: rev, today: today, list: list, size: size})
	c.bytes += size
	for c.bytes > pageCacheBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// approxBytes estimates the memory a list holds: its strings and a fixed
// share per summary and per entry for the rest.
func (l *ComplianceList) approxBytes() int {
	n := 64 + len(l.Next)
	for i := range l.Summaries {
		s := &l.Summaries[i]
		n += 160 + len(s.Customer) + len(s.Supplier) + len(s.CustomerName) + len(s.SupplierName)
		for j := range s.Open {
			e := &s.Open[j]
			n += 192 + len(e.Customer) + len(e.Supplier) + len(e.Requirement) + len(e.DocumentType) + len(e.Employee) +
				len(e.Document) + len(e.Reason) + len(e.TypeName)
		}
	}
	return n
}
