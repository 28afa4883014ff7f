package clients

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/identity/internal/domain"
	"github.com/vigil/vigil/services/runtime/errs"
)

// TestTemplatesMatchNotify: the domain's templates carry notify's numbers.
func TestTemplatesMatchNotify(t *testing.T) {
	for tmpl, want := range map[domain.Template]notifyv1.Template{
		domain.TemplateInvitation:    notifyv1.Template_TEMPLATE_INVITATION,
		domain.TemplatePasswordReset: notifyv1.Template_TEMPLATE_PASSWORD_RESET,
		domain.TemplateReviewNewUser: notifyv1.Template_TEMPLATE_REVIEW_NEW_USER,
	} {
		if notifyv1.Template(tmpl) != want {
			t.Errorf("%v is %d, notify's is %d", tmpl, tmpl, want)
		}
	}
}

// TestDirectoryRefusalsAreDefinitive: a refused company is the caller's
// error and also ErrCompanyRefused (sign-up then knows nothing was created);
// an outage is neither.
func TestDirectoryRefusalsAreDefinitive(t *testing.T) {
	for code, want := range map[codes.Code]bool{codes.AlreadyExists: true, codes.InvalidArgument: true, codes.Unavailable: false} {
		err := translate(status.Error(code, "x"))
		if errors.Is(err, domain.ErrCompanyRefused) != want {
			t.Errorf("%v: refused %v, want %v", code, errors.Is(err, domain.ErrCompanyRefused), want)
		}
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind.Code() != map[bool]codes.Code{true: code, false: codes.Unavailable}[want] {
			t.Errorf("%v: translated to %v", code, err)
		}
	}
}
