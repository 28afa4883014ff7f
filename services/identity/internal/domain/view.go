package domain

import (
	"time"

	"github.com/vigil/vigil/services/runtime/names"
)

// User is a person as one company shows it (SPEC §4's User, R-ID-10): every
// read of a member answers one, built by view, so that one rule decides
// what of a person a company sees.
type User struct {
	Company string // {company}
	ID      string // {user}
	Email   string
	Profile
	Role               Role
	State              State
	TwoFactor          bool
	EmailUndeliverable string
	CreateTime         time.Time
	UpdateTime         time.Time
}

// Name is companies/{company}/users/{user}.
func (u *User) Name() string { return names.Member.Format(u.Company, u.ID) }

// audience is who looks at a member.
type audience int

const (
	// toMembers: members allowed to view users, and services.
	toMembers audience = iota
	// toAdmins: the company's Administrators (those who edit user data).
	toAdmins
	// toSelf: the person itself.
	toSelf
)

// view is l as a member m of one company shows it to whom. The profile is
// the membership's (the person's details in that company), never the
// login's own, which may hold what the person gave elsewhere. Until the
// person has joined (STATE_INVITED) nothing shows that depends on whether
// the e-mail already had a login: an Administrator adding an e-mail learns
// nothing of it (R-ID-10). A delivery failure shows to Administrators only
// when it happened since the person was added.
func view(l *Login, m *Membership, to audience) *User {
	u := &User{Company: m.Company, ID: l.ID, Email: l.Email, Profile: shownProfile(l, m), Role: m.Role, State: m.State,
		CreateTime: m.CreateTime, UpdateTime: m.UpdateTime}
	u.TwoFactor = l.TwoFactor() && (to == toSelf || m.State != StateInvited)
	if l.EmailUndeliverable != "" && (to == toSelf || to == toAdmins && !l.EmailUndeliverableTime.Before(m.CreateTime)) {
		u.EmailUndeliverable = l.EmailUndeliverable
	}
	return u
}

// shownProfile is the membership's profile; records written before
// memberships had one show the login's, which was then the only one.
func shownProfile(l *Login, m *Membership) Profile {
	if m.GivenName == "" && m.FamilyName == "" {
		return l.Profile
	}
	return m.Profile
}
