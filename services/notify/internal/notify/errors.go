package notify

import "errors"

// PermanentError marks a delivery failure that retrying cannot fix (an SMTP
// 5xx answer to MAIL, RCPT or DATA, a message that cannot be rendered): the
// delivery goes straight to the dead letters. Every other error is temporary.
type PermanentError struct {
	Err error
	// Address is true when the failure is about the recipient's address
	// itself (a 5xx to RCPT, or an enhanced status 5.1.x): a bounce.
	Address bool
}

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

// Undeliverable wraps err as a permanent failure of the recipient's
// address (nil stays nil): the address is suppressed and reported.
func Undeliverable(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err, Address: true}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// IsUndeliverable reports whether err is a permanent failure of the address.
func IsUndeliverable(err error) bool {
	var p *PermanentError
	return errors.As(err, &p) && p.Address
}

// errSuppressed is the outcome of a delivery not attempted because its
// address is suppressed.
var errSuppressed = errors.New("not sent: mail to this address failed for good before (suppressed)")
