package jobs

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/authz"
)

// DigestName is the weekly digest's job name (`jobs/weekly-digest`).
const DigestName = "weekly-digest"

// Bounds of one digest e-mail (its data stays well under the outbox's 64 KiB).
const (
	digestBatch    = 100 // companies per vault call (its maximum)
	worstSuppliers = 10  // R-NOTIF-1: "the worst cases (at most ten)"
	maxGroups      = 20  // customers listed in a supplier's digest
	maxItems       = 10  // open entries listed per supplier or customer
)

// DigestConfig sets when the weekly digest is due: Weekday at Hour:00 in
// each company's own time zone (default Monday 07:00, R-NOTIF-1).
type DigestConfig struct {
	Config
	Weekday time.Weekday
	Hour    int
}

// DigestJob is the weekly compliance e-mail (R-NOTIF-1): every active member
// of every company receives one per ISO week, about that company. The
// idempotency key is the member (`companies/{c}/users/{u}`, a User of SPEC
// §4) and the ISO week, so that no restart, catch-up or manual run sends a
// second one; a person who is a member of two companies receives each
// company's status.
type DigestJob struct {
	cfg   DigestConfig
	dir   Directory
	id    Identity
	vault Vault
	out   Outbox
	log   *zap.Logger
}

// NewDigest builds the job.
func NewDigest(cfg DigestConfig, dir Directory, id Identity, vault Vault, out Outbox, log *zap.Logger) *DigestJob {
	cfg.complete()
	if cfg.Hour < 0 || cfg.Hour > 23 {
		cfg.Hour = 7
	}
	return &DigestJob{cfg: cfg, dir: dir, id: id, vault: vault, out: out, log: log}
}

// Name implements schedule.Job.
func (j *DigestJob) Name() string { return DigestName }

// Describe implements schedule.Job.
func (j *DigestJob) Describe() (string, string) {
	return "The weekly compliance e-mail to every active user of every company (R-NOTIF-1).",
		fmt.Sprintf("every %s at %02d:00 in each company's time zone", j.cfg.Weekday, j.cfg.Hour)
}

// RunsOn implements schedule.Job: the digest's weekday.
func (j *DigestJob) RunsOn(day time.Time) bool { return day.Weekday() == j.cfg.Weekday }

// Window implements schedule.Job: the day's hour reaches the earliest time
// zone (UTC+14) first and the latest (UTC-12) 26 hours later.
func (j *DigestJob) Window(day time.Time) (time.Time, time.Time) {
	at := day.Add(time.Duration(j.cfg.Hour) * time.Hour)
	return at.Add(-14 * time.Hour), at.Add(12 * time.Hour)
}

// Supersedes implements schedule.Job: this week's status makes a missed
// week's pointless.
func (j *DigestJob) Supersedes() bool { return true }

// Week is the ISO week of day, as the idempotency keys name it (2025-W11).
func Week(day time.Time) string {
	y, w := day.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// DigestKey is the idempotency key of member's digest of week.
func DigestKey(week, member string) string { return "weekly-digest/" + week + "/" + member }

// markKey records that company's digests of week are all queued.
func markKey(week, company string) string { return "weekly-digest/" + week + "/" + company }

// dueAt is when company's digest of the week of day is due: the configured
// weekday and hour in its time zone (UTC when unknown).
func (j *DigestJob) dueAt(day time.Time, tz string) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), j.cfg.Hour, 0, 0, 0, location(tz))
}

// locations caches time zones: a scheduled pass looks up every company's.
var locations sync.Map

// location is the IANA time zone tz, UTC when empty or unknown.
func location(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	if l, ok := locations.Load(tz); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		l = time.UTC
	}
	locations.Store(tz, l)
	return l
}

// Run implements schedule.Job. It pages through every company (directory),
// keeps those due (a scheduled run: whose local time has reached the hour
// and whose week is not done; a manual run: all), and for each batch of up
// to 100 asks vault for their digests, identity for their active members,
// and queues one e-mail per member in one transaction with the batch's
// "done" marks.
func (j *DigestJob) Run(ctx context.Context, r schedule.Run) (schedule.Counts, error) {
	week := Week(r.Day)
	asOf := ""
	if r.Manual {
		asOf = schedule.FormatDay(r.Day)
	}
	run := &digestRun{j: j, r: r, week: week, asOf: asOf, names: newNameCache(50_000)}
	token := ""
	for {
		page, next, err := j.dir.ListCompanies(ctx, 1000, token)
		if err != nil {
			return run.counts, fmt.Errorf("directory ListCompanies: %w", err)
		}
		for _, co := range page {
			run.names.put(co)
			if !r.Manual && j.dueAt(r.Day, co.TimeZone).After(r.Now) {
				continue
			}
			run.batch = append(run.batch, co)
			if len(run.batch) == digestBatch {
				if err := run.flush(ctx); err != nil {
					return run.counts, err
				}
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	if err := run.flush(ctx); err != nil {
		return run.counts, err
	}
	// Marks of weeks long past are of no use any more.
	if _, err := j.out.PruneMarks(ctx, "weekly-digest/", Week(r.Day.AddDate(0, 0, -8*7))); err != nil {
		j.log.Warn("prune the digest marks", zap.Error(err))
	}
	return run.counts, nil
}

// digestRun is the state of one run.
type digestRun struct {
	j      *DigestJob
	r      schedule.Run
	week   string
	asOf   string
	names  *nameCache
	batch  []Company
	counts schedule.Counts
}

// flush handles the companies batched so far.
func (run *digestRun) flush(ctx context.Context) error {
	batch := run.batch
	run.batch = nil
	if len(batch) == 0 {
		return nil
	}
	j := run.j
	if !run.r.Manual {
		keys := make([]string, len(batch))
		for i, co := range batch {
			keys[i] = markKey(run.week, co.Name)
		}
		done, err := j.out.Marked(ctx, keys)
		if err != nil {
			return fmt.Errorf("read digest marks: %w", err)
		}
		kept := batch[:0]
		for i, co := range batch {
			if !done[keys[i]] {
				kept = append(kept, co)
			}
		}
		batch = kept
		if len(batch) == 0 {
			return nil
		}
	}
	names := make([]string, len(batch))
	for i, co := range batch {
		names[i] = co.Name
	}
	digests, err := j.vault.BatchGetComplianceDigests(ctx, names, run.asOf, worstSuppliers)
	if err != nil {
		return fmt.Errorf("vault BatchGetComplianceDigests: %w", err)
	}
	byCompany := make(map[string]Digest, len(digests))
	var referenced []string
	for _, d := range digests {
		byCompany[d.Company] = d
		if d.Operator != nil {
			for _, s := range d.Operator.Worst {
				referenced = append(referenced, s.Supplier)
			}
		}
		if d.Supplier != nil {
			for _, s := range d.Supplier.Customers {
				referenced = append(referenced, s.Customer)
			}
		}
	}
	if err := run.names.fill(ctx, j.dir, referenced); err != nil {
		return err
	}
	fetched := time.Now()
	members := make([][]Member, len(batch))
	err = forEach(ctx, j.cfg.Concurrency, batch, func(ctx context.Context, i int, co Company) error {
		var err error
		members[i], err = allMembers(ctx, j.id, co.Name, authz.ReceiveWeeklyEmail)
		return err
	})
	if err != nil {
		return err
	}
	var reqs []notify.EnqueueRequest
	marks := make([]string, 0, len(batch))
	for i, co := range batch {
		run.counts.Examined++
		marks = append(marks, markKey(run.week, co.Name))
		kept, suppressed, err := deliverable(ctx, j.out, members[i], fetched)
		if err != nil {
			return err
		}
		run.counts.Suppressed += suppressed
		if len(kept) == 0 {
			continue
		}
		d, ok := byCompany[co.Name]
		if !ok {
			d = Digest{Company: co.Name}
		}
		data := run.data(co, d)
		// Members who may not view certificates (R-ID-3) learn what is
		// missing, rejected or expiring, not the certificates' details.
		var limited map[[2]bool]map[string]any
		for _, m := range kept {
			md := data
			if co.Kind == authz.KindSupplier {
				view := [2]bool{authz.Allowed(co.Kind, m.Role, authz.ViewCompanyCertificates), authz.Allowed(co.Kind, m.Role, authz.ViewEmployeeCertificates)}
				if !view[0] || !view[1] {
					if limited == nil {
						limited = map[[2]bool]map[string]any{}
					}
					if limited[view] == nil {
						limited[view] = withoutDetails(data, view[0], view[1])
					}
					md = limited[view]
				}
			}
			reqs = append(reqs, notify.EnqueueRequest{
				IdempotencyKey: DigestKey(run.week, m.Name),
				Template:       notify.TemplateWeeklyDigest,
				Recipients:     []notify.Recipient{recipient(m, co.Language)},
				Data:           md,
				Company:        co.Name,
			})
		}
	}
	// Large companies make large batches: the outbox takes them in chunks,
	// the marks with the last one (a crash in between repeats the chunks,
	// which the idempotency keys turn into nothing).
	for len(reqs) > 1000 {
		res, err := j.out.EnqueueBatch(ctx, reqs[:1000], nil)
		if err != nil {
			return fmt.Errorf("enqueue digests: %w", err)
		}
		countResults(&run.counts, res)
		reqs = reqs[1000:]
	}
	res, err := j.out.EnqueueBatch(ctx, reqs, marks)
	if err != nil {
		return fmt.Errorf("enqueue digests: %w", err)
	}
	countResults(&run.counts, res)
	return nil
}

// data is the weekly_digest template's data for company (templates.Catalog).
func (run *digestRun) data(co Company, d Digest) map[string]any {
	cfg := &run.j.cfg
	data := map[string]any{
		"company_name": co.LegalName,
		"week":         run.week,
		"link":         cfg.link(co.Name + "/compliance"),
	}
	if data["company_name"] == "" {
		data["company_name"] = strings.TrimPrefix(co.Name, "companies/")
	}
	if d.AsOf != "" {
		data["as_of"] = d.AsOf
	} else if run.asOf != "" {
		data["as_of"] = run.asOf
	}
	var groups []any
	more := 0
	switch co.Kind {
	case authz.KindOperator:
		data["kind"] = "operator"
		if o := d.Operator; o != nil {
			data["total_count"] = o.SupplierCount
			data["compliant_count"] = o.CompliantCount
			data["not_compliant_count"] = max(o.SupplierCount-o.CompliantCount, 0)
			data["expiring_count"] = o.ExpiringSoon
			for _, s := range o.Worst {
				if len(s.Open) == 0 {
					continue
				}
				groups = append(groups, run.group(run.names.name(s.Supplier), s,
					cfg.link(co.Name+"/suppliers/"+strings.TrimPrefix(s.Supplier, "companies/"))))
			}
		}
	default:
		data["kind"] = "supplier"
		if s := d.Supplier; s != nil {
			data["total_count"] = s.CustomerCount
			data["compliant_count"] = s.CompliantCount
			data["not_compliant_count"] = max(s.CustomerCount-s.CompliantCount, 0)
			// One document is counted once however many customers collect it.
			expiring := map[string]bool{}
			for _, c := range s.Customers {
				for _, e := range c.Open {
					if e.Status == StatusExpiringSoon {
						expiring[e.DocumentType+"|"+e.Subject] = true
					}
				}
			}
			data["expiring_count"] = len(expiring)
			for _, c := range s.Customers {
				if len(c.Open) == 0 {
					continue
				}
				if len(groups) == maxGroups {
					more++
					continue
				}
				groups = append(groups, run.group(run.names.name(c.Customer), c,
					cfg.link(co.Name+"/customers/"+strings.TrimPrefix(c.Customer, "companies/"))))
			}
		}
	}
	if len(groups) > 0 {
		data["groups"] = groups
	}
	if more > 0 {
		data["more_groups"] = more
	}
	return data
}

// withoutDetails copies a digest's data without the certificates' details
// (validity dates, rejection reasons) of the company documents (unless
// company) and of the employee documents (unless employee): a supplier's
// member whose role may not view them (R-ID-3) still learns what each
// customer misses, has rejected or will soon lose.
func withoutDetails(data map[string]any, company, employee bool) map[string]any {
	out := maps.Clone(data)
	groups, _ := data["groups"].([]any)
	if groups == nil {
		return out
	}
	copied := make([]any, len(groups))
	for i, g := range groups {
		gm, _ := g.(map[string]any)
		ng := maps.Clone(gm)
		items, _ := gm["items"].([]any)
		nitems := make([]any, len(items))
		for j, it := range items {
			im, _ := it.(map[string]any)
			ni := maps.Clone(im)
			if _, isEmployee := im["employees"]; isEmployee && !employee || !isEmployee && !company {
				delete(ni, "valid_until")
				delete(ni, "reason")
			}
			nitems[j] = ni
		}
		ng["items"] = nitems
		copied[i] = ng
	}
	out["groups"] = copied
	return out
}

// group lists one supplier's (or customer's) open entries: company
// documents one by one, employee documents counted per type and status.
func (run *digestRun) group(name string, s Summary, link string) map[string]any {
	type agg struct {
		item      map[string]any
		employees int
	}
	var order []string
	byKey := map[string]*agg{}
	for _, e := range s.Open {
		if e.Status == StatusValid {
			continue
		}
		employee := isEmployee(e.Subject)
		key := e.DocumentType + "|" + string(e.Status) + "|" + e.Subject
		if employee {
			key = e.DocumentType + "|" + string(e.Status) + "|employees"
		}
		a, ok := byKey[key]
		if !ok {
			typeName := e.DocumentTypeName
			if typeName == "" {
				typeName = strings.TrimPrefix(e.DocumentType, "documentTypes/")
			}
			a = &agg{item: map[string]any{"document_type": typeName, "status": string(e.Status)}}
			byKey[key] = a
			order = append(order, key)
		}
		if employee {
			a.employees++
		}
		// The earliest date is the one that matters.
		if v, _ := a.item["valid_until"].(string); e.ValidUntil != "" && (v == "" || e.ValidUntil < v) {
			a.item["valid_until"] = e.ValidUntil
		}
		if e.RejectionReason != "" && a.item["reason"] == nil {
			a.item["reason"] = e.RejectionReason
		}
	}
	items := make([]any, 0, min(len(order), maxItems))
	for i, k := range order {
		if i == maxItems {
			break
		}
		a := byKey[k]
		if a.employees > 0 {
			a.item["employees"] = a.employees
		}
		items = append(items, a.item)
	}
	g := map[string]any{"name": name, "compliant": s.Compliant, "items": items}
	if link != "" {
		g["link"] = link
	}
	if len(order) > maxItems {
		g["more_items"] = len(order) - maxItems
	}
	return g
}

var _ schedule.Job = (*DigestJob)(nil)
