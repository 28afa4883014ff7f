package domain

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// Secrets at rest (issue 7 point 8): TOTP secrets and token-signing key
// seeds are sealed with the operator's key (Sealer, runtime/secrets) before
// they reach the store, bound to the record they belong to, and opened
// only in memory. A file without the key is worthless to whoever copies it.

func totpAAD(login string) []byte { return []byte("vigil/identity/totp/" + login) }

func seedAAD(kid string) []byte { return []byte("vigil/identity/signing-key/" + kid) }

var errSecretUnreadable = errors.New("a stored secret does not open with the secret key (is VIGIL_SECRET_KEY_FILE the key this data was written with?)")

// totpSecret is l's confirmed authenticator secret, in clear, in memory.
func (s *Service) totpSecret(l *Login) ([]byte, error) {
	return s.openTOTP(l, l.TOTPSealed, l.TOTPSecret)
}

// pendingTOTPSecret is the secret of l's authenticator being enrolled.
func (s *Service) pendingTOTPSecret(l *Login) ([]byte, error) {
	return s.openTOTP(l, l.TOTPPendingSealed, l.TOTPPendingSecret)
}

// openTOTP opens one of l's sealed TOTP secrets; with none sealed it is the
// clear one an older file holds, until sealed at start.
func (s *Service) openTOTP(l *Login, sealed, plain []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return plain, nil
	}
	secret, err := s.sealer.Open(sealed, totpAAD(l.ID))
	if err != nil {
		return nil, fmt.Errorf("login %s: %w", l.ID, errSecretUnreadable)
	}
	return secret, nil
}

func (s *Service) sealTOTP(l *Login, secret []byte) []byte {
	return s.sealer.Seal(secret, totpAAD(l.ID))
}

// flagSecretsSealed marks a store whose logins hold no clear secret.
const flagSecretsSealed = "secrets_sealed_v1"

// sealLegacySecrets seals, once, the TOTP secrets a version before sealing
// wrote in clear. Their old bytes may stay in the file's free pages until it
// is compacted (`bbolt compact`), which the log says.
func (s *Service) sealLegacySecrets(ctx context.Context) error {
	var done bool
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		done, err = tx.Flag(flagSecretsSealed)
		return err
	}); err != nil || done {
		return err
	}
	sealed, after := 0, ""
	for {
		var more bool
		err := s.store.Update(ctx, func(tx Tx) error {
			logins, err := tx.LoginsAfter(after, 500)
			if err != nil {
				return err
			}
			more = len(logins) == 500
			for _, l := range logins {
				after = l.ID
				if len(l.TOTPSecret) == 0 && len(l.TOTPPendingSecret) == 0 {
					continue
				}
				if len(l.TOTPSecret) > 0 {
					l.TOTPSealed, l.TOTPSecret = s.sealTOTP(l, l.TOTPSecret), nil
				}
				if len(l.TOTPPendingSecret) > 0 {
					l.TOTPPendingSealed, l.TOTPPendingSecret = s.sealTOTP(l, l.TOTPPendingSecret), nil
				}
				if err := tx.PutLogin(l); err != nil {
					return err
				}
				sealed++
			}
			if !more {
				return tx.SetFlag(flagSecretsSealed)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seal secrets of an older version: %w", err)
		}
		if !more {
			break
		}
	}
	if sealed > 0 {
		s.log.Warn("TOTP secrets written in clear by an older version are now sealed; their old bytes may remain in free pages of the data file until it is compacted (bbolt compact)",
			zap.Int("logins", sealed))
	}
	return nil
}
