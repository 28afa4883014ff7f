package domain

import (
	"context"
	"errors"
	"maps"
	"time"

	"go.uber.org/zap"
)

// relayOutbox hands queued e-mails to the notification service, which
// stores them durably and sends each idempotency key once (R-NOTIF-5).
// Identity never sends e-mail itself. An e-mail is queued in the same
// transaction as the change that causes it, so none is lost if identity
// stops; notify's idempotency makes a resend after a crash harmless.
func (s *Service) relayOutbox(ctx context.Context) {
	if s.notifier == nil {
		return
	}
	backoff := time.Second
	for {
		more, err := s.relayOnce(ctx)
		wait := 30 * time.Second
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.log.Warn("e-mail relay to notify failed; will retry", zap.Error(err), zap.Duration("backoff", backoff))
			wait, backoff = backoff, min(backoff*2, 30*time.Second)
		case more:
			continue
		default:
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-s.outboxWake:
		case <-time.After(wait):
		}
	}
}

const relayBatch = 50

func (s *Service) relayOnce(ctx context.Context) (bool, error) {
	var queued []*Notification
	if err := s.view(ctx, func(tx Tx) error {
		var err error
		queued, err = tx.Notifications(relayBatch)
		return err
	}); err != nil {
		return false, err
	}
	for _, n := range queued {
		out := *n
		out.Data = maps.Clone(n.Data)
		if out.Data == nil {
			out.Data = map[string]string{}
		}
		if n.Link != 0 {
			// The link token is minted now and only its digest stored: the
			// raw token lives only in the e-mail (R-ID-6).
			if err := s.update(ctx, Caller{}, func(t *txn) error {
				link, err := t.mintLink(n)
				out.Data["link"] = link
				return err
			}); err != nil {
				return false, err
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.notifier.Enqueue(sctx, &out)
		cancel()
		if errors.Is(err, ErrPermanent) {
			s.log.Error("notify refused an e-mail for good; dropped", zap.String("idempotency_key", n.IdempotencyKey),
				zap.Stringer("template", n.Template), zap.Error(err))
		} else if err != nil {
			return false, err
		}
		if err := s.store.Update(ctx, func(tx Tx) error { return tx.DeleteNotification(n.ID) }); err != nil {
			return false, err
		}
	}
	return len(queued) == relayBatch, nil
}
