package domain

// This file is the session lifecycle (R-ID-4): sign-in, refresh, logout,
// switching company, and the tokens a session is issued. Credentials are
// proven by credentials.go.

import (
	"context"
	"crypto/subtle"
	"errors"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/identity/internal/tokens"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

var (
	errInvalidRefresh = errs.Unauthenticated("INVALID_REFRESH_TOKEN", "invalid or expired refresh token")
	errRefreshReused  = errs.Unauthenticated("REFRESH_TOKEN_REUSED", "refresh token already used: the session is ended")
	errNoMembership   = errs.PermissionDenied("NO_ACTIVE_MEMBERSHIP", "no active membership in this company")
	errNoSecondFactor = errs.Unauthenticated("SECOND_FACTOR_MISSING", "this session was not signed in with two-factor: sign in again")
	errSessionTooOld  = errs.PermissionDenied("SESSION_PREDATES_MEMBERSHIP",
		"this session began before your membership in the company was last activated: sign in again")
)

// MembershipInfo is a membership with its company.
type MembershipInfo struct {
	Membership Membership
	Company    Company
}

// SignIn is the answer of every call that signs a user in.
type SignIn struct {
	AccessToken            string
	RefreshToken           string
	ExpiresIn              time.Duration
	User                   User             // the person as the session's company shows it, to itself
	Memberships            []MembershipInfo // active only
	Company                string           // {company}
	TOTPEnrollmentRequired bool
}

// session is what a transaction that signs in prepares for issue.
type session struct {
	login   *Login
	member  *Membership
	company *Company
	sess    *Session
	refresh tokens.Refresh
	members []MembershipInfo
}

// startSession creates a session of login in company, in the transaction.
// secondFactor says a TOTP code of login was verified for it. A login keeps
// at most MaxSessions sessions: the oldest beyond end.
func (t *txn) startSession(login *Login, m *Membership, comp *Company, secondFactor bool) (*session, error) {
	sess := &Session{ID: names.NewID(), User: login.ID, Company: m.Company, CreateTime: t.now,
		MaxTime: t.now.Add(t.s.cfg.SessionMaxAge), SecondFactor: secondFactor}
	sess.ExpireTime = minTime(t.now.Add(t.s.cfg.RefreshTTL), sess.MaxTime)
	refresh := tokens.NewRefresh(sess.ID)
	sess.RefreshHash = refresh.Digest()
	if err := t.evictSessions(login.ID, t.s.cfg.MaxSessions-1); err != nil {
		return nil, err
	}
	if err := t.PutSession(sess); err != nil {
		return nil, err
	}
	return t.prepare(login, m, comp, sess, refresh)
}

// evictSessions ends the oldest sessions of user beyond keep.
func (t *txn) evictSessions(user string, keep int) error {
	ss, err := t.UserSessions(user)
	if err != nil || len(ss) <= keep {
		return err
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].CreateTime.Before(ss[j].CreateTime) })
	for _, sess := range ss[:len(ss)-keep] {
		if err := t.endSession(sess, "session.revoke", map[string]string{"reason": "too_many_sessions"}); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) prepare(login *Login, m *Membership, comp *Company, sess *Session, refresh tokens.Refresh) (*session, error) {
	members, err := activeMemberships(t, login.ID)
	if err != nil {
		return nil, err
	}
	return &session{login: login, member: m, company: comp, sess: sess, refresh: refresh, members: members}, nil
}

func activeMemberships(tx Tx, user string) ([]MembershipInfo, error) {
	ms, err := tx.UserMemberships(user)
	if err != nil {
		return nil, err
	}
	var out []MembershipInfo
	for _, m := range ms {
		if m.State != StateActive {
			continue
		}
		comp, err := companyOrStub(tx, m.Company)
		if err != nil {
			return nil, err
		}
		out = append(out, MembershipInfo{Membership: *m, Company: *comp})
	}
	return out, nil
}

// companyOrStub returns identity's copy of a company, or a record holding
// only its id when directory has not told identity about it yet.
func companyOrStub(tx Tx, id string) (*Company, error) {
	c, err := tx.Company(id)
	if errors.Is(err, ErrNotFound) {
		return &Company{ID: id}, nil
	}
	return c, err
}

// principal is the access-token identity of a prepared session. Platform
// administrators (R-ID-11) are so whatever the session's company, once
// their login has proven it holds the listed e-mail (a link sent to it was
// used): anyone may sign up with any e-mail that has no login yet.
func (s *Service) principal(ses *session) auth.Principal {
	return auth.Principal{
		User: names.User.Format(ses.login.ID), Company: names.Company.Format(ses.member.Company), CompanyKind: ses.company.Kind,
		Role: ses.member.Role, Session: ses.sess.ID,
		TOTPPending:   ses.company.RequireTwoFactor && !ses.login.TwoFactor(),
		PlatformAdmin: s.platformAdmins[NormalizeEmail(ses.login.Email)] && !ses.login.EmailProvenTime.IsZero(),
	}
}

// issue signs the access token of a committed session.
func (s *Service) issue(ctx context.Context, ses *session) (*SignIn, error) {
	now := s.now()
	key, err := s.keys.current(ctx, now)
	if err != nil {
		return nil, err
	}
	p := s.principal(ses)
	at, err := auth.Sign(key, p, now, s.cfg.AccessTTL)
	if err != nil {
		return nil, err
	}
	return &SignIn{
		AccessToken: at, RefreshToken: ses.refresh.String(), ExpiresIn: s.cfg.AccessTTL,
		User: *view(ses.login, ses.member, toSelf), Memberships: ses.members,
		Company: ses.member.Company, TOTPEnrollmentRequired: p.TOTPPending,
	}, nil
}

// LoginInput is Login's request.
type LoginInput struct {
	Email, Password, Company, TOTPCode string
}

// Login signs a user in with e-mail and password (R-ID-4, R-ID-5, R-ID-8).
func (s *Service) Login(ctx context.Context, c Caller, in LoginInput) (*SignIn, error) {
	si, err := s.login(ctx, c, in)
	s.cfg.LoginResult(loginResult(err))
	return si, err
}

func (s *Service) login(ctx context.Context, c Caller, in LoginInput) (*SignIn, error) {
	email := NormalizeEmail(in.Email)
	var want string
	if in.Company != "" {
		var err error
		if want, err = names.Company.Parse("company", in.Company); err != nil {
			return nil, err
		}
	}
	login, err := s.loginByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	if err := s.prove(ctx, c, email, login, credential{Password: in.Password, Code: in.TOTPCode}, passwordAndCode); err != nil {
		if login != nil && (errors.Is(err, errInvalidCredentials) || errors.Is(err, errTOTPInvalid)) {
			s.auditLoginFailed(c, login, want)
		}
		return nil, err
	}
	company, m, err := s.pickCompany(ctx, login, want)
	if err != nil {
		return nil, err
	}
	comp, err := s.freshCompany(ctx, login, m)
	if err != nil {
		return nil, err
	}
	var ses *session
	err = s.update(ctx, c, func(t *txn) error {
		l, err := t.Login(login.ID)
		if err != nil {
			return err
		}
		if l.PasswordHash != login.PasswordHash {
			return errInvalidCredentials // changed meanwhile
		}
		secondFactor, err := t.spendCode(l, in.TOTPCode)
		if err != nil {
			return err
		}
		m, err := t.Membership(company, l.ID)
		if err != nil || m.State != StateActive {
			return errNoMembership
		}
		if err := t.putCompany(comp); err != nil {
			return err
		}
		l.LastCompany = company
		if err := t.PutLogin(l); err != nil {
			return err
		}
		if err := t.auditAs(l, company, "session.login", names.Member.Format(company, l.ID), nil); err != nil {
			return err
		}
		ses, err = t.startSession(l, m, comp, secondFactor)
		return err
	})
	if errors.Is(err, errTOTPInvalid) {
		s.auditLoginFailed(c, login, company)
	}
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, ses)
}

// auditLoginFailed records a failed sign-in of an existing login in the
// background, so that a known e-mail answers as fast as an unknown one. It
// is told only to a company the person has joined: one that merely invited
// the e-mail must not learn that it has a login (R-ID-10).
func (s *Service) auditLoginFailed(c Caller, login *Login, want string) {
	company := want
	if company == "" {
		company = login.LastCompany
	}
	if company == "" {
		return
	}
	job := func(ctx context.Context) {
		err := s.update(ctx, c, func(t *txn) error {
			if m, err := t.Membership(company, login.ID); err != nil || m.State == StateInvited {
				return nil // not a member: nothing to tell that company
			}
			return t.auditAs(login, company, "session.login_failed", names.Member.Format(company, login.ID), nil)
		})
		if err != nil {
			s.log.Warn("audit failed sign-in", zap.Error(err))
		}
	}
	select {
	case s.async <- job:
	default:
		s.log.Warn("audit queue full; failed sign-in not recorded")
	}
}

// pickCompany chooses the session's company: the one asked for, else the
// last used, else the first active membership.
func (s *Service) pickCompany(ctx context.Context, login *Login, want string) (string, *Membership, error) {
	var ms []*Membership
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		ms, err = tx.UserMemberships(login.ID)
		return err
	}); err != nil {
		return "", nil, err
	}
	var first, last *Membership
	for _, m := range ms {
		if m.State != StateActive {
			continue
		}
		if want != "" && m.Company == want {
			return want, m, nil
		}
		if first == nil {
			first = m
		}
		if m.Company == login.LastCompany {
			last = m
		}
	}
	switch {
	case want != "":
		return "", nil, errNoMembership
	case last != nil:
		return last.Company, last, nil
	case first != nil:
		return first.Company, first, nil
	}
	return "", nil, errNoMembership
}

// freshCompany reads the company from directory for a sign-in, as the user
// signing in (a one-minute token that never leaves identity), so that
// require_two_factor is current (R-ID-8). When directory does not answer
// within DirectoryTimeout, identity's copy is used.
func (s *Service) freshCompany(ctx context.Context, login *Login, m *Membership) (*Company, error) {
	var local *Company
	if err := s.view(ctx, func(tx Tx) error {
		c, err := tx.Company(m.Company)
		if err == nil {
			local = c
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if s.dir != nil {
		p := auth.Principal{User: names.User.Format(login.ID), Company: names.Company.Format(m.Company), Role: m.Role}
		if local != nil {
			p.CompanyKind = local.Kind
		}
		now := s.now()
		key, err := s.keys.current(ctx, now)
		if err != nil {
			return nil, err
		}
		bearer, err := auth.Sign(key, p, now, time.Minute)
		if err != nil {
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, s.cfg.DirectoryTimeout)
		fresh, err := s.dir.GetCompany(dctx, m.Company, bearer)
		cancel()
		if err == nil {
			fresh.ID = m.Company
			fresh.UpdateTime = now
			if local != nil && fresh.Kind == 0 {
				fresh.Kind = local.Kind
			}
			return fresh, nil
		}
		s.log.Debug("directory did not answer at sign-in; using identity's copy", zap.Error(err))
	}
	if local == nil {
		return nil, errs.Unavailable("DIRECTORY_UNAVAILABLE", "cannot read the company's settings now; retry")
	}
	return local, nil
}

// putCompany stores identity's copy of a company. When the company has just
// begun requiring two-factor (R-ID-8), the tokens its active members without
// an authenticator already hold are limited to enrolment at once: a
// KIND_TWO_FACTOR_REQUIRED revocation for each (issue 7 point 9).
func (t *txn) putCompany(c *Company) error {
	old, err := t.Company(c.ID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := t.PutCompany(c); err != nil {
		return err
	}
	if !c.RequireTwoFactor || old != nil && old.RequireTwoFactor {
		return nil
	}
	ms, err := t.CompanyMembers(c.ID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.State != StateActive {
			continue
		}
		l, err := t.Login(m.User)
		if err != nil {
			return err
		}
		if l.TwoFactor() {
			continue
		}
		if err := t.revoke(RevocationEvent{User: names.User.Format(m.User), Company: names.Company.Format(c.ID), Kind: auth.RevokeTwoFactorRequired}); err != nil {
			return err
		}
	}
	return nil
}

// Refresh rotates a session's refresh token (R-ID-4). Replaying a spent
// token ends the session and revokes its access tokens (R-ID-7).
func (s *Service) Refresh(ctx context.Context, c Caller, raw string) (*SignIn, error) {
	tok, err := tokens.ParseRefresh(raw)
	if err != nil {
		return nil, errInvalidRefresh
	}
	var ses *session
	var ended error
	err = s.update(ctx, c, func(t *txn) error {
		sess, err := t.currentSession(tok, &ended)
		if err != nil || ended != nil {
			return err
		}
		m, err := t.Membership(sess.Company, sess.User)
		if err != nil || m.State != StateActive {
			return errInvalidRefresh
		}
		if sess.CreateTime.Before(m.ActiveSince) {
			ended = errInvalidRefresh
			return t.endSession(sess, "session.revoke", map[string]string{"reason": "membership_reactivated"})
		}
		login, err := t.Login(sess.User)
		if err != nil {
			return errInvalidRefresh
		}
		if err := t.requireSecondFactor(sess, login, &ended); err != nil || ended != nil {
			return err
		}
		comp, err := companyOrStub(t, sess.Company)
		if err != nil {
			return err
		}
		next, err := t.rotate(sess)
		if err != nil {
			return err
		}
		ses, err = t.prepare(login, m, comp, sess, next)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ended != nil {
		return nil, ended
	}
	return s.issue(ctx, ses)
}

// currentSession returns the session whose current refresh token tok is.
// A spent token of the session ends it (and sets *ended to the answer):
// the transaction must then commit.
func (t *txn) currentSession(tok tokens.Refresh, ended *error) (*Session, error) {
	sess, err := t.Session(tok.Session)
	if errors.Is(err, ErrNotFound) {
		return nil, errInvalidRefresh
	}
	if err != nil {
		return nil, err
	}
	d := tok.Digest()
	if subtle.ConstantTimeCompare(sess.RefreshHash[:], d[:]) != 1 {
		for _, spent := range sess.Spent {
			if subtle.ConstantTimeCompare(spent[:], d[:]) == 1 {
				*ended = errRefreshReused
				return nil, t.endSession(sess, "session.revoke", map[string]string{"reason": "refresh_token_reused"})
			}
		}
		return nil, errInvalidRefresh
	}
	if !t.now.Before(sess.ExpireTime) {
		return nil, errInvalidRefresh
	}
	return sess, nil
}

// requireSecondFactor ends sess (and sets *ended to the answer) when its
// login has two-factor but the session was not signed in with it (R-ID-8):
// the transaction must then commit.
func (t *txn) requireSecondFactor(sess *Session, l *Login, ended *error) error {
	if !l.TwoFactor() || sess.SecondFactor {
		return nil
	}
	*ended = errNoSecondFactor
	return t.endSession(sess, "session.revoke", map[string]string{"reason": "second_factor_missing"})
}

// rotate gives sess a new refresh token, remembering the spent one.
func (t *txn) rotate(sess *Session) (tokens.Refresh, error) {
	next := tokens.NewRefresh(sess.ID)
	sess.Spent = append(sess.Spent, sess.RefreshHash)
	if len(sess.Spent) > MaxSpent {
		sess.Spent = sess.Spent[len(sess.Spent)-MaxSpent:]
	}
	sess.RefreshHash = next.Digest()
	sess.ExpireTime = minTime(t.now.Add(t.s.cfg.RefreshTTL), sess.MaxTime)
	return next, t.PutSession(sess)
}

// endSession deletes a session and revokes its access tokens.
func (t *txn) endSession(sess *Session, action string, detail map[string]string) error {
	if err := t.DeleteSession(sess.ID); err != nil {
		return err
	}
	if err := t.revoke(RevocationEvent{User: names.User.Format(sess.User), Kind: auth.RevokeSessions, Session: sess.ID}); err != nil {
		return err
	}
	login, _ := t.Login(sess.User)
	return t.auditAs(login, sess.Company, action, names.Member.Format(sess.Company, sess.User), detail)
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
		if err := t.revoke(RevocationEvent{User: names.User.Format(user), Kind: auth.RevokeSessions, Session: sess.ID}); err != nil {
			return err
		}
	}
	return nil
}

// endCompanySessions ends every session of user scoped to company: what
// deactivating or removing the membership must do (issue 7 point 4). The
// membership's revocation event refuses their access tokens; the sessions
// are deleted so that their refresh tokens never work again, whatever
// happens to the membership later.
func (t *txn) endCompanySessions(user, company, reason string) error {
	sessions, err := t.UserSessions(user)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		if sess.Company != company {
			continue
		}
		if err := t.DeleteSession(sess.ID); err != nil {
			return err
		}
		if err := t.audit(company, "session.revoke", names.Member.Format(company, user), map[string]string{"reason": reason}); err != nil {
			return err
		}
	}
	return nil
}

// Logout ends the session of a refresh token; unknown tokens are ignored.
func (s *Service) Logout(ctx context.Context, c Caller, raw string) error {
	tok, err := tokens.ParseRefresh(raw)
	if err != nil {
		return nil
	}
	return s.update(ctx, c, func(t *txn) error {
		sess, err := t.Session(tok.Session)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		d := tok.Digest()
		known := sess.RefreshHash == d
		for _, spent := range sess.Spent {
			known = known || spent == d
		}
		if !known {
			return nil
		}
		return t.endSession(sess, "session.logout", nil)
	})
}

// SwitchCompany moves the caller's session to another company where it is
// an active member (R-ID-4, R-DIR-2) since before the session began.
func (s *Service) SwitchCompany(ctx context.Context, c Caller, company, raw string) (*SignIn, error) {
	target, err := names.Company.Parse("company", company)
	if err != nil {
		return nil, err
	}
	if !c.Authenticated {
		return nil, errNotSignedIn
	}
	tok, err := tokens.ParseRefresh(raw)
	if err != nil {
		return nil, errInvalidRefresh
	}
	if c.Principal.Session != tok.Session {
		return nil, errs.PermissionDenied("OTHER_SESSION", "the refresh token belongs to another session")
	}
	var login *Login
	var m *Membership
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		if login, err = tx.Login(callerID(c)); err != nil {
			return err
		}
		if m, err = tx.Membership(target, login.ID); err != nil || m.State != StateActive {
			return errNoMembership
		}
		return nil
	}); err != nil {
		return nil, err
	}
	comp, err := s.freshCompany(ctx, login, m)
	if err != nil {
		return nil, err
	}
	var ses *session
	var ended error
	err = s.update(ctx, c, func(t *txn) error {
		sess, err := t.currentSession(tok, &ended)
		if err != nil || ended != nil {
			return err
		}
		l, err := t.Login(sess.User)
		if err != nil {
			return err
		}
		if err := t.requireSecondFactor(sess, l, &ended); err != nil || ended != nil {
			return err
		}
		m, err := t.Membership(target, sess.User)
		if err != nil || m.State != StateActive {
			return errNoMembership
		}
		if sess.CreateTime.Before(m.ActiveSince) {
			return errSessionTooOld
		}
		if err := t.putCompany(comp); err != nil {
			return err
		}
		from := sess.Company
		sess.Company = target
		next, err := t.rotate(sess)
		if err != nil {
			return err
		}
		l.LastCompany = target
		if err := t.PutLogin(l); err != nil {
			return err
		}
		if err := t.auditAs(l, target, "session.switch_company", names.Member.Format(target, l.ID), map[string]string{"from": names.Company.Format(from)}); err != nil {
			return err
		}
		ses, err = t.prepare(l, m, comp, sess, next)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ended != nil {
		return nil, ended
	}
	return s.issue(ctx, ses)
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

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// callerID is the {user} of an authenticated caller.
func callerID(c Caller) string { return strings.TrimPrefix(c.Principal.User, "users/") }
