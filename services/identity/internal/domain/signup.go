package domain

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/runtime/errs"
)

// SignUpInput is a self sign-up: a company and its first user.
type SignUpInput struct {
	Company    CompanyDraft
	Email      string
	GivenName  string
	FamilyName string
	Password   string
}

// SignUp creates a company in directory, then its first user as
// Administrator (R-ID-1), and signs that user in. From the caller's view it
// is atomic: when the second step fails, the company is deleted again
// (compensation), so that no half-made company or user remains.
func (s *Service) SignUp(ctx context.Context, c Caller, in SignUpInput) (*SignIn, error) {
	email := NormalizeEmail(in.Email)
	if err := s.throttled(email, c.ClientAddr); err != nil {
		return nil, err
	}
	var existing *Login
	if err := s.view(ctx, func(tx Tx) error {
		l, err := tx.LoginByEmail(email)
		if err == nil {
			existing = l
			return nil
		}
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	var hash string
	switch {
	case existing != nil && existing.PasswordHash == "":
		return nil, errs.AlreadyExists("EMAIL_INVITED", "this e-mail has a pending invitation: accept it first")
	case existing != nil:
		// A person with a login signs up another company with its current password.
		ok, err := s.verify(ctx, in.Password, existing.PasswordHash)
		if err != nil {
			return nil, err
		}
		if !ok {
			s.failed(email, c.ClientAddr)
			return nil, errs.Unauthenticated("INVALID_CREDENTIALS", "this e-mail has a login: give its current password")
		}
	default:
		if err := s.policy.Check("admin.password", in.Password); err != nil {
			return nil, err
		}
		var err error
		if hash, err = s.hash(ctx, in.Password); err != nil {
			return nil, err
		}
	}

	comp, err := s.dir.CreateCompany(ctx, in.Company, newID())
	if err != nil {
		return nil, err
	}
	if comp.Kind == 0 {
		comp.Kind = in.Company.Kind
	}
	comp.UpdateTime = s.now()

	var ses *session
	err = s.update(ctx, c, func(t *txn) error {
		var login *Login
		if existing != nil {
			l, err := t.Login(existing.ID)
			if err != nil {
				return err
			}
			login = l
		} else {
			login = &Login{ID: newID(), Email: email, GivenName: in.GivenName, FamilyName: in.FamilyName,
				Language: in.Company.Language, PasswordHash: hash, CreateTime: t.now}
		}
		login.LastCompany = comp.ID
		login.UpdateTime = t.now
		if err := t.PutLogin(login); err != nil {
			if errors.Is(err, ErrEmailTaken) {
				return errs.AlreadyExists("EMAIL_TAKEN", "this e-mail already has a login")
			}
			return err
		}
		if err := t.PutCompany(comp); err != nil {
			return err
		}
		m := &Membership{Company: comp.ID, User: login.ID, Role: identityv1.Role_ROLE_ADMINISTRATOR,
			State: stateActive, CreateTime: t.now, UpdateTime: t.now}
		if err := t.PutMembership(m); err != nil {
			return err
		}
		name := MemberName(comp.ID, login.ID)
		if err := t.auditAs(login, comp.ID, "user.create", name, map[string]string{"role": m.Role.String(), "via": "signup"}); err != nil {
			return err
		}
		if err := t.auditAs(login, comp.ID, "session.login", name, nil); err != nil {
			return err
		}
		var err error
		ses, err = t.startSession(login, m, comp)
		return err
	})
	if err != nil {
		s.compensate(ctx, comp.ID, err)
		return nil, err
	}
	return s.issue(ctx, ses)
}

// compensate deletes a company whose sign-up failed after directory
// created it. It runs even when the caller has gone away.
func (s *Service) compensate(ctx context.Context, company string, cause error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.dir.DeleteCompany(cctx, company); err != nil {
		s.log.Error("sign-up compensation failed: company left in directory without users",
			zap.String("company", CompanyName(company)), zap.Error(err), zap.NamedError("cause", cause))
		return
	}
	s.log.Info("sign-up rolled back", zap.String("company", CompanyName(company)), zap.NamedError("cause", cause))
}
