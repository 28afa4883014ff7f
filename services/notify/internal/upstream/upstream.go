// Package upstream implements the jobs' view of directory, identity and
// vault (jobs.Directory, jobs.Identity, jobs.Vault, notify.BounceTarget)
// over their internal gRPC contracts, converting proto to the jobs' plain
// types. Every call is made as notify itself: a caller's credentials (a
// platform administrator running a job by hand) are never forwarded.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	vaultv1 "github.com/vigil/vigil/gen/vigil/vault/v1"
	"github.com/vigil/vigil/services/notify/internal/jobs"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/client"
)

// ErrNotImplemented is returned when the upstream service does not serve
// the method yet (codes.Unimplemented): a deployment with an older service.
var ErrNotImplemented = errors.New("the upstream service does not implement this method yet")

func wrap(service, method string, err error) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%s %s: %w", service, method, ErrNotImplemented)
	}
	return fmt.Errorf("%s %s: %s", service, method, status.Convert(err).Message())
}

// Directory is jobs.Directory over DirectoryInternalService.
type Directory struct {
	c directoryv1.DirectoryInternalServiceClient
}

// NewDirectory returns the adapter over a connection to directory.
func NewDirectory(conn grpc.ClientConnInterface) *Directory {
	return &Directory{c: directoryv1.NewDirectoryInternalServiceClient(conn)}
}

func company(c *directoryv1.Company) jobs.Company {
	return jobs.Company{Name: c.GetName(), LegalName: c.GetLegalName(), Kind: authz.CompanyKind(c.GetKind()),
		TimeZone: c.GetTimeZone(), Language: c.GetLanguage()}
}

// ListCompanies implements jobs.Directory.
func (d *Directory) ListCompanies(ctx context.Context, pageSize int, token string) ([]jobs.Company, string, error) {
	resp, err := d.c.ListCompanies(client.AsService(ctx), &directoryv1.ListCompaniesRequest{PageSize: int32(pageSize), PageToken: token})
	if err != nil {
		return nil, "", wrap("directory", "ListCompanies", err)
	}
	out := make([]jobs.Company, len(resp.GetCompanies()))
	for i, c := range resp.GetCompanies() {
		out[i] = company(c)
	}
	return out, resp.GetNextPageToken(), nil
}

// BatchGetCompanies implements jobs.Directory.
func (d *Directory) BatchGetCompanies(ctx context.Context, names []string) ([]jobs.Company, error) {
	if len(names) == 0 {
		return nil, nil
	}
	resp, err := d.c.BatchGetCompanies(client.AsService(ctx), &directoryv1.BatchGetCompaniesRequest{Names: names})
	if err != nil {
		return nil, wrap("directory", "BatchGetCompanies", err)
	}
	out := make([]jobs.Company, len(resp.GetCompanies()))
	for i, c := range resp.GetCompanies() {
		out[i] = company(c)
	}
	return out, nil
}

// ListReferences implements jobs.Directory.
func (d *Directory) ListReferences(ctx context.Context, customer, supplier string) ([]string, error) {
	resp, err := d.c.ListReferences(client.AsService(ctx), &directoryv1.ListReferencesRequest{Customer: customer, Supplier: supplier})
	if err != nil {
		return nil, wrap("directory", "ListReferences", err)
	}
	return resp.GetUsers(), nil
}

// EmployeeName implements jobs.Directory; an employee deleted meanwhile has
// no name (the reminder goes out without it).
func (d *Directory) EmployeeName(ctx context.Context, name string) (string, error) {
	e, err := d.c.GetEmployee(client.AsService(ctx), &directoryv1.GetEmployeeRequest{Name: name})
	if status.Code(err) == codes.NotFound {
		return "", nil
	}
	if err != nil {
		return "", wrap("directory", "GetEmployee", err)
	}
	return strings.TrimSpace(e.GetGivenName() + " " + e.GetFamilyName()), nil
}

// Identity is jobs.Identity and notify.BounceTarget over IdentityInternalService.
type Identity struct {
	c identityv1.IdentityInternalServiceClient
}

// NewIdentity returns the adapter over a connection to identity.
func NewIdentity(conn grpc.ClientConnInterface) *Identity {
	return &Identity{c: identityv1.NewIdentityInternalServiceClient(conn)}
}

func member(u *identityv1.User) jobs.Member {
	return jobs.Member{Name: u.GetName(), Email: u.GetEmail(), GivenName: u.GetGivenName(), FamilyName: u.GetFamilyName(),
		Language: u.GetLanguage(), Role: authz.Role(u.GetRole()), Undeliverable: u.GetEmailUndeliverable() != ""}
}

// ListMembers implements jobs.Identity: active members whose role holds
// permission (identity's R-ID-3 filter).
func (i *Identity) ListMembers(ctx context.Context, company string, permission authz.Action, pageSize int, token string) ([]jobs.Member, string, error) {
	resp, err := i.c.ListMembers(client.AsService(ctx), &identityv1.ListMembersRequest{
		Company: company, State: identityv1.User_STATE_ACTIVE, Permission: identityv1.Permission(permission),
		PageSize: int32(pageSize), PageToken: token,
	})
	if err != nil {
		return nil, "", wrap("identity", "ListMembers", err)
	}
	out := make([]jobs.Member, 0, len(resp.GetMembers()))
	for _, u := range resp.GetMembers() {
		if u.GetState() == identityv1.User_STATE_ACTIVE || u.GetState() == identityv1.User_STATE_UNSPECIFIED {
			out = append(out, member(u))
		}
	}
	return out, resp.GetNextPageToken(), nil
}

// BatchGetUsers implements jobs.Identity: the active ones of names.
func (i *Identity) BatchGetUsers(ctx context.Context, names []string) ([]jobs.Member, error) {
	if len(names) == 0 {
		return nil, nil
	}
	resp, err := i.c.BatchGetUsers(client.AsService(ctx), &identityv1.BatchGetUsersRequest{Names: names})
	if err != nil {
		return nil, wrap("identity", "BatchGetUsers", err)
	}
	var out []jobs.Member
	for _, u := range resp.GetUsers() {
		if u.GetState() == identityv1.User_STATE_ACTIVE {
			out = append(out, member(u))
		}
	}
	return out, nil
}

// ReportUndeliverable implements notify.BounceTarget.
func (i *Identity) ReportUndeliverable(ctx context.Context, email, reason string) error {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	_, err := i.c.ReportUndeliverableEmail(client.AsService(ctx), &identityv1.ReportUndeliverableEmailRequest{Email: email, Reason: reason})
	return wrap("identity", "ReportUndeliverableEmail", err)
}

// Vault is jobs.Vault over VaultInternalService.
type Vault struct {
	c vaultv1.VaultInternalServiceClient
}

// NewVault returns the adapter over a connection to vault.
func NewVault(conn grpc.ClientConnInterface) *Vault {
	return &Vault{c: vaultv1.NewVaultInternalServiceClient(conn)}
}

var statuses = map[vaultv1.ComplianceStatus]jobs.Status{
	vaultv1.ComplianceStatus_COMPLIANCE_STATUS_MISSING:       jobs.StatusMissing,
	vaultv1.ComplianceStatus_COMPLIANCE_STATUS_VALID:         jobs.StatusValid,
	vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRING_SOON: jobs.StatusExpiringSoon,
	vaultv1.ComplianceStatus_COMPLIANCE_STATUS_EXPIRED:       jobs.StatusExpired,
	vaultv1.ComplianceStatus_COMPLIANCE_STATUS_REJECTED:      jobs.StatusRejected,
}

func summary(s *vaultv1.ComplianceSummary) jobs.Summary {
	out := jobs.Summary{Customer: s.GetCustomer(), Supplier: s.GetSupplier(), Compliant: s.GetCompliant(),
		ExpiringSoon: int(s.GetCounts().GetExpiringSoon())}
	for _, e := range s.GetOpenEntries() {
		st, ok := statuses[e.GetStatus()]
		if !ok || st == jobs.StatusValid {
			continue
		}
		out.Open = append(out.Open, jobs.Entry{DocumentType: e.GetDocumentType(), DocumentTypeName: e.GetDocumentTypeDisplayName(),
			Subject: e.GetSubject(), Status: st, ValidUntil: e.GetValidUntil(), RejectionReason: e.GetRejectionReason()})
	}
	return out
}

// BatchGetComplianceDigests implements jobs.Vault.
func (v *Vault) BatchGetComplianceDigests(ctx context.Context, companies []string, asOf string, worst int) ([]jobs.Digest, error) {
	resp, err := v.c.BatchGetComplianceDigests(client.AsService(ctx), &vaultv1.BatchGetComplianceDigestsRequest{
		Companies: companies, AsOfDate: asOf, WorstLimit: int32(worst),
	})
	if err != nil {
		return nil, wrap("vault", "BatchGetComplianceDigests", err)
	}
	out := make([]jobs.Digest, len(resp.GetDigests()))
	for i, d := range resp.GetDigests() {
		out[i] = jobs.Digest{Company: d.GetCompany(), AsOf: d.GetAsOfDate()}
		if o := d.GetOperator(); o != nil {
			od := &jobs.OperatorDigest{SupplierCount: int(o.GetSupplierCount()), CompliantCount: int(o.GetCompliantSupplierCount()),
				ExpiringSoon: int(o.GetCounts().GetExpiringSoon())}
			for _, s := range o.GetWorstSuppliers() {
				od.Worst = append(od.Worst, summary(s))
			}
			out[i].Operator = od
		}
		if s := d.GetSupplier(); s != nil {
			sd := &jobs.SupplierDigest{CustomerCount: int(s.GetCustomerCount()), CompliantCount: int(s.GetCompliantCustomerCount())}
			for _, c := range s.GetCustomers() {
				sd.Customers = append(sd.Customers, summary(c))
			}
			out[i].Supplier = sd
		}
	}
	return out, nil
}

// ListExpiringForReminders implements jobs.Vault.
func (v *Vault) ListExpiringForReminders(ctx context.Context, asOf string, windows []int, pageSize int, token string) ([]jobs.Expiring, string, error) {
	w := make([]int32, len(windows))
	for i, d := range windows {
		w[i] = int32(d)
	}
	resp, err := v.c.ListExpiringForReminders(client.AsService(ctx), &vaultv1.ListExpiringForRemindersRequest{
		AsOfDate: asOf, WindowsDays: w, PageSize: int32(pageSize), PageToken: token,
	})
	if err != nil {
		return nil, "", wrap("vault", "ListExpiringForReminders", err)
	}
	out := make([]jobs.Expiring, len(resp.GetDocuments()))
	for i, e := range resp.GetDocuments() {
		doc := e.GetDocument()
		typeName := e.GetDocumentType().GetDisplayName()
		out[i] = jobs.Expiring{Document: doc.GetName(), DocumentTypeName: typeName, Subject: doc.GetSubject(),
			Supplier: e.GetSupplier(), ValidUntil: doc.GetValidUntil(), WindowDays: int(e.GetWindowDays()), Customers: e.GetCustomers()}
		if out[i].Supplier == "" {
			out[i].Supplier = supplierOf(doc.GetName())
		}
		if out[i].Subject == "" {
			out[i].Subject = out[i].Supplier
		}
	}
	return out, resp.GetNextPageToken(), nil
}

// supplierOf is `companies/{c}` of `companies/{c}/documents/{d}`.
func supplierOf(document string) string {
	parts := strings.SplitN(document, "/", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[0] + "/" + parts[1]
}

var (
	_ jobs.Directory = (*Directory)(nil)
	_ jobs.Identity  = (*Identity)(nil)
	_ jobs.Vault     = (*Vault)(nil)
)
