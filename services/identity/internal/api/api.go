// Package api is identity's gRPC surface: handlers translate protos to the
// domain and back and hold no business rules. It also names which methods
// need no token (Public) or stay open while two-factor enrolment is
// pending (TOTPEnrollment).
package api

import (
	"context"
	"errors"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/server"
)

// PublicMethods need no access token.
var PublicMethods = map[string]bool{
	identityv1.IdentityService_SignUp_FullMethodName:               true,
	identityv1.IdentityService_Login_FullMethodName:                true,
	identityv1.IdentityService_Refresh_FullMethodName:              true,
	identityv1.IdentityService_Logout_FullMethodName:               true,
	identityv1.IdentityService_RequestPasswordReset_FullMethodName: true,
	identityv1.IdentityService_ResetPassword_FullMethodName:        true,
	identityv1.IdentityService_AcceptInvitation_FullMethodName:     true,
	identityv1.IdentityService_GetJwks_FullMethodName:              true,
}

// TOTPEnrollmentMethods stay open to a caller whose company requires two
// factors before it has enrolled (R-ID-8).
var TOTPEnrollmentMethods = map[string]bool{
	identityv1.IdentityService_GetMe_FullMethodName:       true,
	identityv1.IdentityService_EnrollTotp_FullMethodName:  true,
	identityv1.IdentityService_ConfirmTotp_FullMethodName: true,
}

// NewAuthenticator is identity's server.Authenticator: its own tokens,
// verified with its own keys and revocations.
func NewAuthenticator(svc *domain.Service) *auth.Authenticator {
	return &auth.Authenticator{Verifier: svc.Verifier(), Public: PublicMethods, TOTPEnrollment: TOTPEnrollmentMethods}
}

// Options are what the handlers need to know of the deployment.
type Options struct {
	// TrustedProxyHops is how many proxies in front of the gateway append
	// to x-forwarded-for (see clientAddr).
	TrustedProxyHops int
}

// Register registers both identity services on g.
func Register(g *grpc.Server, svc *domain.Service, opts Options) {
	identityv1.RegisterIdentityServiceServer(g, NewIdentityServer(svc, opts))
	identityv1.RegisterIdentityInternalServiceServer(g, NewInternalServer(svc, opts))
}

// callers builds the domain's Caller of a request; both servers embed it.
type callers struct{ proxyHops int }

// caller is who calls, as the interceptors established it.
func (cs callers) caller(ctx context.Context) domain.Caller {
	c := domain.Caller{RequestID: server.RequestID(ctx), ClientAddr: clientAddr(ctx, cs.proxyHops)}
	c.Principal, c.Authenticated = auth.FromContext(ctx)
	return c
}

// clientAddr is the end client's address, which sign-in throttling keys on
// (R-ID-5): the x-forwarded-for entry hops places before the last one, else
// the peer. The gateway appends the last entry; each trusted proxy in front
// of it (an ingress, a load balancer) appended one more before. Entries
// further left are whatever the client sent, and are never used: with too
// few entries, the earliest trusted one is taken.
//
// It reads only that metadata key: copying every incoming entry, as
// metadata.FromIncomingContext does, cost 3% of an authenticated read's
// CPU (issue 14).
func clientAddr(ctx context.Context, hops int) string {
	if v := metadata.ValueFromIncomingContext(ctx, "x-forwarded-for"); len(v) > 0 {
		parts := strings.Split(strings.Join(v, ","), ",")
		i := max(len(parts)-1-hops, 0)
		if a := strings.TrimSpace(parts[i]); a != "" && len(a) <= 64 {
			return a
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if tcp, ok := p.Addr.(*net.TCPAddr); ok && tcp.Zone == "" {
			return tcp.IP.String()
		}
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return ""
}

func paths(m interface{ GetPaths() []string }) []string {
	if m == nil {
		return nil
	}
	return m.GetPaths()
}

type identityServer struct {
	identityv1.UnimplementedIdentityServiceServer
	callers
	svc *domain.Service
}

// NewIdentityServer returns the public IdentityService.
func NewIdentityServer(svc *domain.Service, opts Options) identityv1.IdentityServiceServer {
	return &identityServer{svc: svc, callers: callers{proxyHops: opts.TrustedProxyHops}}
}

func (s *identityServer) SignUp(ctx context.Context, req *identityv1.SignUpRequest) (*identityv1.SignUpResponse, error) {
	c, a := req.GetCompany(), req.GetAdmin()
	si, err := s.svc.SignUp(ctx, s.caller(ctx), domain.SignUpInput{
		Company: domain.CompanyDraft{LegalName: c.GetLegalName(), Kind: domain.CompanyKind(c.GetKind()), Country: c.GetCountry(),
			RegistrationNumber: c.GetRegistrationNumber(), Address: c.GetAddress(), TimeZone: c.GetTimeZone(), Language: c.GetLanguage()},
		Email: a.GetEmail(), GivenName: a.GetGivenName(), FamilyName: a.GetFamilyName(), Password: a.GetPassword(),
		TOTPCode: a.GetTotpCode(),
	})
	if err != nil {
		return nil, err
	}
	b := toSignIn(si)
	return &identityv1.SignUpResponse{AccessToken: b.accessToken, RefreshToken: b.refreshToken, ExpiresIn: b.expiresIn,
		User: b.user, Memberships: b.memberships, Company: b.company, TotpEnrollmentRequired: b.pending}, nil
}

func (s *identityServer) Login(ctx context.Context, req *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	si, err := s.svc.Login(ctx, s.caller(ctx), domain.LoginInput{Email: req.GetEmail(), Password: req.GetPassword(),
		Company: req.GetCompany(), TOTPCode: req.GetTotpCode()})
	if err != nil {
		return nil, err
	}
	b := toSignIn(si)
	return &identityv1.LoginResponse{AccessToken: b.accessToken, RefreshToken: b.refreshToken, ExpiresIn: b.expiresIn,
		User: b.user, Memberships: b.memberships, Company: b.company, TotpEnrollmentRequired: b.pending}, nil
}

func (s *identityServer) Refresh(ctx context.Context, req *identityv1.RefreshRequest) (*identityv1.RefreshResponse, error) {
	si, err := s.svc.Refresh(ctx, s.caller(ctx), req.GetRefreshToken())
	if err != nil {
		return nil, err
	}
	b := toSignIn(si)
	return &identityv1.RefreshResponse{AccessToken: b.accessToken, RefreshToken: b.refreshToken, ExpiresIn: b.expiresIn,
		User: b.user, Memberships: b.memberships, Company: b.company, TotpEnrollmentRequired: b.pending}, nil
}

func (s *identityServer) Logout(ctx context.Context, req *identityv1.LogoutRequest) (*identityv1.LogoutResponse, error) {
	if err := s.svc.Logout(ctx, s.caller(ctx), req.GetRefreshToken()); err != nil {
		return nil, err
	}
	return &identityv1.LogoutResponse{}, nil
}

func (s *identityServer) SwitchCompany(ctx context.Context, req *identityv1.SwitchCompanyRequest) (*identityv1.SwitchCompanyResponse, error) {
	si, err := s.svc.SwitchCompany(ctx, s.caller(ctx), req.GetCompany(), req.GetRefreshToken())
	if err != nil {
		return nil, err
	}
	b := toSignIn(si)
	return &identityv1.SwitchCompanyResponse{AccessToken: b.accessToken, RefreshToken: b.refreshToken, ExpiresIn: b.expiresIn,
		User: b.user, Memberships: b.memberships, Company: b.company, TotpEnrollmentRequired: b.pending}, nil
}

func (s *identityServer) RequestPasswordReset(ctx context.Context, req *identityv1.RequestPasswordResetRequest) (*identityv1.RequestPasswordResetResponse, error) {
	if err := s.svc.RequestPasswordReset(ctx, s.caller(ctx), req.GetEmail()); err != nil {
		return nil, err
	}
	return &identityv1.RequestPasswordResetResponse{}, nil
}

func (s *identityServer) ResetPassword(ctx context.Context, req *identityv1.ResetPasswordRequest) (*identityv1.ResetPasswordResponse, error) {
	if err := s.svc.ResetPassword(ctx, s.caller(ctx), req.GetToken(), req.GetNewPassword(), req.GetTotpCode()); err != nil {
		return nil, err
	}
	return &identityv1.ResetPasswordResponse{}, nil
}

func (s *identityServer) AcceptInvitation(ctx context.Context, req *identityv1.AcceptInvitationRequest) (*identityv1.AcceptInvitationResponse, error) {
	si, err := s.svc.AcceptInvitation(ctx, s.caller(ctx), domain.InvitationInput{Token: req.GetToken(), Password: req.GetPassword(),
		GivenName: req.GetGivenName(), FamilyName: req.GetFamilyName(), TOTPCode: req.GetTotpCode()})
	if err != nil {
		return nil, err
	}
	b := toSignIn(si)
	return &identityv1.AcceptInvitationResponse{AccessToken: b.accessToken, RefreshToken: b.refreshToken, ExpiresIn: b.expiresIn,
		User: b.user, Memberships: b.memberships, Company: b.company, TotpEnrollmentRequired: b.pending}, nil
}

func (s *identityServer) GetJwks(_ context.Context, _ *identityv1.GetJwksRequest) (*identityv1.GetJwksResponse, error) {
	out := &identityv1.GetJwksResponse{}
	for _, k := range s.svc.PublishedKeys() {
		out.Keys = append(out.Keys, k.JWK())
	}
	return out, nil
}

func (s *identityServer) GetMe(ctx context.Context, _ *identityv1.GetMeRequest) (*identityv1.User, error) {
	m, err := s.svc.GetMe(ctx, s.caller(ctx))
	if err != nil {
		return nil, err
	}
	return toUser(m), nil
}

func (s *identityServer) UpdateMe(ctx context.Context, req *identityv1.UpdateMeRequest) (*identityv1.User, error) {
	m, err := s.svc.UpdateMe(ctx, s.caller(ctx), toUserInput(req.GetUser()), paths(req.GetUpdateMask()))
	if err != nil {
		return nil, err
	}
	return toUser(m), nil
}

func (s *identityServer) ChangePassword(ctx context.Context, req *identityv1.ChangePasswordRequest) (*identityv1.ChangePasswordResponse, error) {
	if err := s.svc.ChangePassword(ctx, s.caller(ctx), req.GetCurrentPassword(), req.GetNewPassword(), req.GetTotpCode()); err != nil {
		return nil, err
	}
	return &identityv1.ChangePasswordResponse{}, nil
}

func (s *identityServer) GetMyPermissions(ctx context.Context, _ *identityv1.GetMyPermissionsRequest) (*identityv1.GetMyPermissionsResponse, error) {
	p, err := s.svc.GetMyPermissions(ctx, s.caller(ctx))
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetMyPermissionsResponse{Company: names.Company.Format(p.Company), Role: identityv1.Role(p.Role),
		Permissions: permissionsProto(p.Permissions), AllExtendedPermissions: p.AllExtended}
	for _, g := range p.Extended {
		out.ExtendedPermissions = append(out.ExtendedPermissions, &identityv1.ExtendedPermission{Scope: identityv1.GrantScope(g.Scope), Level: identityv1.GrantLevel(g.Level), Project: g.Project})
	}
	return out, nil
}

func (s *identityServer) EnrollTotp(ctx context.Context, _ *identityv1.EnrollTotpRequest) (*identityv1.EnrollTotpResponse, error) {
	e, err := s.svc.EnrollTotp(ctx, s.caller(ctx))
	if err != nil {
		return nil, err
	}
	return &identityv1.EnrollTotpResponse{Secret: e.Secret, OtpauthUrl: e.URL}, nil
}

func (s *identityServer) ConfirmTotp(ctx context.Context, req *identityv1.ConfirmTotpRequest) (*identityv1.ConfirmTotpResponse, error) {
	if err := s.svc.ConfirmTotp(ctx, s.caller(ctx), req.GetPassword(), req.GetCode()); err != nil {
		return nil, err
	}
	return &identityv1.ConfirmTotpResponse{}, nil
}

func (s *identityServer) DisableTotp(ctx context.Context, req *identityv1.DisableTotpRequest) (*emptypb.Empty, error) {
	if err := s.svc.DisableTotp(ctx, s.caller(ctx), req.GetPassword(), req.GetCode()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *identityServer) ListUsers(ctx context.Context, req *identityv1.ListUsersRequest) (*identityv1.ListUsersResponse, error) {
	us, next, err := s.svc.ListUsers(ctx, s.caller(ctx), req.GetParent(), domain.State(req.GetState()),
		domain.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	return &identityv1.ListUsersResponse{Users: toUsers(us), NextPageToken: next}, nil
}

func (s *identityServer) GetUser(ctx context.Context, req *identityv1.GetUserRequest) (*identityv1.User, error) {
	m, err := s.svc.GetUser(ctx, s.caller(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return toUser(m), nil
}

func (s *identityServer) CreateUser(ctx context.Context, req *identityv1.CreateUserRequest) (*identityv1.User, error) {
	m, err := s.svc.CreateUser(ctx, s.caller(ctx), req.GetParent(), toUserInput(req.GetUser()))
	if err != nil {
		return nil, err
	}
	return toUser(m), nil
}

func (s *identityServer) UpdateUser(ctx context.Context, req *identityv1.UpdateUserRequest) (*identityv1.User, error) {
	m, err := s.svc.UpdateUser(ctx, s.caller(ctx), req.GetUser().GetName(), toUserInput(req.GetUser()), paths(req.GetUpdateMask()))
	if err != nil {
		return nil, err
	}
	return toUser(m), nil
}

func (s *identityServer) DeleteUser(ctx context.Context, req *identityv1.DeleteUserRequest) (*emptypb.Empty, error) {
	if err := s.svc.DeleteUser(ctx, s.caller(ctx), req.GetName()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *identityServer) SendPasswordReset(ctx context.Context, req *identityv1.SendPasswordResetRequest) (*identityv1.SendPasswordResetResponse, error) {
	exp, err := s.svc.SendPasswordReset(ctx, s.caller(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return &identityv1.SendPasswordResetResponse{ExpireTime: timestamppb.New(exp)}, nil
}

func (s *identityServer) ActivateUser(ctx context.Context, req *identityv1.ActivateUserRequest) (*identityv1.User, error) {
	m, err := s.svc.ActivateUser(ctx, s.caller(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return toUser(m), nil
}

func (s *identityServer) DeactivateUser(ctx context.Context, req *identityv1.DeactivateUserRequest) (*identityv1.User, error) {
	m, err := s.svc.DeactivateUser(ctx, s.caller(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return toUser(m), nil
}

func (s *identityServer) ListGrants(ctx context.Context, req *identityv1.ListGrantsRequest) (*identityv1.ListGrantsResponse, error) {
	gs, next, err := s.svc.ListGrants(ctx, s.caller(ctx), req.GetParent(), req.GetUser(),
		domain.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListGrantsResponse{NextPageToken: next}
	for _, g := range gs {
		out.Grants = append(out.Grants, toGrant(g))
	}
	return out, nil
}

func (s *identityServer) CreateGrant(ctx context.Context, req *identityv1.CreateGrantRequest) (*identityv1.Grant, error) {
	g := req.GetGrant()
	out, err := s.svc.CreateGrant(ctx, s.caller(ctx), req.GetParent(), domain.Grant{User: g.GetUser(), Scope: domain.GrantScope(g.GetScope()),
		Level: domain.GrantLevel(g.GetLevel()), Project: g.GetProject()})
	if err != nil {
		return nil, err
	}
	return toGrant(out), nil
}

func (s *identityServer) DeleteGrant(ctx context.Context, req *identityv1.DeleteGrantRequest) (*emptypb.Empty, error) {
	if err := s.svc.DeleteGrant(ctx, s.caller(ctx), req.GetName()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *identityServer) ListAuditEvents(ctx context.Context, req *identityv1.ListAuditEventsRequest) (*identityv1.ListAuditEventsResponse, error) {
	var f domain.AuditFilter
	if req.GetStartTime() != nil {
		f.Start = req.GetStartTime().AsTime()
	}
	if req.GetEndTime() != nil {
		f.End = req.GetEndTime().AsTime()
	}
	evs, next, err := s.svc.ListAuditEvents(ctx, s.caller(ctx), req.GetParent(), f,
		domain.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()})
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListAuditEventsResponse{NextPageToken: next}
	for _, e := range evs {
		out.AuditEvents = append(out.AuditEvents, toAuditEvent(e))
	}
	return out, nil
}

type internalServer struct {
	identityv1.UnimplementedIdentityInternalServiceServer
	callers
	svc *domain.Service
}

// NewInternalServer returns IdentityInternalService.
func NewInternalServer(svc *domain.Service, opts Options) identityv1.IdentityInternalServiceServer {
	return &internalServer{svc: svc, callers: callers{proxyHops: opts.TrustedProxyHops}}
}

func (s *internalServer) WatchRevocations(req *identityv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[identityv1.RevocationEvent]) error {
	err := s.svc.WatchRevocations(stream.Context(), req.GetAfterSequence(), func(ev *domain.RevocationEvent) error {
		return stream.Send(ev.Proto())
	})
	if errors.Is(err, domain.ErrOutOfRange) {
		return status.Error(codes.OutOfRange, err.Error())
	}
	return err
}

func (s *internalServer) CheckPermission(ctx context.Context, req *identityv1.CheckPermissionRequest) (*identityv1.CheckPermissionResponse, error) {
	q := domain.Check{Permission: domain.Permission(req.GetPermission())}
	if e := req.GetExtendedPermission(); e != nil {
		q = domain.Check{Scope: domain.GrantScope(e.GetScope()), Level: domain.GrantLevel(e.GetLevel()), Project: e.GetProject()}
	}
	ok, role, err := s.svc.CheckPermission(ctx, req.GetUser(), req.GetCompany(), q)
	if err != nil {
		return nil, err
	}
	return &identityv1.CheckPermissionResponse{Allowed: ok, Role: identityv1.Role(role)}, nil
}

func (s *internalServer) AddMember(ctx context.Context, req *identityv1.AddMemberRequest) (*identityv1.AddMemberResponse, error) {
	m, created, err := s.svc.AddMember(ctx, s.caller(ctx), domain.AddMemberInput{
		Company: req.GetCompany(), InvitedBy: req.GetInvitedBy(), Actor: req.GetActor(),
		User: domain.UserInput{Email: req.GetEmail(), Role: domain.Role(req.GetRole()), Profile: domain.Profile{
			GivenName: req.GetGivenName(), FamilyName: req.GetFamilyName(), Function: req.GetFunction(), Phone: req.GetPhone(),
			Mobile: req.GetMobile(), Language: req.GetLanguage()}},
	})
	if err != nil {
		return nil, err
	}
	return &identityv1.AddMemberResponse{User: toUser(m), Created: created}, nil
}

func (s *internalServer) CountMembers(ctx context.Context, req *identityv1.CountMembersRequest) (*identityv1.CountMembersResponse, error) {
	n, err := s.svc.CountMembers(ctx, req.GetCompany())
	if err != nil {
		return nil, err
	}
	return &identityv1.CountMembersResponse{ActiveCount: int32(n.Active), TotalCount: int32(n.Total)}, nil
}

func (s *internalServer) BatchGetUsers(ctx context.Context, req *identityv1.BatchGetUsersRequest) (*identityv1.BatchGetUsersResponse, error) {
	us, err := s.svc.BatchGetUsers(ctx, req.GetNames())
	if err != nil {
		return nil, err
	}
	return &identityv1.BatchGetUsersResponse{Users: toUsers(us)}, nil
}

func (s *internalServer) ListMemberships(ctx context.Context, req *identityv1.ListMembershipsRequest) (*identityv1.ListMembershipsResponse, error) {
	ms, err := s.svc.ListMemberships(ctx, req.GetUser())
	if err != nil {
		return nil, err
	}
	return &identityv1.ListMembershipsResponse{Memberships: toMemberships(ms)}, nil
}

func (s *internalServer) SyncCompany(ctx context.Context, req *identityv1.SyncCompanyRequest) (*identityv1.SyncCompanyResponse, error) {
	err := s.svc.SyncCompany(ctx, s.caller(ctx), domain.Company{ID: req.GetCompany(), Kind: domain.CompanyKind(req.GetKind()),
		DisplayName: req.GetDisplayName(), RequireTwoFactor: req.GetRequireTwoFactor(), Language: req.GetLanguage()})
	if err != nil {
		return nil, err
	}
	return &identityv1.SyncCompanyResponse{}, nil
}

func (s *internalServer) ListMembers(ctx context.Context, req *identityv1.ListMembersRequest) (*identityv1.ListMembersResponse, error) {
	us, next, err := s.svc.ListMembers(ctx, domain.ListMembersInput{Company: req.GetCompany(), State: domain.State(req.GetState()),
		Permission: domain.Permission(req.GetPermission()), Page: domain.Page{Size: int(req.GetPageSize()), Token: req.GetPageToken()}})
	if err != nil {
		return nil, err
	}
	return &identityv1.ListMembersResponse{Members: toUsers(us), NextPageToken: next}, nil
}

func (s *internalServer) ReportUndeliverableEmail(ctx context.Context, req *identityv1.ReportUndeliverableEmailRequest) (*identityv1.ReportUndeliverableEmailResponse, error) {
	marked, err := s.svc.ReportUndeliverableEmail(ctx, s.caller(ctx), req.GetEmail(), req.GetReason())
	if err != nil {
		return nil, err
	}
	return &identityv1.ReportUndeliverableEmailResponse{Marked: marked}, nil
}

func permissionsProto(ps []domain.Permission) []identityv1.Permission {
	out := make([]identityv1.Permission, len(ps))
	for i, p := range ps {
		out[i] = identityv1.Permission(p)
	}
	return out
}
