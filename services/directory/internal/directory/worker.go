package directory

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/names"
)

// The worker runs the directory's background work: imports (R-DIR-4),
// queued contacts (R-DIR-5) and the pruning of the event log. Several
// replicas may run it at once: every step is idempotent (a row or a contact
// already done is skipped in the transaction that would do it again).

// Worker timings.
const (
	// workerTick is how often the worker looks for work nobody woke it for
	// (another replica's imports, contacts identity could not take).
	workerTick = 5 * time.Second
	// uploadStale is how long an upload may go without a new row before it
	// is taken for cut short (its client or process gone) and discarded.
	uploadStale = 2 * time.Minute
	// EventRetention is how long the event log keeps events.
	EventRetention = 30 * 24 * time.Hour
	pruneEvery     = time.Hour
)

// RunWorker does the background work until ctx ends.
func (s *Service) RunWorker(ctx context.Context) {
	tick := time.NewTicker(workerTick)
	defer tick.Stop()
	var lastPrune, lastContacts time.Time
	for {
		if err := s.runImports(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("imports", zap.Error(err))
		}
		now := s.now()
		if now.Sub(lastContacts) >= workerTick {
			lastContacts = now
			if err := s.retryContacts(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("queued contacts", zap.Error(err))
			}
		}
		if now.Sub(lastPrune) >= pruneEvery {
			lastPrune = now
			if err := s.PruneEvents(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("prune events", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.work:
		case <-tick.C:
		}
	}
}

// runImports resumes every running import, oldest first, and discards
// uploads gone stale.
func (s *Service) runImports(ctx context.Context) error {
	active, err := s.store.ActiveImports(ctx)
	if err != nil {
		return err
	}
	s.metrics.ImportsRunning(len(active))
	for _, imp := range active {
		switch imp.State {
		case ImportUploading:
			if s.now().Sub(imp.UpdateTime) > uploadStale {
				s.log.Info("discarding an upload cut short", zap.String("import", names.SupplierImport.Format(imp.Customer, imp.ID)))
				if err := s.store.DiscardImport(ctx, imp.Customer, imp.ID); err != nil {
					return err
				}
			}
		case ImportRunning:
			if err := s.runImport(ctx, imp); err != nil {
				return err
			}
		}
	}
	if active, err = s.store.ActiveImports(ctx); err == nil {
		s.metrics.ImportsRunning(len(active))
	}
	return nil
}

// PruneEvents deletes events older than EventRetention, a thousand per
// transaction.
func (s *Service) PruneEvents(ctx context.Context) error {
	before := s.now().Add(-EventRetention)
	for ctx.Err() == nil {
		n, err := s.store.PruneEvents(ctx, before, 1000)
		if err != nil || n < 1000 {
			return err
		}
	}
	return ctx.Err()
}
