package domain

import (
	"context"
	"errors"

	"go.uber.org/zap"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/tokens"
	"github.com/vigil/vigil/services/runtime/errs"
)

var errInvalidLink = errs.Unauthenticated("INVALID_LINK_TOKEN", "the link is invalid, used or expired")

// RequestPasswordReset e-mails a reset link to a login (R-ID-6). It answers
// the same, at once, whether or not the e-mail exists: the lookup and the
// e-mail happen after the answer, in the background.
func (s *Service) RequestPasswordReset(_ context.Context, c Caller, email string) error {
	email = NormalizeEmail(email)
	job := func(ctx context.Context) {
		if w, _ := s.resets.Wait(email); w > 0 {
			return
		}
		err := s.update(ctx, c, func(t *txn) error {
			l, err := t.LoginByEmail(email)
			if errors.Is(err, ErrNotFound) || err == nil && l.PasswordHash == "" {
				return nil // unknown, or only invited: nothing to reset
			}
			if err != nil {
				return err
			}
			s.resets.Failure(email) // counts requests, silently limiting them
			return t.queue(&Notification{IdempotencyKey: "reset:" + newID(), Template: notifyv1.Template_TEMPLATE_PASSWORD_RESET,
				Recipients: []Recipient{recipient(l)}, Data: map[string]string{}, Link: LinkReset, LinkUser: l.ID})
		})
		if err != nil {
			s.log.Warn("password reset request", zap.Error(err))
		}
	}
	select {
	case s.async <- job:
	default:
		s.log.Warn("password reset queue full; request dropped")
	}
	return nil
}

// validLink returns the unexpired link token of kind that raw is.
func (t *txn) validLink(raw string, kind LinkKind) (*LinkToken, error) {
	d, err := tokens.ParseLinkToken(raw)
	if err != nil {
		return nil, errInvalidLink
	}
	lt, err := t.LinkToken(d)
	if errors.Is(err, ErrNotFound) {
		return nil, errInvalidLink
	}
	if err != nil {
		return nil, err
	}
	if lt.Kind != kind || !t.now.Before(lt.ExpireTime) {
		return nil, errInvalidLink
	}
	return lt, nil
}

// ResetPassword sets a new password with a reset link token (R-ID-6): the
// token, and every other reset link of the user, is used up, every session
// of the user ends. A reset never bypasses two-factor: an enrolled user
// must give a current code, and guessing it is throttled as a sign-in is
// (R-ID-5), since a wrong code leaves the link valid for another try.
func (s *Service) ResetPassword(ctx context.Context, c Caller, raw, next, code string) error {
	if err := s.policy.Check("new_password", next); err != nil {
		return err
	}
	login, err := s.linkLogin(ctx, raw, LinkReset)
	if err != nil {
		return err
	}
	if err := s.checkResetCode(c, login, code); err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	err = s.update(ctx, c, func(t *txn) error {
		lt, err := t.validLink(raw, LinkReset)
		if err != nil {
			return err
		}
		l, err := t.Login(lt.User)
		if err != nil {
			return errInvalidLink
		}
		if _, err := t.spendTOTP(l, code); err != nil {
			return err
		}
		if err := t.DeleteLinkToken(lt.Hash); err != nil {
			return err
		}
		return t.setPassword(l, hash, "")
	})
	if errors.Is(err, errTOTPInvalid) {
		s.failed(login.Email, c.ClientAddr)
	}
	return err
}

// linkLogin returns the login an unexpired link token of kind is for.
func (s *Service) linkLogin(ctx context.Context, raw string, kind LinkKind) (*Login, error) {
	var login *Login
	err := s.view(ctx, func(tx Tx) error {
		t := &txn{Tx: tx, s: s, now: s.now()}
		lt, err := t.validLink(raw, kind)
		if err != nil {
			return err
		}
		login, err = tx.Login(lt.User)
		if errors.Is(err, ErrNotFound) {
			return errInvalidLink
		}
		return err
	})
	return login, err
}

// checkResetCode checks a reset's TOTP code, before the new password is
// hashed, as one throttled attempt. Without two-factor nothing guessable
// is checked (the link token is not), so nothing is throttled: an attacker
// locking the account must not also block its owner's reset.
func (s *Service) checkResetCode(c Caller, login *Login, code string) error {
	if !login.TwoFactor() {
		return nil
	}
	a, err := s.begin(login.Email, c.ClientAddr)
	if err != nil {
		return err
	}
	defer a.release()
	err = s.checkTOTP(login, code)
	if errors.Is(err, errTOTPInvalid) {
		a.fail()
	}
	return err
}

// setPassword stores l with its new password hash and ends what the old
// password opened: every reset link of l (R-ID-6: a link must not outlive
// the password it was sent to replace) and every session but keep.
func (t *txn) setPassword(l *Login, hash, keep string) error {
	l.PasswordHash, l.UpdateTime = hash, t.now
	if err := t.PutLogin(l); err != nil {
		return err
	}
	links, err := t.UserLinkTokens(l.ID)
	if err != nil {
		return err
	}
	for _, lt := range links {
		if lt.Kind != LinkReset {
			continue
		}
		if err := t.DeleteLinkToken(lt.Hash); err != nil {
			return err
		}
	}
	if err := t.endSessions(l.ID, keep); err != nil {
		return err
	}
	if keep != "" {
		return nil // a change, audited by the caller in its company
	}
	ms, err := t.UserMemberships(l.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := t.auditAs(l, m.Company, "password.reset", MemberName(m.Company, l.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// InvitationInput is AcceptInvitation's request.
type InvitationInput struct {
	Token, Password, GivenName, FamilyName, TOTPCode string
}

// AcceptInvitation activates an invited membership with an invitation link
// token (R-ID-6), sets the new login's password and signs the user in.
func (s *Service) AcceptInvitation(ctx context.Context, c Caller, in InvitationInput) (*SignIn, error) {
	login, err := s.linkLogin(ctx, in.Token, LinkInvitation)
	if err != nil {
		return nil, err
	}
	hash := login.PasswordHash
	if hash == "" {
		if err := s.policy.Check("password", in.Password); err != nil {
			return nil, err
		}
		if hash, err = s.hash(ctx, in.Password); err != nil {
			return nil, err
		}
	} else {
		// The login was set up meanwhile (another invitation): its
		// password proves it is the same person.
		ok, err := s.verify(ctx, in.Password, login.PasswordHash)
		if err != nil {
			return nil, err
		}
		if !ok {
			s.failed(login.Email, c.ClientAddr)
			return nil, errInvalidCredentials
		}
		if login.TwoFactor() && in.TOTPCode == "" {
			return nil, errTOTPRequired
		}
	}
	var ses *session
	err = s.update(ctx, c, func(t *txn) error {
		lt, err := t.validLink(in.Token, LinkInvitation)
		if err != nil {
			return err
		}
		l, err := t.Login(lt.User)
		if err != nil {
			return errInvalidLink
		}
		secondFactor, err := t.spendTOTP(l, in.TOTPCode)
		if err != nil {
			return err
		}
		m, err := t.Membership(lt.Company, l.ID)
		if errors.Is(err, ErrNotFound) {
			return errInvalidLink // removed since the invitation
		}
		if err != nil {
			return err
		}
		if err := t.DeleteLinkToken(lt.Hash); err != nil {
			return err
		}
		if m.State == stateInvited {
			m.State, m.UpdateTime = stateActive, t.now
			if err := t.PutMembership(m); err != nil {
				return err
			}
		} else if m.State != stateActive {
			return errNoMembership
		}
		l.PasswordHash = hash
		if in.GivenName != "" {
			l.GivenName = in.GivenName
		}
		if in.FamilyName != "" {
			l.FamilyName = in.FamilyName
		}
		l.LastCompany, l.UpdateTime = lt.Company, t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		if err := t.auditAs(l, lt.Company, "invitation.accept", MemberName(lt.Company, l.ID), nil); err != nil {
			return err
		}
		comp, err := companyOrStub(t, lt.Company)
		if err != nil {
			return err
		}
		ses, err = t.startSession(l, m, comp, secondFactor)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, ses)
}

// mintLink creates the link token a queued notification asks for and
// returns the link (R-ID-6).
func (t *txn) mintLink(n *Notification) (string, error) {
	raw, digest := tokens.NewLinkToken()
	lt := &LinkToken{Hash: digest, Kind: n.Link, User: n.LinkUser, Company: n.LinkCompany, CreateTime: t.now}
	path := "/reset-password?token="
	if n.Link == LinkInvitation {
		lt.ExpireTime = t.now.Add(t.s.cfg.InvitationTTL)
		path = "/invitation?token="
	} else {
		lt.ExpireTime = t.now.Add(t.s.cfg.ResetTTL)
	}
	if err := t.PutLinkToken(lt); err != nil {
		return "", err
	}
	return t.s.cfg.PublicURL + path + raw, nil
}
