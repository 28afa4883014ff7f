package api

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
)

func toUser(m *domain.Member) *identityv1.User {
	l := &m.Login
	return &identityv1.User{
		Name:       domain.MemberName(m.Membership.Company, l.ID),
		Email:      l.Email,
		GivenName:  l.GivenName,
		FamilyName: l.FamilyName,
		Function:   l.Function,
		Phone:      l.Phone,
		Mobile:     l.Mobile,
		Language:   l.Language,
		Role:       identityv1.Role(m.Membership.Role),
		State:      m.Membership.State,

		TwoFactorEnabled: l.TwoFactor(),
		CreateTime:       timestamppb.New(m.Membership.CreateTime),
		UpdateTime:       timestamppb.New(latest(m.Membership.UpdateTime, l.UpdateTime)),
	}
}

// latest is the later of the membership's and the profile's update times.
func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func toMembership(mi *domain.MembershipInfo) *identityv1.Membership {
	return &identityv1.Membership{
		Company:            domain.CompanyName(mi.Company.ID),
		Role:               identityv1.Role(mi.Membership.Role),
		CompanyDisplayName: mi.Company.DisplayName,
		CompanyKind:        identityv1.CompanyKind(mi.Company.Kind),
		State:              mi.Membership.State,
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
	return domain.UserInput{Email: u.GetEmail(), GivenName: u.GetGivenName(), FamilyName: u.GetFamilyName(),
		Function: u.GetFunction(), Phone: u.GetPhone(), Mobile: u.GetMobile(), Language: u.GetLanguage(), Role: domain.Role(u.GetRole())}
}

func toGrant(g *domain.Grant) *identityv1.Grant {
	return &identityv1.Grant{
		Name: domain.GrantName(g.Company, g.ID), User: domain.MemberName(g.Company, g.User),
		Scope: identityv1.GrantScope(g.Scope), Project: g.Project, Level: identityv1.GrantLevel(g.Level),
		CreateTime: timestamppb.New(g.CreateTime), Creator: domain.MemberName(g.Company, g.Creator),
	}
}

func toAuditEvent(e *domain.AuditEvent) *identityv1.AuditEvent {
	return &identityv1.AuditEvent{
		Name:  domain.CompanyName(e.Company) + "/auditEvents/" + itoa(e.Seq),
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
		user: toUser(&si.Member), memberships: toMemberships(si.Memberships),
		company: domain.CompanyName(si.Company), pending: si.TOTPEnrollmentRequired,
	}
}
