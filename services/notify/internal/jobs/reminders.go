package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/notify/internal/schedule"
	"github.com/vigil/vigil/services/runtime/authz"
)

// RemindersName is the expiry reminders' job name (`jobs/expiry-reminders`).
const RemindersName = "expiry-reminders"

// ReminderWindows are R-NOTIF-2's thresholds: 30 and 7 days before a
// document's valid_until, and the day itself.
var ReminderWindows = []int{30, 7, 0}

// RemindersConfig sets when the reminders of a day are sent: Hour:00 UTC.
type RemindersConfig struct {
	Config
	Hour int
}

// RemindersJob is the expiry reminders job (R-NOTIF-2): for each current
// document whose valid_until is 30 or 7 days ahead, or today, one e-mail to
// the supplier's active users who may upload it (R-ID-3: company documents
// → upload company certificates, employee documents → upload employee
// certificates) and to the supplier's references for each customer that
// collects it (R-DIR-8). The idempotency key is the document version and
// the threshold, so each is reminded once; vault lists current versions
// only, so a newer version ends the older one's reminders.
type RemindersJob struct {
	cfg   RemindersConfig
	dir   Directory
	id    Identity
	vault Vault
	out   Outbox
	log   *zap.Logger
}

// NewReminders builds the job.
func NewReminders(cfg RemindersConfig, dir Directory, id Identity, vault Vault, out Outbox, log *zap.Logger) *RemindersJob {
	cfg.complete()
	if cfg.Hour < 0 || cfg.Hour > 23 {
		cfg.Hour = 6
	}
	return &RemindersJob{cfg: cfg, dir: dir, id: id, vault: vault, out: out, log: log}
}

// Name implements schedule.Job.
func (j *RemindersJob) Name() string { return RemindersName }

// Describe implements schedule.Job.
func (j *RemindersJob) Describe() (string, string) {
	return "Expiry reminders 30 and 7 days before a document's valid_until and on the day (R-NOTIF-2).",
		fmt.Sprintf("every day at %02d:00 UTC", j.cfg.Hour)
}

// RunsOn implements schedule.Job: every day.
func (j *RemindersJob) RunsOn(time.Time) bool { return true }

// Window implements schedule.Job: at the hour, at once.
func (j *RemindersJob) Window(day time.Time) (time.Time, time.Time) {
	at := day.Add(time.Duration(j.cfg.Hour) * time.Hour)
	return at, at
}

// Supersedes implements schedule.Job: every missed day is caught up, since
// each has its own documents reaching a threshold.
func (j *RemindersJob) Supersedes() bool { return false }

// ReminderKey is the idempotency key of the reminder of a document version
// at a threshold.
func ReminderKey(document string, window int) string {
	return fmt.Sprintf("expiry-reminder/%s/%dd", document, window)
}

// Run implements schedule.Job: the documents reaching a threshold on r.Day,
// a page at a time. days_left counts from the day the e-mail is queued, so a
// late (caught-up) reminder tells the truth.
func (j *RemindersJob) Run(ctx context.Context, r schedule.Run) (schedule.Counts, error) {
	run := &reminderRun{j: j, today: schedule.DayOf(r.Now), names: newNameCache(50_000),
		uploaders: map[string][]Member{}, references: map[string][]string{}, employees: map[string]string{}}
	token := ""
	for {
		docs, next, err := j.vault.ListExpiringForReminders(ctx, schedule.FormatDay(r.Day), ReminderWindows, j.cfg.PageSize, token)
		if err != nil {
			return run.counts, fmt.Errorf("vault ListExpiringForReminders: %w", err)
		}
		if err := run.page(ctx, docs); err != nil {
			return run.counts, err
		}
		if next == "" {
			return run.counts, nil
		}
		token = next
	}
}

type reminderRun struct {
	j      *RemindersJob
	today  time.Time
	names  *nameCache
	counts schedule.Counts

	mu         sync.Mutex
	uploaders  map[string][]Member // supplier|permission → members
	references map[string][]string // customer|supplier → member names
	employees  map[string]string   // employee → name
}

// page handles one page of documents.
func (run *reminderRun) page(ctx context.Context, docs []Expiring) error {
	if len(docs) == 0 {
		return nil
	}
	j := run.j
	// Documents come by supplier: caches of earlier suppliers are done with.
	run.trim(docs)
	var companies []string
	for _, d := range docs {
		companies = append(companies, d.Supplier)
		companies = append(companies, d.Customers...)
	}
	if err := run.names.fill(ctx, j.dir, companies); err != nil {
		return err
	}
	fetched := time.Now()
	recipients := make([][]Member, len(docs))
	employeeNames := make([]string, len(docs))
	err := forEach(ctx, j.cfg.Concurrency, docs, func(ctx context.Context, i int, d Expiring) error {
		var err error
		if recipients[i], err = run.recipients(ctx, d); err != nil {
			return err
		}
		if isEmployee(d.Subject) {
			employeeNames[i], err = run.employee(ctx, d.Subject)
		}
		return err
	})
	if err != nil {
		return err
	}
	var reqs []notify.EnqueueRequest
	for i, d := range docs {
		run.counts.Examined++
		kept, suppressed, err := deliverable(ctx, j.out, recipients[i], fetched)
		if err != nil {
			return err
		}
		run.counts.Suppressed += suppressed
		if len(kept) == 0 {
			continue
		}
		if len(kept) > notify.MaxRecipients {
			j.log.Warn("more recipients than one notification takes; the first are reminded",
				zap.String("document", d.Document), zap.Int("recipients", len(kept)))
			kept = kept[:notify.MaxRecipients]
		}
		supplier := run.names.m[d.Supplier]
		rcpts := make([]notify.Recipient, len(kept))
		for k, m := range kept {
			rcpts[k] = recipient(m, supplier.Language)
		}
		reqs = append(reqs, notify.EnqueueRequest{
			IdempotencyKey: ReminderKey(d.Document, d.WindowDays),
			Template:       notify.TemplateExpiryReminder,
			Recipients:     rcpts,
			Data:           run.data(d, employeeNames[i]),
			Company:        d.Supplier,
		})
	}
	res, err := j.out.EnqueueBatch(ctx, reqs, nil)
	if err != nil {
		return fmt.Errorf("enqueue reminders: %w", err)
	}
	countResults(&run.counts, res)
	return nil
}

// trim forgets the cached members of suppliers not in docs.
func (run *reminderRun) trim(docs []Expiring) {
	keep := map[string]bool{}
	for _, d := range docs {
		keep[d.Supplier] = true
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	for k := range run.uploaders {
		if s, _, _ := strings.Cut(k, "|"); !keep[s] {
			delete(run.uploaders, k)
		}
	}
	for k := range run.references {
		if _, s, _ := strings.Cut(k, "|"); !keep[s] {
			delete(run.references, k)
		}
	}
	if len(run.employees) > 10_000 {
		clear(run.employees)
	}
}

func isEmployee(subject string) bool { return strings.Contains(subject, "/employees/") }

// recipients are the supplier's active members who may upload the document
// and its references for each collecting customer, each once.
func (run *reminderRun) recipients(ctx context.Context, d Expiring) ([]Member, error) {
	perm := authz.UploadCompanyCertificates
	if isEmployee(d.Subject) {
		perm = authz.UploadEmployeeCertificates
	}
	uploaders, err := run.uploadersOf(ctx, d.Supplier, perm)
	if err != nil {
		return nil, err
	}
	var refNames []string
	for _, c := range d.Customers {
		refs, err := run.referencesOf(ctx, c, d.Supplier)
		if err != nil {
			return nil, err
		}
		refNames = append(refNames, refs...)
	}
	seen := map[string]bool{}
	var out []Member
	add := func(m Member) {
		key := strings.ToLower(m.Email)
		if m.Email == "" || seen[m.Name] || seen[key] {
			return
		}
		seen[m.Name], seen[key] = true, true
		out = append(out, m)
	}
	for _, m := range uploaders {
		add(m)
	}
	var missing []string
	for _, n := range refNames {
		if !seen[n] {
			missing = append(missing, n)
		}
	}
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), 500)]
		missing = missing[len(chunk):]
		refs, err := run.j.id.BatchGetUsers(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("identity BatchGetUsers: %w", err)
		}
		for _, m := range refs {
			add(m)
		}
	}
	return out, nil
}

func (run *reminderRun) uploadersOf(ctx context.Context, supplier string, perm authz.Action) ([]Member, error) {
	key := fmt.Sprintf("%s|%d", supplier, perm)
	run.mu.Lock()
	m, ok := run.uploaders[key]
	run.mu.Unlock()
	if ok {
		return m, nil
	}
	all, err := allMembers(ctx, run.j.id, supplier, perm)
	if err != nil {
		return nil, err
	}
	run.mu.Lock()
	run.uploaders[key] = all
	run.mu.Unlock()
	return all, nil
}

func (run *reminderRun) referencesOf(ctx context.Context, customer, supplier string) ([]string, error) {
	key := customer + "|" + supplier
	run.mu.Lock()
	r, ok := run.references[key]
	run.mu.Unlock()
	if ok {
		return r, nil
	}
	refs, err := run.j.dir.ListReferences(ctx, customer, supplier)
	if err != nil {
		return nil, fmt.Errorf("directory ListReferences: %w", err)
	}
	run.mu.Lock()
	run.references[key] = refs
	run.mu.Unlock()
	return refs, nil
}

func (run *reminderRun) employee(ctx context.Context, name string) (string, error) {
	run.mu.Lock()
	n, ok := run.employees[name]
	run.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := run.j.dir.EmployeeName(ctx, name)
	if err != nil {
		return "", fmt.Errorf("directory GetEmployee: %w", err)
	}
	run.mu.Lock()
	run.employees[name] = n
	run.mu.Unlock()
	return n, nil
}

// data is the expiry_reminder template's data (templates.Catalog).
func (run *reminderRun) data(d Expiring, employee string) map[string]any {
	daysLeft := d.WindowDays
	if until, err := schedule.ParseDay(d.ValidUntil); err == nil {
		daysLeft = int(until.Sub(run.today).Hours() / 24)
	}
	typeName := d.DocumentTypeName
	if typeName == "" {
		typeName = "document"
	}
	data := map[string]any{
		"document_type": typeName,
		"valid_until":   d.ValidUntil,
		"days_left":     daysLeft,
		"company_name":  run.names.name(d.Supplier),
	}
	if employee != "" {
		data["employee_name"] = oneLine(employee)
	}
	if len(d.Customers) > 0 {
		customers := make([]any, 0, min(len(d.Customers), 50))
		for _, c := range d.Customers[:min(len(d.Customers), 50)] {
			customers = append(customers, run.names.name(c))
		}
		data["customer_names"] = customers
	}
	if link := run.j.cfg.link(d.Document); link != "" {
		data["link"] = link
	}
	return data
}

var _ schedule.Job = (*RemindersJob)(nil)
