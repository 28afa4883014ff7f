package vault

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// The expiry sweep: statuses need no write when days pass (they are
// computed at read time), but integrations are told when a supplier turns
// not compliant because a document expired (compliance.changed,
// R-NOTIF-6). The sweep reads the summaries whose earliest valid_until is
// in [progress, today] from the platform-wide MinUntil index — a range
// that only holds what crossed since the last run — and announces each
// crossing once: a summary remembers what it last announced, so running
// twice, or after a crash, tells nothing twice.

const metaSweepFrom = "sweep_from"

// sweepLoop runs the sweep every SweepEvery and prunes old events hourly.
func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("expiry sweep failed; will retry", zap.Error(err))
		}
		if time.Since(lastPrune) > time.Hour {
			if err := s.PruneEvents(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("pruning events failed", zap.Error(err))
			}
			lastPrune = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep announces the compliance changes caused by the passing of days.
func (s *Service) Sweep(ctx context.Context) error {
	// The furthest "today" of any time zone (UTC+14): every summary whose
	// earliest valid_until is before it may have crossed somewhere.
	horizon := DateOf(s.now().UTC().Add(14 * time.Hour))
	var from Date
	if err := s.view(ctx, func(tx Tx) error {
		v, err := tx.Meta(metaSweepFrom)
		if err == nil && len(v) == 4 {
			from = DateFromKey(v)
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	// The earliest "today" on Earth (UTC-12) is at most two days before
	// the horizon: a summary written since with a valid MinUntil is never
	// before the next run's start.
	unsettled := horizon - 2
	p := Page{Limit: 200}
	for {
		// Read first; write only the crossings to announce (a run that
		// finds none writes nothing).
		var next string
		var crossed [][2]string
		err := s.view(ctx, func(tx Tx) error {
			sums, n, err := tx.SummariesByMinUntil(from, horizon-1, p)
			if err != nil {
				return err
			}
			next = n
			for _, sum := range sums {
				today, err := s.todayIn(tx, sum.Customer)
				if err != nil {
					return err
				}
				switch {
				case sum.MinUntil() >= today:
					// Not crossed yet where the customer is.
					unsettled = min(unsettled, sum.MinUntil())
				case !sum.AnnouncedSet || sum.Announced:
					crossed = append(crossed, [2]string{sum.Customer, sum.Supplier})
				}
			}
			return nil
		})
		if err == nil && len(crossed) > 0 {
			err = s.update(ctx, func(tx Tx) error {
				for _, c := range crossed {
					sum, err := tx.Summary(c[0], c[1])
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						return err
					}
					today, err := s.todayIn(tx, sum.Customer)
					if err != nil {
						return err
					}
					if sum.Compliant(today) || sum.AnnouncedSet && !sum.Announced {
						continue // changed since it was read
					}
					if err := s.appendComplianceChanged(tx, sum.Customer, sum.Supplier, false); err != nil {
						return err
					}
					sum.Announced, sum.AnnouncedSet = false, true
					if err := tx.PutSummary(sum); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			return err
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if unsettled == from {
		return nil
	}
	return s.store.Update(ctx, func(tx Tx) error { return tx.PutMeta(metaSweepFrom, unsettled.Key()) })
}

// PruneEvents deletes the vault's events older than the retention (30 days).
func (s *Service) PruneEvents(ctx context.Context) error {
	before := s.now().Add(-s.cfg.EventRetention)
	for {
		n := 0
		if err := s.store.Update(ctx, func(tx Tx) error {
			var err error
			n, err = tx.PruneEvents(before, 1000)
			return err
		}); err != nil {
			return err
		}
		if n < 1000 {
			return nil
		}
	}
}
