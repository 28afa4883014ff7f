package domain

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/feed"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
)

var (
	errMemberNotFound = errs.NotFound("USER_NOT_FOUND", "no such user in this company")
	errLastAdmin      = errs.FailedPrecondition("LAST_ADMINISTRATOR", "the company must keep at least one active Administrator")
	errNotJoined      = errs.FailedPrecondition("USER_INVITED", "the user has not accepted the invitation yet")
)

// UserInput carries a person's fields for create and update.
type UserInput struct {
	Email string
	Profile
	Role Role
}

// NormalizeEmail is the form e-mails are stored and looked up in.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Page asks for one page of a list.
type Page struct {
	Size  int
	Token string
}

func (p Page) size() int {
	switch {
	case p.Size <= 0:
		return 50
	case p.Size > 500:
		return 500
	}
	return p.Size
}

// ListUsers pages through a company's members by family then given name,
// as the company shows them.
func (s *Service) ListUsers(ctx context.Context, c Caller, parent string, state State, page Page) ([]User, string, error) {
	company, err := names.Company.Parse("parent", parent)
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, c, company, authz.ViewUsers); err != nil {
		return nil, "", err
	}
	var after []string
	if page.Token != "" {
		if after, err = pagetoken.Decode(page.Token, "users", 3); err != nil {
			return nil, "", err
		}
	}
	var all []User
	err = s.view(ctx, func(tx Tx) error {
		ms, err := tx.CompanyMembers(company)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if state != StateUnspecified && m.State != state {
				continue
			}
			l, err := tx.Login(m.User)
			if err != nil {
				return err
			}
			all = append(all, *view(l, m, audienceOf(c, m.User)))
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	key := func(u *User) []string {
		return []string{strings.ToLower(u.FamilyName), strings.ToLower(u.GivenName), u.ID}
	}
	less := func(a, b []string) bool {
		for i := range a {
			if a[i] != b[i] {
				return a[i] < b[i]
			}
		}
		return false
	}
	sort.Slice(all, func(i, j int) bool { return less(key(&all[i]), key(&all[j])) })
	start := 0
	if after != nil {
		start = sort.Search(len(all), func(i int) bool { return less(after, key(&all[i])) })
	}
	end := min(start+page.size(), len(all))
	out := all[start:end]
	next := ""
	if end < len(all) {
		next = pagetoken.Encode("users", key(&all[end-1])...)
	}
	return out, next, nil
}

// GetUser returns one member as its company shows it; members may always
// read themselves.
func (s *Service) GetUser(ctx context.Context, c Caller, name string) (*User, error) {
	company, user, err := names.Member.Parse("name", name)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeMember(ctx, c, company, user, authz.ViewUsers); err != nil {
		return nil, err
	}
	var out *User
	err = s.view(ctx, func(tx Tx) error {
		l, m, err := loadMember(tx, company, user)
		if err == nil {
			out = view(l, m, audienceOf(c, user))
		}
		return err
	})
	return out, err
}

func loadMember(tx Tx, company, user string) (*Login, *Membership, error) {
	m, err := tx.Membership(company, user)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, errMemberNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	l, err := tx.Login(user)
	if err != nil {
		return nil, nil, err
	}
	return l, m, nil
}

// CreateUser adds a person to a company (R-ID-1): joining takes the
// person's consent (R-ID-10), so the person is invited (R-ID-6), whether or
// not the e-mail has a login, and the answer is the same either way.
func (s *Service) CreateUser(ctx context.Context, c Caller, parent string, in UserInput) (*User, error) {
	company, err := names.Company.Parse("parent", parent)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, company, authz.AddUsers); err != nil {
		return nil, err
	}
	var out *User
	err = s.update(ctx, c, func(t *txn) error {
		comp, err := companyOrStub(t, company)
		if err != nil {
			return err
		}
		role := in.Role
		if role == authz.RoleUnspecified {
			role = defaultRole(comp.Kind)
		}
		l, m, err := t.invite(comp, in, role, t.nameIn(company, callerID(c)), "")
		if err != nil {
			return err
		}
		if err := t.audit(company, "user.create", names.Member.Format(company, l.ID), map[string]string{"role": role.String(), "state": m.State.String()}); err != nil {
			return err
		}
		out = view(l, m, toAdmins)
		return nil
	})
	return out, err
}

// invite adds the person of in.Email to comp with role, as an invited
// member holding the details given (R-ID-10), and e-mails the person an
// invitation link (R-ID-6). It does the same, and answers the same, whether
// or not the e-mail has a login: a new e-mail gets a login without a
// password, whose own profile starts as the details given. ALREADY_EXISTS
// when already a member of comp. invitedBy is the customer whose contact
// the person is (AddMember), or empty.
func (t *txn) invite(comp *Company, in UserInput, role Role, inviterName, invitedBy string) (*Login, *Membership, error) {
	email := NormalizeEmail(in.Email)
	profile := in.Profile
	login, err := t.LoginByEmail(email)
	switch {
	case errors.Is(err, ErrNotFound):
		login = &Login{ID: names.NewID(), Email: email, Profile: profile, CreateTime: t.now, UpdateTime: t.now}
		if err := t.PutLogin(login); err != nil {
			return nil, nil, err
		}
	case err != nil:
		return nil, nil, err
	}
	if _, err := t.Membership(comp.ID, login.ID); err == nil {
		return nil, nil, errs.AlreadyExists("ALREADY_MEMBER", "this person is already a member of the company")
	} else if !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	m := &Membership{Company: comp.ID, User: login.ID, Role: role, State: StateInvited, Profile: profile,
		InvitedBy: invitedBy, CreateTime: t.now, UpdateTime: t.now}
	if err := t.PutMembership(m); err != nil {
		return nil, nil, err
	}
	return login, m, t.queueInvitation(comp, login, m, inviterName)
}

// queueInvitation e-mails member m of comp an invitation link (R-ID-6).
func (t *txn) queueInvitation(comp *Company, l *Login, m *Membership, inviterName string) error {
	to := recipient(l)
	if to.Language == "" {
		to.Language = m.Language
	}
	if to.Language == "" {
		to.Language = comp.Language
	}
	return t.queue(&Notification{
		IdempotencyKey: "invitation:" + comp.ID + ":" + l.ID + ":" + names.NewID(),
		Template:       TemplateInvitation,
		Recipients:     []Recipient{to},
		Data:           map[string]string{"company_name": comp.Label(), "inviter_name": inviterName},
		Company:        names.Company.Format(comp.ID),
		Link:           LinkInvitation, LinkUser: l.ID, LinkCompany: comp.ID,
	})
}

func recipient(l *Login) Recipient {
	return Recipient{User: names.User.Format(l.ID), Email: l.Email, DisplayName: l.DisplayName(), Language: l.Language}
}

// profileFields are the person's fields an update mask may name.
var profileFields = map[string]bool{"given_name": true, "family_name": true, "function": true, "phone": true, "mobile": true, "language": true}

// applyProfile copies the masked profile fields of in onto p and names
// those it changed.
func applyProfile(p *Profile, in Profile, mask []string, prefix string) (map[string]string, error) {
	changed := map[string]string{}
	for _, f := range mask {
		if !profileFields[f] {
			continue
		}
		changed[f] = "changed"
		switch f {
		case "given_name":
			if strings.TrimSpace(in.GivenName) == "" {
				return nil, errs.InvalidArgument(prefix+"given_name", "must not be empty")
			}
			p.GivenName = in.GivenName
		case "family_name":
			if strings.TrimSpace(in.FamilyName) == "" {
				return nil, errs.InvalidArgument(prefix+"family_name", "must not be empty")
			}
			p.FamilyName = in.FamilyName
		case "function":
			p.Function = in.Function
		case "phone":
			p.Phone = in.Phone
		case "mobile":
			p.Mobile = in.Mobile
		case "language":
			p.Language = in.Language
		}
	}
	return changed, nil
}

// UpdateUser changes a member's details in its company, or its role
// (R-ID-3 "edit user data"). The details are the person's as that company
// shows them (R-ID-10): neither the person's own profile nor other
// companies change. Demoting the last active Administrator is refused
// (R-ID-2); a role change reaches every service within a second (R-ID-7).
func (s *Service) UpdateUser(ctx context.Context, c Caller, name string, in UserInput, mask []string) (*User, error) {
	company, user, err := names.Member.Parse("user.name", name)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, company, authz.EditUsers); err != nil {
		return nil, err
	}
	var out *User
	err = s.update(ctx, c, func(t *txn) error {
		l, m, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		m.Profile = shownProfile(l, m)
		detail, err := applyProfile(&m.Profile, in.Profile, mask, "user.")
		if err != nil {
			return err
		}
		for _, f := range mask {
			if f != "role" || in.Role == m.Role {
				continue
			}
			if in.Role == authz.RoleUnspecified {
				return errs.InvalidArgument("user.role", "cannot be cleared")
			}
			if err := t.guardLastAdmin(m); err != nil {
				return err
			}
			detail["previous_role"], detail["role"] = m.Role.String(), in.Role.String()
			m.Role = in.Role
			if err := t.revoke(RevocationEvent{User: names.User.Format(user), Company: names.Company.Format(company),
				Kind: auth.RevokeRoleChanged, Role: m.Role}); err != nil {
				return err
			}
		}
		if len(detail) > 0 {
			m.UpdateTime = t.now
			if err := t.PutMembership(m); err != nil {
				return err
			}
			if err := t.audit(company, "user.update", name, detail); err != nil {
				return err
			}
		}
		out = view(l, m, audienceOf(c, user))
		return nil
	})
	return out, err
}

// guardLastAdmin refuses to take away the last active Administrator (R-ID-2).
func (t *txn) guardLastAdmin(m *Membership) error {
	if m.Role != authz.RoleAdministrator || m.State != StateActive {
		return nil
	}
	ms, err := t.CompanyMembers(m.Company)
	if err != nil {
		return err
	}
	admins := 0
	for _, o := range ms {
		if o.Role == authz.RoleAdministrator && o.State == StateActive {
			admins++
		}
	}
	if admins <= 1 {
		return errLastAdmin
	}
	return nil
}

// DeleteUser removes a person from a company (R-ID-2 guarded, R-ID-7
// revoked): its grants there go, its sessions there end (issue 7 point 4)
// and its invitations to the company are withdrawn. The login and its
// other memberships stay; a login that was only ever invited, and is left
// with no membership, goes too.
func (s *Service) DeleteUser(ctx context.Context, c Caller, name string) error {
	company, user, err := names.Member.Parse("name", name)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, c, company, authz.ManageUserState); err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		m, err := t.Membership(company, user)
		if errors.Is(err, ErrNotFound) {
			return errMemberNotFound
		}
		if err != nil {
			return err
		}
		if err := t.guardLastAdmin(m); err != nil {
			return err
		}
		if err := t.DeleteMembership(company, user); err != nil {
			return err
		}
		grants, err := t.Grants(company)
		if err != nil {
			return err
		}
		for _, g := range grants {
			if g.User == user {
				if err := t.DeleteGrant(company, g.ID); err != nil {
					return err
				}
			}
		}
		if err := t.endCompanySessions(user, company, "user_deleted"); err != nil {
			return err
		}
		if err := t.withdrawInvitations(user, company); err != nil {
			return err
		}
		if err := t.revoke(RevocationEvent{User: names.User.Format(user), Company: names.Company.Format(company), Kind: auth.RevokeUserDeleted}); err != nil {
			return err
		}
		return t.audit(company, "user.delete", name, map[string]string{"role": m.Role.String()})
	})
}

// withdrawInvitations deletes user's invitation links to company; a login
// without a password and without any membership left is deleted.
func (t *txn) withdrawInvitations(user, company string) error {
	links, err := t.UserLinkTokens(user)
	if err != nil {
		return err
	}
	for _, lt := range links {
		if lt.Kind == LinkInvitation && lt.Company == company {
			if err := t.DeleteLinkToken(lt.Hash); err != nil {
				return err
			}
		}
	}
	l, err := t.Login(user)
	if err != nil {
		return err
	}
	if l.PasswordHash != "" {
		return nil
	}
	ms, err := t.UserMemberships(user)
	if err != nil || len(ms) > 0 {
		return err
	}
	for _, lt := range links {
		if err := t.DeleteLinkToken(lt.Hash); err != nil {
			return err
		}
	}
	return t.DeleteLogin(user)
}

// DeactivateUser stops a member from signing in to the company, revokes its
// tokens there within a second (R-ID-7) and ends its sessions there, whose
// refresh tokens never work again (issue 7 point 4); data stays. The
// company's event feed tells of it (R-NOTIF-6, `user.deactivated`).
func (s *Service) DeactivateUser(ctx context.Context, c Caller, name string) (*User, error) {
	return s.setState(ctx, c, name, StateDeactivated)
}

// ActivateUser reactivates a deactivated member.
func (s *Service) ActivateUser(ctx context.Context, c Caller, name string) (*User, error) {
	return s.setState(ctx, c, name, StateActive)
}

func (s *Service) setState(ctx context.Context, c Caller, name string, to State) (*User, error) {
	company, user, err := names.Member.Parse("name", name)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, company, authz.ManageUserState); err != nil {
		return nil, err
	}
	var out *User
	err = s.update(ctx, c, func(t *txn) error {
		l, m, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		out = view(l, m, audienceOf(c, user))
		switch {
		case m.State == to:
			return nil
		case m.State == StateInvited:
			// Only the person's acceptance makes a member (R-ID-10): an
			// invitation is withdrawn by deleting it.
			return errNotJoined
		}
		if to == StateDeactivated {
			if err := t.guardLastAdmin(m); err != nil {
				return err
			}
		}
		m.State, m.UpdateTime = to, t.now
		ev := RevocationEvent{User: names.User.Format(user), Company: names.Company.Format(company)}
		action := "user.activate"
		if to == StateDeactivated {
			ev.Kind, action = auth.RevokeUserDeactivated, "user.deactivate"
			if err := t.endCompanySessions(user, company, "user_deactivated"); err != nil {
				return err
			}
			if err := t.emit(feed.Event{Type: feed.TypeUserDeactivated, Company: names.Company.Format(company), Subject: name,
				Resources: map[string]string{feed.ResourceUser: name}}); err != nil {
				return err
			}
		} else {
			ev.Kind = auth.RevokeUserReactivated
			m.ActiveSince = t.now
		}
		if err := t.PutMembership(m); err != nil {
			return err
		}
		if err := t.revoke(ev); err != nil {
			return err
		}
		out = view(l, m, audienceOf(c, user))
		return t.audit(company, action, name, nil)
	})
	return out, err
}

// SendPasswordReset e-mails a member a reset link (R-ID-3 row 13, R-ID-6);
// a member who has not joined yet gets a new invitation instead.
func (s *Service) SendPasswordReset(ctx context.Context, c Caller, name string) (time.Time, error) {
	company, user, err := names.Member.Parse("name", name)
	if err != nil {
		return time.Time{}, err
	}
	if err := s.authorize(ctx, c, company, authz.SendPasswordReset); err != nil {
		return time.Time{}, err
	}
	var expire time.Time
	err = s.update(ctx, c, func(t *txn) error {
		l, m, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		comp, err := companyOrStub(t, company)
		if err != nil {
			return err
		}
		if m.State == StateInvited {
			expire = t.now.Add(s.cfg.InvitationTTL)
			if err := t.queueInvitation(comp, l, m, t.nameIn(company, callerID(c))); err != nil {
				return err
			}
		} else {
			expire = t.now.Add(s.cfg.ResetTTL)
			if err := t.queue(&Notification{IdempotencyKey: "reset:" + names.NewID(), Template: TemplatePasswordReset,
				Recipients: []Recipient{recipient(l)}, Company: names.Company.Format(company), Data: map[string]string{},
				Link: LinkReset, LinkUser: user, LinkCompany: company}); err != nil {
				return err
			}
		}
		return t.audit(company, "user.send_password_reset", name, nil)
	})
	return expire, err
}
