package app

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/runtime/errs"
)

// identityClient answers the domain's questions about users with identity's
// CheckPermission.
type identityClient struct {
	client identityv1.IdentityInternalServiceClient
}

var _ directory.Identity = identityClient{}

func (c identityClient) IsAdministrator(ctx context.Context, user, company string) (bool, error) {
	resp, err := c.client.CheckPermission(ctx, &identityv1.CheckPermissionRequest{
		User: user, Company: directory.Name(company),
		// Any permission will do: the answer carries the user's role.
		Check: &identityv1.CheckPermissionRequest_Permission{Permission: identityv1.Permission_PERMISSION_EDIT_USERS},
	})
	if err != nil {
		return false, identityError(err)
	}
	return resp.GetRole() == identityv1.Role_ROLE_ADMINISTRATOR, nil
}

func (c identityClient) CanViewSuppliers(ctx context.Context, user, company string) (bool, error) {
	resp, err := c.client.CheckPermission(ctx, &identityv1.CheckPermissionRequest{
		User: user, Company: directory.Name(company),
		Check: &identityv1.CheckPermissionRequest_ExtendedPermission{ExtendedPermission: &identityv1.ExtendedPermission{
			Scope: identityv1.GrantScope_GRANT_SCOPE_SUPPLIERS, Level: identityv1.GrantLevel_GRANT_LEVEL_VIEW,
		}},
	})
	if err != nil {
		return false, identityError(err)
	}
	return resp.GetAllowed(), nil
}

func (c identityClient) SyncCompany(ctx context.Context, co directory.Company) error {
	_, err := c.client.SyncCompany(ctx, &identityv1.SyncCompanyRequest{
		Company: directory.Name(co.ID), Kind: identityv1.CompanyKind(co.Kind), DisplayName: co.LegalName,
		RequireTwoFactor: co.RequireTwoFactor, Language: co.Language,
	})
	if err != nil {
		return identityError(err)
	}
	return nil
}

// identityError turns a failed call to identity into Unavailable (retrying
// may help); the cause is logged by the server, never shown.
func identityError(err error) error {
	if status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded {
		return err
	}
	return &errs.Error{Kind: errs.KindUnavailable, Reason: "IDENTITY_UNAVAILABLE", Message: "cannot reach the identity service", Cause: err}
}
