package app

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/client"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// identityClient answers the domain's questions with identity's internal
// service: CheckPermission (an Administrator of a parent company),
// SyncCompany, AddMember (R-DIR-5) and BatchGetUsers (R-DIR-8).
type identityClient struct {
	client identityv1.IdentityInternalServiceClient
}

var _ directory.Identity = identityClient{}

func (c identityClient) IsAdministrator(ctx context.Context, user, company string) (bool, error) {
	resp, err := c.client.CheckPermission(client.AsService(ctx), &identityv1.CheckPermissionRequest{
		User: user, Company: names.Company.Format(company),
		// Any permission will do: the answer carries the user's role.
		Check: &identityv1.CheckPermissionRequest_Permission{Permission: identityv1.Permission_PERMISSION_EDIT_USERS},
	})
	if err != nil {
		return false, identityError(err)
	}
	return resp.GetRole() == identityv1.Role_ROLE_ADMINISTRATOR, nil
}

func (c identityClient) SyncCompany(ctx context.Context, co directory.Company) error {
	_, err := c.client.SyncCompany(client.AsService(ctx), &identityv1.SyncCompanyRequest{
		Company: names.Company.Format(co.ID), Kind: identityv1.CompanyKind(co.Kind), DisplayName: co.LegalName,
		RequireTwoFactor: co.RequireTwoFactor, Language: co.Language,
	})
	if err != nil {
		return identityError(err)
	}
	return nil
}

func (c identityClient) AddMember(ctx context.Context, m directory.NewMember) (directory.Member, error) {
	resp, err := c.client.AddMember(client.AsService(ctx), &identityv1.AddMemberRequest{
		Company: names.Company.Format(m.Company), Email: m.Contact.Email, GivenName: m.Contact.GivenName, FamilyName: m.Contact.FamilyName,
		Function: m.Contact.Function, Phone: m.Contact.Phone, Mobile: m.Contact.Mobile,
		// ROLE_UNSPECIFIED: identity applies R-DIR-5 in its own transaction
		// (Administrator when the company has no user yet, else Restricted).
		Role:      identityv1.Role_ROLE_UNSPECIFIED,
		InvitedBy: names.Company.Format(m.InvitedBy), Language: m.Language, Actor: m.Actor,
	})
	if err != nil {
		return directory.Member{}, identityError(err)
	}
	mem, ok := member(resp.GetUser())
	if !ok {
		return directory.Member{}, errs.Unavailable("IDENTITY_ANSWER", "identity answered a member without a name")
	}
	return mem, nil
}

func (c identityClient) Members(ctx context.Context, names []string) ([]directory.Member, error) {
	var out []directory.Member
	for len(names) > 0 {
		batch := names[:min(len(names), 500)]
		names = names[len(batch):]
		resp, err := c.client.BatchGetUsers(client.AsService(ctx), &identityv1.BatchGetUsersRequest{Names: batch})
		if err != nil {
			return nil, identityError(err)
		}
		for _, u := range resp.GetUsers() {
			if m, ok := member(u); ok {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

func member(u *identityv1.User) (directory.Member, bool) {
	company, user, err := names.Member.Parse("name", u.GetName())
	if err != nil {
		return directory.Member{}, false
	}
	return directory.Member{Company: company, User: user, Contact: directory.Contact{
		Email: u.GetEmail(), GivenName: u.GetGivenName(), FamilyName: u.GetFamilyName(),
		Function: u.GetFunction(), Phone: u.GetPhone(), Mobile: u.GetMobile(),
	}}, true
}

// identityError keeps identity's refusals of the request itself
// (INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, NOT_FOUND) as
// such, and turns anything else into Unavailable (retrying may help); the
// cause is logged by the server, never shown.
func identityError(err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded:
		return err
	case codes.InvalidArgument:
		return &errs.Error{Kind: errs.KindInvalidArgument, Reason: "IDENTITY_REFUSED", Message: st.Message(), Cause: err}
	case codes.FailedPrecondition:
		return &errs.Error{Kind: errs.KindFailedPrecondition, Reason: "IDENTITY_REFUSED", Message: st.Message(), Cause: err}
	case codes.AlreadyExists:
		return &errs.Error{Kind: errs.KindAlreadyExists, Reason: "IDENTITY_REFUSED", Message: st.Message(), Cause: err}
	case codes.NotFound:
		return &errs.Error{Kind: errs.KindNotFound, Reason: "IDENTITY_REFUSED", Message: st.Message(), Cause: err}
	}
	return &errs.Error{Kind: errs.KindUnavailable, Reason: "IDENTITY_UNAVAILABLE", Message: "cannot reach the identity service", Cause: err}
}
