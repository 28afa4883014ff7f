package app

// The real notify server with its jobs, fed by fake directory, identity and
// vault services over bufconn (upstreamtest), delivering to a real SMTP
// server (go-smtp, in process): the jobs API, what its runs send, the
// scheduler's catch-up, bounces, and secrets at rest.

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/notify/internal/boltstore"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/notify/internal/upstream/upstreamtest"
	"github.com/vigil/vigil/services/runtime/authz"
)

var platformAdmin = func() context.Context { return as("users/root", true) }

// smallWorld is one operator (French) with a supplier (English), each with
// an Administrator, and the supplier's company document expiring on
// 2025-03-19; digests say the supplier misses its URSSAF certificate.
func smallWorld() *upstreamtest.World {
	w := upstreamtest.NewWorld()
	w.AddCompany(&directoryv1.Company{Name: "companies/op", LegalName: "Big Buyer", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, TimeZone: "Europe/Paris", Language: "fr"})
	w.AddCompany(&directoryv1.Company{Name: "companies/sup", LegalName: "Acme SAS", Kind: directoryv1.CompanyKind_COMPANY_KIND_SUPPLIER})
	w.AddMember(&identityv1.User{Name: "companies/op/users/olga", Email: "olga@buyer.example", GivenName: "Olga", Role: identityv1.Role_ROLE_ADMINISTRATOR, State: identityv1.User_STATE_ACTIVE, Language: "fr"})
	w.AddMember(&identityv1.User{Name: "companies/sup/users/sam", Email: "sam@acme.example", GivenName: "Sam", Role: identityv1.Role_ROLE_ADMINISTRATOR, State: identityv1.User_STATE_ACTIVE})
	missing := []*vaultv1.ComplianceEntry{{DocumentType: "documentTypes/urssaf", DocumentTypeDisplayName: "URSSAF certificate", Subject: "companies/sup", Status: vaultv1.ComplianceStatus_COMPLIANCE_STATUS_MISSING}}
	w.SetDigest(&vaultv1.GetComplianceDigestResponse{Company: "companies/op", Operator: &vaultv1.OperatorComplianceDigest{
		SupplierCount: 1, Counts: &vaultv1.ComplianceCounts{Missing: 1},
		WorstSuppliers: []*vaultv1.ComplianceSummary{{Customer: "companies/op", Supplier: "companies/sup", OpenEntries: missing}}}})
	w.SetDigest(&vaultv1.GetComplianceDigestResponse{Company: "companies/sup", Supplier: &vaultv1.SupplierComplianceDigest{
		CustomerCount: 1, Customers: []*vaultv1.ComplianceSummary{{Customer: "companies/op", Supplier: "companies/sup", OpenEntries: missing}}}})
	w.PutDocument(upstreamtest.Document{Name: "companies/sup/documents/d1", Type: &vaultv1.DocumentType{Name: "documentTypes/kbis", DisplayName: "Kbis"},
		Subject: "companies/sup", ValidUntil: "2025-03-19", Customers: []string{"companies/op"}})
	return w
}

// clock is a settable clock for the scheduler.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func TestJobsRoutesArePlatformAdministratorsOnly(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	clk := &clock{now: time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC)}
	ts := startServerWith(t, serverOptions{world: smallWorld(), clock: clk.Now, args: []string{"-smtp-addr", srv.Addr, "-notify-scheduler=false"}})
	run := func(ctx context.Context, name, date string) error {
		_, err := ts.jobs.RunJob(ctx, &notifyv1.RunJobRequest{Name: name, Date: date})
		return err
	}
	cases := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"list anonymous", func() error {
			_, err := ts.jobs.ListJobs(context.Background(), &notifyv1.ListJobsRequest{})
			return err
		}, codes.Unauthenticated, ""},
		{"run anonymous", func() error { return run(context.Background(), "jobs/weekly-digest", "") }, codes.Unauthenticated, ""},
		{"get anonymous", func() error {
			_, err := ts.jobs.GetJob(context.Background(), &notifyv1.GetJobRequest{Name: "jobs/weekly-digest"})
			return err
		}, codes.Unauthenticated, ""},
	}
	// Every role of both kinds of company is refused: jobs are not a
	// company's business (R-ID-11), whatever company the caller is in.
	for _, kind := range authz.Kinds {
		for _, role := range authz.Roles {
			who := asMember("users/x", "companies/op", kind, role)
			cases = append(cases,
				struct {
					name  string
					call  func() error
					code  codes.Code
					field string
				}{"run as " + kind.String() + " " + role.String(), func() error { return run(who, "jobs/weekly-digest", "2025-03-10") }, codes.PermissionDenied, ""},
				struct {
					name  string
					call  func() error
					code  codes.Code
					field string
				}{"list as " + kind.String() + " " + role.String(), func() error { _, err := ts.jobs.ListJobs(who, &notifyv1.ListJobsRequest{}); return err }, codes.PermissionDenied, ""},
				struct {
					name  string
					call  func() error
					code  codes.Code
					field string
				}{"dead letters as " + kind.String() + " " + role.String(), func() error {
					_, err := ts.client.ListDeadLetters(who, &notifyv1.ListDeadLettersRequest{})
					return err
				}, codes.PermissionDenied, ""},
			)
		}
	}
	cases = append(cases, []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"unknown job", func() error { return run(platformAdmin(), "jobs/nope", "") }, codes.NotFound, ""},
		{"malformed name", func() error { return run(platformAdmin(), "weekly-digest", "") }, codes.InvalidArgument, "name"},
		{"malformed date", func() error { return run(platformAdmin(), "jobs/weekly-digest", "12/03/2025") }, codes.InvalidArgument, "date"},
		{"impossible date", func() error { return run(platformAdmin(), "jobs/weekly-digest", "2025-02-30") }, codes.InvalidArgument, "date"},
		{"future date", func() error { return run(platformAdmin(), "jobs/expiry-reminders", "2025-03-20") }, codes.InvalidArgument, "date"},
		{"bad page token", func() error {
			_, err := ts.jobs.ListJobs(platformAdmin(), &notifyv1.ListJobsRequest{PageToken: "x"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"page too large", func() error {
			_, err := ts.jobs.ListJobs(platformAdmin(), &notifyv1.ListJobsRequest{PageSize: 51})
			return err
		}, codes.InvalidArgument, "page_size"},
	}...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if status.Code(err) != c.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, c.code)
			}
			if c.field != "" && !strings.Contains(fieldOf(err)+" "+status.Convert(err).Message(), c.field) {
				t.Fatalf("error %v does not name %s", err, c.field)
			}
		})
	}
	// The refused calls changed nothing: no run recorded, nothing sent.
	list, err := ts.jobs.ListJobs(platformAdmin(), &notifyv1.ListJobsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetJobs()) != 2 || list.GetJobs()[0].GetName() != "jobs/expiry-reminders" || list.GetJobs()[1].GetName() != "jobs/weekly-digest" {
		t.Fatalf("jobs = %v", list.GetJobs())
	}
	for _, j := range list.GetJobs() {
		if j.GetLastRun() != nil || j.GetDescription() == "" || j.GetSchedule() == "" || j.GetNextRunTime() == nil {
			t.Fatalf("job %v", j)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if srv.Len() != 0 || ts.world.Calls("ListCompanies")+ts.world.Calls("ListExpiringForReminders") != 0 {
		t.Fatalf("a refused call ran a job: %d e-mails", srv.Len())
	}
}

// TestJobsRunByHandSendOnce: an administrator runs the weekly digest and the
// reminders for a day; the e-mails reach the SMTP server with the right
// content and language; a second run sends nothing; the jobs' state tells.
func TestJobsRunByHandSendOnce(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	clk := &clock{now: time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC)}
	ts := startServerWith(t, serverOptions{world: smallWorld(), clock: clk.Now, args: []string{"-smtp-addr", srv.Addr, "-notify-scheduler=false"}})

	job, err := ts.jobs.RunJob(platformAdmin(), &notifyv1.RunJobRequest{Name: "jobs/expiry-reminders", Date: "2025-03-12"})
	if err != nil {
		t.Fatal(err)
	}
	if r := job.GetLastRun(); r.GetDate() != "2025-03-12" || !r.GetManual() || r.GetSentCount() != 1 || r.GetExaminedCount() != 1 {
		t.Fatalf("reminders run = %v", r)
	}
	if !srv.WaitFor(1, 5*time.Second) {
		t.Fatal("no reminder delivered")
	}
	sam := srv.DecodedTo(t, "sam@acme.example")
	if len(sam) != 1 || sam[0].Subject != "Expires in 7 days: Kbis" || !strings.Contains(sam[0].Text, "valid until 19 March 2025") ||
		!strings.Contains(sam[0].HTML, "https://vigil.example/companies/sup/documents/d1") {
		t.Fatalf("reminder = %+v", sam)
	}

	job, err = ts.jobs.RunJob(platformAdmin(), &notifyv1.RunJobRequest{Name: "jobs/weekly-digest", Date: "2025-03-10"})
	if err != nil {
		t.Fatal(err)
	}
	if r := job.GetLastRun(); r.GetSentCount() != 2 || r.GetExaminedCount() != 2 || r.GetAlreadySentCount() != 0 {
		t.Fatalf("digest run = %v", r)
	}
	if !srv.WaitFor(3, 5*time.Second) {
		t.Fatal("digests not delivered")
	}
	olga := srv.DecodedTo(t, "olga@buyer.example")
	if len(olga) != 1 || olga[0].Subject != "État de conformité de la semaine : Big Buyer" || !strings.Contains(olga[0].Text, "Fournisseurs soumis à des exigences : 1") ||
		!strings.Contains(olga[0].Text, "non conformes : 1") || !strings.Contains(olga[0].Text, "URSSAF certificate : manquant") {
		t.Fatalf("olga's digest = %+v", olga)
	}
	if d := srv.DecodedTo(t, "sam@acme.example"); len(d) != 2 || !strings.Contains(d[1].Text, "you are not compliant for: 1") {
		t.Fatalf("sam's digest = %+v", d)
	}

	// Again: nothing more is sent.
	for _, r := range []*notifyv1.RunJobRequest{{Name: "jobs/expiry-reminders", Date: "2025-03-12"}, {Name: "jobs/weekly-digest", Date: "2025-03-12"}} {
		job, err := ts.jobs.RunJob(platformAdmin(), r)
		if err != nil || job.GetLastRun().GetSentCount() != 0 || job.GetLastRun().GetAlreadySentCount() == 0 {
			t.Fatalf("second %s = %v, %v", r.GetName(), job.GetLastRun(), err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if srv.Len() != 3 {
		t.Fatalf("%d e-mails, want 3", srv.Len())
	}
	got, err := ts.jobs.GetJob(platformAdmin(), &notifyv1.GetJobRequest{Name: "jobs/weekly-digest"})
	if err != nil || got.GetLastRun().GetAlreadySentCount() != 2 || got.GetRunning() {
		t.Fatalf("GetJob = %v, %v", got, err)
	}
	// Also in the inbox (R-NOTIF-4), without needing the e-mail.
	inbox, err := ts.client.ListMyNotifications(as("users/olga", false), &notifyv1.ListMyNotificationsRequest{})
	if err != nil || len(inbox.GetNotifications()) != 1 || inbox.GetNotifications()[0].GetTemplate() != notifyv1.Template_TEMPLATE_WEEKLY_DIGEST ||
		inbox.GetNotifications()[0].GetCompany() != "companies/op" {
		t.Fatalf("olga's inbox = %v, %v", inbox, err)
	}
}

// TestSchedulerCatchesUpAfterDowntime: notify down from Wednesday to Friday
// sends, when it is back, the reminders of Thursday and Friday, once each;
// a restart does not send them again.
func TestSchedulerCatchesUpAfterDowntime(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	w := smallWorld()
	// Documents reaching a threshold on Thursday 13 (7 days ahead) and Friday 14 (30 days ahead).
	w.PutDocument(upstreamtest.Document{Name: "companies/sup/documents/thu", Type: &vaultv1.DocumentType{Name: "documentTypes/ins", DisplayName: "Insurance"},
		Subject: "companies/sup", ValidUntil: "2025-03-20"})
	w.PutDocument(upstreamtest.Document{Name: "companies/sup/documents/fri", Type: &vaultv1.DocumentType{Name: "documentTypes/iso", DisplayName: "ISO 9001"},
		Subject: "companies/sup", ValidUntil: "2025-04-13"})
	clk := &clock{now: time.Date(2025, 3, 12, 10, 0, 0, 0, time.UTC)} // Wednesday, after 06:00
	dir := t.TempDir()
	opts := serverOptions{world: w, clock: clk.Now, dir: dir, args: []string{"-smtp-addr", srv.Addr, "-notify-schedule-interval", "20ms"}}
	ts := startServerWith(t, opts)
	time.Sleep(100 * time.Millisecond)
	if srv.Len() != 0 {
		t.Fatalf("a new installation sent %d e-mails for the day already past", srv.Len())
	}
	ts.stop()

	// Back on Friday 09:00.
	clk.Set(time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	ts = startServerWith(t, opts)
	if !srv.WaitFor(2, 5*time.Second) {
		t.Fatalf("caught up %d reminders, want 2", srv.Len())
	}
	subjects := map[string]bool{}
	for _, d := range srv.DecodedTo(t, "sam@acme.example") {
		subjects[d.Subject] = true
	}
	if !subjects["Expires in 6 days: Insurance"] || !subjects["Expires in 30 days: ISO 9001"] {
		t.Fatalf("reminders %v", subjects)
	}
	job, err := ts.jobs.GetJob(platformAdmin(), &notifyv1.GetJobRequest{Name: "jobs/expiry-reminders"})
	if err != nil || job.GetCompletedThroughDate() != "2025-03-14" {
		t.Fatalf("job = %v, %v", job, err)
	}
	ts.stop()
	ts = startServerWith(t, opts)
	time.Sleep(200 * time.Millisecond)
	if srv.Len() != 2 {
		t.Fatalf("%d e-mails after a restart, want 2", srv.Len())
	}
	_ = ts
}

// TestBounceIsReportedAndSuppressed (issue 11, point 5): a 5xx for an
// address makes one dead letter, is reported to identity once, and the
// next week's digest skips the address instead of dead-lettering again.
func TestBounceIsReportedAndSuppressed(t *testing.T) {
	var olgaAttempts atomic.Int32
	srv := smtptest.Start(t, smtptest.Options{RejectRcpt: func(_ int, to string) error {
		if to == "olga@buyer.example" {
			olgaAttempts.Add(1)
			return smtptest.Permanent
		}
		return nil
	}})
	clk := &clock{now: time.Date(2025, 3, 20, 10, 0, 0, 0, time.UTC)}
	ts := startServerWith(t, serverOptions{world: smallWorld(), clock: clk.Now, args: []string{"-smtp-addr", srv.Addr, "-notify-scheduler=false"}})
	if _, err := ts.jobs.RunJob(platformAdmin(), &notifyv1.RunJobRequest{Name: "jobs/weekly-digest", Date: "2025-03-10"}); err != nil {
		t.Fatal(err)
	}
	dead := waitDeadLetters(t, ts, 1)
	if dead[0].GetEmail() != "olga@buyer.example" {
		t.Fatalf("dead letter %v", dead[0])
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(ts.world.Reports()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	reports := ts.world.Reports()
	if len(reports) != 1 || reports[0].GetEmail() != "olga@buyer.example" || !strings.Contains(reports[0].GetReason(), "550") {
		t.Fatalf("reports to identity = %v", reports)
	}
	job, err := ts.jobs.RunJob(platformAdmin(), &notifyv1.RunJobRequest{Name: "jobs/weekly-digest", Date: "2025-03-17"})
	if err != nil {
		t.Fatal(err)
	}
	if r := job.GetLastRun(); r.GetSentCount() != 1 || r.GetSuppressedCount() != 1 {
		t.Fatalf("next week = %v; want sam only, olga suppressed", r)
	}
	time.Sleep(200 * time.Millisecond)
	if got := waitDeadLetters(t, ts, 1); len(got) != 1 {
		t.Fatalf("%d dead letters, want still 1", len(got))
	}
	if n := olgaAttempts.Load(); n != 1 {
		t.Fatalf("the bounced address was tried %d times, want once", n)
	}
	if len(ts.world.Reports()) != 1 {
		t.Fatalf("reported %d times", len(ts.world.Reports()))
	}
}

// TestSecretsNeverInTheDataFile (issue 7, points 1 and 8): the link token of
// a password reset reaches the e-mail, never the inbox, and is never
// written in clear to notify's file, before or after delivery; once sent,
// its sealed form is dropped.
func TestSecretsNeverInTheDataFile(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	srv := smtptest.Start(t, smtptest.Options{DataHook: func(smtptest.Message) { <-release }})
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	dir := t.TempDir()
	ts := startServerWith(t, serverOptions{dir: dir, args: []string{"-smtp-addr", srv.Addr, "-notify-scheduler=false"}})
	const token = "tok-5f0b3c9e7a1d4e2b8c6a"
	for _, req := range []*notifyv1.EnqueueNotificationRequest{
		{IdempotencyKey: "reset", Template: notifyv1.Template_TEMPLATE_PASSWORD_RESET, Company: "companies/c1",
			Recipients: []*notifyv1.Recipient{{User: "users/u1", Email: "u1@example.com"}},
			Data:       data(t, map[string]any{"link": "https://vigil.example/reset-password?token=" + token})},
		{IdempotencyKey: "invite", Template: notifyv1.Template_TEMPLATE_INVITATION, Company: "companies/c1",
			Recipients: []*notifyv1.Recipient{{User: "users/u1", Email: "u1@example.com"}},
			Data:       data(t, map[string]any{"link": "https://vigil.example/invitation?token=" + token, "company_name": "Acme", "inviter_name": "Ada"})},
	} {
		if _, err := ts.internal.EnqueueNotification(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	dbPath := filepath.Join(dir, "notify", "notify.db")
	inFile := func() bool {
		raw, err := os.ReadFile(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(raw, []byte(token))
	}
	// Accepted, not delivered yet (the SMTP server holds the first).
	if inFile() {
		t.Fatal("the token is in clear in notify's data file while queued")
	}
	inbox, err := ts.client.ListMyNotifications(as("users/u1", false), &notifyv1.ListMyNotificationsRequest{})
	if err != nil || len(inbox.GetNotifications()) != 2 {
		t.Fatalf("inbox = %v, %v", inbox, err)
	}
	for _, n := range inbox.GetNotifications() {
		if strings.Contains(n.GetBody()+n.GetSubject(), token) || strings.Contains(n.GetBody(), "token=") {
			t.Fatalf("the inbox shows the link: %s", n.GetBody())
		}
	}
	once.Do(func() { close(release) })
	if !srv.WaitFor(2, 5*time.Second) {
		t.Fatal("not delivered")
	}
	for _, d := range srv.DecodedTo(t, "u1@example.com") {
		if !strings.Contains(d.Text, token) {
			t.Fatalf("the e-mail lacks its link: %s", d.Text)
		}
	}
	ts.stop()
	if inFile() {
		t.Fatal("the token is in clear in notify's data file after delivery")
	}
	store, err := boltstore.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ids := inbox.GetNotifications()
	for _, n := range ids {
		id := strings.TrimSuffix(strings.TrimPrefix(n.GetName(), "me/notifications/"), "-000")
		got, err := store.Notification(context.Background(), id)
		if err != nil || len(got.Sealed) != 0 || got.Data["link"] != nil {
			t.Fatalf("after delivery the notification keeps %q / %v (%v)", got.Sealed, got.Data, err)
		}
	}
}

func TestRefusesToStartWithoutSecretKey(t *testing.T) {
	cfg, err := ParseConfig([]string{"-data-dir", t.TempDir(), "-metrics-addr", ""})
	if err != nil {
		t.Fatal(err)
	}
	err = RunWith(context.Background(), cfg, zap.NewNop(), Options{Auth: testAuth{}})
	if err == nil || !strings.Contains(err.Error(), "secret-key-file") {
		t.Fatalf("Run without a key = %v, want a refusal naming secret-key-file", err)
	}
}
