// Package clients adapts directory's and notify's gRPC APIs to the ports
// identity's domain defines.
package clients

import (
	"context"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/outbox"
)

// Directory is domain.Directory over directory's gRPC API.
type Directory struct {
	internal  directoryv1.DirectoryInternalServiceClient
	companies directoryv1.CompanyServiceClient
}

// NewDirectory returns the adapter over a connection to directory.
func NewDirectory(conn grpc.ClientConnInterface) *Directory {
	return &Directory{internal: directoryv1.NewDirectoryInternalServiceClient(conn), companies: directoryv1.NewCompanyServiceClient(conn)}
}

// CreateCompany implements domain.Directory.
func (d *Directory) CreateCompany(ctx context.Context, in domain.CompanyDraft, requestID string) (*domain.Company, error) {
	c := &directoryv1.Company{
		LegalName: in.LegalName, Kind: directoryv1.CompanyKind(in.Kind), Country: in.Country,
		RegistrationNumber: normalizeNumber(in.RegistrationNumber), TimeZone: in.TimeZone, Language: in.Language,
	}
	if in.Address != "" {
		c.Address = &directoryv1.PostalAddress{Lines: splitLines(in.Address), Country: in.Country}
	}
	out, err := d.internal.CreateCompany(client.AsService(ctx), &directoryv1.CreateCompanyRequest{Company: c, RequestId: requestID})
	if err != nil {
		return nil, translate(err)
	}
	return company(out), nil
}

// DeleteCompany implements domain.Directory; NOT_FOUND counts as done, and
// FAILED_PRECONDITION (the company is in use) is an errs FailedPrecondition.
func (d *Directory) DeleteCompany(ctx context.Context, id string) error {
	_, err := d.internal.DeleteCompany(client.AsService(ctx), &directoryv1.DeleteCompanyRequest{Name: names.Company.Format(id)})
	switch status.Code(err) {
	case codes.OK, codes.NotFound:
		return nil
	case codes.FailedPrecondition:
		return &errs.Error{Kind: errs.KindFailedPrecondition, Reason: "COMPANY_IN_USE", Message: "the company is in use", Cause: err}
	}
	return err
}

// GetCompany implements domain.Directory.
func (d *Directory) GetCompany(ctx context.Context, id, bearer string) (*domain.Company, error) {
	ctx = metadata.AppendToOutgoingContext(client.AsService(ctx), "authorization", "Bearer "+bearer)
	out, err := d.companies.GetCompany(ctx, &directoryv1.GetCompanyRequest{Name: names.Company.Format(id)})
	if err != nil {
		return nil, err
	}
	return company(out), nil
}

func company(c *directoryv1.Company) *domain.Company {
	return &domain.Company{ID: strings.TrimPrefix(c.GetName(), "companies/"), Kind: domain.CompanyKind(c.GetKind()),
		DisplayName: c.GetLegalName(), RequireTwoFactor: c.GetRequireTwoFactor(), Language: c.GetLanguage()}
}

// normalizeNumber drops the spaces, dots and dashes sign-up allows.
func normalizeNumber(n string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' || r == '-' {
			return -1
		}
		return r
	}, n)
}

func splitLines(addr string) []string {
	var out []string
	for _, l := range strings.Split(addr, "\n") {
		if l = strings.TrimSpace(l); l != "" && len(out) < 4 {
			out = append(out, l)
		}
	}
	return out
}

// refused is directory's definitive refusal of a company: the caller's
// error, which is also domain.ErrCompanyRefused (nothing was created).
type refused struct{ err *errs.Error }

func (r refused) Error() string { return r.err.Error() }

func (r refused) Unwrap() []error { return []error{r.err, domain.ErrCompanyRefused} }

// translate turns directory's answer into identity's: the caller's mistakes
// keep their code and field, the rest says directory is unavailable.
func translate(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.AlreadyExists:
		return refused{errs.AlreadyExists("COMPANY_ALREADY_REGISTERED", "a company with this country and registration number is already registered (R-DIR-1): ask its Administrators to add you")}
	case codes.InvalidArgument:
		field := "company"
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
				field = br.GetFieldViolations()[0].GetField()
			}
		}
		if !strings.HasPrefix(field, "company") {
			field = "company." + field
		}
		return refused{&errs.Error{Kind: errs.KindInvalidArgument, Reason: "INVALID_ARGUMENT", Message: st.Message(), Field: field}}
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return errs.Unavailable("DIRECTORY_UNAVAILABLE", "the directory service is unavailable; retry")
	}
	return errs.Internal(err)
}

// Notifier is domain.Notifier over notify's EnqueueNotification.
type Notifier struct {
	c notifyv1.NotificationInternalServiceClient
}

// NewNotifier returns the adapter over a connection to notify.
func NewNotifier(conn grpc.ClientConnInterface) *Notifier {
	return &Notifier{c: notifyv1.NewNotificationInternalServiceClient(conn)}
}

// Enqueue implements domain.Notifier.
func (n *Notifier) Enqueue(ctx context.Context, msg *domain.Notification) error {
	data := map[string]any{}
	for k, v := range msg.Data {
		data[k] = v
	}
	st, err := structpb.NewStruct(data)
	if err != nil {
		return err
	}
	req := &notifyv1.EnqueueNotificationRequest{IdempotencyKey: msg.IdempotencyKey, Template: notifyv1.Template(msg.Template),
		Data: st, Company: msg.Company}
	for _, r := range msg.Recipients {
		req.Recipients = append(req.Recipients, &notifyv1.Recipient{User: r.User, Email: r.Email, DisplayName: r.DisplayName, Language: r.Language})
	}
	_, err = n.c.EnqueueNotification(client.AsService(ctx), req)
	return outbox.Refused(err)
}

var (
	_ domain.Directory = (*Directory)(nil)
	_ domain.Notifier  = (*Notifier)(nil)
)
