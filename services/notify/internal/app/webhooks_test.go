package app

// The real notify server following fake event feeds: identity, directory
// and vault served by feed.NewServer over in-memory logs on bufconn, as
// those services serve theirs, and HTTPS receivers signed by a test CA.

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

// memLog is a service's event log in memory (feed.Log).
type memLog struct {
	mu     sync.Mutex
	events []feed.Event
}

func (l *memLog) append(e feed.Event) feed.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Sequence = uint64(len(l.events) + 1)
	l.events = append(l.events, e)
	return e
}

func (l *memLog) EventsAfter(_ context.Context, after uint64, limit int) ([]feed.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []feed.Event
	for _, e := range l.events {
		if e.Sequence > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (*memLog) PrunedThrough(context.Context) (uint64, error) { return 0, nil }

// members is identity's ListMembers for the webhook e-mails: one active
// Administrator per company, and a Power user who must not be told.
type members struct {
	identityv1.UnimplementedIdentityInternalServiceServer
}

func (members) ListMembers(_ context.Context, req *identityv1.ListMembersRequest) (*identityv1.ListMembersResponse, error) {
	c := strings.TrimPrefix(req.GetCompany(), "companies/")
	return &identityv1.ListMembersResponse{Members: []*identityv1.User{
		{Name: req.GetCompany() + "/users/adm" + c, Email: "admin@" + c + ".test", GivenName: "Ada", FamilyName: "Admin",
			Role: identityv1.Role_ROLE_ADMINISTRATOR, State: identityv1.User_STATE_ACTIVE, Language: "fr"},
		{Name: req.GetCompany() + "/users/pow" + c, Email: "power@" + c + ".test", Role: identityv1.Role_ROLE_POWER_USER, State: identityv1.User_STATE_ACTIVE},
	}}, nil
}

// source is one fake service serving its event feed.
type source struct {
	name string
	log  *memLog
	srv  *feed.Server
}

func (s *source) emit(typ, company, subject string, attrs map[string]string) string {
	e := s.log.append(feed.Event{Type: typ, Time: time.Now(), Company: company, Subject: subject,
		Resources: map[string]string{feed.ResourceCustomer: company}, Attributes: attrs})
	s.srv.Wake()
	return feed.ID(s.name, e.Sequence)
}

// subjectAuth authenticates from metadata: user, company, role.
type subjectAuth struct{}

func (subjectAuth) Authenticate(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("x-user")) == 0 {
		if auth.IsInternal(method) {
			return ctx, nil
		}
		return ctx, errs.Unauthenticated("MISSING_TOKEN", "missing bearer access token")
	}
	return auth.WithPrincipal(ctx, auth.Principal{User: md.Get("x-user")[0], Company: md.Get("x-company")[0],
		CompanyKind: authz.ParseCompanyKind(md.Get("x-kind")[0]), Role: authz.ParseRole(md.Get("x-role")[0])}), nil
}

func caller(company string, role authz.Role) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-user", "users/u-"+strings.TrimPrefix(company, "companies/"),
		"x-company", company, "x-kind", authz.KindOperator.String(), "x-role", role.String())
}

// hookReceiver is an HTTPS endpoint that records what it accepts.
type hookReceiver struct {
	srv  *httptest.Server
	code atomic.Int32
	mu   sync.Mutex
	got  map[string][]webhooks.CloudEvent // by path
	sigs map[string][]string
	raw  map[string][][]byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{got: map[string][]webhooks.CloudEvent{}, sigs: map[string][]string{}, raw: map[string][][]byte{}}
	r.code.Store(200)
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		code := int(r.code.Load())
		if code == 200 {
			var ev webhooks.CloudEvent
			_ = json.Unmarshal(body, &ev)
			r.mu.Lock()
			r.got[req.URL.Path] = append(r.got[req.URL.Path], ev)
			r.sigs[req.URL.Path] = append(r.sigs[req.URL.Path], req.Header.Get(webhooks.HeaderSignature))
			r.raw[req.URL.Path] = append(r.raw[req.URL.Path], body)
			r.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) ids(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got[path] {
		out = append(out, e.ID)
	}
	return out
}

// caFile writes the receiver's certificate as the operator's webhook CA.
func (r *hookReceiver) caFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "webhook-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hooksServer is notify with the three fake feeds.
type hooksServer struct {
	t       *testing.T
	dir     string
	args    []string
	sources map[string]*source
	conns   map[string]grpc.ClientConnInterface
	client  notifyv1.WebhookServiceClient
	inbox   notifyv1.NotificationServiceClient
	stop    func()
}

func startHooks(t *testing.T, r *hookReceiver, args ...string) *hooksServer {
	t.Helper()
	h := &hooksServer{t: t, dir: t.TempDir(), sources: map[string]*source{}, conns: map[string]grpc.ClientConnInterface{}}
	h.args = append([]string{"-metrics-addr", "", "-webhook-allow-private=true", "-webhook-ca-file", r.caFile(t),
		"-webhook-backoff-base", "10ms", "-webhook-backoff-max", "50ms",
		"-secret-key-file", writeKey(t, h.dir), "-notify-scheduler=false"}, args...)
	for _, name := range feedSources {
		s := &source{name: name, log: &memLog{}}
		s.srv = feed.NewServer(name, s.log)
		g := grpc.NewServer()
		s.srv.Register(g)
		if name == "identity" {
			identityv1.RegisterIdentityInternalServiceServer(g, members{})
		}
		lis := servertest.Listen()
		go func() { _ = g.Serve(lis) }()
		t.Cleanup(g.Stop)
		h.sources[name] = s
		h.conns[name] = servertest.Dial(t, lis)
	}
	h.start()
	t.Cleanup(func() { h.stop() })
	return h
}

func (h *hooksServer) start() {
	h.t.Helper()
	cfg, err := ParseConfig(append([]string{"-data-dir", h.dir}, h.args...))
	if err != nil {
		h.t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunWith(ctx, cfg, zap.NewNop(), Options{Listener: lis, Auth: subjectAuth{},
			IdentityConn: h.conns["identity"], DirectoryConn: h.conns["directory"], VaultConn: h.conns["vault"]})
	}()
	conn := servertest.Dial(h.t, lis)
	h.client = notifyv1.NewWebhookServiceClient(conn)
	h.inbox = notifyv1.NewNotificationServiceClient(conn)
	h.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			h.t.Error("notify did not stop")
		}
	}
}

func (h *hooksServer) create(company, url string, types ...string) *notifyv1.Webhook {
	h.t.Helper()
	w, err := h.client.CreateWebhook(caller(company, authz.RoleAdministrator), &notifyv1.CreateWebhookRequest{
		Parent: company, Webhook: &notifyv1.Webhook{Url: url, EventTypes: types}})
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

func (h *hooksServer) feed(company, after string) ([]string, string) {
	h.t.Helper()
	resp, err := h.client.ListEvents(caller(company, authz.RoleAdministrator), &notifyv1.ListEventsRequest{Parent: company, After: after})
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for _, e := range resp.GetEvents() {
		if e.GetData().GetCompany() != company || e.GetSpecversion() != "1.0" {
			h.t.Fatalf("%s's feed lists %v", company, e)
		}
		ids = append(ids, e.GetId())
	}
	return ids, resp.GetNextCursor()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestFollowFeedsFanOutPerCompany: notify follows identity's, directory's
// and vault's feeds, keeps each public event for its company's change feed,
// and delivers it, signed, to that company's endpoints subscribed to its
// type only (R-NOTIF-6, R-VAULT-3); it resumes after a restart without
// losing or repeating anything.
func TestFollowFeedsFanOutPerCompany(t *testing.T) {
	r := newHookReceiver(t)
	h := startHooks(t, r)
	wa := h.create("companies/a", r.srv.URL+"/a", feed.TypeDocumentUploaded, feed.TypeComplianceChanged)
	h.create("companies/b", r.srv.URL+"/b", feed.TypeDocumentUploaded, feed.TypeUserDeactivated)
	h.create("companies/s", r.srv.URL+"/s", feed.TypeDocumentUploaded)
	if !strings.HasPrefix(wa.GetSigningSecret(), "whsec_") {
		t.Fatalf("created webhook %v: the secret is shown once, on create", wa)
	}
	got, _ := h.client.GetWebhook(caller("companies/a", authz.RoleAdministrator), &notifyv1.GetWebhookRequest{Name: wa.GetName()})
	if got.GetSigningSecret() != "" || !got.GetEnabled() {
		t.Fatalf("get shows %v", got)
	}

	vault, directory, identity := h.sources["vault"], h.sources["directory"], h.sources["identity"]
	up := vault.emit(feed.TypeDocumentUploaded, "companies/a", "companies/a/suppliers/s/documents/d1", nil)
	upS := vault.emit(feed.TypeDocumentUploaded, "companies/s", "companies/s/documents/d1", nil)
	cc := vault.emit(feed.TypeComplianceChanged, "companies/a", "companies/a/suppliers/s/compliance", map[string]string{feed.AttrCompliant: "true"})
	upB := vault.emit(feed.TypeDocumentUploaded, "companies/b", "companies/b/suppliers/s/documents/d1", nil)
	linked := directory.emit(feed.TypeSupplierLinked, "companies/a", "companies/a/suppliers/s", nil)
	directory.emit(feed.TypeProjectChanged, "companies/a", "companies/a/projects/p", nil)
	gone := identity.emit(feed.TypeUserDeactivated, "companies/b", "companies/b/users/u", nil)

	eventually(t, "deliveries", func() bool {
		return len(r.ids("/a")) == 2 && len(r.ids("/s")) == 1 && len(r.ids("/b")) == 2
	})
	time.Sleep(100 * time.Millisecond) // nothing else arrives
	if !sameSet(r.ids("/a"), []string{up, cc}) || !sameSet(r.ids("/s"), []string{upS}) || !sameSet(r.ids("/b"), []string{upB, gone}) {
		t.Fatalf("a got %v, s got %v, b got %v", r.ids("/a"), r.ids("/s"), r.ids("/b"))
	}
	r.mu.Lock()
	for i, body := range r.raw["/a"] {
		if !webhooks.Verify(r.sigs["/a"][i], body, wa.GetSigningSecret(), time.Now(), time.Minute) {
			t.Errorf("delivery %d to a: bad signature", i)
		}
	}
	r.mu.Unlock()

	ids, cursor := h.feed("companies/a", "")
	if !sameSet(ids, []string{up, cc, linked}) || slices.Index(ids, up) > slices.Index(ids, cc) {
		t.Fatalf("a's feed %v", ids)
	}
	if ids, _ := h.feed("companies/b", ""); !sameSet(ids, []string{upB, gone}) {
		t.Fatalf("b's feed %v", ids)
	}

	// Stopped, notify misses nothing: what happened meanwhile arrives once.
	h.stop()
	later := vault.emit(feed.TypeDocumentUploaded, "companies/a", "companies/a/suppliers/s/documents/d2", nil)
	h.start()
	eventually(t, "the event of the downtime", func() bool { return len(r.ids("/a")) == 3 })
	time.Sleep(100 * time.Millisecond)
	if ids := r.ids("/a"); len(ids) != 3 || ids[2] != later {
		t.Fatalf("after a restart a got %v", ids)
	}
	if ids, _ := h.feed("companies/a", cursor); !slices.Equal(ids, []string{later}) {
		t.Fatalf("the feed resumed from its cursor with %v", ids)
	}

	// A delivery pending when notify stops is made after it starts (at least once).
	r.code.Store(503)
	pending := vault.emit(feed.TypeComplianceChanged, "companies/a", "companies/a/suppliers/s/compliance", map[string]string{feed.AttrCompliant: "false"})
	ctxA := caller("companies/a", authz.RoleAdministrator)
	eventually(t, "a failed attempt", func() bool {
		resp, _ := h.client.ListWebhookDeliveries(ctxA, &notifyv1.ListWebhookDeliveriesRequest{Parent: wa.GetName()})
		return len(resp.GetDeliveries()) > 0 && resp.GetDeliveries()[0].GetLastResponseCode() == 503
	})
	h.stop()
	r.code.Store(200)
	h.start()
	eventually(t, "the pending delivery", func() bool { return slices.Contains(r.ids("/a"), pending) })
	var resp *notifyv1.ListWebhookDeliveriesResponse
	eventually(t, "the pending delivery recorded", func() bool {
		resp, _ = h.client.ListWebhookDeliveries(ctxA, &notifyv1.ListWebhookDeliveriesRequest{Parent: wa.GetName(),
			State: notifyv1.WebhookDelivery_STATE_DELIVERED})
		return len(resp.GetDeliveries()) == 4
	})
	if d := resp.GetDeliveries()[0]; d.GetEventId() != pending || d.GetLastResponseCode() != 200 || d.GetAttempts() < 1 {
		t.Fatalf("newest delivery %v", d)
	}
}

// TestWebhookRoutesOverGRPC: the handlers translate the rules' answers:
// refusals, bad input naming the field, and a disabled endpoint's
// Administrators e-mailed through notify's own outbox and inbox.
func TestWebhookRoutesOverGRPC(t *testing.T) {
	r := newHookReceiver(t)
	h := startHooks(t, r, "-webhook-disable-after", "200ms")
	admin := caller("companies/a", authz.RoleAdministrator)
	for _, role := range []authz.Role{authz.RoleRestricted, authz.RoleStandard, authz.RolePower} {
		_, err := h.client.ListWebhooks(caller("companies/a", role), &notifyv1.ListWebhooksRequest{Parent: "companies/a"})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s lists webhooks: %v", role, err)
		}
	}
	if _, err := h.client.ListEvents(caller("companies/b", authz.RoleAdministrator), &notifyv1.ListEventsRequest{Parent: "companies/a"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("another company reads the feed: %v", err)
	}
	if _, err := h.client.ListWebhooks(context.Background(), &notifyv1.ListWebhooksRequest{Parent: "companies/a"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("unauthenticated: %v", err)
	}
	for _, c := range []struct {
		w     *notifyv1.Webhook
		field string
	}{
		{&notifyv1.Webhook{Url: "http://127.0.0.1/x", EventTypes: []string{feed.TypeDocumentUploaded}}, "webhook.url"},
		{&notifyv1.Webhook{Url: r.srv.URL, EventTypes: []string{"nope"}}, "webhook.event_types[0]"},
		{&notifyv1.Webhook{Url: r.srv.URL, EventTypes: []string{feed.TypeDocumentUploaded, feed.TypeDocumentUploaded}}, "event_types"},
	} {
		_, err := h.client.CreateWebhook(admin, &notifyv1.CreateWebhookRequest{Parent: "companies/a", Webhook: c.w})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(fieldOf(err)+status.Convert(err).Message(), c.field) {
			t.Errorf("create %v: %v, want INVALID_ARGUMENT naming %s", c.w, err, c.field)
		}
	}
	if list, _ := h.client.ListWebhooks(admin, &notifyv1.ListWebhooksRequest{Parent: "companies/a"}); len(list.GetWebhooks()) != 0 {
		t.Fatalf("bad input stored %v", list)
	}

	w := h.create("companies/a", r.srv.URL+"/a", feed.TypeSupplierUnlinked)
	off := false
	upd, err := h.client.UpdateWebhook(admin, &notifyv1.UpdateWebhookRequest{Webhook: &notifyv1.Webhook{Name: w.GetName(), Enabled: &off, Description: "ERP"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled", "description"}}})
	if err != nil || upd.GetEnabled() || upd.GetDescription() != "ERP" || upd.GetSigningSecret() != "" {
		t.Fatalf("update: %v %v", upd, err)
	}
	on := true
	if _, err := h.client.UpdateWebhook(admin, &notifyv1.UpdateWebhookRequest{Webhook: &notifyv1.Webhook{Name: w.GetName(), Enabled: &on},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"enabled"}}}); err != nil {
		t.Fatal(err)
	}
	rot, err := h.client.RotateWebhookSecret(admin, &notifyv1.RotateWebhookSecretRequest{Name: w.GetName()})
	if err != nil || rot.GetSigningSecret() == w.GetSigningSecret() || rot.GetPreviousSecretExpireTime() == nil {
		t.Fatalf("rotate: %v %v", rot, err)
	}
	test, err := h.client.TestWebhook(admin, &notifyv1.TestWebhookRequest{Name: w.GetName()})
	if err != nil || !test.GetTest() || test.GetEventType() != webhooks.TypeTest || test.GetState() != notifyv1.WebhookDelivery_STATE_PENDING {
		t.Fatalf("test: %v %v", test, err)
	}
	eventually(t, "the test event", func() bool { return len(r.ids("/a")) == 1 })
	r.mu.Lock()
	sig, body := r.sigs["/a"][0], r.raw["/a"][0]
	r.mu.Unlock()
	if strings.Count(sig, "v1=") != 2 || !webhooks.Verify(sig, body, w.GetSigningSecret(), time.Now(), time.Minute) ||
		!webhooks.Verify(sig, body, rot.GetSigningSecret(), time.Now(), time.Minute) {
		t.Fatalf("during the rotation: %q", sig)
	}

	// Failing for longer than webhook-disable-after: disabled, Administrators told.
	r.code.Store(500)
	h.sources["directory"].emit(feed.TypeSupplierUnlinked, "companies/a", "companies/a/suppliers/s", nil)
	eventually(t, "the webhook disabled", func() bool {
		got, _ := h.client.GetWebhook(admin, &notifyv1.GetWebhookRequest{Name: w.GetName()})
		ds, _ := h.client.ListWebhookDeliveries(admin, &notifyv1.ListWebhookDeliveriesRequest{Parent: w.GetName()})
		_ = ds
		return !got.GetEnabled() && got.GetDisabledReason() != ""
	})
	adminUser := metadata.AppendToOutgoingContext(context.Background(), "x-user", "users/adma", "x-company", "companies/a",
		"x-kind", authz.KindOperator.String(), "x-role", authz.RoleAdministrator.String())
	eventually(t, "the Administrator's inbox", func() bool {
		resp, _ := h.inbox.ListMyNotifications(adminUser, &notifyv1.ListMyNotificationsRequest{})
		return len(resp.GetNotifications()) == 1 && strings.Contains(resp.GetNotifications()[0].GetSubject(), "webhook")
	})
	eventually(t, "the e-mail", func() bool {
		found := false
		_ = filepath.Walk(h.dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(p, ".eml") {
				raw, _ := os.ReadFile(p)
				found = found || strings.Contains(string(raw), "admin@a.test") && strings.Contains(string(raw), "webhook")
			}
			return nil
		})
		return found
	})
	var dead *notifyv1.ListWebhookDeliveriesResponse
	eventually(t, "the queued delivery given up", func() bool {
		dead, _ = h.client.ListWebhookDeliveries(admin, &notifyv1.ListWebhookDeliveriesRequest{Parent: w.GetName(), State: notifyv1.WebhookDelivery_STATE_DEAD})
		return len(dead.GetDeliveries()) == 1
	})
	if _, err := h.client.RedeliverWebhookDelivery(admin, &notifyv1.RedeliverWebhookDeliveryRequest{Name: dead.GetDeliveries()[0].GetName()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("redeliver to a disabled webhook: %v", err)
	}
	if _, err := h.client.DeleteWebhook(admin, &notifyv1.DeleteWebhookRequest{Name: w.GetName()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.GetWebhook(admin, &notifyv1.GetWebhookRequest{Name: w.GetName()}); status.Code(err) != codes.NotFound {
		t.Fatalf("after delete: %v", err)
	}
}
