package domain

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/identity/internal/tokens"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
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
			return t.queue(&Notification{IdempotencyKey: "reset:" + names.NewID(), Template: TemplatePasswordReset,
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
	return validLink(t, t.now, raw, kind)
}

func validLink(tx Tx, now time.Time, raw string, kind LinkKind) (*LinkToken, error) {
	d, err := tokens.ParseLinkToken(raw)
	if err != nil {
		return nil, errInvalidLink
	}
	lt, err := tx.LinkToken(d)
	if errors.Is(err, ErrNotFound) {
		return nil, errInvalidLink
	}
	if err != nil {
		return nil, err
	}
	if lt.Kind != kind || !now.Before(lt.ExpireTime) {
		return nil, errInvalidLink
	}
	return lt, nil
}

// linkLogin returns the unexpired link token of kind that raw is, and its login.
func (s *Service) linkLogin(ctx context.Context, raw string, kind LinkKind) (*LinkToken, *Login, error) {
	var lt *LinkToken
	var login *Login
	err := s.view(ctx, func(tx Tx) error {
		var err error
		if lt, err = validLink(tx, s.now(), raw, kind); err != nil {
			return err
		}
		login, err = tx.Login(lt.User)
		if errors.Is(err, ErrNotFound) {
			return errInvalidLink
		}
		return err
	})
	return lt, login, err
}

// ResetPassword sets a new password with a reset link token (R-ID-6): the
// token, and every other reset link of the user, is used up, every session
// of the user ends. A reset never bypasses two-factor: an enrolled user
// must give a current code, proven and throttled as a sign-in is (R-ID-5),
// since a wrong code leaves the link valid for another try.
func (s *Service) ResetPassword(ctx context.Context, c Caller, raw, next, code string) error {
	if err := s.policy.Check("new_password", next); err != nil {
		return err
	}
	_, login, err := s.linkLogin(ctx, raw, LinkReset)
	if err != nil {
		return err
	}
	if err := s.prove(ctx, c, login.Email, login, credential{Code: code}, codeOnly); err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		lt, err := t.validLink(raw, LinkReset)
		if err != nil {
			return err
		}
		l, err := t.Login(lt.User)
		if err != nil {
			return errInvalidLink
		}
		if _, err := t.spendCode(l, code); err != nil {
			return err
		}
		if err := t.DeleteLinkToken(lt.Hash); err != nil {
			return err
		}
		l.linkUsed(t.now) // the link reached it
		return t.setPassword(l, hash, "")
	})
}

// setPassword stores l with its new password hash and ends what the old
// password opened: every reset link of l (R-ID-6: a link must not outlive
// the password it was sent to replace) and every session but keep. A reset
// (keep empty) is told to every company the person has joined.
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
		if m.State == StateInvited {
			continue // not joined: that company must not learn of the login (R-ID-10)
		}
		if err := t.auditAs(l, m.Company, "password.reset", names.Member.Format(m.Company, l.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// InvitationInput is AcceptInvitation's request.
type InvitationInput struct {
	Token, Password, GivenName, FamilyName, TOTPCode string
}

// AcceptInvitation is the person's consent to join a company (R-ID-10): with
// an invitation link token (R-ID-6) it activates the invited membership and
// signs the person in there. The person proves who it is by its own
// session (the caller is the invitee), by the current password of its
// login (and code, when enrolled: proven and throttled as a sign-in is), or,
// when the e-mail has no password yet, by setting one: the link reached it.
func (s *Service) AcceptInvitation(ctx context.Context, c Caller, in InvitationInput) (*SignIn, error) {
	_, login, err := s.linkLogin(ctx, in.Token, LinkInvitation)
	if err != nil {
		return nil, err
	}
	via, hash := "password", ""
	switch {
	case c.Authenticated && c.Principal.User == names.User.Format(login.ID):
		via = "session"
	case login.PasswordHash == "":
		via = "new_password"
		if err := s.policy.Check("password", in.Password); err != nil {
			return nil, err
		}
		if hash, err = s.hash(ctx, in.Password); err != nil {
			return nil, err
		}
	default:
		if err := s.prove(ctx, c, login.Email, login, credential{Password: in.Password, Code: in.TOTPCode}, passwordAndCode); err != nil {
			return nil, err
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
		var secondFactor bool
		switch via {
		case "session":
			sess, err := t.Session(c.Principal.Session)
			if err != nil || sess.User != l.ID {
				return errs.Unauthenticated("SESSION_ENDED", "your session has ended: sign in again")
			}
			secondFactor = sess.SecondFactor
		case "new_password":
			if l.PasswordHash != "" {
				return errs.Aborted("PASSWORD_SET", "this e-mail got a password meanwhile: accept with it")
			}
			l.PasswordHash = hash
		default:
			if l.PasswordHash != login.PasswordHash {
				return errInvalidCredentials // changed meanwhile
			}
			if secondFactor, err = t.spendCode(l, in.TOTPCode); err != nil {
				return err
			}
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
		switch m.State {
		case StateInvited:
			m.State, m.ActiveSince, m.UpdateTime = StateActive, t.now, t.now
			if in.GivenName != "" {
				m.GivenName = in.GivenName
			}
			if in.FamilyName != "" {
				m.FamilyName = in.FamilyName
			}
			if err := t.PutMembership(m); err != nil {
				return err
			}
		case StateActive:
		default:
			return errNoMembership
		}
		if via == "new_password" {
			// The login's own profile started as the inviter's words.
			if in.GivenName != "" {
				l.GivenName = in.GivenName
			}
			if in.FamilyName != "" {
				l.FamilyName = in.FamilyName
			}
		}
		l.linkUsed(t.now) // the link reached it
		l.LastCompany, l.UpdateTime = lt.Company, t.now
		if err := t.PutLogin(l); err != nil {
			return err
		}
		if err := t.auditAs(l, lt.Company, "invitation.accept", names.Member.Format(lt.Company, l.ID), map[string]string{"via": via}); err != nil {
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
