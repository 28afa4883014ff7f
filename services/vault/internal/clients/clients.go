// Package clients adapts directory's, identity's and notify's gRPC APIs to
// the ports the vault's domain defines. Every call is a service's own
// question: the caller's token is never forwarded.
package clients

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/outbox"
	"github.com/vigil/vigil/services/vault/internal/vault"
)

// unavailable turns a failed call into UNAVAILABLE naming the service; the
// cause is logged by the server, never shown.
func unavailable(svc string, err error) error {
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded:
		return err
	}
	return &errs.Error{Kind: errs.KindUnavailable, Reason: strings.ToUpper(svc) + "_UNAVAILABLE",
		Message: "the " + svc + " service is unavailable; retry", Cause: err}
}

// Directory is vault.Directory over DirectoryInternalService.
type Directory struct {
	c directoryv1.DirectoryInternalServiceClient
}

// NewDirectory returns the adapter over a connection to directory.
func NewDirectory(conn grpc.ClientConnInterface) *Directory {
	return &Directory{c: directoryv1.NewDirectoryInternalServiceClient(conn)}
}

var _ vault.Directory = (*Directory)(nil)

func company(c *directoryv1.Company) vault.Company {
	return vault.Company{ID: strings.TrimPrefix(c.GetName(), "companies/"), Name: c.GetLegalName(), TimeZone: c.GetTimeZone(), Language: c.GetLanguage()}
}

// Companies implements vault.Directory.
func (d *Directory) Companies(ctx context.Context, ids []string) ([]vault.Company, error) {
	var out []vault.Company
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		companies := make([]string, n)
		for i, id := range ids[:n] {
			companies[i] = names.Company.Format(id)
		}
		ids = ids[n:]
		resp, err := d.c.BatchGetCompanies(client.AsService(ctx), &directoryv1.BatchGetCompaniesRequest{Names: companies})
		if err != nil {
			return nil, unavailable("directory", err)
		}
		for _, c := range resp.GetCompanies() {
			out = append(out, company(c))
		}
	}
	return out, nil
}

// Employee implements vault.Directory.
func (d *Directory) Employee(ctx context.Context, supplier, employee string) (string, error) {
	e, err := d.c.GetEmployee(client.AsService(ctx), &directoryv1.GetEmployeeRequest{Name: names.Employee.Format(supplier, employee)})
	if status.Code(err) == codes.NotFound {
		return "", vault.ErrNotFound
	}
	if err != nil {
		return "", unavailable("directory", err)
	}
	return strings.TrimSpace(e.GetGivenName() + " " + e.GetFamilyName()), nil
}

// Project implements vault.Directory.
func (d *Directory) Project(ctx context.Context, customer, project string) (*vault.Project, error) {
	p, err := d.c.GetProject(client.AsService(ctx), &directoryv1.GetProjectRequest{Name: names.Project.Format(customer, project)})
	if status.Code(err) == codes.NotFound {
		return nil, vault.ErrNotFound
	}
	if err != nil {
		return nil, unavailable("directory", err)
	}
	return &vault.Project{Customer: customer, ID: project, Closed: p.GetState() == directoryv1.Project_STATE_CLOSED}, nil
}

// References implements vault.Directory.
func (d *Directory) References(ctx context.Context, customer, supplier string) ([]string, error) {
	resp, err := d.c.ListReferences(client.AsService(ctx), &directoryv1.ListReferencesRequest{Customer: names.Company.Format(customer), Supplier: names.Company.Format(supplier)})
	if err != nil {
		return nil, unavailable("directory", err)
	}
	return resp.GetUsers(), nil
}

// AllCompanies implements vault.Directory.
func (d *Directory) AllCompanies(ctx context.Context, fn func(c vault.Company, operator bool) error) error {
	token := ""
	for {
		resp, err := d.c.ListCompanies(client.AsService(ctx), &directoryv1.ListCompaniesRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return unavailable("directory", err)
		}
		for _, c := range resp.GetCompanies() {
			if err := fn(company(c), c.GetKind() == directoryv1.CompanyKind_COMPANY_KIND_OPERATOR); err != nil {
				return err
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return nil
		}
	}
}

// SuppliersOf implements vault.Directory.
func (d *Directory) SuppliersOf(ctx context.Context, customer string) ([]string, error) {
	var out []string
	token := ""
	for {
		resp, err := d.c.ListSupplierCompanies(client.AsService(ctx), &directoryv1.ListSupplierCompaniesRequest{Customer: names.Company.Format(customer), PageSize: 500, PageToken: token})
		if err != nil {
			return nil, unavailable("directory", err)
		}
		for _, n := range resp.GetCompanies() {
			out = append(out, strings.TrimPrefix(n, "companies/"))
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// AssignmentsOf implements vault.Directory.
func (d *Directory) AssignmentsOf(ctx context.Context, customer string) ([]vault.Assignment, error) {
	var out []vault.Assignment
	token := ""
	for {
		resp, err := d.c.ListAssignments(client.AsService(ctx), &directoryv1.ListAssignmentsRequest{Customer: names.Company.Format(customer), PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, unavailable("directory", err)
		}
		for _, a := range resp.GetAssignments() {
			sup, emp, ok1 := names.Employee.Match(a.GetEmployee())
			cust, proj, ok2 := names.Project.Match(a.GetProject())
			if ok1 && ok2 {
				out = append(out, vault.Assignment{Customer: cust, Supplier: sup, Employee: emp, Project: proj})
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// Identity is vault.Identity over IdentityInternalService.
type Identity struct {
	c identityv1.IdentityInternalServiceClient
}

// NewIdentity returns the adapter over a connection to identity.
func NewIdentity(conn grpc.ClientConnInterface) *Identity {
	return &Identity{c: identityv1.NewIdentityInternalServiceClient(conn)}
}

var _ vault.Identity = (*Identity)(nil)

func person(u *identityv1.User) vault.Person {
	p := vault.Person{Member: u.GetName(), Email: u.GetEmail(), Language: u.GetLanguage(),
		Name: strings.TrimSpace(u.GetGivenName() + " " + u.GetFamilyName())}
	if _, user, ok := names.Member.Match(u.GetName()); ok {
		p.User = names.User.Format(user)
	}
	return p
}

// Members implements vault.Identity.
func (i *Identity) Members(ctx context.Context, company string, permission authz.Action) ([]vault.Person, error) {
	var out []vault.Person
	token := ""
	for {
		resp, err := i.c.ListMembers(client.AsService(ctx), &identityv1.ListMembersRequest{Company: names.Company.Format(company),
			State: identityv1.User_STATE_ACTIVE, Permission: identityv1.Permission(permission), PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, unavailable("identity", err)
		}
		for _, u := range resp.GetMembers() {
			out = append(out, person(u))
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
}

// Users implements vault.Identity: inactive members are left out.
func (i *Identity) Users(ctx context.Context, members []string) ([]vault.Person, error) {
	var out []vault.Person
	for len(members) > 0 {
		n := min(len(members), 500)
		resp, err := i.c.BatchGetUsers(client.AsService(ctx), &identityv1.BatchGetUsersRequest{Names: members[:n]})
		if err != nil {
			return nil, unavailable("identity", err)
		}
		members = members[n:]
		for _, u := range resp.GetUsers() {
			if u.GetState() == identityv1.User_STATE_ACTIVE {
				out = append(out, person(u))
			}
		}
	}
	return out, nil
}

// Notifier is vault.Notifier over notify's EnqueueNotification.
type Notifier struct {
	c notifyv1.NotificationInternalServiceClient
}

// NewNotifier returns the adapter over a connection to notify.
func NewNotifier(conn grpc.ClientConnInterface) *Notifier {
	return &Notifier{c: notifyv1.NewNotificationInternalServiceClient(conn)}
}

var _ vault.Notifier = (*Notifier)(nil)

// Enqueue implements vault.Notifier.
func (n *Notifier) Enqueue(ctx context.Context, msg vault.Notification) error {
	data, err := structpb.NewStruct(msg.Data)
	if err != nil {
		return fmt.Errorf("%w: %v", outbox.ErrPermanent, err)
	}
	req := &notifyv1.EnqueueNotificationRequest{IdempotencyKey: msg.IdempotencyKey, Template: notifyv1.Template(msg.Template), Data: data, Company: msg.Company}
	for _, r := range msg.Recipients {
		req.Recipients = append(req.Recipients, &notifyv1.Recipient{User: r.User, Email: r.Email, DisplayName: displayName(r.Name), Language: r.Language})
	}
	_, err = n.c.EnqueueNotification(client.AsService(ctx), req)
	return outbox.Refused(err)
}

// maxDisplayName is notify's bound on a recipient's display name.
const maxDisplayName = 200

// displayName makes a person's name one notify accepts (at most 200
// characters, no control character or line separator). Identity accepts
// names notify refuses (a C1 control character, a line separator), and
// notify refuses the whole notification for one such name: every
// addressee would lose the e-mail.
func displayName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); len(r) > maxDisplayName {
		s = string(r[:maxDisplayName])
	}
	return strings.TrimSpace(s)
}
