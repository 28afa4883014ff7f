package domain

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/logging"
	"github.com/vigil/vigil/services/runtime/names"
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

var (
	errExistingLogin = errs.Unauthenticated("INVALID_CREDENTIALS", "this e-mail has a login: give its current password")
	errSignUpExpired = errs.Unavailable("SIGN_UP_TIMED_OUT", "the sign-up took too long and was undone; retry")
)

// SignUp creates a company in directory, then its first user as
// Administrator (R-ID-1), and signs that user in. It is all-or-nothing
// across the two services, whatever crashes (issue 7 point 6): a pending
// record is committed before directory is asked, and deleted in the
// transaction that creates the Administrator; when that transaction fails
// the company is deleted again at once (compensation), and a record left
// behind (a crash, a failed compensation) is recovered once it expires
// (RecoverSignUps). An e-mail that was only invited signs up as a new one:
// an invitation never blocks the person's own sign-up (R-ID-10).
func (s *Service) SignUp(ctx context.Context, c Caller, in SignUpInput) (*SignIn, error) {
	email := NormalizeEmail(in.Email)
	existing, err := s.loginByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	var hash string
	if existing != nil && existing.PasswordHash != "" {
		// The sign-up opens a session from which the login's other
		// companies are one switch away: the full credential (R-ID-8).
		err := s.prove(ctx, c, email, existing, credential{Password: in.Password, Code: in.TOTPCode}, passwordAndCode)
		if errors.Is(err, errInvalidCredentials) {
			return nil, errExistingLogin
		}
		if err != nil {
			return nil, err
		}
	} else {
		if err := s.policy.Check("admin.password", in.Password); err != nil {
			return nil, err
		}
		if hash, err = s.hash(ctx, in.Password); err != nil {
			return nil, err
		}
	}

	now := s.now()
	pending := &PendingSignUp{ID: names.NewID(), Draft: in.Company, CreateTime: now, ExpireTime: now.Add(s.cfg.SignUpTimeout)}
	if err := s.update(ctx, c, func(t *txn) error { return t.PutPendingSignUp(pending) }); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.SignUpTimeout/2)
	comp, err := s.dir.CreateCompany(dctx, in.Company, pending.ID)
	cancel()
	if err != nil {
		if errors.Is(err, ErrCompanyRefused) {
			s.forgetPending(ctx, pending.ID) // directory created nothing
		}
		// Otherwise the company may exist though the answer was lost: the
		// recovery asks again with the same request id, and deletes it.
		return nil, err
	}
	if comp.Kind == 0 {
		comp.Kind = in.Company.Kind
	}
	comp.UpdateTime = s.now()

	var ses *session
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.PendingSignUp(pending.ID)
		if errors.Is(err, ErrNotFound) || err == nil && (p.Abandoned || !t.now.Before(p.ExpireTime)) {
			return errSignUpExpired
		}
		if err != nil {
			return err
		}
		if err := t.DeletePendingSignUp(pending.ID); err != nil {
			return err
		}
		login, secondFactor, err := t.signUpLogin(email, existing, hash, in)
		if err != nil {
			return err
		}
		login.LastCompany = comp.ID
		if err := t.PutLogin(login); err != nil {
			if errors.Is(err, ErrEmailTaken) {
				return errs.AlreadyExists("EMAIL_TAKEN", "this e-mail got a login meanwhile: sign up again with its password")
			}
			return err
		}
		if err := t.putCompany(comp); err != nil {
			return err
		}
		profile := login.Profile
		profile.GivenName, profile.FamilyName = in.GivenName, in.FamilyName
		if profile.Language == "" {
			profile.Language = in.Company.Language
		}
		m := &Membership{Company: comp.ID, User: login.ID, Role: authz.RoleAdministrator, State: StateActive,
			Profile: profile, ActiveSince: t.now, CreateTime: t.now, UpdateTime: t.now}
		if err := t.PutMembership(m); err != nil {
			return err
		}
		name := names.Member.Format(comp.ID, login.ID)
		if err := t.auditAs(login, comp.ID, "user.create", name, map[string]string{"role": m.Role.String(), "via": "signup"}); err != nil {
			return err
		}
		if err := t.auditAs(login, comp.ID, "session.login", name, nil); err != nil {
			return err
		}
		ses, err = t.startSession(login, m, comp, secondFactor)
		return err
	})
	if err != nil {
		if !errors.Is(err, errSignUpExpired) {
			s.compensate(ctx, pending.ID, comp.ID, err)
		}
		return nil, err
	}
	return s.issue(ctx, ses)
}

// signUpLogin is the login of a sign-up, in its transaction: the existing
// one whose credential was proven (its code spent now), or a new one, or
// one that was only invited and gets its password and its own names now.
func (t *txn) signUpLogin(email string, existing *Login, hash string, in SignUpInput) (*Login, bool, error) {
	if hash == "" {
		l, err := t.Login(existing.ID)
		if err != nil {
			return nil, false, err
		}
		if l.PasswordHash != existing.PasswordHash {
			return nil, false, errInvalidCredentials // changed meanwhile
		}
		secondFactor, err := t.spendCode(l, in.TOTPCode)
		if err != nil {
			return nil, false, err
		}
		l.UpdateTime = t.now
		return l, secondFactor, nil
	}
	l, err := t.LoginByEmail(email)
	switch {
	case errors.Is(err, ErrNotFound):
		l = &Login{ID: names.NewID(), Email: email, CreateTime: t.now}
	case err != nil:
		return nil, false, err
	case l.PasswordHash != "":
		return nil, false, errs.Aborted("PASSWORD_SET", "this e-mail got a login meanwhile: sign up again with its password")
	}
	l.PasswordHash = hash
	l.Profile = Profile{GivenName: in.GivenName, FamilyName: in.FamilyName, Language: in.Company.Language}
	l.UpdateTime = t.now
	return l, false, nil
}

// compensate undoes a sign-up whose second step failed after directory
// created the company: it marks the pending record abandoned (so that the
// sign-up can no longer complete), deletes the company, then the record. It
// runs even when the caller has gone away; what it cannot finish the
// recovery does once the record expires.
func (s *Service) compensate(ctx context.Context, id, company string, cause error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if ok, err := s.abandon(cctx, id); err != nil || !ok {
		return // another replica's recovery holds it, or the store failed: it stays for the recovery
	}
	log := logging.For(ctx, s.log)
	if err := s.dir.DeleteCompany(cctx, company); err != nil {
		log.Warn("sign-up compensation failed; the recovery will retry", zap.String("company", names.Company.Format(company)),
			zap.Error(err), zap.NamedError("cause", cause))
		return
	}
	s.forgetPending(cctx, id)
	log.Info("sign-up rolled back", zap.String("company", names.Company.Format(company)), zap.NamedError("cause", cause))
}

// abandon marks a pending sign-up abandoned; false when it is gone.
func (s *Service) abandon(ctx context.Context, id string) (bool, error) {
	found := false
	err := s.update(ctx, Caller{}, func(t *txn) error {
		p, err := t.PendingSignUp(id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found, p.Abandoned = true, true
		return t.PutPendingSignUp(p)
	})
	return found, err
}

func (s *Service) forgetPending(ctx context.Context, id string) {
	if err := s.update(ctx, Caller{}, func(t *txn) error { return t.DeletePendingSignUp(id) }); err != nil {
		s.log.Warn("forget pending sign-up", zap.Error(err))
	}
}

// RecoverSignUps undoes the sign-ups that expired before completing (a
// crash, a failed compensation): for each, it asks directory again with the
// sign-up's request id — which answers the company the first call created,
// or creates it if that call never arrived — and deletes that company, so
// that no company is left without its Administrator and its registration
// number can sign up again. Directory's definitive refusal means nothing
// was created. Records whose company cannot be deleted now stay for the
// next round (every minute, and at start).
func (s *Service) RecoverSignUps(ctx context.Context) error {
	var expired []*PendingSignUp
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		expired, err = tx.ExpiredPendingSignUps(s.now(), 100)
		return err
	}); err != nil {
		return err
	}
	var failures []error
	for _, p := range expired {
		if ok, err := s.abandon(ctx, p.ID); err != nil || !ok {
			failures = append(failures, err)
			continue
		}
		comp, err := s.dir.CreateCompany(ctx, p.Draft, p.ID)
		switch {
		case errors.Is(err, ErrCompanyRefused):
		case err != nil:
			failures = append(failures, err)
			continue
		default:
			if err := s.dir.DeleteCompany(ctx, comp.ID); err != nil {
				if !errors.Is(err, errs.ErrFailedPrecondition) {
					failures = append(failures, err)
					continue
				}
				// Linked by a customer meanwhile: it stays, as a company
				// registered by a customer would (R-DIR-3).
				s.log.Error("abandoned sign-up's company is in use and stays without users",
					zap.String("company", names.Company.Format(comp.ID)), zap.Error(err))
			} else {
				s.log.Info("abandoned sign-up undone", zap.String("company", names.Company.Format(comp.ID)))
			}
		}
		s.forgetPending(ctx, p.ID)
	}
	return errors.Join(failures...)
}
