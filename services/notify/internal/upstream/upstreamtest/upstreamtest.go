// Package upstreamtest serves fake directory, identity and vault internal
// services for notify's tests and benchmarks: an in-memory world the test
// fills (companies, members, references, employees, compliance digests,
// documents), answered over real gRPC (bufconn or TCP) exactly as the
// contracts in proto/ say, in pages. It also serves identity's GetJwks, so
// that a notify process can verify tokens the test signs.
package upstreamtest

import (
	"context"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
)

// Document is a current document of the fake vault.
type Document struct {
	Name       string // companies/{s}/documents/{d}
	Type       *vaultv1.DocumentType
	Subject    string // companies/{s} or companies/{s}/employees/{e}
	ValidUntil string
	Customers  []string
}

func (d Document) supplier() string {
	p := strings.SplitN(d.Name, "/", 3)
	return p[0] + "/" + p[1]
}

// World is the fake services' data; every method is safe for concurrent use.
type World struct {
	mu         sync.Mutex
	companies  map[string]*directoryv1.Company
	members    map[string][]*identityv1.User // by company, in insertion order
	references map[string][]string           // customer|supplier → member names
	employees  map[string]*directoryv1.Employee
	digests    map[string]*vaultv1.GetComplianceDigestResponse
	documents  map[string]Document // by type|subject: the current version only
	reports    []*identityv1.ReportUndeliverableEmailRequest
	calls      map[string]int
	maxBatch   int
	failVault  error
	// DigestFunc, when set, answers the digests of companies not set with
	// SetDigest (benchmarks generate them).
	DigestFunc func(company string) *vaultv1.GetComplianceDigestResponse

	// Key signs the tokens of Token; GetJwks publishes it.
	Key auth.SigningKey
}

// NewWorld returns an empty world.
func NewWorld() *World {
	key, err := auth.NewSigningKey()
	if err != nil {
		panic(err)
	}
	return &World{companies: map[string]*directoryv1.Company{}, members: map[string][]*identityv1.User{},
		references: map[string][]string{}, employees: map[string]*directoryv1.Employee{},
		digests: map[string]*vaultv1.GetComplianceDigestResponse{}, documents: map[string]Document{},
		calls: map[string]int{}, Key: key}
}

// AddCompany adds (or replaces) a company.
func (w *World) AddCompany(c *directoryv1.Company) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.companies[c.GetName()] = c
}

// AddMember adds a member (`companies/{c}/users/{u}`, with role and state)
// to its company.
func (w *World) AddMember(u *identityv1.User) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := companyOf(u.GetName())
	w.members[c] = append(w.members[c], u)
}

// SetMemberUndeliverable sets a member's email_undeliverable mark.
func (w *World) SetMemberUndeliverable(name, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, u := range w.members[companyOf(name)] {
		if u.GetName() == name {
			u.EmailUndeliverable = reason
		}
	}
}

// SetReferences names the supplier's references for a customer.
func (w *World) SetReferences(customer, supplier string, members ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.references[customer+"|"+supplier] = members
}

// AddEmployee adds an employee.
func (w *World) AddEmployee(e *directoryv1.Employee) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.employees[e.GetName()] = e
}

// SetDigest sets what vault answers for a company's digest.
func (w *World) SetDigest(d *vaultv1.GetComplianceDigestResponse) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.digests[d.GetCompany()] = d
}

// PutDocument uploads a document: it becomes the current version of its
// type and subject, superseding the previous one (R-VAULT-5).
func (w *World) PutDocument(d Document) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.documents[d.Type.GetName()+"|"+d.Subject] = d
}

// FailVault makes vault answer err (nil to stop).
func (w *World) FailVault(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failVault = err
}

// Reports are the ReportUndeliverableEmail calls received.
func (w *World) Reports() []*identityv1.ReportUndeliverableEmailRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*identityv1.ReportUndeliverableEmailRequest(nil), w.reports...)
}

// Calls is how many times a method (e.g. "ListMembers") was called.
func (w *World) Calls(method string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[method]
}

// MaxDigestBatch is the largest BatchGetComplianceDigests seen.
func (w *World) MaxDigestBatch() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxBatch
}

func (w *World) count(method string) {
	w.mu.Lock()
	w.calls[method]++
	w.mu.Unlock()
}

// Token signs an access token for p (e.g. a platform administrator).
func (w *World) Token(p auth.Principal) string {
	if p.Session == "" {
		p.Session = "s1"
	}
	tok, err := auth.Sign(w.Key, p, time.Now(), time.Hour)
	if err != nil {
		panic(err)
	}
	return tok
}

func companyOf(member string) string {
	p := strings.SplitN(member, "/", 3)
	if len(p) < 2 {
		return ""
	}
	return p[0] + "/" + p[1]
}

// page returns items[offset:offset+size] and the next token.
func page[T any](items []T, token string, size, def, maxSize int) ([]T, string, error) {
	if size <= 0 {
		size = def
	}
	size = min(size, maxSize)
	off := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", status.Error(codes.InvalidArgument, "page_token: not a token this list returned")
		}
		off = n
	}
	end := min(off+size, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[off:end], next, nil
}

// Serve serves the fake services on lis until the test ends.
func (w *World) Serve(tb testing.TB, lis net.Listener) {
	tb.Helper()
	// notify's clients ping every 30 s; allow it, as the real services do.
	s := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	directoryv1.RegisterDirectoryInternalServiceServer(s, &directory{w: w})
	identityv1.RegisterIdentityInternalServiceServer(s, &identity{w: w})
	identityv1.RegisterIdentityServiceServer(s, &identityPublic{w: w})
	vaultv1.RegisterVaultInternalServiceServer(s, &vault{w: w})
	go func() { _ = s.Serve(lis) }()
	tb.Cleanup(s.Stop)
}

type directory struct {
	directoryv1.UnimplementedDirectoryInternalServiceServer
	w *World
}

func (d *directory) ListCompanies(_ context.Context, req *directoryv1.ListCompaniesRequest) (*directoryv1.ListCompaniesResponse, error) {
	d.w.count("ListCompanies")
	d.w.mu.Lock()
	all := make([]*directoryv1.Company, 0, len(d.w.companies))
	for _, c := range d.w.companies {
		all = append(all, c)
	}
	d.w.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].GetName() < all[j].GetName() })
	items, next, err := page(all, req.GetPageToken(), int(req.GetPageSize()), 100, 1000)
	if err != nil {
		return nil, err
	}
	return &directoryv1.ListCompaniesResponse{Companies: items, NextPageToken: next}, nil
}

func (d *directory) BatchGetCompanies(_ context.Context, req *directoryv1.BatchGetCompaniesRequest) (*directoryv1.BatchGetCompaniesResponse, error) {
	d.w.count("BatchGetCompanies")
	if len(req.GetNames()) > 1000 {
		return nil, status.Error(codes.InvalidArgument, "names: at most 1000")
	}
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	out := &directoryv1.BatchGetCompaniesResponse{}
	for _, n := range req.GetNames() {
		if c, ok := d.w.companies[n]; ok {
			out.Companies = append(out.Companies, c)
		}
	}
	return out, nil
}

func (d *directory) ListReferences(_ context.Context, req *directoryv1.ListReferencesRequest) (*directoryv1.ListReferencesResponse, error) {
	d.w.count("ListReferences")
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	return &directoryv1.ListReferencesResponse{Users: d.w.references[req.GetCustomer()+"|"+req.GetSupplier()]}, nil
}

func (d *directory) GetEmployee(_ context.Context, req *directoryv1.GetEmployeeRequest) (*directoryv1.Employee, error) {
	d.w.count("GetEmployee")
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	if e, ok := d.w.employees[req.GetName()]; ok {
		return e, nil
	}
	return nil, status.Error(codes.NotFound, "employee not found")
}

type identity struct {
	identityv1.UnimplementedIdentityInternalServiceServer
	w *World
}

func (i *identity) ListMembers(_ context.Context, req *identityv1.ListMembersRequest) (*identityv1.ListMembersResponse, error) {
	i.w.count("ListMembers")
	i.w.mu.Lock()
	var companies []string
	if req.GetCompany() != "" {
		companies = []string{req.GetCompany()}
	} else {
		for c := range i.w.members {
			companies = append(companies, c)
		}
		sort.Strings(companies)
	}
	var all []*identityv1.User
	for _, c := range companies {
		kind := authz.CompanyKind(i.w.companies[c].GetKind())
		for _, u := range i.w.members[c] {
			if req.GetState() != identityv1.User_STATE_UNSPECIFIED && u.GetState() != req.GetState() {
				continue
			}
			if req.GetPermission() != identityv1.Permission_PERMISSION_UNSPECIFIED &&
				!authz.Allowed(kind, authz.Role(u.GetRole()), authz.Action(req.GetPermission())) {
				continue
			}
			all = append(all, u)
		}
	}
	i.w.mu.Unlock()
	items, next, err := page(all, req.GetPageToken(), int(req.GetPageSize()), 100, 1000)
	if err != nil {
		return nil, err
	}
	return &identityv1.ListMembersResponse{Members: items, NextPageToken: next}, nil
}

func (i *identity) BatchGetUsers(_ context.Context, req *identityv1.BatchGetUsersRequest) (*identityv1.BatchGetUsersResponse, error) {
	i.w.count("BatchGetUsers")
	i.w.mu.Lock()
	defer i.w.mu.Unlock()
	out := &identityv1.BatchGetUsersResponse{}
	for _, n := range req.GetNames() {
		for _, u := range i.w.members[companyOf(n)] {
			if u.GetName() == n {
				out.Users = append(out.Users, u)
			}
		}
	}
	return out, nil
}

func (i *identity) ReportUndeliverableEmail(_ context.Context, req *identityv1.ReportUndeliverableEmailRequest) (*identityv1.ReportUndeliverableEmailResponse, error) {
	i.w.count("ReportUndeliverableEmail")
	i.w.mu.Lock()
	defer i.w.mu.Unlock()
	i.w.reports = append(i.w.reports, req)
	marked := false
	for _, ms := range i.w.members {
		for _, u := range ms {
			if strings.EqualFold(u.GetEmail(), req.GetEmail()) {
				u.EmailUndeliverable, marked = req.GetReason(), true
			}
		}
	}
	return &identityv1.ReportUndeliverableEmailResponse{Marked: marked}, nil
}

func (i *identity) WatchRevocations(_ *identityv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[identityv1.RevocationEvent]) error {
	<-stream.Context().Done()
	return nil
}

type identityPublic struct {
	identityv1.UnimplementedIdentityServiceServer
	w *World
}

func (i *identityPublic) GetJwks(context.Context, *identityv1.GetJwksRequest) (*identityv1.GetJwksResponse, error) {
	return &identityv1.GetJwksResponse{Keys: []*identityv1.Jwk{i.w.Key.JWK()}}, nil
}

type vault struct {
	vaultv1.UnimplementedVaultInternalServiceServer
	w *World
}

func (v *vault) BatchGetComplianceDigests(_ context.Context, req *vaultv1.BatchGetComplianceDigestsRequest) (*vaultv1.BatchGetComplianceDigestsResponse, error) {
	v.w.count("BatchGetComplianceDigests")
	v.w.mu.Lock()
	defer v.w.mu.Unlock()
	if v.w.failVault != nil {
		return nil, v.w.failVault
	}
	if len(req.GetCompanies()) > 100 {
		return nil, status.Error(codes.InvalidArgument, "companies: at most 100")
	}
	v.w.maxBatch = max(v.w.maxBatch, len(req.GetCompanies()))
	asOf := req.GetAsOfDate()
	if asOf == "" {
		asOf = time.Now().UTC().Format(time.DateOnly)
	}
	out := &vaultv1.BatchGetComplianceDigestsResponse{}
	for _, c := range req.GetCompanies() {
		d, ok := v.w.digests[c]
		if !ok && v.w.DigestFunc != nil {
			d, ok = v.w.DigestFunc(c), true
		}
		if !ok {
			d = &vaultv1.GetComplianceDigestResponse{Company: c}
		}
		out.Digests = append(out.Digests, &vaultv1.GetComplianceDigestResponse{
			Company: c, AsOfDate: asOf, Operator: d.GetOperator(), Supplier: d.GetSupplier()})
	}
	return out, nil
}

func (v *vault) ListExpiringForReminders(_ context.Context, req *vaultv1.ListExpiringForRemindersRequest) (*vaultv1.ListExpiringForRemindersResponse, error) {
	v.w.count("ListExpiringForReminders")
	asOf := time.Now().UTC().Truncate(24 * time.Hour)
	if req.GetAsOfDate() != "" {
		d, err := time.Parse(time.DateOnly, req.GetAsOfDate())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "as_of_date: YYYY-MM-DD")
		}
		asOf = d
	}
	windows := req.GetWindowsDays()
	if len(windows) == 0 {
		windows = []int32{30, 7, 0}
	}
	v.w.mu.Lock()
	if v.w.failVault != nil {
		defer v.w.mu.Unlock()
		return nil, v.w.failVault
	}
	var all []*vaultv1.ExpiringDocument
	docs := make([]Document, 0, len(v.w.documents))
	for _, d := range v.w.documents {
		docs = append(docs, d)
	}
	v.w.mu.Unlock()
	sort.Slice(docs, func(i, j int) bool { return docs[i].Name < docs[j].Name })
	for _, d := range docs {
		until, err := time.Parse(time.DateOnly, d.ValidUntil)
		if err != nil {
			continue
		}
		days := int32(until.Sub(asOf).Hours() / 24)
		for _, w := range windows {
			if w == days {
				all = append(all, &vaultv1.ExpiringDocument{
					Document:     &vaultv1.Document{Name: d.Name, DocumentType: d.Type.GetName(), Subject: d.Subject, ValidUntil: d.ValidUntil, State: vaultv1.DocumentState_DOCUMENT_STATE_CURRENT},
					Supplier:     d.supplier(),
					DocumentType: d.Type,
					WindowDays:   days,
					Customers:    d.Customers,
				})
			}
		}
	}
	items, next, err := page(all, req.GetPageToken(), int(req.GetPageSize()), 50, 500)
	if err != nil {
		return nil, err
	}
	return &vaultv1.ListExpiringForRemindersResponse{Documents: items, NextPageToken: next}, nil
}
