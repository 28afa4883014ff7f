// Package api holds the directory's gRPC handlers: they translate
// messages to the domain's types and back, and hold no rules.
package api

import (
	"context"
	"io"

	directoryv1 "github.com/vigil/vigil/gen/vigil/directory/v1"
	"github.com/vigil/vigil/services/directory/internal/directory"
	"github.com/vigil/vigil/services/directory/internal/protoconv"
	"github.com/vigil/vigil/services/runtime/auth"
	"github.com/vigil/vigil/services/runtime/errs"
	"github.com/vigil/vigil/services/runtime/names"
)

func principal(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return auth.Principal{}, errs.Unauthenticated("MISSING_TOKEN", "missing bearer access token")
	}
	return p, nil
}

// companyFromProto reads the input fields of m; output-only ones (name,
// create_time, update_time) are left to the caller.
func companyFromProto(m *directoryv1.Company) (directory.Company, error) {
	c := directory.Company{
		LegalName:          m.GetLegalName(),
		Kind:               directory.Kind(m.GetKind()),
		Country:            m.GetCountry(),
		RegistrationNumber: m.GetRegistrationNumber(),
		RequireTwoFactor:   m.GetRequireTwoFactor(),
		TimeZone:           m.GetTimeZone(),
		Language:           m.GetLanguage(),
		Address:            protoconv.AddressFrom(m.GetAddress()),
	}
	if p := m.GetParent(); p != "" {
		id, err := names.Company.Parse("company.parent", p)
		if err != nil {
			return directory.Company{}, err
		}
		c.Parent = id
	}
	return c, nil
}

func companyNames(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = names.Company.Format(id)
	}
	return out
}

func contactFromProto(m *directoryv1.Contact) directory.Contact {
	return directory.Contact{Email: m.GetEmail(), GivenName: m.GetGivenName(), FamilyName: m.GetFamilyName(),
		Function: m.GetFunction(), Phone: m.GetPhone(), Mobile: m.GetMobile()}
}

// chunkWriter sends what is written as chunks of at most chunkSize bytes,
// the first one after start (the stream's metadata message) when set.
type chunkWriter struct {
	start func() error
	send  func([]byte) error
	buf   []byte
}

const chunkSize = 256 << 10

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		take := min(len(p), chunkSize-len(w.buf))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) == chunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.start != nil {
		start := w.start
		w.start = nil
		if err := start(); err != nil {
			return err
		}
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0]
	return err
}

var _ io.Writer = (*chunkWriter)(nil)

func csvInfo(fileName string) *directoryv1.FileInfo {
	return &directoryv1.FileInfo{FileName: fileName, ContentType: "text/csv; charset=utf-8"}
}
