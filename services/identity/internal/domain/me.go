package domain

import (
	"context"
	"errors"

	"github.com/vigil/vigil/services/identity/internal/totp"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

// selfCompany is the caller's session company and user ids.
func selfCompany(c Caller) (string, string, error) {
	if !c.Authenticated {
		return "", "", errNotSignedIn
	}
	company, err := names.Company.Parse("company", c.Principal.Company)
	if err != nil {
		return "", "", errs.Unauthenticated("INVALID_TOKEN", "invalid access token")
	}
	return company, callerID(c), nil
}

// GetMe returns the caller as a member of its session's company, to itself.
func (s *Service) GetMe(ctx context.Context, c Caller) (*User, error) {
	company, user, err := selfCompany(c)
	if err != nil {
		return nil, err
	}
	var out *User
	err = s.view(ctx, func(tx Tx) error {
		l, m, err := loadMember(tx, company, user)
		if err == nil {
			out = view(l, m, toSelf)
		}
		return err
	})
	return out, err
}

// UpdateMe changes the caller's own details (never role, state or e-mail):
// the person's own profile, and the same fields in every company where it is
// an active member, each of which records it in its audit log (R-ID-9,
// R-ID-10). Companies that only invited the person keep what they were told.
func (s *Service) UpdateMe(ctx context.Context, c Caller, in UserInput, mask []string) (*User, error) {
	company, user, err := selfCompany(c)
	if err != nil {
		return nil, err
	}
	for _, f := range mask {
		if !profileFields[f] {
			return nil, errs.InvalidArgument("update_mask", "%q is not yours to change", f)
		}
	}
	var out *User
	err = s.update(ctx, c, func(t *txn) error {
		l, cur, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		if _, err := applyProfile(&l.Profile, in.Profile, mask, "user."); err != nil {
			return err
		}
		l.UpdateTime = t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		ms, err := t.UserMemberships(user)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.State != StateActive {
				continue
			}
			m.Profile = shownProfile(l, m)
			detail, err := applyProfile(&m.Profile, in.Profile, mask, "user.")
			if err != nil {
				return err
			}
			m.UpdateTime = t.now
			if err := t.PutMembership(m); err != nil {
				return err
			}
			detail["via"] = "self"
			if err := t.auditAs(l, m.Company, "user.update", names.Member.Format(m.Company, user), detail); err != nil {
				return err
			}
			if m.Company == company {
				cur = m
			}
		}
		out = view(l, cur, toSelf)
		return nil
	})
	return out, err
}

// ChangePassword sets a new password after proving the current one (and
// the TOTP code when enrolled), and ends the caller's other sessions and
// every reset link of the user.
func (s *Service) ChangePassword(ctx context.Context, c Caller, current, next, code string) error {
	company, user, err := selfCompany(c)
	if err != nil {
		return err
	}
	var login *Login
	if err := s.view(ctx, func(tx Tx) error {
		login, err = tx.Login(user)
		return err
	}); err != nil {
		return err
	}
	// A stolen access token must not become a way to guess either.
	err = s.prove(ctx, c, login.Email, login, credential{Password: current, Code: code}, passwordAndCode)
	if errors.Is(err, errInvalidCredentials) {
		return errs.Unauthenticated("INVALID_CREDENTIALS", "current_password: wrong password")
	}
	if err != nil {
		return err
	}
	if err := s.policy.Check("new_password", next); err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(user)
		if err != nil {
			return err
		}
		if l.PasswordHash != login.PasswordHash {
			return errs.Aborted("PASSWORD_CHANGED", "the password changed meanwhile; retry")
		}
		if _, err := t.spendCode(l, code); err != nil {
			return err
		}
		if err := t.setPassword(l, hash, c.Principal.Session); err != nil {
			return err
		}
		return t.audit(company, "password.change", names.Member.Format(company, user), nil)
	})
}

// Permissions is a member's effective permissions in one company.
type Permissions struct {
	Company     string
	Role        Role
	Permissions []Permission
	Extended    []*Grant
	AllExtended bool
}

// GetMyPermissions lists the caller's R-ID-3 permissions and extended
// permissions (R-DIR-10) in its session's company, as runtime/authz's
// table gives them.
func (s *Service) GetMyPermissions(ctx context.Context, c Caller) (*Permissions, error) {
	company, user, err := selfCompany(c)
	if err != nil {
		return nil, err
	}
	p := c.Principal
	out := &Permissions{Company: company, Role: p.Role, Permissions: authz.Permissions(p.CompanyKind, p.Role),
		AllExtended: allExtended(p.CompanyKind, p.Role)}
	if out.AllExtended || p.CompanyKind != authz.KindOperator {
		return out, nil
	}
	err = s.view(ctx, func(tx Tx) error {
		grants, err := tx.Grants(company)
		if err != nil {
			return err
		}
		for _, g := range grants {
			if g.User == user {
				out.Extended = append(out.Extended, g)
			}
		}
		return nil
	})
	return out, err
}

// Enrollment is a pending TOTP secret to load into an authenticator.
type Enrollment struct {
	Secret string
	URL    string
}

// EnrollTotp starts enrolling an authenticator (R-ID-8); the pending secret
// is stored sealed.
func (s *Service) EnrollTotp(ctx context.Context, c Caller) (*Enrollment, error) {
	_, user, err := selfCompany(c)
	if err != nil {
		return nil, err
	}
	secret, err := totp.NewSecret()
	if err != nil {
		return nil, err
	}
	var out *Enrollment
	err = s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(user)
		if err != nil {
			return err
		}
		if l.TwoFactor() {
			return errTOTPAlreadyEnabled
		}
		l.TOTPPendingSealed, l.TOTPPendingSecret = s.sealTOTP(l, secret), nil
		if err := t.PutLogin(l); err != nil {
			return err
		}
		out = &Enrollment{Secret: totp.EncodeSecret(secret), URL: totp.URL("Vigil", l.Email, secret)}
		return nil
	})
	return out, err
}

var errTOTPAlreadyEnabled = errs.FailedPrecondition("TOTP_ALREADY_ENABLED", "two-factor authentication is already enabled")

// ConfirmTotp enables two-factor with a first code of the pending secret.
// It takes the current password, proven and throttled as a sign-in is
// (R-ID-5): with an access token alone (a stolen one) an attacker would
// bind the account to its own authenticator, and the owner could then
// neither sign in, nor reset the password, nor turn two-factor off (each
// takes a code), for good.
func (s *Service) ConfirmTotp(ctx context.Context, c Caller, pw, code string) error {
	company, user, err := selfCompany(c)
	if err != nil {
		return err
	}
	var login *Login
	if err := s.view(ctx, func(tx Tx) error {
		if login, err = tx.Login(user); err != nil {
			return err
		}
		if login.TwoFactor() {
			return errTOTPAlreadyEnabled
		}
		return nil
	}); err != nil {
		return err
	}
	err = s.prove(ctx, c, login.Email, login, credential{Password: pw}, passwordAndCode)
	if errors.Is(err, errInvalidCredentials) {
		return errs.Unauthenticated("INVALID_CREDENTIALS", "password: wrong password")
	}
	if err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(user)
		if err != nil {
			return err
		}
		if l.TwoFactor() {
			return errTOTPAlreadyEnabled
		}
		if l.PasswordHash != login.PasswordHash {
			return errs.Aborted("PASSWORD_CHANGED", "the password changed meanwhile; retry")
		}
		pending, err := s.pendingTOTPSecret(l)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return errs.FailedPrecondition("TOTP_NOT_ENROLLING", "call EnrollTotp first")
		}
		step, ok := totp.Verify(pending, code, t.now, 0)
		if !ok {
			return errs.InvalidArgument("code", "does not match the authenticator")
		}
		l.TOTPSealed, l.TOTPPendingSealed, l.TOTPPendingSecret, l.TOTPLastStep = s.sealTOTP(l, pending), nil, nil, step
		l.UpdateTime = t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		if err := t.markSecondFactor(c.Principal.Session); err != nil {
			return err
		}
		return t.audit(company, "totp.enroll", names.Member.Format(company, user), nil)
	})
}

// DisableTotp removes the authenticator. It takes the current password and
// a current code, proven and throttled as a sign-in is (R-ID-5, issue 7
// point 3), and is refused while a company of the caller requires
// two-factor.
func (s *Service) DisableTotp(ctx context.Context, c Caller, pw, code string) error {
	company, user, err := selfCompany(c)
	if err != nil {
		return err
	}
	var login *Login
	if err := s.view(ctx, func(tx Tx) error {
		if login, err = tx.Login(user); err != nil {
			return err
		}
		if !login.TwoFactor() {
			return errs.FailedPrecondition("TOTP_NOT_ENABLED", "two-factor authentication is not enabled")
		}
		return requiredBy(tx, user)
	}); err != nil {
		return err
	}
	err = s.prove(ctx, c, login.Email, login, credential{Password: pw, Code: code}, passwordAndCode)
	if errors.Is(err, errInvalidCredentials) {
		return errs.Unauthenticated("INVALID_CREDENTIALS", "password: wrong password")
	}
	if err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(user)
		if err != nil {
			return err
		}
		if l.PasswordHash != login.PasswordHash {
			return errs.Aborted("PASSWORD_CHANGED", "the password changed meanwhile; retry")
		}
		if err := requiredBy(t, user); err != nil {
			return err
		}
		if _, err := t.spendCode(l, code); err != nil {
			return err
		}
		l.TOTPSealed, l.TOTPSecret = nil, nil
		l.UpdateTime = t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		return t.audit(company, "totp.disable", names.Member.Format(company, user), nil)
	})
}

// requiredBy refuses while a company where user is active requires
// two-factor (R-ID-8).
func requiredBy(tx Tx, user string) error {
	ms, err := tx.UserMemberships(user)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.State != StateActive {
			continue
		}
		comp, err := tx.Company(m.Company)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if comp != nil && comp.RequireTwoFactor {
			return errs.FailedPrecondition("TOTP_REQUIRED_BY_COMPANY", "%s requires two-factor authentication", names.Company.Format(m.Company))
		}
	}
	return nil
}

// markSecondFactor records that the session just gave a TOTP code, so that
// it goes on after enrolment; the login's other sessions, signed in with
// the password alone, must sign in again with a code (R-ID-8).
func (t *txn) markSecondFactor(id string) error {
	sess, err := t.Session(id)
	if errors.Is(err, ErrNotFound) {
		return nil // ended meanwhile: nothing to keep
	}
	if err != nil {
		return err
	}
	sess.SecondFactor = true
	return t.PutSession(sess)
}
