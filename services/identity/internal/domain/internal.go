package domain

import (
	"context"
	"errors"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
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

// AddMember adds a contact to a company, idempotent by e-mail. An unset role
// is decided in the transaction: Administrator when the company has no
// member yet, else Restricted user (R-DIR-5); in the latter case the
// company's Administrators are asked to review the new user's rights.
func (s *Service) AddMember(ctx context.Context, c Caller, in AddMemberInput) (*Member, bool, error) {
	company, err := ParseCompany("company", in.Company)
	if err != nil {
		return nil, false, err
	}
	customer, err := ParseCompany("invited_by", in.InvitedBy)
	if err != nil {
		return nil, false, err
	}
	var actor *Login
	if in.Actor != "" {
		id, err := ParseUser("actor", in.Actor)
		if err != nil {
			return nil, false, err
		}
		actor = &Login{ID: id}
	}
	var out *Member
	created := false
	err = s.update(ctx, c, func(t *txn) error {
		if l, err := t.LoginByEmail(NormalizeEmail(in.User.Email)); err == nil {
			if m, err := t.Membership(company, l.ID); err == nil {
				out = &Member{Login: *l, Membership: *m}
				return nil
			}
		}
		members, err := t.CompanyMembers(company)
		if err != nil {
			return err
		}
		role := in.User.Role
		if role == 0 {
			role = authz.RoleRestricted
			if len(members) == 0 {
				role = roleAdmin
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
		m, login, err := t.addMember(comp, in.User, role, inviter, comp.Label())
		if err != nil {
			return err
		}
		if actor != nil {
			if a, err := t.Login(actor.ID); err == nil {
				actor = a
			}
		}
		if err := t.auditAs(actor, company, "user.create", MemberName(company, login.ID),
			map[string]string{"role": role.String(), "invited_by": CompanyName(customer), "via": "contact"}); err != nil {
			return err
		}
		if len(members) > 0 {
			if err := t.askReview(comp, inviter, login, members); err != nil {
				return err
			}
		}
		out, created = &Member{Login: *login, Membership: *m}, true
		return nil
	})
	return out, created, err
}

// askReview queues R-DIR-5's review request to the company's active Administrators.
func (t *txn) askReview(comp *Company, customer string, newUser *Login, members []*Membership) error {
	var to []Recipient
	for _, m := range members {
		if m.Role != roleAdmin || m.State != stateActive {
			continue
		}
		l, err := t.Login(m.User)
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
		IdempotencyKey: "review:" + comp.ID + ":" + newUser.ID + ":" + newID(),
		Template:       notifyv1.Template_TEMPLATE_REVIEW_NEW_USER,
		Recipients:     to,
		Data: map[string]string{"company_name": comp.Label(), "customer_name": customer,
			"new_user_name": newUser.DisplayName(), "new_user_email": newUser.Email},
		Company: CompanyName(comp.ID),
	})
}

// MemberCount is CountMembers' answer.
type MemberCount struct{ Active, Total int }

// CountMembers counts a company's members.
func (s *Service) CountMembers(ctx context.Context, company string) (MemberCount, error) {
	id, err := ParseCompany("company", company)
	if err != nil {
		return MemberCount{}, err
	}
	var out MemberCount
	err = s.view(ctx, func(tx Tx) error {
		ms, err := tx.CompanyMembers(id)
		for _, m := range ms {
			out.Total++
			if m.State == stateActive {
				out.Active++
			}
		}
		return err
	})
	return out, err
}

// BatchGetUsers returns the members named, in order, leaving out unknown ones.
func (s *Service) BatchGetUsers(ctx context.Context, names []string) ([]Member, error) {
	var out []Member
	err := s.view(ctx, func(tx Tx) error {
		for i, name := range names {
			company, user, err := ParseMember("names["+itoa(i)+"]", name)
			if err != nil {
				return err
			}
			m, err := loadMember(tx, company, user)
			if errors.Is(err, errMemberNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, *m)
		}
		return nil
	})
	return out, err
}

// ListMemberships lists every membership of a user, in any state.
func (s *Service) ListMemberships(ctx context.Context, user string) ([]MembershipInfo, error) {
	id, err := ParseUser("user", user)
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

// CheckPermission answers whether a user may do something in a company:
// the R-ID-3 matrix for a permission; grants for an extended permission,
// which an operator's Administrators hold all of (R-DIR-10). An inactive or
// missing membership is never allowed.
func (s *Service) CheckPermission(ctx context.Context, user, company string, q Check) (bool, Role, error) {
	uid, err := ParseUser("user", user)
	if err != nil {
		return false, 0, err
	}
	cid, err := ParseCompany("company", company)
	if err != nil {
		return false, 0, err
	}
	var allowed bool
	var role Role
	err = s.view(ctx, func(tx Tx) error {
		m, err := tx.Membership(cid, uid)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if m.State != stateActive {
			return nil
		}
		role = m.Role
		comp, err := companyOrStub(tx, cid)
		if err != nil {
			return err
		}
		if q.Permission != 0 {
			allowed = authz.Allowed(comp.Kind, m.Role, q.Permission)
			return nil
		}
		if comp.Kind != kindOperator {
			return nil
		}
		if hasAllExtended(comp.Kind, m.Role) {
			allowed = true
			return nil
		}
		grants, err := tx.Grants(cid)
		if err != nil {
			return err
		}
		for _, g := range grants {
			if g.User == uid && grantAllows(g, q.Scope, q.Level, q.Project) {
				allowed = true
				break
			}
		}
		return nil
	})
	return allowed, role, err
}

// SyncCompany updates identity's copy of a company (kind, name, R-ID-8 flag).
func (s *Service) SyncCompany(ctx context.Context, c Caller, in Company) error {
	id, err := ParseCompany("company", in.ID)
	if err != nil {
		return err
	}
	if in.Kind == 0 {
		return errs.InvalidArgument("kind", "must be set")
	}
	in.ID = id
	return s.update(ctx, c, func(t *txn) error {
		in.UpdateTime = t.now
		return t.PutCompany(&in)
	})
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
