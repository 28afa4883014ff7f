package app

// The real notify server (interceptor chain, handlers, domain, bbolt,
// templates, sender, dispatcher) on a bufconn listener.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/structpb"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/smtptest"
	"github.com/vigil/vigil/services/notify/internal/upstream/upstreamtest"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/secrets"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

// testAuth authenticates from metadata the tests set, and puts the
// principal where the real verifier does (auth.WithPrincipal), so that the
// app's principal wiring is what the handlers use.
type testAuth struct{}

func (testAuth) Authenticate(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	users := md.Get("x-test-user")
	if len(users) == 0 {
		if auth.IsInternal(method) {
			return ctx, nil
		}
		return ctx, errs.Unauthenticated("MISSING_TOKEN", "missing bearer access token")
	}
	p := auth.Principal{User: users[0], PlatformAdmin: len(md.Get("x-test-admin")) > 0}
	if c := md.Get("x-test-company"); len(c) > 0 {
		p.Company = c[0]
		p.CompanyKind = authz.ParseCompanyKind(md.Get("x-test-kind")[0])
		p.Role = authz.ParseRole(md.Get("x-test-role")[0])
	}
	return auth.WithPrincipal(ctx, p), nil
}

func as(user string, admin bool) context.Context {
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-test-user", user)
	if admin {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-test-admin", "1")
	}
	return ctx
}

// asMember is a user signed in to company with role.
func asMember(user, company string, kind authz.CompanyKind, role authz.Role) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-test-user", user, "x-test-company", company,
		"x-test-kind", kind.String(), "x-test-role", role.String())
}

type testServer struct {
	client   notifyv1.NotificationServiceClient
	internal notifyv1.NotificationInternalServiceClient
	jobs     notifyv1.JobServiceClient
	conn     *grpc.ClientConn
	cfg      *Config
	world    *upstreamtest.World
	stop     func()
}

// serverOptions shape startServerWith.
type serverOptions struct {
	args  []string
	world *upstreamtest.World // fake directory, identity and vault (an empty world by default)
	clock func() time.Time
	dir   string
}

func startServer(t *testing.T, args ...string) *testServer {
	return startServerWith(t, serverOptions{args: append([]string{"-notify-scheduler=false"}, args...)})
}

// writeKey writes a fresh secret key file (VIGIL_SECRET_KEY_FILE) under dir.
func writeKey(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "secret.key")
	if err := secrets.Generate(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func startServerWith(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	if o.world == nil {
		o.world = upstreamtest.NewWorld()
	}
	upLis := servertest.Listen()
	o.world.Serve(t, upLis)
	up := servertest.Dial(t, upLis)
	cfg, err := ParseConfig(append([]string{"-data-dir", dir, "-metrics-addr", "", "-notify-backoff-base", "10ms", "-notify-backoff-max", "50ms",
		"-secret-key-file", writeKey(t, dir), "-public-url", "https://vigil.example"}, o.args...))
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunWith(ctx, cfg, zap.NewNop(), Options{Listener: lis, Auth: testAuth{},
			IdentityConn: up, DirectoryConn: up, VaultConn: up, Now: o.clock})
	}()
	conn := servertest.Dial(t, lis)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("notify did not stop")
		}
	}
	t.Cleanup(stop)
	return &testServer{client: notifyv1.NewNotificationServiceClient(conn), internal: notifyv1.NewNotificationInternalServiceClient(conn),
		jobs: notifyv1.NewJobServiceClient(conn), conn: conn, cfg: cfg, world: o.world, stop: stop}
}

func data(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validRequest(t *testing.T, key string) *notifyv1.EnqueueNotificationRequest {
	return &notifyv1.EnqueueNotificationRequest{
		IdempotencyKey: key,
		Template:       notifyv1.Template_TEMPLATE_INVITATION,
		Recipients:     []*notifyv1.Recipient{{User: "users/u1", Email: "u1@example.com", DisplayName: "Ulysse", Language: "fr"}},
		Data:           data(t, map[string]any{"link": "https://vigil.test/invitation?token=t", "company_name": "Acme", "inviter_name": "Alice"}),
		Company:        "companies/c1",
	}
}

// fieldOf returns the field an INVALID_ARGUMENT names in its details.
func fieldOf(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

func TestEnqueueStatusCodes(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	mutate := func(f func(r *notifyv1.EnqueueNotificationRequest)) *notifyv1.EnqueueNotificationRequest {
		r := validRequest(t, "bad")
		f(r)
		return r
	}
	big := strings.Repeat("x", 9000)
	cases := []struct {
		name  string
		req   *notifyv1.EnqueueNotificationRequest
		code  codes.Code
		field string // checked when not empty: a substring of the named field
	}{
		{"valid", validRequest(t, "ok-1"), codes.OK, ""},
		{"no key", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.IdempotencyKey = "" }), codes.InvalidArgument, "idempotency_key"},
		{"unspecified template", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Template = 0 }), codes.InvalidArgument, "template"},
		{"unknown template", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Template = 99 }), codes.InvalidArgument, "template"},
		{"missing data field", mutate(func(r *notifyv1.EnqueueNotificationRequest) { delete(r.Data.Fields, "inviter_name") }), codes.InvalidArgument, "data.inviter_name"},
		{"no data", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Data = nil }), codes.InvalidArgument, "data.link"},
		{"unsafe link", mutate(func(r *notifyv1.EnqueueNotificationRequest) {
			r.Data.Fields["link"] = structpb.NewStringValue("javascript:alert(1)")
		}), codes.InvalidArgument, "data.link"},
		{"no recipients", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Recipients = nil }), codes.InvalidArgument, "recipients"},
		{"invalid address", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Recipients[0].Email = "not-an-address" }), codes.InvalidArgument, "email"},
		{"address with a name", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Recipients[0].Email = "Bob <b@example.com>" }), codes.InvalidArgument, "email"},
		{"newline in name", mutate(func(r *notifyv1.EnqueueNotificationRequest) {
			r.Recipients[0].DisplayName = "Eve\r\nBcc: x@example.com"
		}), codes.InvalidArgument, "display_name"},
		{"bad user", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Recipients[0].User = "companies/x" }), codes.InvalidArgument, "user"},
		{"bad language", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Recipients[0].Language = "de" }), codes.InvalidArgument, "language"},
		{"bad company", mutate(func(r *notifyv1.EnqueueNotificationRequest) { r.Company = "users/x" }), codes.InvalidArgument, "company"},
		{"oversized data", mutate(func(r *notifyv1.EnqueueNotificationRequest) {
			for i := range 8 {
				r.Data.Fields["inviter_name"] = structpb.NewStringValue(big)
				r.Data.Fields["company_name"] = structpb.NewStringValue(big)
				r.Data.Fields[strings.Repeat("k", i+1)] = structpb.NewStringValue(big)
			}
		}), codes.InvalidArgument, "data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ts.internal.EnqueueNotification(ctx, c.req)
			if status.Code(err) != c.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, c.code)
			}
			if c.field != "" && !strings.Contains(fieldOf(err)+" "+status.Convert(err).Message(), c.field) {
				t.Fatalf("error %v does not name %s", err, c.field)
			}
		})
	}
	// Nothing of the refused calls was stored: u1's inbox holds only the valid one.
	resp, err := ts.client.ListMyNotifications(as("users/u1", false), &notifyv1.ListMyNotificationsRequest{})
	if err != nil || len(resp.GetNotifications()) != 1 {
		t.Fatalf("inbox after refused calls: %v, %v", resp, err)
	}
	// Refused with the key "bad" means the key is still free.
	r, err := ts.internal.EnqueueNotification(ctx, validRequest(t, "bad"))
	if err != nil || r.GetDuplicate() {
		t.Fatalf("the key of a refused call was taken: %v, %v", r, err)
	}
	again, err := ts.internal.EnqueueNotification(ctx, validRequest(t, "bad"))
	if err != nil || !again.GetDuplicate() || again.GetId() != r.GetId() {
		t.Fatalf("second enqueue = %v, %v; want a duplicate of %s", again, err, r.GetId())
	}
}

func TestInboxAndDeadLetterRoutes(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	for i := range 5 {
		req := validRequest(t, "inv-"+string(rune('a'+i)))
		req.Recipients = append(req.Recipients, &notifyv1.Recipient{User: "users/u2", Email: "u2@example.com"})
		if _, err := ts.internal.EnqueueNotification(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	u1 := as("users/u1", false)

	// Paging, newest first, rendered in the recipient's language.
	var names []string
	token := ""
	for page := 0; ; page++ {
		resp, err := ts.client.ListMyNotifications(u1, &notifyv1.ListMyNotificationsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range resp.GetNotifications() {
			names = append(names, n.GetName())
			if !strings.HasPrefix(n.GetSubject(), "Alice vous invite") || !strings.Contains(n.GetBody(), "Bonjour Ulysse") ||
				n.GetTemplate() != notifyv1.Template_TEMPLATE_INVITATION || n.GetCompany() != "companies/c1" || n.GetReadTime() != nil {
				t.Fatalf("notification %v", n)
			}
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(names) != 5 {
		t.Fatalf("listed %d, want 5", len(names))
	}
	for i := 1; i < len(names); i++ {
		if names[i] >= names[i-1] {
			t.Fatalf("not newest first: %v", names)
		}
	}

	marked, err := ts.client.MarkNotificationRead(u1, &notifyv1.MarkNotificationReadRequest{Name: names[1]})
	if err != nil || marked.GetReadTime() == nil || marked.GetName() != names[1] {
		t.Fatalf("MarkNotificationRead = %v, %v", marked, err)
	}
	unread, err := ts.client.ListMyNotifications(u1, &notifyv1.ListMyNotificationsRequest{UnreadOnly: true})
	if err != nil || len(unread.GetNotifications()) != 4 {
		t.Fatalf("unread = %v, %v", unread, err)
	}
	first, _ := ts.client.ListMyNotifications(u1, &notifyv1.ListMyNotificationsRequest{PageSize: 1})

	cases := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"list unauthenticated", func() error {
			_, err := ts.client.ListMyNotifications(ctx, &notifyv1.ListMyNotificationsRequest{})
			return err
		}, codes.Unauthenticated},
		{"list bad token", func() error {
			_, err := ts.client.ListMyNotifications(u1, &notifyv1.ListMyNotificationsRequest{PageToken: "garbage"})
			return err
		}, codes.InvalidArgument},
		{"list token of another query", func() error {
			_, err := ts.client.ListMyNotifications(u1, &notifyv1.ListMyNotificationsRequest{PageToken: first.GetNextPageToken(), UnreadOnly: true})
			return err
		}, codes.InvalidArgument},
		{"list page too large", func() error {
			_, err := ts.client.ListMyNotifications(u1, &notifyv1.ListMyNotificationsRequest{PageSize: 501})
			return err
		}, codes.InvalidArgument},
		{"mark unauthenticated", func() error {
			_, err := ts.client.MarkNotificationRead(ctx, &notifyv1.MarkNotificationReadRequest{Name: names[0]})
			return err
		}, codes.Unauthenticated},
		{"mark another user's", func() error {
			_, err := ts.client.MarkNotificationRead(as("users/u2", false), &notifyv1.MarkNotificationReadRequest{Name: names[0]})
			return err
		}, codes.NotFound},
		{"mark unknown", func() error {
			_, err := ts.client.MarkNotificationRead(u1, &notifyv1.MarkNotificationReadRequest{Name: "me/notifications/nope"})
			return err
		}, codes.NotFound},
		{"mark malformed", func() error {
			_, err := ts.client.MarkNotificationRead(u1, &notifyv1.MarkNotificationReadRequest{Name: "notifications/x"})
			return err
		}, codes.InvalidArgument},
		{"dead letters unauthenticated", func() error {
			_, err := ts.client.ListDeadLetters(ctx, &notifyv1.ListDeadLettersRequest{})
			return err
		}, codes.Unauthenticated},
		{"dead letters as a user", func() error {
			_, err := ts.client.ListDeadLetters(u1, &notifyv1.ListDeadLettersRequest{})
			return err
		}, codes.PermissionDenied},
		{"dead letters as admin", func() error {
			_, err := ts.client.ListDeadLetters(as("users/admin", true), &notifyv1.ListDeadLettersRequest{})
			return err
		}, codes.OK},
		{"retry as a user", func() error {
			_, err := ts.client.RetryDeadLetter(u1, &notifyv1.RetryDeadLetterRequest{Name: "deadLetters/x"})
			return err
		}, codes.PermissionDenied},
		{"retry unknown", func() error {
			_, err := ts.client.RetryDeadLetter(as("users/admin", true), &notifyv1.RetryDeadLetterRequest{Name: "deadLetters/0123456789abcdefghijklmnop-000"})
			return err
		}, codes.NotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); status.Code(err) != c.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, c.code)
			}
		})
	}
}

func TestWithoutSMTPMailGoesToFiles(t *testing.T) {
	ts := startServer(t)
	hc := healthpb.NewHealthClient(ts.conn)
	h, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: notifyv1.NotificationService_ServiceDesc.ServiceName})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
	if _, err := ts.internal.EnqueueNotification(context.Background(), validRequest(t, "file")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(ts.cfg.DataDir, "notify", "outbox-mail")
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, _ := os.ReadDir(dir)
		if len(entries) == 1 && strings.HasSuffix(entries[0].Name(), ".eml") {
			raw, _ := os.ReadFile(filepath.Join(dir, entries[0].Name()))
			if !strings.Contains(string(raw), "multipart/alternative") || !strings.Contains(string(raw), "u1@example.com") {
				t.Fatalf("file:\n%s", raw)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no .eml in %s: %v", dir, entries)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// updateRequest is a notification without a secret (R-NOTIF-3).
func updateRequest(t *testing.T, key string) *notifyv1.EnqueueNotificationRequest {
	return &notifyv1.EnqueueNotificationRequest{
		IdempotencyKey: key,
		Template:       notifyv1.Template_TEMPLATE_DOCUMENT_UPDATE_REQUEST,
		Recipients:     []*notifyv1.Recipient{{User: "users/u1", Email: "u1@example.com", DisplayName: "Ulysse", Language: "fr"}},
		Data:           data(t, map[string]any{"customer_name": "Big Buyer"}),
		Company:        "companies/c1",
	}
}

// waitDeadLetters lists the dead letters until there are n.
func waitDeadLetters(t *testing.T, ts *testServer, n int) []*notifyv1.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := ts.client.ListDeadLetters(as("users/admin", true), &notifyv1.ListDeadLettersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.GetDeadLetters()) >= n {
			return l.GetDeadLetters()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want %d", len(l.GetDeadLetters()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSMTPDeadLetterRetriedThroughTheAPI(t *testing.T) {
	reject := make(chan bool, 1)
	reject <- true
	srv := smtptest.Start(t, smtptest.Options{RejectRcpt: func(int, string) error {
		r := <-reject
		reject <- r
		if r {
			return smtptest.Permanent
		}
		return nil
	}})
	ts := startServer(t, "-smtp-addr", srv.Addr)
	resp, err := ts.internal.EnqueueNotification(context.Background(), updateRequest(t, "dl"))
	if err != nil {
		t.Fatal(err)
	}
	adminCtx := as("users/admin", true)
	dl := waitDeadLetters(t, ts, 1)[0]
	if dl.GetName() != "deadLetters/"+resp.GetId()+"-000" || dl.GetIdempotencyKey() != "dl" || dl.GetEmail() != "u1@example.com" ||
		dl.GetAttempts() != 1 || !strings.Contains(dl.GetLastError(), "550") || dl.GetTemplate() != notifyv1.Template_TEMPLATE_DOCUMENT_UPDATE_REQUEST {
		t.Fatalf("dead letter %v", dl)
	}
	<-reject
	reject <- false
	if _, err := ts.client.RetryDeadLetter(adminCtx, &notifyv1.RetryDeadLetterRequest{Name: dl.GetName()}); err != nil {
		t.Fatal(err)
	}
	if !srv.WaitFor(1, 5*time.Second) || srv.Count(resp.GetId()+"-000") != 1 {
		t.Fatalf("retried dead letter not delivered once: %v", srv.Counts())
	}
}

// TestDeadInvitationCannotBeRetried: the link of an invitation that failed
// for good was dropped with it (issue 7, point 8); retrying is refused, the
// person is invited anew.
func TestDeadInvitationCannotBeRetried(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{RejectRcpt: func(int, string) error { return smtptest.Permanent }})
	ts := startServer(t, "-smtp-addr", srv.Addr)
	if _, err := ts.internal.EnqueueNotification(context.Background(), validRequest(t, "inv")); err != nil {
		t.Fatal(err)
	}
	dl := waitDeadLetters(t, ts, 1)[0]
	_, err := ts.client.RetryDeadLetter(as("users/admin", true), &notifyv1.RetryDeadLetterRequest{Name: dl.GetName()})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "link") {
		t.Fatalf("retry = %v, want FAILED_PRECONDITION about the dropped link", err)
	}
	if got := waitDeadLetters(t, ts, 1); len(got) != 1 {
		t.Fatalf("the refused retry changed the dead letters: %v", got)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_SMTP_TLS", "tls")
	t.Setenv("VIGIL_NOTIFY_WORKERS", "7")
	cfg, err := ParseConfig([]string{"-data-dir", dir, "-smtp-addr", "mail.example.com:465"})
	if err != nil || cfg.SMTPTLS != "tls" || cfg.Workers != 7 || cfg.MailDir() != filepath.Join(dir, "notify", "outbox-mail") {
		t.Fatalf("cfg = %+v, %v", cfg, err)
	}
	t.Setenv("VIGIL_SMTP_TLS", "")
	for _, c := range []struct {
		args []string
		want string // "" means valid; else the value of SMTPTLS or an error substring
	}{
		{[]string{"-smtp-addr", "mail.example.com:587"}, "starttls"},
		{[]string{"-smtp-addr", "127.0.0.1:1025"}, "none"},
		{[]string{"-smtp-addr", "mail.example.com:587", "-smtp-tls", "ssl"}, "smtp-tls"},
		{[]string{"-smtp-addr", "mail.example.com:25", "-smtp-tls", "none", "-smtp-username", "u"}, "plaintext"},
		{[]string{"-notify-workers", "0"}, "notify-workers"},
		{[]string{"-notify-backoff-base", "2h", "-notify-backoff-max", "1h"}, "backoff"},
	} {
		cfg, err := ParseConfig(append([]string{"-data-dir", dir}, c.args...))
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = cfg.SMTPTLS
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("%v: got %q, want %q", c.args, got, c.want)
		}
	}
}
