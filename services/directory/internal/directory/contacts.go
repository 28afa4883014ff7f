package directory

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/errs"
)

// Contacts brought by a registration (R-DIR-3, R-DIR-4) are queued in the
// registration's transaction, then sent to identity (AddMember: a user of
// the supplier, invited, R-DIR-5, R-ID-10) and, once identity answers, made
// the customer's reference. A contact identity cannot take now stays queued
// and is sent again by the worker; one identity refuses is dropped, its
// reason written on the import row that brought it.

// sendContacts sends queued contacts to identity, at most
// limits.ContactWorkers at a time, and records the answers in one
// transaction.
func (s *Service) sendContacts(ctx context.Context, pending []PendingContact) {
	if len(pending) == 0 {
		return
	}
	workers := max(1, s.limits.ContactWorkers)
	done := make([]ContactDone, len(pending))
	sent := make([]bool, len(pending))
	// A supplier created by this batch is told to identity once.
	var syncMu sync.Mutex
	synced := map[string]bool{}
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range min(workers, len(pending)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				pc := pending[i]
				if pc.SyncFirst {
					syncMu.Lock()
					first := !synced[pc.Supplier]
					synced[pc.Supplier] = true
					syncMu.Unlock()
					if first {
						if err := s.syncCompany(ctx, pc.Supplier); err != nil {
							s.log.Debug("contact waits for identity", zap.Error(err))
							continue
						}
					}
				}
				m, err := s.identity.AddMember(ctx, NewMember{Company: pc.Supplier, Contact: pc.Contact, InvitedBy: pc.Customer,
					Actor: pc.Actor, Language: pc.Language})
				var de *errs.Error
				switch {
				case err == nil:
					done[i], sent[i] = ContactDone{ID: pc.ID, User: m.User}, true
				case errors.As(err, &de) && (de.Kind == errs.KindInvalidArgument || de.Kind == errs.KindFailedPrecondition ||
					de.Kind == errs.KindAlreadyExists || de.Kind == errs.KindNotFound):
					done[i], sent[i] = ContactDone{ID: pc.ID, Error: "refused by the identity service: " + de.Message}, true
				default:
					s.log.Debug("contact waits for identity", zap.Error(err))
				}
			}
		}()
	}
	for i := range pending {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	var out []ContactDone
	for i := range done {
		if sent[i] {
			out = append(out, done[i])
		}
	}
	if len(out) == 0 {
		return
	}
	if err := s.store.CompleteContacts(ctx, out); err != nil {
		s.log.Warn("record contacts", zap.Error(err))
	}
}

// syncCompany gives identity a newly created supplier's facts, so that its
// invitation names the company.
func (s *Service) syncCompany(ctx context.Context, id string) error {
	c, err := s.store.Company(ctx, id)
	if err != nil {
		return err
	}
	return s.identity.SyncCompany(ctx, c)
}

// contactGrace is how old a queued contact must be before the worker
// retries it: younger ones are being sent by the call that queued them.
const contactGrace = 30 * time.Second

// retryContacts sends again every queued contact older than contactGrace.
func (s *Service) retryContacts(ctx context.Context) error {
	after := ""
	cutoff := s.now().Add(-contactGrace)
	for ctx.Err() == nil {
		page, err := s.store.PendingContacts(ctx, after, 200)
		if err != nil {
			return err
		}
		var due []PendingContact
		for _, pc := range page {
			if pc.CreateTime.Before(cutoff) {
				due = append(due, pc)
			}
		}
		s.sendContacts(ctx, due)
		if len(page) < 200 {
			return nil
		}
		after = page[len(page)-1].ID
	}
	return ctx.Err()
}
