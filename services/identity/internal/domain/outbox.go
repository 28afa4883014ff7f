package domain

import (
	"context"
	"maps"

	"go.uber.org/zap"

	"github.com/vigil/vigil/services/runtime/outbox"
)

// The e-mail relay (runtime/outbox) hands queued e-mails to the
// notification service, which stores them durably and sends each
// idempotency key once (R-NOTIF-5). Identity never sends e-mail itself. An
// e-mail is queued in the same transaction as the change that causes it, so
// none is lost if identity stops.
func (s *Service) newRelay() *outbox.Relay[*Notification, *Notification] {
	return outbox.New(outbox.Options[*Notification, *Notification]{
		Queue: notificationQueue{s}, Messages: s.outgoing, Send: s.notifier.Enqueue, Log: s.log,
		Describe: func(n *Notification) []zap.Field {
			return []zap.Field{zap.String("idempotency_key", n.IdempotencyKey), zap.Stringer("template", n.Template)}
		},
	})
}

// outgoing is the e-mail as notify receives it.
func (s *Service) outgoing(ctx context.Context, n *Notification) ([]*Notification, error) {
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
			return nil, err
		}
	}
	return []*Notification{&out}, nil
}

// notificationQueue is the relay's view of the store's queued e-mails.
type notificationQueue struct{ s *Service }

func (q notificationQueue) Queued(ctx context.Context, limit int) (queued []*Notification, err error) {
	err = q.s.view(ctx, func(tx Tx) error {
		queued, err = tx.Notifications(limit)
		return err
	})
	return queued, err
}

func (q notificationQueue) Remove(ctx context.Context, n *Notification) error {
	return q.s.store.Update(ctx, func(tx Tx) error { return tx.DeleteNotification(n.ID) })
}
