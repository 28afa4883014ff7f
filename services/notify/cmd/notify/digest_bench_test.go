package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/notify/internal/upstream/upstreamtest"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/benchmem"
)

// Scale of issue 11: 10,000 companies of 5 active users each.
const (
	benchCompanies = 10_000
	benchUsers     = 5
	benchEmails    = benchCompanies * benchUsers
	benchWorkers   = 8
)

// benchWorld is 2,000 operators and 8,000 suppliers with 5 active users
// each. Each operator's digest lists its 10 worst suppliers with 3 open
// entries each; each supplier's, 2 customers with 2 entries each: the
// digests are generated as vault would answer them.
func benchWorld() *upstreamtest.World {
	w := upstreamtest.NewWorld()
	name := func(i int) string { return fmt.Sprintf("companies/c%05d", i) }
	operators := benchCompanies / 5
	for i := range benchCompanies {
		kind := directoryv1.CompanyKind_COMPANY_KIND_SUPPLIER
		if i < operators {
			kind = directoryv1.CompanyKind_COMPANY_KIND_OPERATOR
		}
		lang, tz := "en", "UTC"
		if i%2 == 0 {
			lang, tz = "fr", "Europe/Paris"
		}
		w.AddCompany(&directoryv1.Company{Name: name(i), LegalName: fmt.Sprintf("Company %d SAS", i), Kind: kind, TimeZone: tz, Language: lang})
		for u := range benchUsers {
			w.AddMember(&identityv1.User{Name: fmt.Sprintf("%s/users/u%d-%05d", name(i), u, i), Email: fmt.Sprintf("u%d.c%05d@example.com", u, i),
				GivenName: "User", FamilyName: fmt.Sprint(u), Role: identityv1.Role_ROLE_ADMINISTRATOR, State: identityv1.User_STATE_ACTIVE})
		}
	}
	entry := func(subject string, st vaultv1.ComplianceStatus) *vaultv1.ComplianceEntry {
		return &vaultv1.ComplianceEntry{DocumentType: "documentTypes/urssaf", DocumentTypeDisplayName: "Attestation de vigilance URSSAF",
			Subject: subject, Status: st, ValidUntil: "2025-03-30"}
	}
	w.DigestFunc = func(company string) *vaultv1.GetComplianceDigestResponse {
		var i int
		_, _ = fmt.Sscanf(company, "companies/c%05d", &i)
		d := &vaultv1.GetComplianceDigestResponse{Company: company}
		if i < operators {
			op := &vaultv1.OperatorComplianceDigest{SupplierCount: 40, CompliantSupplierCount: 30, Counts: &vaultv1.ComplianceCounts{ExpiringSoon: 7}}
			for k := range 10 {
				s := name(operators + (i*10+k)%(benchCompanies-operators))
				op.WorstSuppliers = append(op.WorstSuppliers, &vaultv1.ComplianceSummary{Customer: company, Supplier: s, OpenEntries: []*vaultv1.ComplianceEntry{
					entry(s, vaultv1.ComplianceStatus_COMPLIANCE_STATUS_MISSING), entry(s+"/employees/e1", vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRED),
					entry(s, vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRING_SOON)}})
			}
			d.Operator = op
		} else {
			sup := &vaultv1.SupplierComplianceDigest{CustomerCount: 2}
			for k := range 2 {
				c := name((i + k) % operators)
				sup.Customers = append(sup.Customers, &vaultv1.ComplianceSummary{Customer: c, Supplier: company, OpenEntries: []*vaultv1.ComplianceEntry{
					entry(company, vaultv1.ComplianceStatus_COMPLIANCE_STATUS_MISSING), entry(company, vaultv1.ComplianceStatus_COMPLIANCE_STATUS_REJECTED)}})
			}
			d.Supplier = sup
		}
		return d
	}
	return w
}

// measured is one measured notify process.
type measured struct {
	enqueue, deliver time.Duration
	rssMiB           float64
	cpu              time.Duration // the process's user + system time
	dbMiB            float64
	anonMiB, fileMiB float64 // RssAnon (heap, stacks) and RssFile (the mapped bbolt file) at the end
}

// rssParts reads RssAnon and RssFile (MiB) from /proc/<pid>/status.
func rssParts(pid int) (anon, file float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		var kb float64
		if _, err := fmt.Sscanf(line, "RssAnon: %f kB", &kb); err == nil {
			anon = kb / 1024
		}
		if _, err := fmt.Sscanf(line, "RssFile: %f kB", &kb); err == nil {
			file = kb / 1024
		}
	}
	return anon, file
}

// cpuTime is a process's user + system CPU time (/proc/<pid>/stat, in
// clock ticks of 10 ms).
func cpuTime(pid int) (time.Duration, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces: fields start after the last ')'.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// measure starts notify on a fresh data folder, has enqueue queue
// benchEmails e-mails, and waits until the SMTP server has them all.
func measure(b *testing.B, bin, dir string, env []string, enqueue func(ctx context.Context, addr string) error) measured {
	b.Helper()
	srv := smtptest.Start(b, smtptest.Options{Quiet: true})
	addr := smtptest.FreeAddr(b)
	cmd := startNotify(b, bin, addr, dir, srv.Addr, benchWorkers, env...)
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = srv.Close()
	}()
	start := time.Now()
	if err := enqueue(context.Background(), addr); err != nil {
		b.Fatal(err)
	}
	r := measured{enqueue: time.Since(start)}
	if !srv.WaitFor(benchEmails, 10*time.Minute) {
		b.Fatalf("delivered %d of %d", srv.Len(), benchEmails)
	}
	r.deliver = time.Since(start)
	if dups := srv.Len() - benchEmails; dups != 0 {
		b.Fatalf("%d e-mails delivered twice", dups)
	}
	rss, ok := benchmem.PeakRSSMiB(cmd.Process.Pid)
	if !ok {
		b.Skip("no /proc to read notify's peak RSS")
	}
	r.rssMiB = rss
	r.cpu, _ = cpuTime(cmd.Process.Pid)
	r.anonMiB, r.fileMiB = rssParts(cmd.Process.Pid)
	if fi, err := os.Stat(filepath.Join(dir, "notify", "notify.db")); err == nil {
		r.dbMiB = float64(fi.Size()) / (1 << 20)
	}
	return r
}

// BenchmarkWeeklyDigest50kProcess measures issue 11's scale with the real
// binary in its own process: the weekly digest run by hand
// (POST /v1/jobs/weekly-digest:run) for 10,000 companies × 5 users, its
// data read in pages from fake directory, identity and vault services over
// real sockets (upstreamtest), the 50,000 e-mails delivered to a local SMTP
// server. The baseline, measured in the same run on another fresh process,
// is 50,000 plain EnqueueNotification calls (32 callers) of a password
// reset, which is what notify already reached (BenchmarkDeliver10kProcess).
// It reports both processes' times and peak RSS and the ratios of their
// rates (digest / plain).
//
//	go test -run '^$' -bench WeeklyDigest50k -benchtime 1x ./cmd/notify/
func BenchmarkWeeklyDigest50kProcess(b *testing.B) {
	dir := b.TempDir()
	bin := buildNotify(b, dir)
	world := benchWorld()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serverTLS, err := testTLS(b).ServerTLS("identity") // notify calls its upstreams over mutual TLS
	if err != nil {
		b.Fatal(err)
	}
	world.Serve(b, tls.NewListener(lis, serverTLS))
	upstreams := lis.Addr().String()
	token := world.Token(auth.Principal{User: "users/root", Company: "companies/c00000", CompanyKind: authz.KindOperator,
		Role: authz.RoleAdministrator, PlatformAdmin: true})
	env := []string{"VIGIL_IDENTITY_ADDR=" + upstreams, "VIGIL_DIRECTORY_ADDR=" + upstreams, "VIGIL_VAULT_ADDR=" + upstreams}
	data, _ := structpb.NewStruct(map[string]any{"link": "https://vigil.test/reset-password?token=x"})

	for n := range b.N {
		b.StopTimer()
		plain := measure(b, bin, filepath.Join(dir, fmt.Sprint("plain", n)), nil, func(ctx context.Context, addr string) error {
			client := notifyv1.NewNotificationInternalServiceClient(dialNotify(b, addr))
			keys := make(chan int)
			errc := make(chan error, 32)
			var wg sync.WaitGroup
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range keys {
						_, err := client.EnqueueNotification(ctx, &notifyv1.EnqueueNotificationRequest{
							IdempotencyKey: fmt.Sprintf("plain-%d-%d", n, i), Template: notifyv1.Template_TEMPLATE_PASSWORD_RESET,
							Data: data, Recipients: []*notifyv1.Recipient{{Email: fmt.Sprintf("u%d@example.com", i)}},
						})
						if err != nil {
							errc <- err
							return
						}
					}
				}()
			}
			for i := range benchEmails {
				keys <- i
			}
			close(keys)
			wg.Wait()
			close(errc)
			return <-errc
		})

		b.StartTimer()
		digest := measure(b, bin, filepath.Join(dir, fmt.Sprint("digest", n)), env, func(ctx context.Context, addr string) error {
			client := notifyv1.NewJobServiceClient(dialNotify(b, addr))
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
			job, err := client.RunJob(ctx, &notifyv1.RunJobRequest{Name: "jobs/weekly-digest", Date: time.Now().UTC().Format(time.DateOnly)})
			if err != nil {
				return err
			}
			if got := job.GetLastRun().GetSentCount(); got != benchEmails {
				return fmt.Errorf("the run queued %d e-mails, want %d", got, benchEmails)
			}
			return nil
		})
		b.StopTimer()

		rate := func(d time.Duration) float64 { return benchEmails / d.Seconds() }
		b.ReportMetric(digest.enqueue.Seconds(), "digest-s-to-enqueue-50k")
		b.ReportMetric(digest.deliver.Seconds(), "digest-s-to-deliver-50k")
		b.ReportMetric(digest.rssMiB, "digest-notify-VmHWM-MiB")
		b.ReportMetric(plain.enqueue.Seconds(), "plain-s-to-enqueue-50k")
		b.ReportMetric(plain.deliver.Seconds(), "plain-s-to-deliver-50k")
		b.ReportMetric(plain.rssMiB, "plain-notify-VmHWM-MiB")
		b.ReportMetric(digest.anonMiB, "digest-end-RssAnon-MiB")
		b.ReportMetric(digest.fileMiB, "digest-end-RssFile-MiB")
		b.ReportMetric(digest.dbMiB, "digest-db-MiB")
		b.ReportMetric(plain.dbMiB, "plain-db-MiB")
		b.ReportMetric(float64(digest.cpu.Microseconds())/benchEmails, "digest-notify-cpu-us/email")
		b.ReportMetric(float64(plain.cpu.Microseconds())/benchEmails, "plain-notify-cpu-us/email")
		b.ReportMetric(rate(digest.enqueue)/rate(plain.enqueue), "enqueue-rate-ratio")
		b.ReportMetric(rate(digest.deliver)/rate(plain.deliver), "deliver-rate-ratio")
		b.ReportMetric(float64(plain.cpu)/float64(digest.cpu), "cpu-per-email-ratio")
		b.ReportMetric(float64(world.MaxDigestBatch()), "max-companies-per-vault-call")
	}
}
