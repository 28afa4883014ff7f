package domain

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/tokens"
	"github.com/vigil/vigil/services/runtime/errs"
)

const stateDeactivated = identityv1.User_STATE_DEACTIVATED

var (
	errMemberNotFound = errs.NotFound("USER_NOT_FOUND", "no such user in this company")
	errLastAdmin      = errs.FailedPrecondition("LAST_ADMINISTRATOR", "the company must keep at least one active Administrator")
)

// UserInput carries a person's fields for create and update.
type UserInput struct {
	Email      string
	GivenName  string
	FamilyName string
	Function   string
	Phone      string
	Mobile     string
	Language   string
	Role       Role
}

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

var errBadPageToken = errs.InvalidArgument("page_token", "is not a token this list returned")

// ListUsers pages through a company's members by family then given name.
func (s *Service) ListUsers(ctx context.Context, c Caller, parent string, state State, page Page) ([]Member, string, error) {
	company, err := ParseCompany("parent", parent)
	if err != nil {
		return nil, "", err
	}
	if err := authorizeUsers(c, company, ActListUsers, ""); err != nil {
		return nil, "", err
	}
	var after []string
	if page.Token != "" {
		if after, err = tokens.DecodePage("users", page.Token, 3); err != nil {
			return nil, "", errBadPageToken
		}
	}
	var all []Member
	err = s.view(ctx, func(tx Tx) error {
		ms, err := tx.CompanyMembers(company)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if state != 0 && m.State != state {
				continue
			}
			l, err := tx.Login(m.User)
			if err != nil {
				return err
			}
			all = append(all, Member{Login: *l, Membership: *m})
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	key := func(m *Member) []string {
		return []string{strings.ToLower(m.Login.FamilyName), strings.ToLower(m.Login.GivenName), m.Login.ID}
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
		next = tokens.EncodePage("users", key(&all[end-1])...)
	}
	return out, next, nil
}

// GetUser returns one member; members may always read themselves.
func (s *Service) GetUser(ctx context.Context, c Caller, name string) (*Member, error) {
	company, user, err := ParseMember("name", name)
	if err != nil {
		return nil, err
	}
	if err := authorizeUsers(c, company, ActGetUser, user); err != nil {
		return nil, err
	}
	return s.member(ctx, company, user)
}

func (s *Service) member(ctx context.Context, company, user string) (*Member, error) {
	var out *Member
	err := s.view(ctx, func(tx Tx) error {
		var err error
		out, err = loadMember(tx, company, user)
		return err
	})
	return out, err
}

func loadMember(tx Tx, company, user string) (*Member, error) {
	m, err := tx.Membership(company, user)
	if errors.Is(err, ErrNotFound) {
		return nil, errMemberNotFound
	}
	if err != nil {
		return nil, err
	}
	l, err := tx.Login(user)
	if err != nil {
		return nil, err
	}
	return &Member{Login: *l, Membership: *m}, nil
}

// CreateUser adds a person to a company (R-ID-1, R-ID-6): a new login is
// invited by e-mail; an existing login becomes an active member and is told.
func (s *Service) CreateUser(ctx context.Context, c Caller, parent string, in UserInput) (*Member, error) {
	company, err := ParseCompany("parent", parent)
	if err != nil {
		return nil, err
	}
	if err := authorizeUsers(c, company, ActCreateUser, ""); err != nil {
		return nil, err
	}
	var out *Member
	err = s.update(ctx, c, func(t *txn) error {
		comp, err := companyOrStub(t, company)
		if err != nil {
			return err
		}
		role := in.Role
		if role == 0 {
			role = defaultRole(comp.Kind)
		}
		inviter, err := t.Login(callerID(c))
		if err != nil {
			return err
		}
		m, login, err := t.addMember(comp, in, role, inviter.DisplayName(), comp.Label())
		if err != nil {
			return err
		}
		if err := t.audit(company, "user.create", MemberName(company, login.ID), map[string]string{"role": role.String(), "state": m.State.String()}); err != nil {
			return err
		}
		out = &Member{Login: *login, Membership: *m}
		return nil
	})
	return out, err
}

// addMember adds a person to comp with role, inviting a new login by e-mail
// and telling an existing one. ALREADY_EXISTS when already a member.
func (t *txn) addMember(comp *Company, in UserInput, role Role, inviterName, companyName string) (*Membership, *Login, error) {
	email := NormalizeEmail(in.Email)
	login, err := t.LoginByEmail(email)
	switch {
	case errors.Is(err, ErrNotFound):
		login = &Login{ID: newID(), Email: email, GivenName: in.GivenName, FamilyName: in.FamilyName,
			Function: in.Function, Phone: in.Phone, Mobile: in.Mobile, Language: in.Language,
			CreateTime: t.now, UpdateTime: t.now}
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
	m := &Membership{Company: comp.ID, User: login.ID, Role: role, State: stateInvited, CreateTime: t.now, UpdateTime: t.now}
	if login.PasswordHash != "" {
		m.State = stateActive
	}
	if err := t.PutMembership(m); err != nil {
		return nil, nil, err
	}
	n := &Notification{
		IdempotencyKey: "membership:" + comp.ID + ":" + login.ID + ":" + newID(),
		Template:       notifyv1.Template_TEMPLATE_INVITATION,
		Recipients:     []Recipient{recipient(login)},
		Data:           map[string]string{"company_name": companyName, "inviter_name": inviterName},
		Company:        CompanyName(comp.ID),
	}
	if m.State == stateInvited {
		n.Link, n.LinkUser, n.LinkCompany = LinkInvitation, login.ID, comp.ID
	} else {
		n.Data["link"] = t.s.cfg.PublicURL + "/"
	}
	return m, login, t.queue(n)
}

func recipient(l *Login) Recipient {
	return Recipient{User: UserName(l.ID), Email: l.Email, DisplayName: l.DisplayName(), Language: l.Language}
}

// profileFields are the person's fields an update mask may name.
var profileFields = map[string]bool{"given_name": true, "family_name": true, "function": true, "phone": true, "mobile": true, "language": true}

// applyProfile copies the masked profile fields of in onto l.
func applyProfile(l *Login, in UserInput, mask []string, prefix string) (map[string]string, error) {
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
			l.GivenName = in.GivenName
		case "family_name":
			if strings.TrimSpace(in.FamilyName) == "" {
				return nil, errs.InvalidArgument(prefix+"family_name", "must not be empty")
			}
			l.FamilyName = in.FamilyName
		case "function":
			l.Function = in.Function
		case "phone":
			l.Phone = in.Phone
		case "mobile":
			l.Mobile = in.Mobile
		case "language":
			l.Language = in.Language
		}
	}
	return changed, nil
}

// UpdateUser changes a member's profile or role (R-ID-3 row 12); demoting
// the last active Administrator is refused (R-ID-2); a role change reaches
// every service within a second (R-ID-7).
func (s *Service) UpdateUser(ctx context.Context, c Caller, name string, in UserInput, mask []string) (*Member, error) {
	company, user, err := ParseMember("user.name", name)
	if err != nil {
		return nil, err
	}
	if err := authorizeUsers(c, company, ActUpdateUser, user); err != nil {
		return nil, err
	}
	var out *Member
	err = s.update(ctx, c, func(t *txn) error {
		cur, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		l, m := &cur.Login, &cur.Membership
		detail, err := applyProfile(l, in, mask, "user.")
		if err != nil {
			return err
		}
		for _, f := range mask {
			if f != "role" || in.Role == m.Role {
				continue
			}
			if in.Role == 0 {
				return errs.InvalidArgument("user.role", "cannot be cleared")
			}
			if m.Role == roleAdmin {
				if err := t.guardLastAdmin(m); err != nil {
					return err
				}
			}
			detail["previous_role"], detail["role"] = m.Role.String(), in.Role.String()
			m.Role = in.Role
			m.UpdateTime = t.now
			if err := t.PutMembership(m); err != nil {
				return err
			}
			if err := t.revoke(RevocationEvent{User: UserName(user), Company: CompanyName(company),
				Kind: identityv1.RevocationEvent_KIND_ROLE_CHANGED, Role: m.Role}); err != nil {
				return err
			}
		}
		if len(detail) > 0 {
			l.UpdateTime = t.now
			if err := t.PutLogin(l); err != nil {
				return err
			}
			if err := t.audit(company, "user.update", name, detail); err != nil {
				return err
			}
		}
		out = cur
		return nil
	})
	return out, err
}

// guardLastAdmin refuses to take away the last active Administrator (R-ID-2).
func (t *txn) guardLastAdmin(m *Membership) error {
	if m.Role != roleAdmin || m.State != stateActive {
		return nil
	}
	ms, err := t.CompanyMembers(m.Company)
	if err != nil {
		return err
	}
	admins := 0
	for _, o := range ms {
		if o.Role == roleAdmin && o.State == stateActive {
			admins++
		}
	}
	if admins <= 1 {
		return errLastAdmin
	}
	return nil
}

// DeleteUser removes a person from a company; the login and its other
// memberships stay (R-ID-2 guarded, R-ID-7 revoked).
func (s *Service) DeleteUser(ctx context.Context, c Caller, name string) error {
	company, user, err := ParseMember("name", name)
	if err != nil {
		return err
	}
	if err := authorizeUsers(c, company, ActDeleteUser, user); err != nil {
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
		if err := t.revoke(RevocationEvent{User: UserName(user), Company: CompanyName(company),
			Kind: identityv1.RevocationEvent_KIND_USER_DELETED}); err != nil {
			return err
		}
		return t.audit(company, "user.delete", name, map[string]string{"role": m.Role.String()})
	})
}

// DeactivateUser stops a member from signing in to the company and revokes
// its tokens everywhere within a second (R-ID-7); data stays.
func (s *Service) DeactivateUser(ctx context.Context, c Caller, name string) (*Member, error) {
	return s.setState(ctx, c, name, ActDeactivateUser)
}

// ActivateUser reactivates a deactivated member.
func (s *Service) ActivateUser(ctx context.Context, c Caller, name string) (*Member, error) {
	return s.setState(ctx, c, name, ActActivateUser)
}

func (s *Service) setState(ctx context.Context, c Caller, name string, act Action) (*Member, error) {
	company, user, err := ParseMember("name", name)
	if err != nil {
		return nil, err
	}
	if err := authorizeUsers(c, company, act, user); err != nil {
		return nil, err
	}
	var out *Member
	err = s.update(ctx, c, func(t *txn) error {
		cur, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		m := &cur.Membership
		out = cur
		var ev RevocationEvent
		var action string
		switch act {
		case ActDeactivateUser:
			if m.State == stateDeactivated {
				return nil
			}
			if err := t.guardLastAdmin(m); err != nil {
				return err
			}
			m.State, action = stateDeactivated, "user.deactivate"
			ev = RevocationEvent{User: UserName(user), Company: CompanyName(company), Kind: identityv1.RevocationEvent_KIND_USER_DEACTIVATED}
		default:
			if m.State == stateActive {
				return nil
			}
			if m.State == stateInvited {
				return errs.FailedPrecondition("USER_INVITED", "the user has not accepted the invitation yet")
			}
			m.State, action = stateActive, "user.activate"
			ev = RevocationEvent{User: UserName(user), Company: CompanyName(company), Kind: identityv1.RevocationEvent_KIND_USER_REACTIVATED}
		}
		m.UpdateTime = t.now
		if err := t.PutMembership(m); err != nil {
			return err
		}
		if err := t.revoke(ev); err != nil {
			return err
		}
		return t.audit(company, action, name, nil)
	})
	return out, err
}

// SendPasswordReset e-mails a member a reset link (R-ID-3 row 13, R-ID-6);
// a member who has not accepted its invitation gets a new invitation.
func (s *Service) SendPasswordReset(ctx context.Context, c Caller, name string) (time.Time, error) {
	company, user, err := ParseMember("name", name)
	if err != nil {
		return time.Time{}, err
	}
	if err := authorizeUsers(c, company, ActSendPasswordReset, user); err != nil {
		return time.Time{}, err
	}
	var expire time.Time
	err = s.update(ctx, c, func(t *txn) error {
		cur, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		comp, err := companyOrStub(t, company)
		if err != nil {
			return err
		}
		n := &Notification{IdempotencyKey: "reset:" + newID(), Recipients: []Recipient{recipient(&cur.Login)},
			Company: CompanyName(company), LinkUser: user, LinkCompany: company, Data: map[string]string{}}
		if cur.Login.PasswordHash == "" {
			inviter, err := t.Login(callerID(c))
			if err != nil {
				return err
			}
			n.Template, n.Link = notifyv1.Template_TEMPLATE_INVITATION, LinkInvitation
			n.Data["company_name"], n.Data["inviter_name"] = comp.Label(), inviter.DisplayName()
			expire = t.now.Add(s.cfg.InvitationTTL)
		} else {
			n.Template, n.Link = notifyv1.Template_TEMPLATE_PASSWORD_RESET, LinkReset
			expire = t.now.Add(s.cfg.ResetTTL)
		}
		if err := t.queue(n); err != nil {
			return err
		}
		return t.audit(company, "user.send_password_reset", name, nil)
	})
	return expire, err
}
