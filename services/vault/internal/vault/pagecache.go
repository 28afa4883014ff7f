package vault

import (
	lru "github.com/hashicorp/golang-lru/v2"
)

// pageCacheSize bounds the operator compliance pages kept built, and
// pageCacheMaxRows the pages kept (a larger page is built every time): a
// page of 100 summaries with their open entries is some 100 KiB, so the
// cache stays under 32 MiB whatever the callers ask. The first pages of
// the busiest customers are what it keeps.
const (
	pageCacheSize    = 256
	pageCacheMaxRows = 100
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
	lru *lru.Cache[string, *cachedPage]
}

type cachedPage struct {
	rev   Revision
	today Date
	list  *ComplianceList
}

func newPageCache() *pageCache {
	c, err := lru.New[string, *cachedPage](pageCacheSize)
	if err != nil { // only for a size ≤ 0
		panic(err)
	}
	return &pageCache{lru: c}
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
	if len(list.Summaries) > pageCacheMaxRows {
		return
	}
	c.lru.Add(key, &cachedPage{rev: rev, today: today, list: list})
}
