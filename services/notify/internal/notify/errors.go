package notify

import "errors"

// PermanentError marks a delivery failure that retrying cannot fix (an SMTP
// 5xx answer to MAIL, RCPT or DATA, a message that cannot be rendered): the
// delivery goes straight to the dead letters. Every other error is temporary.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
