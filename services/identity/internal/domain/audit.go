package domain

import (
	"context"
	"strconv"
	"time"

	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/names"
	"github.com/vigil/vigil/services/runtime/pagetoken"
)

// AuditFilter bounds ListAuditEvents by time (zero: unbounded).
type AuditFilter struct {
	Start, End time.Time
}

// ListAuditEvents pages through a company's audit log, newest first
// (R-ID-9); Administrators only.
func (s *Service) ListAuditEvents(ctx context.Context, c Caller, parent string, f AuditFilter, page Page) ([]*AuditEvent, string, error) {
	company, err := names.Company.Parse("parent", parent)
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, c, company, authz.ReadAuditLog); err != nil {
		return nil, "", err
	}
	var before uint64
	if page.Token != "" {
		parts, err := pagetoken.Decode(page.Token, "audit", 1)
		if err != nil {
			return nil, "", err
		}
		if before, err = strconv.ParseUint(parts[0], 10, 64); err != nil || before == 0 {
			return nil, "", pagetoken.Invalid()
		}
	}
	size := page.size()
	var out []*AuditEvent
	err = s.view(ctx, func(tx Tx) error {
		for len(out) < size {
			batch, err := tx.AuditEvents(company, before, 200)
			if err != nil {
				return err
			}
			for _, e := range batch {
				before = e.Seq
				if !f.End.IsZero() && !e.Time.Before(f.End) {
					continue
				}
				if !f.Start.IsZero() && e.Time.Before(f.Start) {
					return nil // newest first: everything after is older
				}
				out = append(out, e)
				if len(out) == size {
					return nil
				}
			}
			if len(batch) < 200 {
				before = 0
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) == size && before != 0 {
		next = pagetoken.Encode("audit", strconv.FormatUint(out[len(out)-1].Seq, 10))
	}
	return out, next, nil
}
