package domain

import (
	"context"
	"errors"
	"github.com/vigil/vigil/services/runtime/authz"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/errs"
)

// SignUpInput is a self sign-up: a company and its first user.
type SignUpInput struct {
	Company    CompanyDraft
	Email      string
	GivenName  string
	FamilyName string
	Password   string
	TOTPCode   string // required when the e-mail's login has two-factor
}

// SignUp creates a company in directory, then its first user as
// Administrator (R-ID-1), and signs that user in. From the caller's view it
// is atomic: when the second step fails, the company is deleted again
// (compensation), so that no half-made company or user remains.
func (s *Service) SignUp(ctx context.Context, c Caller, in SignUpInput) (*SignIn, error) {
	email := NormalizeEmail(in.Email)
	existing, hash, err := s.signUpCredentials(ctx, c, email, in)
	if err != nil {
		return nil, err
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
		var secondFactor bool
		if existing != nil {
			l, err := t.Login(existing.ID)
			if err != nil {
				return err
			}
			if l.PasswordHash != existing.PasswordHash {
				return errInvalidCredentials // changed meanwhile
			}
			if secondFactor, err = t.spendTOTP(l, in.TOTPCode); err != nil {
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
		m := &Membership{Company: comp.ID, User: login.ID, Role: authz.RoleAdministrator,
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
		ses, err = t.startSession(login, m, comp, secondFactor)
		return err
	})
	if err != nil {
		if errors.Is(err, errTOTPInvalid) {
			s.failed(email, c.ClientAddr)
		}
		s.compensate(ctx, comp.ID, err)
		return nil, err
	}
	return s.issue(ctx, ses)
}

// signUpCredentials checks a sign-up as one throttled attempt (R-ID-5).
// For an e-mail with a login it checks that login's password and, when
// enrolled, its TOTP code (not yet spent): the sign-up opens a session from
// which the login's other companies are one switch away, so it must not
// skip the second factor (R-ID-8). For a new e-mail it returns the new
// password's hash.
func (s *Service) signUpCredentials(ctx context.Context, c Caller, email string, in SignUpInput) (*Login, string, error) {
	a, err := s.begin(email, c.ClientAddr)
	if err != nil {
		return nil, "", err
	}
	defer a.release()
	existing, err := s.loginByEmail(ctx, email)
	switch {
	case err != nil:
		return nil, "", err
	case existing == nil:
		if err := s.policy.Check("admin.password", in.Password); err != nil {
			return nil, "", err
		}
		hash, err := s.hash(ctx, in.Password)
		return nil, hash, err
	case existing.PasswordHash == "":
		return nil, "", errs.AlreadyExists("EMAIL_INVITED", "this e-mail has a pending invitation: accept it first")
	}
	ok, err := s.verify(ctx, in.Password, existing.PasswordHash)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		a.fail()
		return nil, "", errs.Unauthenticated("INVALID_CREDENTIALS", "this e-mail has a login: give its current password")
	}
	if err := s.checkTOTP(existing, in.TOTPCode); err != nil {
		if errors.Is(err, errTOTPInvalid) {
			a.fail()
		}
		return nil, "", err
	}
	a.succeed()
	return existing, "", nil
}

// loginByEmail returns the login of email, or nil when there is none.
func (s *Service) loginByEmail(ctx context.Context, email string) (*Login, error) {
	var login *Login
	err := s.view(ctx, func(tx Tx) error {
		l, err := tx.LoginByEmail(email)
		if err == nil {
			login = l
		}
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
	return login, err
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
