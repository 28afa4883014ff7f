package api

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/names"
)

// toUser is the wire form of a member as the domain chose to show it.
func toUser(u *domain.User) *identityv1.User {
	return &identityv1.User{
		Name:       u.Name(),
		Email:      u.Email,
		GivenName:  u.GivenName,
		FamilyName: u.FamilyName,
		Function:   u.Function,
		Phone:      u.Phone,
		Mobile:     u.Mobile,
		Language:   u.Language,
		Role:       identityv1.Role(u.Role),
		State:      identityv1.User_State(u.State),

		TwoFactorEnabled:   u.TwoFactor,
		EmailUndeliverable: u.EmailUndeliverable,
		CreateTime:         timestamppb.New(u.CreateTime),
		UpdateTime:         timestamppb.New(u.UpdateTime),
	}
}

func toUsers(us []domain.User) []*identityv1.User {
	out := make([]*identityv1.User, 0, len(us))
	for i := range us {
		out = append(out, toUser(&us[i]))
	}
	return out
}

func toMembership(mi *domain.MembershipInfo) *identityv1.Membership {
	return &identityv1.Membership{
		Company:            names.Company.Format(mi.Company.ID),
		Role:               identityv1.Role(mi.Membership.Role),
		CompanyDisplayName: mi.Company.DisplayName,
		CompanyKind:        identityv1.CompanyKind(mi.Company.Kind),
		State:              identityv1.User_State(mi.Membership.State),
	}
}

func toMemberships(ms []domain.MembershipInfo) []*identityv1.Membership {
	out := make([]*identityv1.Membership, 0, len(ms))
	for i := range ms {
		out = append(out, toMembership(&ms[i]))
	}
	return out
}

func toUserInput(u *identityv1.User) domain.UserInput {
	return domain.UserInput{Email: u.GetEmail(), Role: domain.Role(u.GetRole()), Profile: domain.Profile{
		GivenName: u.GetGivenName(), FamilyName: u.GetFamilyName(), Function: u.GetFunction(), Phone: u.GetPhone(),
		Mobile: u.GetMobile(), Language: u.GetLanguage()}}
}

func toGrant(g *domain.Grant) *identityv1.Grant {
	return &identityv1.Grant{
		Name: names.Grant.Format(g.Company, g.ID), User: names.Member.Format(g.Company, g.User),
		Scope: identityv1.GrantScope(g.Scope), Project: g.Project, Level: identityv1.GrantLevel(g.Level),
		CreateTime: timestamppb.New(g.CreateTime), Creator: names.Member.Format(g.Company, g.Creator),
	}
}

func toAuditEvent(e *domain.AuditEvent) *identityv1.AuditEvent {
	return &identityv1.AuditEvent{
		Name:  names.Company.Format(e.Company) + "/auditEvents/" + itoa(e.Seq),
		Actor: e.Actor, ActorDisplayName: e.ActorDisplayName, Action: e.Action, Target: e.Target,
		Detail: e.Detail, CreateTime: timestamppb.New(e.Time), RequestId: e.RequestID,
	}
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// signIn is the common body of every sign-in answer.
type signIn struct {
	accessToken, refreshToken string
	expiresIn                 int32
	user                      *identityv1.User
	memberships               []*identityv1.Membership
	company                   string
	pending                   bool
}

func toSignIn(si *domain.SignIn) signIn {
	return signIn{
		accessToken: si.AccessToken, refreshToken: si.RefreshToken, expiresIn: int32(si.ExpiresIn.Seconds()),
		user: toUser(&si.User), memberships: toMemberships(si.Memberships),
		company: names.Company.Format(si.Company), pending: si.TOTPEnrollmentRequired,
	}
}
