package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/app"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/identity/internal/password"
	"github.com/vigil/vigil/services/runtime/config"
	"github.com/vigil/vigil/services/runtime/secrets"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/server/servertest"
)

// ---- fake directory

type fakeDirectory struct {
	directoryv1.UnimplementedDirectoryInternalServiceServer
	directoryv1.UnimplementedCompanyServiceServer

	mu         sync.Mutex
	companies  map[string]*directoryv1.Company // name → company
	byRequest  map[string]string               // request id → name (R-DIR-1 retries)
	deleted    []string
	n          int
	down       bool // GetCompany fails (directory unreachable at sign-in)
	noDelete   bool // DeleteCompany fails (directory unreachable for a compensation)
	loseAnswer bool // CreateCompany creates, then answers Unavailable (the answer was lost)
}

// created counts the companies CreateCompany made.
func (d *fakeDirectory) created() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func newFakeDirectory() *fakeDirectory {
	return &fakeDirectory{companies: map[string]*directoryv1.Company{}, byRequest: map[string]string{}}
}

func (d *fakeDirectory) CreateCompany(_ context.Context, req *directoryv1.CreateCompanyRequest) (*directoryv1.Company, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := req.GetCompany()
	if name, ok := d.byRequest[req.GetRequestId()]; ok && d.companies[name] != nil {
		return d.companies[name], nil
	}
	if c.GetRegistrationNumber() == "000" {
		return nil, status.Error(codes.InvalidArgument, "company.registration_number: fails the Luhn check")
	}
	for _, o := range d.companies {
		if o.GetCountry() == c.GetCountry() && o.GetRegistrationNumber() == c.GetRegistrationNumber() {
			return nil, status.Error(codes.AlreadyExists, "registered")
		}
	}
	d.n++
	out := &directoryv1.Company{Name: fmt.Sprintf("companies/c%d", d.n), LegalName: c.GetLegalName(), Kind: c.GetKind(),
		Country: c.GetCountry(), RegistrationNumber: c.GetRegistrationNumber()}
	d.companies[out.Name] = out
	if req.GetRequestId() != "" {
		d.byRequest[req.GetRequestId()] = out.Name
	}
	if d.loseAnswer {
		return nil, status.Error(codes.Unavailable, "the answer was lost")
	}
	return out, nil
}

func (d *fakeDirectory) DeleteCompany(_ context.Context, req *directoryv1.DeleteCompanyRequest) (*emptypb.Empty, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.noDelete {
		return nil, status.Error(codes.Unavailable, "down")
	}
	if _, ok := d.companies[req.GetName()]; !ok {
		return nil, status.Error(codes.NotFound, "no such company")
	}
	delete(d.companies, req.GetName())
	d.deleted = append(d.deleted, req.GetName())
	return &emptypb.Empty{}, nil
}

func (d *fakeDirectory) GetCompany(ctx context.Context, req *directoryv1.GetCompanyRequest) (*directoryv1.Company, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return nil, status.Error(codes.Unavailable, "down")
	}
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("authorization")) == 0 {
		return nil, status.Error(codes.Unauthenticated, "no token")
	}
	c, ok := d.companies[req.GetName()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such company")
	}
	return c, nil
}

func (d *fakeDirectory) setRequire2FA(name string, on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.companies[name].RequireTwoFactor = on
}

func (d *fakeDirectory) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.companies)
}

// ---- fake notify

type fakeNotify struct {
	notifyv1.UnimplementedNotificationInternalServiceServer
	mu   sync.Mutex
	seen map[string]bool
	all  []*notifyv1.EnqueueNotificationRequest
	ch   chan *notifyv1.EnqueueNotificationRequest
}

func newFakeNotify() *fakeNotify {
	return &fakeNotify{seen: map[string]bool{}, ch: make(chan *notifyv1.EnqueueNotificationRequest, 1000)}
}

func (n *fakeNotify) EnqueueNotification(_ context.Context, req *notifyv1.EnqueueNotificationRequest) (*notifyv1.EnqueueNotificationResponse, error) {
	// The same required data as notify's template catalog.
	required := map[notifyv1.Template][]string{
		notifyv1.Template_TEMPLATE_INVITATION:      {"link", "company_name", "inviter_name"},
		notifyv1.Template_TEMPLATE_PASSWORD_RESET:  {"link"},
		notifyv1.Template_TEMPLATE_REVIEW_NEW_USER: {"company_name", "customer_name", "new_user_name", "new_user_email"},
	}
	for _, f := range required[req.GetTemplate()] {
		if strings.TrimSpace(req.GetData().GetFields()[f].GetStringValue()) == "" {
			return nil, status.Errorf(codes.InvalidArgument, "data.%s: required by template %v", f, req.GetTemplate())
		}
	}
	if l := req.GetData().GetFields()["link"].GetStringValue(); l != "" && !strings.HasPrefix(l, "https://vigil.test/") {
		return nil, status.Errorf(codes.InvalidArgument, "data.link: %q is not under the public URL", l)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen[req.GetIdempotencyKey()] {
		return &notifyv1.EnqueueNotificationResponse{Id: "dup", Duplicate: true}, nil
	}
	n.seen[req.GetIdempotencyKey()] = true
	n.all = append(n.all, req)
	n.ch <- req
	return &notifyv1.EnqueueNotificationResponse{Id: req.GetIdempotencyKey()}, nil
}

// next waits for the next e-mail to email of template.
func (n *fakeNotify) next(t *testing.T, email string, tmpl notifyv1.Template) *notifyv1.EnqueueNotificationRequest {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case req := <-n.ch:
			if req.GetTemplate() == tmpl && req.GetRecipients()[0].GetEmail() == email {
				return req
			}
		case <-timeout:
			t.Fatalf("no %v e-mail to %s", tmpl, email)
		}
	}
}

// none asserts no e-mail to email arrives within wait.
func (n *fakeNotify) none(t *testing.T, email string, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case req := <-n.ch:
			for _, r := range req.GetRecipients() {
				if r.GetEmail() == email {
					t.Fatalf("unexpected %v e-mail to %s", req.GetTemplate(), email)
				}
			}
		case <-deadline:
			return
		}
	}
}

func linkToken(t *testing.T, req *notifyv1.EnqueueNotificationRequest) string {
	t.Helper()
	link := req.GetData().GetFields()["link"].GetStringValue()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("link %q has no token", link)
	}
	return u.Query().Get("token")
}

// ---- clock

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// ---- the environment

type env struct {
	t        testing.TB
	dir      *fakeDirectory
	notify   *fakeNotify
	clock    *clock
	svc      *domain.Service
	conn     *grpc.ClientConn
	id       identityv1.IdentityServiceClient
	internal identityv1.IdentityInternalServiceClient
	events   eventsv1.EventsInternalServiceClient
	dataDir  string
	secrets  map[string][]byte // TOTP secrets enrolTOTP made, by e-mail
	stop     func()            // stops identity (also done at cleanup)
}

type envOption func(*env, *app.Config, *app.Options)

func withStore(wrap func(domain.Store) domain.Store) envOption {
	return func(_ *env, _ *app.Config, o *app.Options) { o.WrapStore = wrap }
}

func withHashing(p password.Params, slots, queue int) envOption {
	return func(_ *env, c *app.Config, o *app.Options) { o.HashParams, c.HashSlots, c.HashQueue = p, slots, queue }
}

func withAuth(a server.Authenticator) envOption {
	return func(_ *env, _ *app.Config, o *app.Options) { o.Auth = a }
}

// withClockAt starts the fake clock at t.
func withClockAt(t time.Time) envOption {
	return func(e *env, _ *app.Config, _ *app.Options) { e.clock.now = t }
}

func withKeyRotation(d time.Duration) envOption {
	return func(_ *env, c *app.Config, _ *app.Options) { c.KeyRotation = d }
}

// fastHash keeps tests quick; OWASP's cost is exercised by the capacity
// test and the benchmarks.
var fastHash = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func serveBuf(t testing.TB, register func(*grpc.Server)) *grpc.ClientConn {
	lis := bufconn.Listen(1 << 20)
	g := grpc.NewServer()
	register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return dialBuf(t, lis)
}

func dialBuf(t testing.TB, lis *bufconn.Listener) *grpc.ClientConn { return servertest.Dial(t, lis) }

// withDataDir runs identity over dir (a restart keeps its data), with the
// secret key file found there.
func withDataDir(dir string) envOption {
	return func(_ *env, c *app.Config, _ *app.Options) {
		c.DataDir, c.SecretKeyFile = dir, filepath.Join(dir, "secret.key")
	}
}

// withDirectory shares a fake directory between environments (restarts).
func withDirectory(d *fakeDirectory) envOption {
	return func(e *env, _ *app.Config, _ *app.Options) { e.dir = d }
}

func withPlatformAdmins(emails ...string) envOption {
	return func(_ *env, c *app.Config, _ *app.Options) { c.PlatformAdmins = emails }
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, dir: newFakeDirectory(), notify: newFakeNotify(), clock: &clock{now: time.Now()}, secrets: map[string][]byte{}}
	cfg := &app.Config{Common: config.Common{Service: "identity", PublicURL: "https://vigil.test", ShutdownTimeout: time.Second}}
	withDataDir(t.TempDir())(e, cfg, nil)
	cfg.AccessTokenTTL, cfg.RefreshTokenTTL, cfg.SessionMaxAge = 15*time.Minute, 7*24*time.Hour, 30*24*time.Hour
	cfg.DirectoryTimeout = 2 * time.Second
	lis := bufconn.Listen(1 << 20)
	started := make(chan *domain.Service, 1)
	o := app.Options{Listener: lis, Now: e.clock.Now, HashParams: fastHash, Started: func(s *domain.Service) { started <- s }}
	for _, opt := range opts {
		opt(e, cfg, &o)
	}
	// The secret key: the test's own, made on first use of the folder.
	if err := secrets.Generate(cfg.SecretKeyFile); err != nil {
		t.Fatal(err)
	}
	e.dataDir = cfg.DataDir
	dirConn := serveBuf(t, func(g *grpc.Server) {
		directoryv1.RegisterDirectoryInternalServiceServer(g, e.dir)
		directoryv1.RegisterCompanyServiceServer(g, e.dir)
	})
	notifyConn := serveBuf(t, func(g *grpc.Server) { notifyv1.RegisterNotificationInternalServiceServer(g, e.notify) })
	o.DirectoryConn, o.NotifyConn = dirConn, notifyConn
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunWith(ctx, cfg, zap.NewNop(), o) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("identity stopped with %v", err)
			}
		})
	}
	t.Cleanup(e.stop)
	select {
	case e.svc = <-started:
	case err := <-done:
		t.Fatalf("identity did not start: %v", err)
	}
	e.conn = dialBuf(t, lis)
	e.id = identityv1.NewIdentityServiceClient(e.conn)
	e.internal = identityv1.NewIdentityInternalServiceClient(e.conn)
	e.events = eventsv1.NewEventsInternalServiceClient(e.conn)
	return e
}

// ---- helpers

var ctxBg = context.Background()

func bearer(token string) context.Context {
	return metadata.AppendToOutgoingContext(ctxBg, "authorization", "Bearer "+token)
}

const goodPassword = "violet-tram-oscillates-7"

var regNumber int

type account struct {
	email   string
	access  string
	refresh string
	user    string // users/{user}
	member  string // companies/{company}/users/{user}
	company string // companies/{company}
}

func (a *account) ctx() context.Context { return bearer(a.access) }

// signUp creates a company of kind with its Administrator.
func (e *env) signUp(kind identityv1.CompanyKind, email string) *account {
	e.t.Helper()
	regNumber++
	resp, err := e.id.SignUp(ctxBg, &identityv1.SignUpRequest{
		Company: &identityv1.SignUpCompany{LegalName: "Acme " + email, Kind: kind, Country: "FR", RegistrationNumber: fmt.Sprintf("%09d", regNumber)},
		Admin:   &identityv1.SignUpAdmin{Email: email, GivenName: "Ada", FamilyName: "Admin", Password: goodPassword},
	})
	if err != nil {
		e.t.Fatalf("sign up %s: %v", email, err)
	}
	return &account{email: email, access: resp.GetAccessToken(), refresh: resp.GetRefreshToken(),
		user: userOf(resp.GetUser().GetName()), member: resp.GetUser().GetName(), company: resp.GetCompany()}
}

func userOf(member string) string {
	i := strings.Index(member, "/users/")
	return "users/" + member[i+len("/users/"):]
}

// invite has admin create a member with role, who accepts the invitation.
func (e *env) invite(admin *account, email string, role identityv1.Role) *account {
	e.t.Helper()
	u, err := e.id.CreateUser(admin.ctx(), &identityv1.CreateUserRequest{Parent: admin.company,
		User: &identityv1.User{Email: email, GivenName: "Gus", FamilyName: strings.Split(email, "@")[0], Role: role}})
	if err != nil {
		e.t.Fatalf("create %s: %v", email, err)
	}
	mail := e.notify.next(e.t.(*testing.T), email, notifyv1.Template_TEMPLATE_INVITATION)
	resp, err := e.id.AcceptInvitation(ctxBg, &identityv1.AcceptInvitationRequest{Token: linkToken(e.t.(*testing.T), mail), Password: goodPassword})
	if err != nil {
		e.t.Fatalf("accept %s: %v", email, err)
	}
	return &account{email: email, access: resp.GetAccessToken(), refresh: resp.GetRefreshToken(),
		user: userOf(u.GetName()), member: u.GetName(), company: resp.GetCompany()}
}

func (e *env) login(email, company string) (*identityv1.LoginResponse, error) {
	return e.id.Login(ctxBg, &identityv1.LoginRequest{Email: email, Password: goodPassword, Company: company})
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got %v (%v), want %v", got, err, want)
	}
}

func reason(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(interface{ GetReason() string }); ok {
			return info.GetReason()
		}
	}
	return ""
}

var errStoreBroken = errors.New("injected store failure")
