package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatusCodes(t *testing.T) {
	cases := []struct {
		err     error
		code    codes.Code
		unknown bool
	}{
		{NotFound("X", "x"), codes.NotFound, false},
		{AlreadyExists("X", "x"), codes.AlreadyExists, false},
		{FailedPrecondition("X", "x"), codes.FailedPrecondition, false},
		{PermissionDenied("X", "x"), codes.PermissionDenied, false},
		{Unauthenticated("X", "x"), codes.Unauthenticated, false},
		{ResourceExhausted("X", "x"), codes.ResourceExhausted, false},
		{Unavailable("X", "x"), codes.Unavailable, false},
		{Aborted("X", "x"), codes.Aborted, false},
		{InvalidArgument("email", "bad"), codes.InvalidArgument, false},
		{fmt.Errorf("wrapped: %w", NotFound("X", "x")), codes.NotFound, false},
		{status.Error(codes.Unavailable, "down"), codes.Unavailable, false},
		{context.Canceled, codes.Canceled, false},
		{context.DeadlineExceeded, codes.DeadlineExceeded, false},
		{Internal(errors.New("secret detail")), codes.Internal, true},
		{errors.New("anything"), codes.Internal, true},
	}
	for _, c := range cases {
		st, unknown := ToStatus(c.err)
		if st.Code() != c.code || unknown != c.unknown {
			t.Errorf("%v: %v unknown=%v, want %v unknown=%v", c.err, st.Code(), unknown, c.code, c.unknown)
		}
		if st.Code() == codes.Internal && st.Message() != "internal error" {
			t.Errorf("%v: Internal must not leak its detail, got %q", c.err, st.Message())
		}
	}
}

func TestIsMatchesByKind(t *testing.T) {
	err := fmt.Errorf("ctx: %w", NotFound("USER_NOT_FOUND", "no user"))
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyExists) {
		t.Fatal("errors.Is must match the sentinel of the same kind only")
	}
	if errors.Is(NotFound("A", "a"), NotFound("B", "b")) {
		t.Fatal("two reasoned errors are not the same error")
	}
}

func TestInvalidArgumentNamesField(t *testing.T) {
	st, _ := ToStatus(InvalidArgument("registration_number", "fails the Luhn check"))
	if st.Message() != "registration_number: fails the Luhn check" {
		t.Fatalf("message %q", st.Message())
	}
}

// TestRetryAfterBecomesRetryInfo: a limit's error tells when to retry
// (R-NOTIF-3's hourly document requests answer 429 with Retry-After).
func TestRetryAfterBecomesRetryInfo(t *testing.T) {
	st, _ := ToStatus(&Error{Kind: KindResourceExhausted, Reason: "LIMITED", Message: "later", RetryAfter: 90 * time.Second})
	var found bool
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			found = ri.GetRetryDelay().AsDuration() == 90*time.Second
		}
	}
	if st.Code() != codes.ResourceExhausted || !found {
		t.Fatalf("status %v details %v", st.Code(), st.Details())
	}
}
