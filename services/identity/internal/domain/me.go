package domain

import (
	"context"
	"errors"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/totp"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

// selfCompany is the caller's session company and user ids.
func selfCompany(c Caller) (string, string, error) {
	if !c.Authenticated {
		return "", "", errNotSignedIn
	}
	company, err := ParseCompany("company", c.Principal.Company)
	if err != nil {
		return "", "", errs.Unauthenticated("INVALID_TOKEN", "invalid access token")
	}
	return company, callerID(c), nil
}

// GetMe returns the caller as a member of its session's company.
func (s *Service) GetMe(ctx context.Context, c Caller) (*Member, error) {
	company, user, err := selfCompany(c)
	if err != nil {
		return nil, err
	}
	return s.member(ctx, company, user)
}

// UpdateMe changes the caller's own profile (never role, state or e-mail).
func (s *Service) UpdateMe(ctx context.Context, c Caller, in UserInput, mask []string) (*Member, error) {
	company, user, err := selfCompany(c)
	if err != nil {
		return nil, err
	}
	for _, f := range mask {
		if !profileFields[f] {
			return nil, errs.InvalidArgument("update_mask", "%q is not yours to change", f)
		}
	}
	var out *Member
	err = s.update(ctx, c, func(t *txn) error {
		cur, err := loadMember(t, company, user)
		if err != nil {
			return err
		}
		detail, err := applyProfile(&cur.Login, in, mask, "user.")
		if err != nil {
			return err
		}
		cur.Login.UpdateTime = t.now
		if err := t.PutLogin(&cur.Login); err != nil {
			return err
		}
		out = cur
		return t.audit(company, "user.update", MemberName(company, user), detail)
	})
	return out, err
}

// ChangePassword sets a new password after checking the current one (and
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
	if err := s.checkPassword(ctx, c, login, current, code); err != nil {
		return err
	}
	if err := s.policy.Check("new_password", next); err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	err = s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(user)
		if err != nil {
			return err
		}
		if l.PasswordHash != login.PasswordHash {
			return errs.Aborted("PASSWORD_CHANGED", "the password changed meanwhile; retry")
		}
		if _, err := t.spendTOTP(l, code); err != nil {
			return err
		}
		if err := t.setPassword(l, hash, c.Principal.Session); err != nil {
			return err
		}
		return t.audit(company, "password.change", MemberName(company, user), nil)
	})
	if errors.Is(err, errTOTPInvalid) {
		s.failed(login.Email, c.ClientAddr)
	}
	return err
}

// checkPassword checks a signed-in user's current password and, when
// enrolled, TOTP code (not yet spent) as one throttled attempt (R-ID-5): a
// stolen access token must not become a way to guess either.
func (s *Service) checkPassword(ctx context.Context, c Caller, login *Login, current, code string) error {
	a, err := s.begin(login.Email, c.ClientAddr)
	if err != nil {
		return err
	}
	defer a.release()
	ok, err := s.verify(ctx, current, login.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		a.fail()
		return errs.Unauthenticated("INVALID_CREDENTIALS", "current_password: wrong password")
	}
	err = s.checkTOTP(login, code)
	if errors.Is(err, errTOTPInvalid) {
		a.fail()
	}
	return err
}

// endSessions ends every session of user but keep (may be empty).
func (t *txn) endSessions(user, keep string) error {
	sessions, err := t.UserSessions(user)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		if sess.ID == keep {
			continue
		}
		if err := t.DeleteSession(sess.ID); err != nil {
			return err
		}
		if err := t.revoke(RevocationEvent{User: UserName(user), Kind: identityv1.RevocationEvent_KIND_SESSION_REVOKED, Session: sess.ID}); err != nil {
			return err
		}
	}
	return nil
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
// permissions (R-DIR-10) in its session's company.
func (s *Service) GetMyPermissions(ctx context.Context, c Caller) (*Permissions, error) {
	company, user, err := selfCompany(c)
	if err != nil {
		return nil, err
	}
	p := c.Principal
	out := &Permissions{Company: company, Role: p.Role, Permissions: authz.Permissions(p.CompanyKind, p.Role),
		AllExtended: hasAllExtended(p.CompanyKind, p.Role)}
	if out.AllExtended || p.CompanyKind != kindOperator {
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

// EnrollTotp starts enrolling an authenticator (R-ID-8).
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
			return errs.FailedPrecondition("TOTP_ALREADY_ENABLED", "two-factor authentication is already enabled")
		}
		l.TOTPPendingSecret = secret
		if err := t.PutLogin(l); err != nil {
			return err
		}
		out = &Enrollment{Secret: totp.EncodeSecret(secret), URL: totp.URL("Vigil", l.Email, secret)}
		return nil
	})
	return out, err
}

// ConfirmTotp enables two-factor with a first code of the pending secret.
func (s *Service) ConfirmTotp(ctx context.Context, c Caller, code string) error {
	company, user, err := selfCompany(c)
	if err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(user)
		if err != nil {
			return err
		}
		if l.TwoFactor() {
			return errs.FailedPrecondition("TOTP_ALREADY_ENABLED", "two-factor authentication is already enabled")
		}
		if len(l.TOTPPendingSecret) == 0 {
			return errs.FailedPrecondition("TOTP_NOT_ENROLLING", "call EnrollTotp first")
		}
		step, ok := totp.Verify(l.TOTPPendingSecret, code, t.now, 0)
		if !ok {
			return errs.InvalidArgument("code", "does not match the authenticator")
		}
		l.TOTPSecret, l.TOTPPendingSecret, l.TOTPLastStep = l.TOTPPendingSecret, nil, step
		l.UpdateTime = t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		if err := t.markSecondFactor(c.Principal.Session); err != nil {
			return err
		}
		return t.audit(company, "totp.enroll", MemberName(company, user), nil)
	})
}

// DisableTotp removes the authenticator, given a current code; refused
// while a company of the caller requires two-factor.
func (s *Service) DisableTotp(ctx context.Context, c Caller, code string) error {
	company, user, err := selfCompany(c)
	if err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(user)
		if err != nil {
			return err
		}
		if !l.TwoFactor() {
			return errs.FailedPrecondition("TOTP_NOT_ENABLED", "two-factor authentication is not enabled")
		}
		ms, err := t.UserMemberships(user)
		if err != nil {
			return err
		}
		for _, m := range ms {
			comp, err := t.Company(m.Company)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if comp != nil && comp.RequireTwoFactor && m.State != stateDeactivated {
				return errs.FailedPrecondition("TOTP_REQUIRED_BY_COMPANY", "%s requires two-factor authentication", CompanyName(m.Company))
			}
		}
		step, ok := totp.Verify(l.TOTPSecret, code, t.now, l.TOTPLastStep)
		if !ok {
			return errTOTPInvalid
		}
		l.TOTPSecret, l.TOTPLastStep = nil, step
		l.UpdateTime = t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		return t.audit(company, "totp.disable", MemberName(company, user), nil)
	})
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
