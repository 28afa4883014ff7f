package auth

import (
	"context"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

// NewRemoteVerifier is how a service other than identity verifies tokens:
// keys from identity's GetJwks, revocations from its WatchRevocations feed,
// followed in the background until ctx ends. conn is a client connection
// to identity (client.Dial).
func NewRemoteVerifier(ctx context.Context, conn grpc.ClientConnInterface, log *zap.Logger) *Verifier {
	v := NewVerifier(NewRemoteKeys(identityv1.NewIdentityServiceClient(conn)), NewRevocations())
	go Watch(ctx, identityv1.NewIdentityInternalServiceClient(conn), v.Revocations(), log)
	return v
}

// Remote is what a service other than identity needs of identity to know
// who calls and what they may do: the token verifier and the extended
// permissions (R-DIR-10), cached and forgotten as identity's revocation feed
// reports changes of grants, roles and states (R-ID-7).
type Remote struct {
	Verifier *Verifier
	Grants   *authz.CachedGrants
}

// NewRemote builds both over one connection to identity; the feed is
// followed until ctx ends.
func NewRemote(ctx context.Context, conn grpc.ClientConnInterface, log *zap.Logger) *Remote {
	grants := authz.NewCachedGrants(RemoteGrants{Client: identityv1.NewIdentityInternalServiceClient(conn)}, 30*time.Second)
	v := NewVerifier(NewRemoteKeys(identityv1.NewIdentityServiceClient(conn)), NewRevocations())
	v.Revocations().OnApply(func(ev *identityv1.RevocationEvent) {
		switch ev.GetKind() {
		case identityv1.RevocationEvent_KIND_SESSION_REVOKED:
		default:
			grants.Invalidate(ev.GetUser(), ev.GetCompany())
		}
	})
	go Watch(ctx, identityv1.NewIdentityInternalServiceClient(conn), v.Revocations(), log)
	return &Remote{Verifier: v, Grants: grants}
}

// RemoteGrants asks identity's CheckPermission (uncached: wrap it in
// authz.NewCachedGrants).
type RemoteGrants struct {
	Client identityv1.IdentityInternalServiceClient
}

// HasGrant implements authz.Grants.
func (g RemoteGrants) HasGrant(ctx context.Context, user, company string, scope authz.GrantScope, level authz.GrantLevel, project string) (bool, error) {
	// A service's own question: the caller's token is not forwarded.
	ctx = metadata.NewOutgoingContext(ctx, metadata.MD{})
	resp, err := g.Client.CheckPermission(ctx, &identityv1.CheckPermissionRequest{
		User: user, Company: company,
		Check: &identityv1.CheckPermissionRequest_ExtendedPermission{ExtendedPermission: &identityv1.ExtendedPermission{
			Scope: identityv1.GrantScope(scope), Level: identityv1.GrantLevel(level), Project: project,
		}},
	})
	if err != nil {
		return false, errs.Unavailable("IDENTITY_UNAVAILABLE", "cannot check extended permissions now; retry")
	}
	return resp.GetAllowed(), nil
}
