package app_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	eventsv1 "github.com/vigil/vigil/gen/vigil/events/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/server"
	"github.com/vigil/vigil/services/runtime/server/servertest"
	"github.com/vigil/vigil/services/vault/internal/app"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

var bg = context.Background()

// ---- a clock tests move

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// ---- fake identity: keys, revocations, permissions, members

type member struct {
	company string
	user    string // user id
	role    authz.Role
	email   string
	lang    string
	name    string
}

type fakeIdentity struct {
	identityv1.UnimplementedIdentityServiceServer
	identityv1.UnimplementedIdentityInternalServiceServer
	key auth.SigningKey

	mu      sync.Mutex
	members []member
	grants  map[string]authz.GrantLevel // user/company → suppliers-area level
	revs    []*identityv1.RevocationEvent
	wake    chan struct{}
}

func (f *fakeIdentity) GetJwks(context.Context, *identityv1.GetJwksRequest) (*identityv1.GetJwksResponse, error) {
	return &identityv1.GetJwksResponse{Keys: []*identityv1.Jwk{f.key.JWK()}}, nil
}

func (f *fakeIdentity) WatchRevocations(req *identityv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[identityv1.RevocationEvent]) error {
	after := req.GetAfterSequence()
	for {
		f.mu.Lock()
		wake := f.wake
		var send []*identityv1.RevocationEvent
		for _, r := range f.revs {
			if r.GetSequence() > after {
				send = append(send, r)
			}
		}
		f.mu.Unlock()
		for _, r := range send {
			if err := stream.Send(r); err != nil {
				return err
			}
			after = r.GetSequence()
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-wake:
		}
	}
}

// setGrant changes a user's suppliers-area grant and reports it on the feed.
func (f *fakeIdentity) setGrant(user, company string, level authz.GrantLevel) {
	f.mu.Lock()
	f.grants[user+"|"+company] = level
	f.revs = append(f.revs, &identityv1.RevocationEvent{Sequence: uint64(len(f.revs) + 1), User: user, Company: company,
		Kind: identityv1.RevocationEvent_KIND_GRANTS_CHANGED})
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeIdentity) CheckPermission(_ context.Context, req *identityv1.CheckPermissionRequest) (*identityv1.CheckPermissionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	level := f.grants[req.GetUser()+"|"+req.GetCompany()]
	want := authz.GrantLevel(req.GetExtendedPermission().GetLevel())
	return &identityv1.CheckPermissionResponse{Allowed: level.Covers(want)}, nil
}

func (f *fakeIdentity) user(m member) *identityv1.User {
	given, family, _ := strings.Cut(m.name, " ")
	return &identityv1.User{Name: "companies/" + m.company + "/users/" + m.user, Email: m.email, GivenName: given, FamilyName: family,
		Role: identityv1.Role(m.role), State: identityv1.User_STATE_ACTIVE, Language: m.lang}
}

func (f *fakeIdentity) ListMembers(_ context.Context, req *identityv1.ListMembersRequest) (*identityv1.ListMembersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &identityv1.ListMembersResponse{}
	for _, m := range f.members {
		if "companies/"+m.company != req.GetCompany() {
			continue
		}
		if p := req.GetPermission(); p != 0 && !authz.Allowed(authz.KindSupplier, m.role, authz.Action(p)) {
			continue
		}
		out.Members = append(out.Members, f.user(m))
	}
	return out, nil
}

func (f *fakeIdentity) BatchGetUsers(_ context.Context, req *identityv1.BatchGetUsersRequest) (*identityv1.BatchGetUsersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &identityv1.BatchGetUsersResponse{}
	for _, n := range req.GetNames() {
		for _, m := range f.members {
			if n == "companies/"+m.company+"/users/"+m.user {
				out.Users = append(out.Users, f.user(m))
			}
		}
	}
	return out, nil
}

// ---- fake directory: its internal service and its event feed

type fakeDirectory struct {
	directoryv1.UnimplementedDirectoryInternalServiceServer

	mu        sync.Mutex
	companies map[string]*directoryv1.Company
	employees map[string]*directoryv1.Employee // name → employee
	projects  map[string]*directoryv1.Project
	refs      map[string][]string // customer/supplier → member names
	links     map[string]bool     // customer/supplier
	assigns   map[[2]string]bool  // employee, project
	events    []feed.Event
	pruned    uint64
	feed      *feed.Server
}

func (d *fakeDirectory) EventsAfter(_ context.Context, after uint64, limit int) ([]feed.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []feed.Event
	for _, e := range d.events {
		if e.Sequence > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (d *fakeDirectory) PrunedThrough(context.Context) (uint64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pruned, nil
}

// emit appends events and wakes the vault's follower; it returns the last sequence.
func (d *fakeDirectory) emit(evs ...feed.Event) uint64 {
	d.mu.Lock()
	for _, e := range evs {
		e.Sequence = uint64(len(d.events)) + 1 + d.pruned
		e.Time = time.Now()
		d.events = append(d.events, e)
	}
	last := uint64(len(d.events)) + d.pruned
	d.mu.Unlock()
	d.feed.Wake()
	return last
}

func (d *fakeDirectory) BatchGetCompanies(_ context.Context, req *directoryv1.BatchGetCompaniesRequest) (*directoryv1.BatchGetCompaniesResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := &directoryv1.BatchGetCompaniesResponse{}
	for _, n := range req.GetNames() {
		if c, ok := d.companies[n]; ok {
			out.Companies = append(out.Companies, c)
		}
	}
	return out, nil
}

func (d *fakeDirectory) ListCompanies(_ context.Context, _ *directoryv1.ListCompaniesRequest) (*directoryv1.ListCompaniesResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := &directoryv1.ListCompaniesResponse{}
	for _, n := range slices.Sorted(maps.Keys(d.companies)) {
		out.Companies = append(out.Companies, d.companies[n])
	}
	return out, nil
}

func (d *fakeDirectory) ListSupplierCompanies(_ context.Context, req *directoryv1.ListSupplierCompaniesRequest) (*directoryv1.ListSupplierCompaniesResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := &directoryv1.ListSupplierCompaniesResponse{}
	for l := range d.links {
		c, s, _ := strings.Cut(l, "/")
		if "companies/"+c == req.GetCustomer() {
			out.Companies = append(out.Companies, "companies/"+s)
		}
	}
	sort.Strings(out.Companies)
	return out, nil
}

func (d *fakeDirectory) ListAssignments(_ context.Context, req *directoryv1.ListAssignmentsRequest) (*directoryv1.ListAssignmentsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := &directoryv1.ListAssignmentsResponse{}
	for a := range d.assigns {
		if strings.HasPrefix(a[1], req.GetCustomer()+"/") {
			out.Assignments = append(out.Assignments, &directoryv1.Assignment{Employee: a[0], Project: a[1]})
		}
	}
	return out, nil
}

func (d *fakeDirectory) GetEmployee(_ context.Context, req *directoryv1.GetEmployeeRequest) (*directoryv1.Employee, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.employees[req.GetName()]; ok {
		return e, nil
	}
	return nil, status.Error(codes.NotFound, "no such employee")
}

func (d *fakeDirectory) GetProject(_ context.Context, req *directoryv1.GetProjectRequest) (*directoryv1.Project, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.projects[req.GetName()]; ok {
		return p, nil
	}
	return nil, status.Error(codes.NotFound, "no such project")
}

func (d *fakeDirectory) ListReferences(_ context.Context, req *directoryv1.ListReferencesRequest) (*directoryv1.ListReferencesResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &directoryv1.ListReferencesResponse{Users: d.refs[req.GetCustomer()+"/"+req.GetSupplier()]}, nil
}

// ---- fake notify

type fakeNotify struct {
	notifyv1.UnimplementedNotificationInternalServiceServer
	mu   sync.Mutex
	sent map[string]*notifyv1.EnqueueNotificationRequest
}

func (n *fakeNotify) EnqueueNotification(_ context.Context, req *notifyv1.EnqueueNotificationRequest) (*notifyv1.EnqueueNotificationResponse, error) {
	// notify's contract: a display name of at most 200 characters without
	// control characters or line separators, or the whole call is refused.
	for i, r := range req.GetRecipients() {
		name := r.GetDisplayName()
		if utf8.RuneCountInString(name) > 200 || strings.IndexFunc(name, func(c rune) bool { return unicode.IsControl(c) || c == '\u2028' || c == '\u2029' }) >= 0 {
			return nil, status.Errorf(codes.InvalidArgument, "recipients[%d].display_name: at most 200 characters, no line breaks or control characters", i)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, dup := n.sent[req.GetIdempotencyKey()]
	n.sent[req.GetIdempotencyKey()] = req
	return &notifyv1.EnqueueNotificationResponse{Id: req.GetIdempotencyKey(), Duplicate: dup}, nil
}

func (n *fakeNotify) byTemplate(t notifyv1.Template) []*notifyv1.EnqueueNotificationRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*notifyv1.EnqueueNotificationRequest
	for _, k := range slices.Sorted(maps.Keys(n.sent)) {
		if n.sent[k].GetTemplate() == t {
			out = append(out, n.sent[k])
		}
	}
	return out
}

// ---- the environment

type env struct {
	t       testing.TB
	dir     string
	clock   *clock
	id      *fakeIdentity
	dirSvc  *fakeDirectory
	notify  *fakeNotify
	svc     *vault.Service
	stop    func()
	types   vaultv1.DocumentTypeServiceClient
	reqs    vaultv1.RequirementServiceClient
	docs    vaultv1.DocumentServiceClient
	comp    vaultv1.ComplianceServiceClient
	intern  vaultv1.VaultInternalServiceClient
	events  eventsv1.EventsInternalServiceClient
	fakes   *grpc.ClientConn
	maxSize int64
}

type envOption func(*envOptions)

type envOptions struct {
	dataDir string
	maxSize int64
	auth    server.Authenticator
}

func withMaxSize(n int64) envOption { return func(o *envOptions) { o.maxSize = n } }

// today is the harness's fixed start: 2026-03-10 09:00 in Paris.
var start = time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	o := envOptions{dataDir: t.TempDir(), maxSize: 1 << 20}
	for _, f := range opts {
		f(&o)
	}
	key, err := auth.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: o.dataDir, clock: &clock{now: start}, maxSize: o.maxSize,
		id:     &fakeIdentity{key: key, grants: map[string]authz.GrantLevel{}, wake: make(chan struct{})},
		notify: &fakeNotify{sent: map[string]*notifyv1.EnqueueNotificationRequest{}},
		dirSvc: &fakeDirectory{companies: map[string]*directoryv1.Company{}, employees: map[string]*directoryv1.Employee{},
			projects: map[string]*directoryv1.Project{}, refs: map[string][]string{}, links: map[string]bool{}, assigns: map[[2]string]bool{}},
	}
	e.dirSvc.feed = feed.NewServer("directory", e.dirSvc)
	e.dirSvc.feed.Poll = 50 * time.Millisecond
	// The fakes share one in-memory server.
	fl := servertest.Listen()
	fg := grpc.NewServer()
	identityv1.RegisterIdentityServiceServer(fg, e.id)
	identityv1.RegisterIdentityInternalServiceServer(fg, e.id)
	directoryv1.RegisterDirectoryInternalServiceServer(fg, e.dirSvc)
	e.dirSvc.feed.Register(fg)
	notifyv1.RegisterNotificationInternalServiceServer(fg, e.notify)
	go func() { _ = fg.Serve(fl) }()
	e.fakes = servertest.Dial(t, fl)

	e.start(e.fakes, o)
	t.Cleanup(func() {
		e.stop()
		e.dirSvc.feed.Stop()
		fg.Stop()
	})
	return e
}

func (e *env) start(fakes *grpc.ClientConn, o envOptions) {
	cfg, err := app.ParseConfig([]string{"--data-dir", o.dataDir, "--metrics-addr", "", "--public-url", "https://vigil.test",
		"--max-upload-bytes", fmt.Sprint(o.maxSize), "--sweep-every", "1h"})
	if err != nil {
		e.t.Fatal(err)
	}
	lis := servertest.Listen()
	ctx, cancel := context.WithCancel(bg)
	started := make(chan *vault.Service, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.RunWith(ctx, cfg, zap.NewNop(), app.Options{Listener: lis, IdentityConn: fakes, DirectoryConn: fakes, NotifyConn: fakes,
			Now: e.clock.Now, Auth: o.auth, Started: func(s *vault.Service) { started <- s }})
	}()
	select {
	case e.svc = <-started:
	case err := <-done:
		e.t.Fatalf("vault did not start: %v", err)
	}
	conn := servertest.Dial(e.t, lis)
	e.types, e.reqs, e.docs = vaultv1.NewDocumentTypeServiceClient(conn), vaultv1.NewRequirementServiceClient(conn), vaultv1.NewDocumentServiceClient(conn)
	e.comp, e.intern, e.events = vaultv1.NewComplianceServiceClient(conn), vaultv1.NewVaultInternalServiceClient(conn), eventsv1.NewEventsInternalServiceClient(conn)
	e.stop = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("vault stopped with %v", err)
		}
	}
}

// ---- companies, people, tokens

type person struct {
	company, user string
	kind          authz.CompanyKind
	role          authz.Role
	ctx           context.Context
}

var nextID int

func newID(prefix string) string { nextID++; return fmt.Sprintf("%s%d", prefix, nextID) }

// company registers a company with directory's fake.
func (e *env) company(kind authz.CompanyKind, name, tz string) string {
	id := newID(map[authz.CompanyKind]string{authz.KindOperator: "op", authz.KindSupplier: "sup"}[kind])
	e.dirSvc.mu.Lock()
	e.dirSvc.companies["companies/"+id] = &directoryv1.Company{Name: "companies/" + id, LegalName: name, Kind: directoryv1.CompanyKind(kind), TimeZone: tz}
	e.dirSvc.mu.Unlock()
	return id
}

// member adds a member to a company and signs a token for it.
func (e *env) member(company string, kind authz.CompanyKind, role authz.Role, lang string) person {
	p := person{company: company, user: newID("u"), kind: kind, role: role}
	e.id.mu.Lock()
	e.id.members = append(e.id.members, member{company: company, user: p.user, role: role, email: p.user + "@example.test", lang: lang, name: "Given " + p.user})
	e.id.mu.Unlock()
	tok, err := auth.Sign(e.id.key, auth.Principal{User: "users/" + p.user, Company: "companies/" + company, CompanyKind: kind, Role: role, Session: "s"},
		time.Now(), time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	p.ctx = metadata.AppendToOutgoingContext(bg, "authorization", "Bearer "+tok)
	return p
}

// platformAdmin is a platform administrator signed in to company.
func (e *env) platformAdmin(company string) person {
	p := person{company: company, user: newID("padm"), kind: authz.KindOperator, role: authz.RoleRestricted}
	tok, _ := auth.Sign(e.id.key, auth.Principal{User: "users/" + p.user, Company: "companies/" + company, CompanyKind: authz.KindOperator,
		Role: authz.RoleRestricted, Session: "s", PlatformAdmin: true}, time.Now(), time.Hour)
	p.ctx = metadata.AppendToOutgoingContext(bg, "authorization", "Bearer "+tok)
	return p
}

// applied waits until the vault has applied directory's events through seq.
func (e *env) applied(seq uint64) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := e.svc.DirectoryCursor(bg)
		if err == nil && n >= seq {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the vault applied directory's events through %d, want %d", n, seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cn(id string) string { return "companies/" + id }

// link makes supplier a supplier of customer, as directory reports it.
func (e *env) link(customer, supplier string) {
	e.dirSvc.mu.Lock()
	e.dirSvc.links[customer+"/"+supplier] = true
	e.dirSvc.mu.Unlock()
	res := map[string]string{feed.ResourceCustomer: cn(customer), feed.ResourceSupplier: cn(supplier)}
	e.applied(e.dirSvc.emit(
		feed.Event{Type: feed.TypeSupplierLinked, Company: cn(customer), Subject: cn(customer) + "/suppliers/" + supplier, Resources: res},
		feed.Event{Type: feed.TypeSupplierLinked, Company: cn(supplier), Subject: cn(supplier) + "/customers/" + customer, Resources: res}))
}

func (e *env) unlink(customer, supplier string) {
	e.dirSvc.mu.Lock()
	delete(e.dirSvc.links, customer+"/"+supplier)
	e.dirSvc.mu.Unlock()
	res := map[string]string{feed.ResourceCustomer: cn(customer), feed.ResourceSupplier: cn(supplier)}
	e.applied(e.dirSvc.emit(feed.Event{Type: feed.TypeSupplierUnlinked, Company: cn(customer), Resources: res}))
}

// employee registers an employee of supplier with directory's fake.
func (e *env) employee(supplier, given, family string) string {
	id := newID("emp")
	name := cn(supplier) + "/employees/" + id
	e.dirSvc.mu.Lock()
	e.dirSvc.employees[name] = &directoryv1.Employee{Name: name, GivenName: given, FamilyName: family}
	e.dirSvc.mu.Unlock()
	return id
}

func (e *env) project(customer string) string {
	id := newID("prj")
	name := cn(customer) + "/projects/" + id
	e.dirSvc.mu.Lock()
	e.dirSvc.projects[name] = &directoryv1.Project{Name: name, State: directoryv1.Project_STATE_ACTIVE}
	e.dirSvc.mu.Unlock()
	return id
}

func (e *env) assign(supplier, employee, customer, project string, assigned bool) {
	typ := feed.TypeEmployeeUnassigned
	if assigned {
		typ = feed.TypeEmployeeAssigned
	}
	k := [2]string{cn(supplier) + "/employees/" + employee, cn(customer) + "/projects/" + project}
	e.dirSvc.mu.Lock()
	if assigned {
		e.dirSvc.assigns[k] = true
	} else {
		delete(e.dirSvc.assigns, k)
	}
	e.dirSvc.mu.Unlock()
	e.applied(e.dirSvc.emit(feed.Event{Type: typ, Company: cn(customer), Resources: map[string]string{
		feed.ResourceEmployee: k[0], feed.ResourceProject: k[1], feed.ResourceCustomer: cn(customer), feed.ResourceSupplier: cn(supplier)}}))
}

// ---- assertions

func code(err error) codes.Code { return status.Code(err) }

func wantCode(t testing.TB, err error, want codes.Code, what string) {
	t.Helper()
	if code(err) != want {
		t.Fatalf("%s: %v, want %s", what, err, want)
	}
}

// field is the BadRequest field of an INVALID_ARGUMENT.
func field(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// reason is the ErrorInfo reason of an error.
func reason(err error) string {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// namesField reports whether an INVALID_ARGUMENT names field: in its
// BadRequest detail (domain errors) or its message (protovalidate's).
func namesField(err error, f string) bool {
	if field(err) == f {
		return true
	}
	st, _ := status.FromError(err)
	return f != "" && field(err) == "" && strings.Contains(st.Message(), f)
}

func feedEvent(typ, company string, res, attrs map[string]string) feed.Event {
	return feed.Event{Type: typ, Company: company, Resources: res, Attributes: attrs}
}
