package domain

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"go.uber.org/zap"

	identityv1 "github.com/vigil/vigil/gen/vigil/identity/v1"
	"github.com/vigil/vigil/services/identity/internal/password"
	"github.com/vigil/vigil/services/identity/internal/throttle"
	"github.com/vigil/vigil/services/identity/internal/tokens"
	"github.com/vigil/vigil/services/identity/internal/totp"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/errs"
)

const (
	stateActive  = identityv1.User_STATE_ACTIVE
	stateInvited = identityv1.User_STATE_INVITED
)

var (
	errInvalidCredentials = errs.Unauthenticated("INVALID_CREDENTIALS", "invalid e-mail or password")
	errInvalidRefresh     = errs.Unauthenticated("INVALID_REFRESH_TOKEN", "invalid or expired refresh token")
	errRefreshReused      = errs.Unauthenticated("REFRESH_TOKEN_REUSED", "refresh token already used: the session is ended")
	errTOTPRequired       = errs.Unauthenticated("TOTP_REQUIRED", "a two-factor code is required")
	errTOTPInvalid        = errs.Unauthenticated("INVALID_TOTP_CODE", "invalid or already used two-factor code")
	errNoMembership       = errs.PermissionDenied("NO_ACTIVE_MEMBERSHIP", "no active membership in this company")
	errNoSecondFactor     = errs.Unauthenticated("SECOND_FACTOR_MISSING", "this session was not signed in with two-factor: sign in again")
)

// Member is a login as a member of one company.
type Member struct {
	Login      Login
	Membership Membership
}

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
	Member                 Member
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
// secondFactor says a TOTP code of login was verified in this transaction.
func (t *txn) startSession(login *Login, m *Membership, comp *Company, secondFactor bool) (*session, error) {
	sess := &Session{ID: newID(), User: login.ID, Company: m.Company, CreateTime: t.now,
		MaxTime: t.now.Add(t.s.cfg.SessionMaxAge), SecondFactor: secondFactor}
	sess.ExpireTime = minTime(t.now.Add(t.s.cfg.RefreshTTL), sess.MaxTime)
	refresh := tokens.NewRefresh(sess.ID)
	sess.RefreshHash = refresh.Digest()
	if err := t.PutSession(sess); err != nil {
		return nil, err
	}
	return t.prepare(login, m, comp, sess, refresh)
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
		if m.State != stateActive {
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

// principal is the access-token identity of a prepared session.
func (s *session) principal() auth.Principal {
	return auth.Principal{
		User: UserName(s.login.ID), Company: CompanyName(s.member.Company), CompanyKind: s.company.Kind,
		Role: s.member.Role, Session: s.sess.ID,
		TOTPPending: s.company.RequireTwoFactor && !s.login.TwoFactor(),
	}
}

// issue signs the access token of a committed session.
func (s *Service) issue(ctx context.Context, ses *session) (*SignIn, error) {
	now := s.now()
	key, err := s.keys.current(ctx, now)
	if err != nil {
		return nil, err
	}
	p := ses.principal()
	at, err := auth.Sign(key, p, now, s.cfg.AccessTTL)
	if err != nil {
		return nil, err
	}
	return &SignIn{
		AccessToken: at, RefreshToken: ses.refresh.String(), ExpiresIn: s.cfg.AccessTTL,
		Member: Member{Login: *ses.login, Membership: *ses.member}, Memberships: ses.members,
		Company: ses.member.Company, TOTPEnrollmentRequired: p.TOTPPending,
	}, nil
}

// hash runs argon2id in the bounded pool (R-ID-5).
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	var h string
	var herr error
	if err := s.pool.Do(ctx, func() { h, herr = password.Hash(pw, s.cfg.HashParams) }); err != nil {
		return "", err
	}
	return h, herr
}

// verify checks pw against encoded (or the dummy hash when encoded is
// empty, at the same cost) in the bounded pool.
func (s *Service) verify(ctx context.Context, pw, encoded string) (bool, error) {
	real := encoded != ""
	if !real {
		encoded = s.dummyHash
	}
	var ok bool
	var verr error
	if err := s.pool.Do(ctx, func() { ok, verr = password.Verify(pw, encoded) }); err != nil {
		return false, err
	}
	if verr != nil {
		s.log.Error("stored password hash unreadable", zap.Error(verr))
		return false, nil
	}
	return ok && real, nil
}

// attempt is one sign-in attempt (R-ID-5). The account is reserved: an
// attempt in flight counts against it until it ends, so parallel guesses at
// one account cannot all be checked. The client address is only checked and
// charged with failures: an office or a NAT signs many people in at once,
// and its parallel attempts are already bounded by the hashing pool. End an
// attempt with fail, succeed or release (safe to defer: the first counts).
type attempt struct {
	account   *throttle.Attempt
	addresses *throttle.Limiter
	address   string
}

// begin reserves an attempt, or refuses it while the account or the address
// is slowed or locked. The answer does not depend on whether the account
// exists.
func (s *Service) begin(email, addr string) (*attempt, error) {
	if addr != "" {
		if w, locked := s.addresses.Wait(addr); w > 0 {
			return nil, throttledError(w, locked)
		}
	}
	acc, w, locked := s.accounts.Begin(email)
	if acc == nil {
		return nil, throttledError(w, locked)
	}
	return &attempt{account: acc, addresses: s.addresses, address: addr}, nil
}

func throttledError(w time.Duration, locked bool) error {
	if locked {
		return errs.ResourceExhausted("SIGN_IN_LOCKED", "too many failed sign-ins: locked, retry in %d minutes", int(w.Minutes())+1)
	}
	return errs.ResourceExhausted("SIGN_IN_SLOWED", "too many failed sign-ins: retry in %d seconds", int(w.Seconds())+1)
}

func (a *attempt) fail() {
	a.account.Fail()
	if a.address != "" {
		a.addresses.Failure(a.address)
	}
}

// succeed forgets the account's failures; the address may be shared, so
// one right password does not clear it.
func (a *attempt) succeed() { a.account.Succeed() }

func (a *attempt) release() { a.account.Release() }

// failed records a failure outside a reserved attempt (a code found wrong
// only in the transaction, after the attempt was settled).
func (s *Service) failed(email, addr string) {
	s.accounts.Failure(email)
	if addr != "" {
		s.addresses.Failure(addr)
	}
}

// checkTOTP checks code against l's authenticator, when enrolled, without
// spending it: a wrong code is refused, and counted, before any costly or
// visible step. The transaction checks it again with spendTOTP.
func (s *Service) checkTOTP(l *Login, code string) error {
	if !l.TwoFactor() {
		return nil
	}
	if code == "" {
		return errTOTPRequired
	}
	if _, ok := totp.Verify(l.TOTPSecret, code, s.now(), l.TOTPLastStep); !ok {
		return errTOTPInvalid
	}
	return nil
}

// spendTOTP checks code against l's authenticator, when enrolled, and
// spends it: a code is accepted once (R-ID-8). It reports whether a second
// factor was verified; the caller must put l.
func (t *txn) spendTOTP(l *Login, code string) (bool, error) {
	if !l.TwoFactor() {
		return false, nil
	}
	if code == "" {
		return false, errTOTPRequired
	}
	step, ok := totp.Verify(l.TOTPSecret, code, t.now, l.TOTPLastStep)
	if !ok {
		return false, errTOTPInvalid
	}
	l.TOTPLastStep = step
	return true, nil
}

// LoginInput is Login's request.
type LoginInput struct {
	Email, Password, Company, TOTPCode string
}

// Login signs a user in with e-mail and password (R-ID-4, R-ID-5, R-ID-8).
func (s *Service) Login(ctx context.Context, c Caller, in LoginInput) (*SignIn, error) {
	email := NormalizeEmail(in.Email)
	var want string
	if in.Company != "" {
		var err error
		if want, err = ParseCompany("company", in.Company); err != nil {
			return nil, err
		}
	}
	login, err := s.checkCredentials(ctx, c, email, in.Password, in.TOTPCode, want)
	if err != nil {
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
		secondFactor, err := t.spendTOTP(l, in.TOTPCode)
		if err != nil {
			return err
		}
		m, err := t.Membership(company, l.ID)
		if err != nil || m.State != stateActive {
			return errNoMembership
		}
		if err := t.PutCompany(comp); err != nil {
			return err
		}
		l.LastCompany = company
		if err := t.PutLogin(l); err != nil {
			return err
		}
		if err := t.auditAs(l, company, "session.login", MemberName(company, l.ID), nil); err != nil {
			return err
		}
		ses, err = t.startSession(l, m, comp, secondFactor)
		return err
	})
	if errors.Is(err, errTOTPInvalid) {
		s.failed(email, c.ClientAddr)
		s.auditLoginFailed(c, login, company)
	}
	if err != nil {
		return nil, err
	}
	return s.issue(ctx, ses)
}

// checkCredentials checks a login's password and, when enrolled, its TOTP
// code (without spending it), as one throttled attempt (R-ID-5). The
// attempt is settled as soon as the verdict is known, so that it does not
// hold the account's budget while directory is asked for the company.
func (s *Service) checkCredentials(ctx context.Context, c Caller, email, pw, code, company string) (*Login, error) {
	a, err := s.begin(email, c.ClientAddr)
	if err != nil {
		return nil, err
	}
	defer a.release()
	var login *Login
	err = s.view(ctx, func(tx Tx) error {
		var err error
		login, err = tx.LoginByEmail(email)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var stored string
	if login != nil {
		stored = login.PasswordHash
	}
	ok, err := s.verify(ctx, pw, stored)
	if err != nil {
		return nil, err
	}
	if !ok {
		a.fail()
		if login != nil {
			s.auditLoginFailed(c, login, company)
		}
		return nil, errInvalidCredentials
	}
	if err := s.checkTOTP(login, code); err != nil {
		if errors.Is(err, errTOTPInvalid) {
			a.fail()
			s.auditLoginFailed(c, login, company)
		}
		return nil, err
	}
	a.succeed()
	return login, nil
}

// auditLoginFailed records a failed sign-in of an existing login in the
// background, so that a known e-mail answers as fast as an unknown one.
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
			if _, err := t.Membership(company, login.ID); err != nil {
				return nil // not a member: nothing to tell that company
			}
			return t.auditAs(login, company, "session.login_failed", MemberName(company, login.ID), nil)
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
		if m.State != stateActive {
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
		p := auth.Principal{User: UserName(login.ID), Company: CompanyName(m.Company), Role: m.Role}
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
		if err != nil || m.State != stateActive {
			return errInvalidRefresh
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
	if err := t.revoke(RevocationEvent{User: UserName(sess.User), Kind: identityv1.RevocationEvent_KIND_SESSION_REVOKED, Session: sess.ID}); err != nil {
		return err
	}
	login, _ := t.Login(sess.User)
	return t.auditAs(login, sess.Company, action, MemberName(sess.Company, sess.User), detail)
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
// an active member (R-ID-4, R-DIR-2).
func (s *Service) SwitchCompany(ctx context.Context, c Caller, company, raw string) (*SignIn, error) {
	target, err := ParseCompany("company", company)
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
		if m, err = tx.Membership(target, login.ID); err != nil || m.State != stateActive {
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
		if err != nil || m.State != stateActive {
			return errNoMembership
		}
		if err := t.PutCompany(comp); err != nil {
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
		if err := t.auditAs(l, target, "session.switch_company", MemberName(target, l.ID), map[string]string{"from": CompanyName(from)}); err != nil {
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

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// callerID is the {user} of an authenticated caller.
func callerID(c Caller) string { return strings.TrimPrefix(c.Principal.User, "users/") }
