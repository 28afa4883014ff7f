package domain

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// This file is the internal API other services call (never routed by the
// gateway).

// AddMemberInput is a contact a customer adds to a supplier (R-DIR-5).
type AddMemberInput struct {
	Company   string // companies/{company}
	User      UserInput
	InvitedBy string // companies/{company}
	Actor     string // users/{user} or empty
}

// AddMember adds a contact to a company, idempotent by e-mail for the
// customer that brought it: a member this customer's contact made is
// returned unchanged (created false, a retry). A person who is already a
// member otherwise (the company's own users, another customer's contacts)
// is refused (FAILED_PRECONDITION, ALREADY_A_USER): the caller would make
// it the customer's reference, showing the customer details the company
// never chose to show it (R-DIR-8, R-DIR-6); the company names its own
// users as references. Like CreateUser it invites the person, whether or
// not the e-mail has a login, and answers alike (R-ID-10). An unset role is
// decided in the transaction: Administrator when the company has no member
// yet, else Restricted user (R-DIR-5); in the latter case the company's
// Administrators are asked to review the new user's rights.
func (s *Service) AddMember(ctx context.Context, c Caller, in AddMemberInput) (*User, bool, error) {
	company, err := names.Company.Parse("company", in.Company)
	if err != nil {
		return nil, false, err
	}
	customer, err := names.Company.Parse("invited_by", in.InvitedBy)
	if err != nil {
		return nil, false, err
	}
	var actor *Login
	if in.Actor != "" {
		id, err := names.User.Parse("actor", in.Actor)
		if err != nil {
			return nil, false, err
		}
		actor = &Login{ID: id}
	}
	var out *User
	created := false
	err = s.update(ctx, c, func(t *txn) error {
		if l, err := t.LoginByEmail(NormalizeEmail(in.User.Email)); err == nil {
			if m, err := t.Membership(company, l.ID); err == nil {
				if m.InvitedBy != customer {
					return errAlreadyAUser
				}
				out = view(l, m, toMembers)
				return nil
			}
		}
		members, err := t.CompanyMembers(company)
		if err != nil {
			return err
		}
		role := in.User.Role
		if role == authz.RoleUnspecified {
			role = authz.RoleRestricted
			if len(members) == 0 {
				role = authz.RoleAdministrator
			}
		}
		comp, err := companyOrStub(t, company)
		if err != nil {
			return err
		}
		cust, err := companyOrStub(t, customer)
		if err != nil {
			return err
		}
		inviter := cust.Label()
		login, m, err := t.invite(comp, in.User, role, inviter, customer)
		if err != nil {
			return err
		}
		if actor != nil {
			if a, err := t.Login(actor.ID); err == nil {
				actor = a
			}
		}
		if err := t.auditAs(actor, company, "user.create", names.Member.Format(company, login.ID),
			map[string]string{"role": role.String(), "state": m.State.String(), "invited_by": names.Company.Format(customer), "via": "contact"}); err != nil {
			return err
		}
		if len(members) > 0 {
			if err := t.askReview(comp, inviter, login, m, members); err != nil {
				return err
			}
		}
		out, created = view(login, m, toMembers), true
		return nil
	})
	return out, created, err
}

var errAlreadyAUser = errs.FailedPrecondition("ALREADY_A_USER",
	"email: this person is already a user of the company; the company names its own users as references")

// askReview queues R-DIR-5's review request to the company's active
// Administrators, naming the new member as it was added.
func (t *txn) askReview(comp *Company, customer string, newUser *Login, m *Membership, members []*Membership) error {
	var to []Recipient
	for _, o := range members {
		if o.Role != authz.RoleAdministrator || o.State != StateActive {
			continue
		}
		l, err := t.Login(o.User)
		if err != nil {
			return err
		}
		to = append(to, recipient(l))
	}
	if len(to) == 0 {
		return nil
	}
	return t.queue(&Notification{
		// Unique to this request: notify keeps keys for good, and a user
		// removed and added again must be reviewed again. Relay retries
		// reuse the queued key, so notify still sends this one once.
		IdempotencyKey: "review:" + comp.ID + ":" + newUser.ID + ":" + names.NewID(),
		Template:       TemplateReviewNewUser,
		Recipients:     to,
		Data: map[string]string{"company_name": comp.Label(), "customer_name": customer,
			"new_user_name": m.DisplayName(), "new_user_email": newUser.Email},
		Company: names.Company.Format(comp.ID),
	})
}

// MemberCount is CountMembers' answer.
type MemberCount struct{ Active, Total int }

// CountMembers counts a company's members.
func (s *Service) CountMembers(ctx context.Context, company string) (MemberCount, error) {
	id, err := names.Company.Parse("company", company)
	if err != nil {
		return MemberCount{}, err
	}
	var out MemberCount
	err = s.view(ctx, func(tx Tx) error {
		ms, err := tx.CompanyMembers(id)
		for _, m := range ms {
			out.Total++
			if m.State == StateActive {
				out.Active++
			}
		}
		return err
	})
	return out, err
}

// BatchGetUsers returns the members named, in order, leaving out unknown
// ones, as their companies show them (R-DIR-8).
func (s *Service) BatchGetUsers(ctx context.Context, members []string) ([]User, error) {
	var out []User
	err := s.view(ctx, func(tx Tx) error {
		for i, name := range members {
			company, user, err := names.Member.Parse("names["+strconv.Itoa(i)+"]", name)
			if err != nil {
				return err
			}
			l, m, err := loadMember(tx, company, user)
			if errors.Is(err, errMemberNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, *view(l, m, toMembers))
		}
		return nil
	})
	return out, err
}

// ListMemberships lists every membership of a user, in any state.
func (s *Service) ListMemberships(ctx context.Context, user string) ([]MembershipInfo, error) {
	id, err := names.User.Parse("user", user)
	if err != nil {
		return nil, err
	}
	var out []MembershipInfo
	err = s.view(ctx, func(tx Tx) error {
		ms, err := tx.UserMemberships(id)
		if err != nil {
			return err
		}
		for _, m := range ms {
			comp, err := companyOrStub(tx, m.Company)
			if err != nil {
				return err
			}
			out = append(out, MembershipInfo{Membership: *m, Company: *comp})
		}
		return nil
	})
	return out, err
}

// Check is one CheckPermission question: a permission, or an extended one.
type Check struct {
	Permission Permission
	Scope      GrantScope
	Level      GrantLevel
	Project    string
}

// CheckPermission answers whether a user may do something in a company, as
// runtime/authz's table decides for the user's membership there: an R-ID-3
// permission of its role, or an extended permission (R-DIR-10) from its
// grants, which an operator's Administrators hold all of. An inactive or
// missing membership is never allowed.
func (s *Service) CheckPermission(ctx context.Context, user, company string, q Check) (bool, Role, error) {
	uid, err := names.User.Parse("user", user)
	if err != nil {
		return false, 0, err
	}
	cid, err := names.Company.Parse("company", company)
	if err != nil {
		return false, 0, err
	}
	action := q.Permission
	if action == 0 {
		if action, err = extendedAction(q.Scope, q.Level); err != nil {
			return false, 0, err
		}
		if q.Scope == authz.ScopeProject && q.Project == "" {
			return false, 0, errs.InvalidArgument("extended_permission.project", "is required for GRANT_SCOPE_PROJECT")
		}
	} else if !authz.IsMatrixPermission(action) {
		return false, 0, errs.InvalidArgument("permission", "must be an R-ID-3 permission")
	}
	var allowed bool
	var role Role
	err = s.view(ctx, func(tx Tx) error {
		m, err := tx.Membership(cid, uid)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil || m.State != StateActive {
			return err
		}
		role = m.Role
		comp, err := companyOrStub(tx, cid)
		if err != nil {
			return err
		}
		subject := authz.Subject{User: names.User.Format(uid), Company: names.Company.Format(cid), Kind: comp.Kind, Role: m.Role}
		err = authz.Authorize(ctx, subject, names.Company.Format(cid), action, q.Project, txGrants{tx})
		allowed = err == nil
		if denied(err) {
			return nil
		}
		return err
	})
	return allowed, role, err
}

// SyncCompany updates identity's copy of a company (kind, name, R-ID-8
// flag); a new two-factor requirement limits the tokens of the members not
// enrolled to enrolment at once (putCompany).
func (s *Service) SyncCompany(ctx context.Context, c Caller, in Company) error {
	id, err := names.Company.Parse("company", in.ID)
	if err != nil {
		return err
	}
	if in.Kind == 0 {
		return errs.InvalidArgument("kind", "must be set")
	}
	in.ID = id
	return s.update(ctx, c, func(t *txn) error {
		in.UpdateTime = t.now
		return t.putCompany(&in)
	})
}

// ListMembersInput filters and pages ListMembers.
type ListMembersInput struct {
	Company    string // companies/{company}, or empty for every company
	State      State  // StateUnspecified: any
	Permission Permission
	Page       Page
}

// ListMembers pages through members in (company id, user id) order, of one
// company or of every company, filtered by state and by an R-ID-3
// permission of their role (decided by runtime/authz's table). It reads the
// membership index from where the page token says and examines a bounded
// number of memberships per call: a page may be short, even empty, while a
// next token is given. The token is bound to the filters. The language
// shown is the person's own, else as the company shows it, else the
// company's.
func (s *Service) ListMembers(ctx context.Context, in ListMembersInput) ([]User, string, error) {
	var company string
	if in.Company != "" {
		var err error
		if company, err = names.Company.Parse("company", in.Company); err != nil {
			return nil, "", err
		}
	}
	if in.Permission != 0 && !authz.IsMatrixPermission(in.Permission) {
		return nil, "", errs.InvalidArgument("permission", "must be an R-ID-3 permission")
	}
	size := in.Page.Size
	switch {
	case size <= 0:
		size = 100
	case size > 1000:
		size = 1000
	}
	// The token is bound to the company and the filters.
	query := strings.Join([]string{"members", company, strconv.Itoa(int(in.State)), strconv.Itoa(int(in.Permission))}, "\x00")
	var afterCompany, afterUser string
	if in.Page.Token != "" {
		parts, err := pagetoken.Decode(in.Page.Token, query, 2)
		if err != nil {
			return nil, "", err
		}
		if parts[0] == "" {
			return nil, "", pagetoken.Invalid()
		}
		afterCompany, afterUser = parts[0], parts[1]
	}
	const batch = 200
	budget := max(5*size, 1000) // memberships examined per call
	var out []User
	next := ""
	err := s.view(ctx, func(tx Tx) error {
		companies := map[string]*Company{}
		for scanned := 0; ; {
			ms, err := tx.MembersAfter(company, afterCompany, afterUser, batch)
			if err != nil {
				return err
			}
			for _, m := range ms {
				afterCompany, afterUser = m.Company, m.User
				scanned++
				if in.State != StateUnspecified && m.State != in.State {
					continue
				}
				comp, ok := companies[m.Company]
				if !ok {
					if comp, err = companyOrStub(tx, m.Company); err != nil {
						return err
					}
					companies[m.Company] = comp
				}
				if in.Permission != 0 && !authz.Allowed(comp.Kind, m.Role, in.Permission) {
					continue
				}
				l, err := tx.Login(m.User)
				if err != nil {
					return err
				}
				u := view(l, m, toAdmins)
				if l.Language != "" {
					u.Language = l.Language
				} else if u.Language == "" {
					u.Language = comp.Language
				}
				out = append(out, *u)
				if len(out) == size {
					more, err := tx.MembersAfter(company, afterCompany, afterUser, 1)
					if err == nil && len(more) > 0 {
						next = pagetoken.Encode(query, afterCompany, afterUser)
					}
					return err
				}
			}
			if len(ms) < batch {
				return nil
			}
			if scanned >= budget {
				next = pagetoken.Encode(query, afterCompany, afterUser)
				return nil
			}
		}
	})
	return out, next, err
}

// ReportUndeliverableEmail marks the login of an address that mail failed
// to reach for good (notify reports SMTP 5xx): its companies' Administrators
// see it (User.email_undeliverable) and their audit logs record it. It
// reports whether a login has the address; reporting again updates the
// reason and time.
func (s *Service) ReportUndeliverableEmail(ctx context.Context, c Caller, email, reason string) (bool, error) {
	email = NormalizeEmail(email)
	if reason = strings.TrimSpace(reason); reason == "" {
		reason = "undeliverable"
	}
	marked := false
	err := s.update(ctx, c, func(t *txn) error {
		l, err := t.LoginByEmail(email)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		l.EmailUndeliverable, l.EmailUndeliverableTime = reason, t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		ms, err := t.UserMemberships(l.ID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := t.auditAs(nil, m.Company, "user.email_undeliverable", names.Member.Format(m.Company, l.ID),
				map[string]string{"reason": reason}); err != nil {
				return err
			}
		}
		marked = true
		return nil
	})
	return marked, err
}
