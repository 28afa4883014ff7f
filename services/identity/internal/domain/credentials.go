package domain

// This file is the one way identity proves a credential (issue 7): the
// throttled password check and the TOTP check-then-spend. Every flow that
// takes a password or a two-factor code calls it — sign-in, sign-up with an
// existing login, change password, reset, accept invitation, turn
// two-factor on or off — so that each is throttled, counted and timed alike (R-ID-5,
// R-ID-8).

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/identity/internal/password"
	"github.com/vigil/vigil/services/identity/internal/throttle"
	"github.com/vigil/vigil/services/identity/internal/totp"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/logging"
)

var (
	errInvalidCredentials = errs.Unauthenticated("INVALID_CREDENTIALS", "invalid e-mail or password")
	errTOTPRequired       = errs.Unauthenticated("TOTP_REQUIRED", "a two-factor code is required")
	errTOTPInvalid        = errs.Unauthenticated("INVALID_TOTP_CODE", "invalid or already used two-factor code")
)

// credential is what a person gives to prove it holds a login.
type credential struct {
	Password string
	Code     string // the current TOTP code; required when the login has two-factor
}

// proofKind is what a flow asks to be proven.
type proofKind int

const (
	// passwordAndCode: the password, and the code when the login has
	// two-factor.
	passwordAndCode proofKind = iota
	// codeOnly: the code when the login has two-factor, else nothing (a
	// reset, whose link already proved the e-mail: the code is what an
	// attacker holding the link would guess).
	codeOnly
)

// prove checks cred against login, the login of email (nil when the e-mail
// has none: it costs the same and fails alike), as one throttled attempt
// (R-ID-5): failures count against the account and the client address,
// which are slowed and then locked, and an attempt in flight counts against
// the account until it settles. The code is checked but not spent: the
// write transaction that acts on the proof spends it (spendCode), so that a
// wrong code is refused, and counted, before anything costly or visible.
func (s *Service) prove(ctx context.Context, c Caller, email string, login *Login, cred credential, kind proofKind) error {
	enrolled := login != nil && login.TwoFactor()
	if kind == codeOnly && !enrolled {
		return nil // nothing guessable: an attacker must not lock the owner out
	}
	a, err := s.begin(ctx, email, c.ClientAddr)
	if err != nil {
		return err
	}
	defer a.release()
	if kind == passwordAndCode {
		var stored string
		if login != nil {
			stored = login.PasswordHash
		}
		ok, err := s.verify(ctx, cred.Password, stored)
		if err != nil {
			return err
		}
		if !ok {
			a.fail()
			return errInvalidCredentials
		}
	}
	if enrolled {
		if cred.Code == "" {
			return errTOTPRequired
		}
		secret, err := s.totpSecret(login)
		if err != nil {
			return err
		}
		if _, ok := totp.Verify(secret, cred.Code, s.now(), login.TOTPLastStep); !ok {
			a.fail()
			return errTOTPInvalid
		}
	}
	if kind == passwordAndCode {
		a.succeed()
	}
	return nil
}

// spendCode checks code against l's authenticator, when enrolled, and spends
// it: a code is accepted once (R-ID-8). It reports whether a second factor
// was verified; the caller puts l. A code found wrong here (spent meanwhile
// by a parallel request) counts as a failed attempt once the transaction
// has rolled back (update).
func (t *txn) spendCode(l *Login, code string) (bool, error) {
	if !l.TwoFactor() {
		return false, nil
	}
	if code == "" {
		return false, errTOTPRequired
	}
	secret, err := t.s.totpSecret(l)
	if err != nil {
		return false, err
	}
	step, ok := totp.Verify(secret, code, t.now, l.TOTPLastStep)
	if !ok {
		t.codeFailed = l.Email
		return false, errTOTPInvalid
	}
	l.TOTPLastStep = step
	return true, nil
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
		logging.For(ctx, s.log).Error("stored password hash unreadable", zap.Error(verr))
		return false, nil
	}
	return ok && real, nil
}

// attempt is one throttled attempt on an account (R-ID-5). The account is
// reserved: an attempt in flight counts against it until it ends, so that
// parallel guesses at one account cannot all be checked. The client address
// is only checked and charged with failures: an office or a NAT signs many
// people in at once, and its parallel attempts are already bounded by the
// hashing pool. End an attempt with fail, succeed or release (safe to
// defer: the first counts).
type attempt struct {
	s       *Service
	account *throttle.Attempt
	email   string
	address string
}

// begin reserves an attempt, or refuses it while the account or the address
// is slowed or locked; the answer does not depend on whether the account
// exists. An attempt held back only by other attempts in flight on the
// account (correct sign-ins racing each other, issue 14) waits its turn up
// to SignInPatience, then answers SIGN_IN_BUSY rather than claim failures.
func (s *Service) begin(ctx context.Context, email, addr string) (*attempt, error) {
	if addr != "" {
		if w, locked := s.addresses.Wait(addr); w > 0 {
			return nil, throttledError(w, locked)
		}
	}
	acc, w, locked, busy := s.accounts.BeginWait(ctx, email, s.cfg.SignInPatience)
	switch {
	case busy:
		return nil, errs.ResourceExhausted("SIGN_IN_BUSY", "too many sign-ins to this account in progress: retry in a second")
	case acc == nil:
		return nil, throttledError(w, locked)
	}
	return &attempt{s: s, account: acc, email: email, address: addr}, nil
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
		a.s.addresses.Failure(a.address)
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

// loginResult names the outcome of a sign-in for vigil_identity_logins_total.
func loginResult(err error) string {
	if err == nil {
		return "success"
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		return "error"
	}
	switch e.Reason {
	case "INVALID_CREDENTIALS":
		return "invalid_credentials"
	case "TOTP_REQUIRED":
		return "totp_required"
	case "INVALID_TOTP_CODE":
		return "totp_invalid"
	case "SIGN_IN_SLOWED", "SIGN_IN_LOCKED":
		return "throttled"
	case "SIGN_IN_BUSY":
		return "busy"
	case "HASHING_CAPACITY":
		return "capacity"
	case "NO_ACTIVE_MEMBERSHIP":
		return "no_membership"
	}
	return "error"
}

// LoginResults are the values loginResult gives, for metrics to declare.
var LoginResults = []string{"success", "invalid_credentials", "totp_required", "totp_invalid", "throttled", "busy",
	"capacity", "no_membership", "error"}
