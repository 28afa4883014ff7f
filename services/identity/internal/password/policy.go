package password

import (
	_ "embed"
	"strings"
	"unicode/utf8"

	"github.com/vigil/vigil/services/runtime/errs"
)

// Length bounds of R-ID-5, in characters.
const (
	MinLength = 12
	MaxLength = 128
)

//go:embed common.txt
var commonList string

// Policy checks a new password against R-ID-5.
type Policy struct {
	common map[string]struct{}
}

// NewPolicy loads the embedded list of common passwords.
func NewPolicy() *Policy {
	p := &Policy{common: map[string]struct{}{}}
	for _, line := range strings.Split(commonList, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p.common[strings.ToLower(line)] = struct{}{}
	}
	return p
}

// Size is the number of common passwords known.
func (p *Policy) Size() int { return len(p.common) }

// IsCommon reports whether pw (case-insensitively) is a known common password.
func (p *Policy) IsCommon(pw string) bool {
	_, ok := p.common[strings.ToLower(pw)]
	return ok
}

// Check returns an InvalidArgument error naming field when pw breaks the policy.
func (p *Policy) Check(field, pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return errs.InvalidArgument(field, "must be valid UTF-8")
	case n < MinLength:
		return errs.InvalidArgument(field, "must be at least %d characters", MinLength)
	case n > MaxLength:
		return errs.InvalidArgument(field, "must be at most %d characters", MaxLength)
	case p.IsCommon(pw):
		return errs.InvalidArgument(field, "is too common; choose another")
	}
	return nil
}
