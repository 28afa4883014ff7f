package vault

import (
	"strconv"
	"strings"
	"testing"
)

// TestPageCacheKeepsWhatMatchesOnly: a page is served again only at the
// revision and day it was built at, and pages past pageCacheMaxRows are
// never kept.
func TestPageCacheKeepsWhatMatchesOnly(t *testing.T) {
	c := newPageCache()
	rev, day := Revision{Customer: 3, Companies: 7}, Date(20000)
	page := &ComplianceList{Summaries: make([]SummaryView, pageCacheMaxRows)}
	c.put("k", rev, day, page)
	if got, ok := c.get("k", rev, day); !ok || got != page {
		t.Fatal("a page at its revision and day is not served")
	}
	for name, miss := range map[string]func() bool{
		"another customer revision":  func() bool { _, ok := c.get("k", Revision{Customer: 4, Companies: 7}, day); return ok },
		"another companies revision": func() bool { _, ok := c.get("k", Revision{Customer: 3, Companies: 8}, day); return ok },
		"another day":                func() bool { _, ok := c.get("k", rev, day+1); return ok },
		"another key":                func() bool { _, ok := c.get("k2", rev, day); return ok },
	} {
		if miss() {
			t.Fatalf("%s: served", name)
		}
	}
	c.put("big", rev, day, &ComplianceList{Summaries: make([]SummaryView, pageCacheMaxRows+1)})
	if _, ok := c.get("big", rev, day); ok {
		t.Fatal("a page past pageCacheMaxRows was kept")
	}
}

// TestPageCacheStaysInItsBudget: pages whose entries carry long rejection
// reasons fill the byte budget before the page count; the cache evicts
// the oldest to stay under it, keeps its count exact when a key is built
// again, and refuses a page larger than its share.
func TestPageCacheStaysInItsBudget(t *testing.T) {
	c := newPageCache()
	heavy := func() *ComplianceList {
		l := &ComplianceList{Summaries: make([]SummaryView, pageCacheMaxRows)}
		for i := range l.Summaries {
			l.Summaries[i].Open = make([]EntryView, 3)
			for j := range l.Summaries[i].Open {
				l.Summaries[i].Open[j].Reason = strings.Repeat("r", 2000)
			}
		}
		return l
	}
	for i := range pageCacheSize {
		c.put("k"+strconv.Itoa(i), Revision{}, 1, heavy())
		c.put("k"+strconv.Itoa(i), Revision{}, 1, heavy()) // built again: counted once
		if c.bytes > pageCacheBytes {
			t.Fatalf("after %d pages: %d bytes kept, budget %d", i+1, c.bytes, pageCacheBytes)
		}
	}
	sum := 0
	for _, k := range c.lru.Keys() {
		p, _ := c.lru.Peek(k)
		sum += p.size
	}
	if sum != c.bytes || c.lru.Len() >= pageCacheSize {
		t.Fatalf("count %d vs kept %d bytes in %d pages: the budget did not evict", c.bytes, sum, c.lru.Len())
	}
	if _, ok := c.get("k0", Revision{}, 1); ok {
		t.Fatal("the oldest page survived the budget")
	}
	huge := heavy()
	huge.Summaries[0].Open[0].Reason = strings.Repeat("r", pageCacheBytes/8)
	c.put("huge", Revision{}, 1, huge)
	if _, ok := c.get("huge", Revision{}, 1); ok {
		t.Fatal("a page past its share of the budget was kept")
	}
}
