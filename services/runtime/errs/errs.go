// Package errs holds Vigil's typed domain errors and their one translation to
// gRPC status. Domain code returns *Error values (or wraps them); the server's
// error-translation interceptor turns them into status codes with an
// ErrorInfo reason, so that handlers never pick codes themselves.
package errs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the ErrorInfo domain of every error Vigil returns.
const Domain = "vigil"

// Kind classifies a domain error; each kind maps to exactly one gRPC code.
type Kind int

// The kinds, with the gRPC code (and HTTP status at the gateway) each becomes.
const (
	KindInternal           Kind = iota // Internal, 500
	KindInvalidArgument                // InvalidArgument, 400
	KindNotFound                       // NotFound, 404
	KindAlreadyExists                  // AlreadyExists, 409
	KindFailedPrecondition             // FailedPrecondition, 400
	KindPermissionDenied               // PermissionDenied, 403
	KindUnauthenticated                // Unauthenticated, 401
	KindResourceExhausted              // ResourceExhausted, 429
	KindUnavailable                    // Unavailable, 503
	KindAborted                        // Aborted, 409
)

var kindCodes = map[Kind]codes.Code{
	KindInternal:           codes.Internal,
	KindInvalidArgument:    codes.InvalidArgument,
	KindNotFound:           codes.NotFound,
	KindAlreadyExists:      codes.AlreadyExists,
	KindFailedPrecondition: codes.FailedPrecondition,
	KindPermissionDenied:   codes.PermissionDenied,
	KindUnauthenticated:    codes.Unauthenticated,
	KindResourceExhausted:  codes.ResourceExhausted,
	KindUnavailable:        codes.Unavailable,
	KindAborted:            codes.Aborted,
}

// Code is the gRPC code of the kind.
func (k Kind) Code() codes.Code { return kindCodes[k] }

// Error is a domain error: a kind, a stable machine-readable reason
// (UPPER_SNAKE, e.g. "LAST_ADMINISTRATOR"), a message safe to show the caller,
// and optionally the request field at fault and the underlying cause (which
// is logged, never shown).
type Error struct {
	Kind    Kind
	Reason  string
	Message string
	Field   string
	Cause   error
	// RetryAfter, when set, tells the caller when to try again (a
	// RetryInfo detail; the gateway answers with Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, errs.ErrNotFound) true for every NotFound error,
// whatever its reason: the sentinels below match by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Reason != "" {
		return false
	}
	return t.Kind == e.Kind
}

// Sentinels for errors.Is checks by kind.
var (
	ErrInvalidArgument    = &Error{Kind: KindInvalidArgument}
	ErrNotFound           = &Error{Kind: KindNotFound}
	ErrAlreadyExists      = &Error{Kind: KindAlreadyExists}
	ErrFailedPrecondition = &Error{Kind: KindFailedPrecondition}
	ErrPermissionDenied   = &Error{Kind: KindPermissionDenied}
	ErrUnauthenticated    = &Error{Kind: KindUnauthenticated}
	ErrResourceExhausted  = &Error{Kind: KindResourceExhausted}
	ErrUnavailable        = &Error{Kind: KindUnavailable}
	ErrAborted            = &Error{Kind: KindAborted}
)

func newf(k Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// InvalidArgument reports bad input in one named request field.
func InvalidArgument(field, format string, args ...any) *Error {
	e := newf(KindInvalidArgument, "INVALID_ARGUMENT", format, args...)
	e.Field = field
	if field != "" {
		e.Message = field + ": " + e.Message
	}
	return e
}

// NotFound reports a resource that does not exist (or that the caller may not know exists).
func NotFound(reason, format string, args ...any) *Error {
	return newf(KindNotFound, reason, format, args...)
}

// AlreadyExists reports a create that collides with an existing resource.
func AlreadyExists(reason, format string, args ...any) *Error {
	return newf(KindAlreadyExists, reason, format, args...)
}

// FailedPrecondition reports a request refused because of the system's state.
func FailedPrecondition(reason, format string, args ...any) *Error {
	return newf(KindFailedPrecondition, reason, format, args...)
}

// PermissionDenied reports an authenticated caller without the right.
func PermissionDenied(reason, format string, args ...any) *Error {
	return newf(KindPermissionDenied, reason, format, args...)
}

// Unauthenticated reports a missing, invalid or revoked credential.
func Unauthenticated(reason, format string, args ...any) *Error {
	return newf(KindUnauthenticated, reason, format, args...)
}

// ResourceExhausted reports a caller over a limit (rate, capacity).
func ResourceExhausted(reason, format string, args ...any) *Error {
	return newf(KindResourceExhausted, reason, format, args...)
}

// Unavailable reports a dependency that cannot be reached now; retrying may help.
func Unavailable(reason, format string, args ...any) *Error {
	return newf(KindUnavailable, reason, format, args...)
}

// Aborted reports a concurrency conflict; retrying the whole operation may help.
func Aborted(reason, format string, args ...any) *Error {
	return newf(KindAborted, reason, format, args...)
}

// Internal wraps an unexpected error; the caller sees only a generic message.
func Internal(cause error) *Error {
	return &Error{Kind: KindInternal, Reason: "INTERNAL", Message: "internal error", Cause: cause}
}

// ToStatus translates any error into a gRPC status. It is the one place where
// domain errors become codes. The second result is true when the error was
// not a known domain error or status, so that the caller logs its detail.
func ToStatus(err error) (*status.Status, bool) {
	if err == nil {
		return status.New(codes.OK, ""), false
	}
	var de *Error
	if errors.As(err, &de) {
		if de.Kind == KindInternal {
			return status.New(codes.Internal, "internal error"), true
		}
		st := status.New(de.Kind.Code(), de.Message)
		info := &errdetails.ErrorInfo{Reason: de.Reason, Domain: Domain}
		details := []protoadapt.MessageV1{info}
		if de.Field != "" {
			info.Metadata = map[string]string{"field": de.Field}
			details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: de.Field, Description: de.Message}}})
		}
		if de.RetryAfter > 0 {
			details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(de.RetryAfter)})
		}
		if withInfo, derr := st.WithDetails(details...); derr == nil {
			st = withInfo
		}
		return st, false
	}
	if st, ok := status.FromError(err); ok {
		return st, false
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled"), false
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, "deadline exceeded"), false
	}
	return status.New(codes.Internal, "internal error"), true
}
