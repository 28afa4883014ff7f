package vault

import "testing"

// TestPageCacheKeepsWhatMatchesOnly: a page is served again only at the
// revision and day it was built at, and pages past pageCacheMaxRows are
// never kept (the cache's memory is bounded whatever callers ask).
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
