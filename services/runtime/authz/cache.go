package authz

import (
	"context"
	"sync"
	"time"
)

// CachedGrants remembers another Grants' answers for a while, so that a
// service asks identity once per user and permission rather than once per
// call. Identity's revocation feed reports every change of grants, roles and
// states (R-ID-7): wire it to Invalidate, and a change bites within the
// feed's delay; TTL bounds how long an answer lives if a report is missed.
type CachedGrants struct {
	next Grants
	ttl  time.Duration
	now  func() time.Time

	mu      sync.RWMutex
	answers map[grantKey]cachedAnswer
	// gen counts invalidations per user, so that an answer fetched across
	// an invalidation is not stored.
	gen map[string]uint64
}

type grantKey struct {
	user, company, project string
	scope                  GrantScope
	level                  GrantLevel
}

type cachedAnswer struct {
	ok      bool
	expires time.Time
}

// maxCachedGrants bounds the cache; past it the cache is emptied.
const maxCachedGrants = 100_000

// NewCachedGrants caches next's answers for ttl (default 30 s).
func NewCachedGrants(next Grants, ttl time.Duration) *CachedGrants {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &CachedGrants{next: next, ttl: ttl, now: time.Now, answers: map[grantKey]cachedAnswer{}, gen: map[string]uint64{}}
}

// HasGrant implements Grants.
func (c *CachedGrants) HasGrant(ctx context.Context, user, company string, scope GrantScope, level GrantLevel, project string) (bool, error) {
	k := grantKey{user: user, company: company, project: project, scope: scope, level: level}
	now := c.now()
	c.mu.RLock()
	a, hit := c.answers[k]
	gen := c.gen[user]
	c.mu.RUnlock()
	if hit && now.Before(a.expires) {
		return a.ok, nil
	}
	ok, err := c.next.HasGrant(ctx, user, company, scope, level, project)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	if c.gen[user] == gen {
		if len(c.answers) >= maxCachedGrants {
			clear(c.answers)
		}
		c.answers[k] = cachedAnswer{ok: ok, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return ok, nil
}

// Invalidate forgets every answer about user (`users/{user}`) in company
// (`companies/{company}`); an empty company forgets the user everywhere.
func (c *CachedGrants) Invalidate(user, company string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.answers {
		if k.user == user && (company == "" || k.company == company) {
			delete(c.answers, k)
		}
	}
	c.gen[user]++
}
