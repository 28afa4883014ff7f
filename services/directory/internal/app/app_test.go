package app

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil/vigil/services/runtime/authz"

	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/config"
)

// fakeIdentity serves what directory needs from identity: the key set, the
// revocation feed (events pushed by the test) and CheckPermission (answers
// set by the test).
type fakeIdentity struct {
	identityv1.UnimplementedIdentityServiceServer
	identityv1.UnimplementedIdentityInternalServiceServer
	key auth.SigningKey

	mu      sync.Mutex
	events  []*identityv1.RevocationEvent
	changed chan struct{}   // closed and replaced on every push
	admins  map[string]bool // user|company → Administrator there
	viewers map[string]bool // user|company → suppliers-area view
	synced  map[string]*identityv1.SyncCompanyRequest
}

func (f *fakeIdentity) SyncCompany(_ context.Context, req *identityv1.SyncCompanyRequest) (*identityv1.SyncCompanyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced[req.GetCompany()] = req
	return &identityv1.SyncCompanyResponse{}, nil
}

func newFakeIdentity(t *testing.T) *fakeIdentity {
	key, err := auth.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return &fakeIdentity{key: key, changed: make(chan struct{}), admins: map[string]bool{}, viewers: map[string]bool{}, synced: map[string]*identityv1.SyncCompanyRequest{}}
}

func (f *fakeIdentity) GetJwks(context.Context, *identityv1.GetJwksRequest) (*identityv1.GetJwksResponse, error) {
	return &identityv1.GetJwksResponse{Keys: []*identityv1.Jwk{f.key.JWK()}}, nil
}

func (f *fakeIdentity) push(ev *identityv1.RevocationEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev.Sequence = uint64(len(f.events) + 1)
	f.events = append(f.events, ev)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeIdentity) WatchRevocations(req *identityv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[identityv1.RevocationEvent]) error {
	next := req.GetAfterSequence()
	for {
		f.mu.Lock()
		pending := append([]*identityv1.RevocationEvent(nil), f.events[min(int(next), len(f.events)):]...)
		changed := f.changed
		f.mu.Unlock()
		for _, ev := range pending {
			if err := stream.Send(ev); err != nil {
				return err
			}
			next = ev.GetSequence()
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (f *fakeIdentity) CheckPermission(_ context.Context, req *identityv1.CheckPermissionRequest) (*identityv1.CheckPermissionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := req.GetUser() + "|" + req.GetCompany()
	if req.GetExtendedPermission() != nil {
		return &identityv1.CheckPermissionResponse{Allowed: f.viewers[k] || f.admins[k]}, nil
	}
	if f.admins[k] {
		return &identityv1.CheckPermissionResponse{Allowed: true, Role: identityv1.Role_ROLE_ADMINISTRATOR}, nil
	}
	return &identityv1.CheckPermissionResponse{}, nil
}

// env is a running directory (the real app.run on bufconn) and its fake identity.
type env struct {
	identity *fakeIdentity
	conn     *grpc.ClientConn
	company  directoryv1.CompanyServiceClient
	internal directoryv1.DirectoryInternalServiceClient
}

func bufDialer(lis *bufconn.Listener) grpc.DialOption {
	return grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
}

func start(t *testing.T) *env {
	t.Helper()
	id := newFakeIdentity(t)
	idLis := bufconn.Listen(1 << 20)
	idSrv := grpc.NewServer()
	identityv1.RegisterIdentityServiceServer(idSrv, id)
	identityv1.RegisterIdentityInternalServiceServer(idSrv, id)
	go func() { _ = idSrv.Serve(idLis) }()

	cfg := &Config{Common: config.Common{Service: "directory", DataDir: t.TempDir(), LogLevel: "info",
		IdentityAddr: "127.0.0.1:1", DirectoryAddr: "127.0.0.1:1", ShutdownTimeout: 2 * time.Second}}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	dirLis := bufconn.Listen(1 << 20)
	idConn, err := client.Dial(&cfg.Common, cfg.IdentityAddr, bufDialer(idLis))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idConn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunWith(ctx, cfg, zap.NewNop(), Options{Listener: dirLis, IdentityConn: idConn})
	}()

	conn, err := grpc.NewClient("passthrough:///directory", bufDialer(dirLis), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		idSrv.Stop()
	})
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: directoryv1.CompanyService_ServiceDesc.ServiceName})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("directory not serving: %v %v", resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &env{identity: id, conn: conn, company: directoryv1.NewCompanyServiceClient(conn), internal: directoryv1.NewDirectoryInternalServiceClient(conn)}
}

// as returns a context carrying an access token for user in company with role.
func (e *env) as(t *testing.T, user, company string, role identityv1.Role) context.Context {
	t.Helper()
	tok, err := auth.Sign(e.identity.key, auth.Principal{User: user, Company: company, Role: authz.Role(role),
		CompanyKind: authz.KindSupplier, Session: "s-" + user},
		time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func (e *env) create(t *testing.T, number string) *directoryv1.Company {
	t.Helper()
	c, err := e.internal.CreateCompany(context.Background(), &directoryv1.CreateCompanyRequest{Company: &directoryv1.Company{
		LegalName: "Company " + number, Kind: directoryv1.CompanyKind_COMPANY_KIND_SUPPLIER, Country: "FR", RegistrationNumber: number,
		Address: &directoryv1.PostalAddress{Lines: []string{"1 rue de la Paix"}, PostalCode: "75002", City: "Paris", Country: "FR"},
	}})
	if err != nil {
		t.Fatalf("CreateCompany %s: %v", number, err)
	}
	return c
}

// read re-reads a company through the internal API, which needs no token.
func (e *env) read(t *testing.T, c *directoryv1.Company) *directoryv1.Company {
	t.Helper()
	got, err := e.internal.LookupCompany(context.Background(), &directoryv1.LookupCompanyRequest{Country: c.GetCountry(), RegistrationNumber: c.GetRegistrationNumber()})
	if err != nil {
		t.Fatalf("LookupCompany: %v", err)
	}
	return got
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code %v (%v), want %v", got, err, want)
	}
}

// fieldOf returns the field named by an INVALID_ARGUMENT's BadRequest detail
// (the service's own errors) or, failing that, its message (protovalidate's).
func fieldOf(err error) string {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return st.Message()
}

func update(company *directoryv1.Company, paths ...string) *directoryv1.UpdateCompanyRequest {
	return &directoryv1.UpdateCompanyRequest{Company: company, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}}
}

// TestCompanyAccess: R-ID-3 and R-ID-4 for Get/UpdateCompany, per role and
// per company; every refused call is re-read to prove nothing changed.
func TestCompanyAccess(t *testing.T) {
	e := start(t)
	own := e.create(t, "732829320")
	other := e.create(t, "552100554")
	roles := []identityv1.Role{identityv1.Role_ROLE_RESTRICTED_USER, identityv1.Role_ROLE_STANDARD_USER, identityv1.Role_ROLE_POWER_USER, identityv1.Role_ROLE_ADMINISTRATOR}
	editors := map[identityv1.Role]bool{identityv1.Role_ROLE_POWER_USER: true, identityv1.Role_ROLE_ADMINISTRATOR: true}
	admins := map[identityv1.Role]bool{identityv1.Role_ROLE_ADMINISTRATOR: true}

	type op struct {
		name    string
		call    func(ctx context.Context, target *directoryv1.Company) error
		allowed map[identityv1.Role]bool // on the own company; nil = every role
	}
	ops := []op{
		{"GetCompany", func(ctx context.Context, target *directoryv1.Company) error {
			_, err := e.company.GetCompany(ctx, &directoryv1.GetCompanyRequest{Name: target.GetName()})
			return err
		}, nil},
		{"UpdateLegalName", func(ctx context.Context, target *directoryv1.Company) error {
			_, err := e.company.UpdateCompany(ctx, update(&directoryv1.Company{Name: target.GetName(), LegalName: "Renamed " + time.Now().String()}, "legal_name"))
			return err
		}, editors},
		{"UpdateAddressCity", func(ctx context.Context, target *directoryv1.Company) error {
			_, err := e.company.UpdateCompany(ctx, update(&directoryv1.Company{Name: target.GetName(), Address: &directoryv1.PostalAddress{City: "Lyon " + time.Now().Format("150405.000")}}, "address.city"))
			return err
		}, editors},
		{"UpdateRequireTwoFactor", func(ctx context.Context, target *directoryv1.Company) error {
			cur := e.read(t, target)
			_, err := e.company.UpdateCompany(ctx, update(&directoryv1.Company{Name: target.GetName(), RequireTwoFactor: !cur.GetRequireTwoFactor()}, "require_two_factor"))
			return err
		}, admins},
		{"UpdateMixedEditAndAdmin", func(ctx context.Context, target *directoryv1.Company) error {
			cur := e.read(t, target)
			_, err := e.company.UpdateCompany(ctx, update(&directoryv1.Company{Name: target.GetName(), LegalName: "Mixed", RequireTwoFactor: !cur.GetRequireTwoFactor()}, "legal_name", "require_two_factor"))
			return err
		}, admins},
	}
	for _, role := range roles {
		ctx := e.as(t, "users/u-"+strings.ToLower(role.String()), own.GetName(), role)
		for _, o := range ops {
			for _, target := range []struct {
				name    string
				company *directoryv1.Company
			}{{"own", own}, {"other", other}} {
				t.Run(role.String()+"/"+o.name+"/"+target.name, func(t *testing.T) {
					want := codes.OK
					if target.company == other || (o.allowed != nil && !o.allowed[role]) {
						want = codes.PermissionDenied
					}
					before := e.read(t, target.company)
					err := o.call(ctx, target.company)
					wantCode(t, err, want)
					after := e.read(t, target.company)
					if want != codes.OK && !proto.Equal(before, after) {
						t.Fatalf("refused call changed the company:\nbefore %v\nafter  %v", before, after)
					}
					if want == codes.OK && strings.HasPrefix(o.name, "Update") && proto.Equal(before, after) {
						t.Fatal("allowed update changed nothing")
					}
				})
			}
		}
	}
}

func TestUpdateCompanyResult(t *testing.T) {
	e := start(t)
	c := e.create(t, "73282932000074")
	ctx := e.as(t, "users/admin", c.GetName(), identityv1.Role_ROLE_ADMINISTRATOR)
	got, err := e.company.UpdateCompany(ctx, update(&directoryv1.Company{Name: c.GetName(), LegalName: "New name", TimeZone: "Europe/Paris", Language: "fr",
		Address: &directoryv1.PostalAddress{Lines: []string{"2 avenue Foch"}, PostalCode: "69006", City: "Lyon", Country: "FR"},
		// Not in the mask: ignored.
		Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, RegistrationNumber: "552100554"},
		"legal_name", "time_zone", "language", "address", "update_time"))
	if err != nil {
		t.Fatal(err)
	}
	if got.GetLegalName() != "New name" || got.GetTimeZone() != "Europe/Paris" || got.GetLanguage() != "fr" || got.GetAddress().GetCity() != "Lyon" ||
		got.GetKind() != directoryv1.CompanyKind_COMPANY_KIND_SUPPLIER || got.GetRegistrationNumber() != "73282932000074" ||
		!got.GetUpdateTime().AsTime().After(c.GetUpdateTime().AsTime()) || !got.GetCreateTime().AsTime().Equal(c.GetCreateTime().AsTime()) {
		t.Fatalf("updated %v", got)
	}
	if read := e.read(t, c); !proto.Equal(read, got) {
		t.Fatalf("read back %v, want %v", read, got)
	}
	e.identity.mu.Lock()
	synced := e.identity.synced[c.GetName()]
	e.identity.mu.Unlock()
	if synced.GetDisplayName() != "New name" || synced.GetLanguage() != "fr" || synced.GetKind() != identityv1.CompanyKind_COMPANY_KIND_SUPPLIER {
		t.Fatalf("identity's copy = %v", synced)
	}
}

// TestBadInput: INVALID_ARGUMENT naming the field, and nothing written.
func TestBadInput(t *testing.T) {
	e := start(t)
	c := e.create(t, "732829320")
	admin := e.as(t, "users/admin", c.GetName(), identityv1.Role_ROLE_ADMINISTRATOR)
	newCompany := func(country, number string) *directoryv1.CreateCompanyRequest {
		return &directoryv1.CreateCompanyRequest{Company: &directoryv1.Company{LegalName: "X", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, Country: country, RegistrationNumber: number}}
	}
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"SIREN checksum", func() error {
			_, err := e.internal.CreateCompany(context.Background(), newCompany("FR", "732829321"))
			return err
		}, "registration_number"},
		{"SIRET checksum", func() error {
			_, err := e.internal.CreateCompany(context.Background(), newCompany("FR", "73282932000079"))
			return err
		}, "registration_number"},
		{"French length", func() error {
			_, err := e.internal.CreateCompany(context.Background(), newCompany("FR", "7328293"))
			return err
		}, "registration_number"},
		{"La Poste digit sum", func() error {
			_, err := e.internal.CreateCompany(context.Background(), newCompany("FR", "35600000000002"))
			return err
		}, "registration_number"},
		{"shape (protovalidate)", func() error {
			_, err := e.internal.CreateCompany(context.Background(), newCompany("GB", "SC/12"))
			return err
		}, "registration_number"},
		{"missing kind", func() error {
			r := newCompany("FR", "552100554")
			r.Company.Kind = 0
			_, err := e.internal.CreateCompany(context.Background(), r)
			return err
		}, "kind"},
		{"unknown time zone", func() error {
			r := newCompany("FR", "552100554")
			r.Company.TimeZone = "Mars/Olympus"
			_, err := e.internal.CreateCompany(context.Background(), r)
			return err
		}, "company.time_zone"},
		{"lookup checksum", func() error {
			_, err := e.internal.LookupCompany(context.Background(), &directoryv1.LookupCompanyRequest{Country: "FR", RegistrationNumber: "552100555"})
			return err
		}, "registration_number"},
		{"update immutable country", func() error {
			_, err := e.company.UpdateCompany(admin, update(&directoryv1.Company{Name: c.GetName(), Country: "BE"}, "country"))
			return err
		}, "update_mask"},
		{"update empty legal name", func() error {
			_, err := e.company.UpdateCompany(admin, update(&directoryv1.Company{Name: c.GetName()}, "legal_name"))
			return err
		}, "legal_name"},
		{"update unknown time zone", func() error {
			_, err := e.company.UpdateCompany(admin, update(&directoryv1.Company{Name: c.GetName(), LegalName: "Y", TimeZone: "Mars/Olympus"}, "legal_name", "time_zone"))
			return err
		}, "company.time_zone"},
		{"get malformed name", func() error {
			_, err := e.company.GetCompany(admin, &directoryv1.GetCompanyRequest{Name: "companies/a/b"})
			return err
		}, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.read(t, c)
			err := tt.call()
			wantCode(t, err, codes.InvalidArgument)
			if f := fieldOf(err); !strings.Contains(f, tt.field) {
				t.Fatalf("error %v does not name %s", err, tt.field)
			}
			if after := e.read(t, c); !proto.Equal(before, after) {
				t.Fatal("refused call changed the company")
			}
		})
	}
	if _, err := e.internal.LookupCompany(context.Background(), &directoryv1.LookupCompanyRequest{Country: "FR", RegistrationNumber: "552100554"}); status.Code(err) != codes.NotFound {
		t.Fatalf("a refused create stored a company: %v", err)
	}
}

// TestCreateCompany: R-DIR-1 uniqueness, normalisation, request-id retries.
func TestCreateCompany(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	first := e.create(t, "73282932000074")
	if !strings.HasPrefix(first.GetName(), "companies/") || len(first.GetName()) != len("companies/")+26 {
		t.Fatalf("name %q", first.GetName())
	}
	_, err := e.internal.CreateCompany(ctx, &directoryv1.CreateCompanyRequest{Company: &directoryv1.Company{
		LegalName: "Again", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, Country: "FR", RegistrationNumber: "73282932000074"}})
	wantCode(t, err, codes.AlreadyExists)
	// The same number in another country is another company.
	if _, err := e.internal.CreateCompany(ctx, &directoryv1.CreateCompanyRequest{Company: &directoryv1.Company{
		LegalName: "Belgian", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, Country: "BE", RegistrationNumber: "73282932000074"}}); err != nil {
		t.Fatal(err)
	}
	req := &directoryv1.CreateCompanyRequest{RequestId: "signup-42", Company: &directoryv1.Company{
		LegalName: "Retry", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, Country: "FR", RegistrationNumber: "552100554"}}
	a, err := e.internal.CreateCompany(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.internal.CreateCompany(ctx, req)
	if err != nil || !proto.Equal(a, b) {
		t.Fatalf("retry = %v, %v; want %v", b, err, a)
	}
	lower, err := e.internal.CreateCompany(ctx, &directoryv1.CreateCompanyRequest{Company: &directoryv1.Company{
		LegalName: "Lower", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, Country: "GB", RegistrationNumber: "sc123456"}})
	if err != nil || lower.GetRegistrationNumber() != "SC123456" {
		t.Fatalf("normalised = %v, %v", lower, err)
	}
	_, err = e.internal.CreateCompany(ctx, &directoryv1.CreateCompanyRequest{Company: &directoryv1.Company{
		LegalName: "Upper", Kind: directoryv1.CompanyKind_COMPANY_KIND_OPERATOR, Country: "GB", RegistrationNumber: "SC123456"}})
	wantCode(t, err, codes.AlreadyExists)
}

// TestDeleteCompanyCompensation: sign-up's compensation removes the company
// and frees its number; a second delete is NOT_FOUND.
func TestDeleteCompanyCompensation(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := e.create(t, "35600000000048")
	if _, err := e.internal.DeleteCompany(ctx, &directoryv1.DeleteCompanyRequest{Name: c.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err := e.internal.LookupCompany(ctx, &directoryv1.LookupCompanyRequest{Country: "FR", RegistrationNumber: "35600000000048"})
	wantCode(t, err, codes.NotFound)
	_, err = e.company.GetCompany(e.as(t, "users/a", c.GetName(), identityv1.Role_ROLE_ADMINISTRATOR), &directoryv1.GetCompanyRequest{Name: c.GetName()})
	wantCode(t, err, codes.NotFound)
	_, err = e.internal.DeleteCompany(ctx, &directoryv1.DeleteCompanyRequest{Name: c.GetName()})
	wantCode(t, err, codes.NotFound)
	again := e.create(t, "35600000000048")
	if again.GetName() == c.GetName() {
		t.Fatal("id reused")
	}
}

// TestInternalReadsWhenEmpty: the relationship reads answer from empty
// data without errors; a bad page token names the field; no directory
// method answers UNIMPLEMENTED any more.
func TestInternalReadsWhenEmpty(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	a, b := e.create(t, "732829320"), e.create(t, "552100554")
	rel, err := e.internal.GetRelationship(ctx, &directoryv1.GetRelationshipRequest{Customer: a.GetName(), Supplier: b.GetName()})
	if err != nil || rel.GetExists() || rel.GetCreateTime() != nil {
		t.Fatalf("GetRelationship = %v, %v", rel, err)
	}
	sup, err := e.internal.ListSupplierCompanies(ctx, &directoryv1.ListSupplierCompaniesRequest{Customer: a.GetName()})
	if err != nil || len(sup.GetCompanies()) != 0 || sup.GetNextPageToken() != "" {
		t.Fatalf("ListSupplierCompanies = %v, %v", sup, err)
	}
	cus, err := e.internal.ListCustomerCompanies(ctx, &directoryv1.ListCustomerCompaniesRequest{Supplier: b.GetName()})
	if err != nil || len(cus.GetCompanies()) != 0 {
		t.Fatalf("ListCustomerCompanies = %v, %v", cus, err)
	}
	refs, err := e.internal.ListReferences(ctx, &directoryv1.ListReferencesRequest{Customer: a.GetName(), Supplier: b.GetName()})
	if err != nil || len(refs.GetUsers()) != 0 {
		t.Fatalf("ListReferences = %v, %v", refs, err)
	}
	_, err = e.internal.ListSupplierCompanies(ctx, &directoryv1.ListSupplierCompaniesRequest{Customer: a.GetName(), PageToken: "!!"})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.internal.GetEmployee(ctx, &directoryv1.GetEmployeeRequest{Name: a.GetName() + "/employees/e1"})
	wantCode(t, err, codes.NotFound)
	_, err = e.internal.GetProject(ctx, &directoryv1.GetProjectRequest{Name: a.GetName() + "/projects/p1"})
	wantCode(t, err, codes.NotFound)
}

func TestUnauthenticated(t *testing.T) {
	e := start(t)
	c := e.create(t, "732829320")
	_, err := e.company.GetCompany(context.Background(), &directoryv1.GetCompanyRequest{Name: c.GetName()})
	wantCode(t, err, codes.Unauthenticated)
	bad := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer not-a-token")
	_, err = e.company.GetCompany(bad, &directoryv1.GetCompanyRequest{Name: c.GetName()})
	wantCode(t, err, codes.Unauthenticated)
	// A token signed by a key identity does not publish.
	other, _ := auth.NewSigningKey()
	tok, _ := auth.Sign(other, auth.Principal{User: "users/x", Company: c.GetName(), Role: authz.RoleAdministrator}, time.Now(), time.Hour)
	_, err = e.company.GetCompany(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok), &directoryv1.GetCompanyRequest{Name: c.GetName()})
	wantCode(t, err, codes.Unauthenticated)
}

// TestParent: the group owner is set by an Administrator of both companies.
func TestParent(t *testing.T) {
	e := start(t)
	child, owner := e.create(t, "732829320"), e.create(t, "552100554")
	ctx := e.as(t, "users/boss", child.GetName(), identityv1.Role_ROLE_ADMINISTRATOR)
	req := update(&directoryv1.Company{Name: child.GetName(), Parent: owner.GetName()}, "parent")
	_, err := e.company.UpdateCompany(ctx, req)
	wantCode(t, err, codes.PermissionDenied)
	if e.read(t, child).GetParent() != "" {
		t.Fatal("refused parent was stored")
	}
	e.identity.mu.Lock()
	e.identity.admins["users/boss|"+owner.GetName()] = true
	e.identity.mu.Unlock()
	got, err := e.company.UpdateCompany(ctx, req)
	if err != nil || got.GetParent() != owner.GetName() {
		t.Fatalf("UpdateCompany parent = %v, %v", got, err)
	}
	// A cycle is refused.
	_, err = e.company.UpdateCompany(e.as(t, "users/boss", owner.GetName(), identityv1.Role_ROLE_ADMINISTRATOR),
		update(&directoryv1.Company{Name: owner.GetName(), Parent: child.GetName()}, "parent"))
	if status.Code(err) != codes.PermissionDenied && status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cycle: %v", err)
	}
	// Membership is never inherited through the group (R-DIR-2): a user of
	// the owner reads only the owner.
	_, err = e.company.GetCompany(e.as(t, "users/o", owner.GetName(), identityv1.Role_ROLE_ADMINISTRATOR), &directoryv1.GetCompanyRequest{Name: child.GetName()})
	wantCode(t, err, codes.PermissionDenied)
	// The owner cannot be deleted while it has members.
	_, err = e.internal.DeleteCompany(context.Background(), &directoryv1.DeleteCompanyRequest{Name: owner.GetName()})
	wantCode(t, err, codes.FailedPrecondition)
}

// TestRevocationFeed: R-ID-7 — directory follows identity's revocation
// feed: a demotion applies to a token already issued, and a deactivated
// user's next call is refused, each within one second of the event.
func TestRevocationFeed(t *testing.T) {
	e := start(t)
	c := e.create(t, "732829320")
	const user = "users/alice"
	ctx := e.as(t, user, c.GetName(), identityv1.Role_ROLE_ADMINISTRATOR)
	get := func() error {
		_, err := e.company.GetCompany(ctx, &directoryv1.GetCompanyRequest{Name: c.GetName()})
		return err
	}
	edit := func() error {
		_, err := e.company.UpdateCompany(ctx, update(&directoryv1.Company{Name: c.GetName(), LegalName: "Edited " + time.Now().String()}, "legal_name"))
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	if err := edit(); err != nil {
		t.Fatal(err)
	}
	within := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within one second", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	e.identity.push(&identityv1.RevocationEvent{User: user, Company: c.GetName(), Kind: identityv1.RevocationEvent_KIND_ROLE_CHANGED,
		Role: identityv1.Role_ROLE_RESTRICTED_USER, NotBefore: timestamppb.Now()})
	within("demotion", func() bool { return status.Code(edit()) == codes.PermissionDenied })
	if err := get(); err != nil {
		t.Fatalf("a Restricted user still reads its company's master data: %v", err)
	}

	e.identity.push(&identityv1.RevocationEvent{User: user, Company: c.GetName(), Kind: identityv1.RevocationEvent_KIND_USER_DEACTIVATED,
		NotBefore: timestamppb.Now()})
	within("deactivation", func() bool { return status.Code(get()) == codes.Unauthenticated })
	// Another user of the company is not affected.
	bob := e.as(t, "users/bob", c.GetName(), identityv1.Role_ROLE_STANDARD_USER)
	if _, err := e.company.GetCompany(bob, &directoryv1.GetCompanyRequest{Name: c.GetName()}); err != nil {
		t.Fatal(err)
	}
}
