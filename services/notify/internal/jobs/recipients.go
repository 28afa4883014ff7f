package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/authz"
)

// Shared settings of the jobs.
type Config struct {
	// PublicURL is the base of links in e-mails (VIGIL_PUBLIC_URL).
	PublicURL string
	// PageSize of the upstream lists.
	PageSize int
	// Concurrency bounds the upstream calls in flight per run.
	Concurrency int
}

func (c *Config) complete() {
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.PageSize <= 0 {
		c.PageSize = 500
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
}

// link is an absolute link to a resource path under the public URL.
func (c *Config) link(path string) string {
	if c.PublicURL == "" {
		return ""
	}
	return c.PublicURL + "/" + strings.TrimPrefix(path, "/")
}

// deliverable drops the members whose address is undeliverable (identity's
// mark, or notify's own suppression not yet seen by identity) and counts
// them. A suppression that identity was told about before fetched, while
// identity no longer marks the member, was cleared by an Administrator (or
// the person): it is lifted and the member mailed again.
func deliverable(ctx context.Context, out Outbox, members []Member, fetched time.Time) ([]Member, int, error) {
	if len(members) == 0 {
		return nil, 0, nil
	}
	emails := make([]string, len(members))
	for i, m := range members {
		emails[i] = m.Email
	}
	sup, err := out.Suppressions(ctx, emails)
	if err != nil {
		return nil, 0, fmt.Errorf("read suppressions: %w", err)
	}
	kept := members[:0:0]
	suppressed := 0
	for _, m := range members {
		if m.Undeliverable {
			suppressed++
			continue
		}
		if s, ok := sup[strings.ToLower(m.Email)]; ok {
			if !s.Reported || !s.ReportedAt.Before(fetched) {
				suppressed++
				continue
			}
			if err := out.LiftSuppression(ctx, m.Email, fetched); err != nil {
				return nil, 0, fmt.Errorf("lift suppression: %w", err)
			}
		}
		kept = append(kept, m)
	}
	return kept, suppressed, nil
}

// allMembers pages through identity's ACTIVE members of company whose role
// holds permission.
func allMembers(ctx context.Context, id Identity, company string, permission authz.Action) ([]Member, error) {
	var all []Member
	token := ""
	for {
		page, next, err := id.ListMembers(ctx, company, permission, 1000, token)
		if err != nil {
			return nil, fmt.Errorf("identity ListMembers %s: %w", company, err)
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}

// recipient is a member as a notification's recipient, in its language (or
// fallback's, or English).
func recipient(m Member, fallback string) notify.Recipient {
	lang := m.Language
	if lang != "en" && lang != "fr" {
		lang = fallback
	}
	if lang != "en" && lang != "fr" {
		lang = notify.DefaultLanguage
	}
	return notify.Recipient{User: m.User(), Email: m.Email, Name: oneLine(m.DisplayName()), Language: lang}
}

// oneLine makes a display name one the outbox accepts (see
// notify.DisplayName).
func oneLine(s string) string { return notify.DisplayName(s) }

// countResults adds what EnqueueBatch did to c.
func countResults(c *schedule.Counts, res []notify.EnqueueResult) {
	for _, r := range res {
		if r.Duplicate {
			c.AlreadySent += r.Recipients
		} else {
			c.Sent += r.Recipients
		}
	}
}

// forEach runs f over items with at most n in flight and returns the first
// error.
func forEach[T any](ctx context.Context, n int, items []T, f func(ctx context.Context, i int, item T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, n)
	errc := make(chan error, len(items))
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errc <- ctx.Err()
			continue
		}
		go func() {
			defer func() { <-sem }()
			if err := f(ctx, i, it); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	for range n {
		sem <- struct{}{}
	}
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}
	return nil
}

// nameCache remembers company names across the batches of one run,
// bounded so that a run over millions of companies does not grow memory.
type nameCache struct {
	m   map[string]Company
	max int
}

func newNameCache(max int) *nameCache { return &nameCache{m: map[string]Company{}, max: max} }

func (c *nameCache) put(co Company) {
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[co.Name] = co
}

// fill asks directory for the names not known yet (1000 per call).
func (c *nameCache) fill(ctx context.Context, dir Directory, names []string) error {
	var missing []string
	seen := map[string]bool{}
	for _, n := range names {
		if _, ok := c.m[n]; !ok && !seen[n] && n != "" {
			seen[n] = true
			missing = append(missing, n)
		}
	}
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), 1000)]
		missing = missing[len(chunk):]
		got, err := dir.BatchGetCompanies(ctx, chunk)
		if err != nil {
			return fmt.Errorf("directory BatchGetCompanies: %w", err)
		}
		for _, co := range got {
			c.put(co)
		}
	}
	return nil
}

// name is a company's display name, its id when unknown.
func (c *nameCache) name(company string) string {
	if co, ok := c.m[company]; ok && co.LegalName != "" {
		return co.LegalName
	}
	return strings.TrimPrefix(company, "companies/")
}
