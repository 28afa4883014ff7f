package api

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/webhooks"
	"github.com/vigil/vigil/services/runtime/authz"
)

type webhookServer struct {
	notifyv1.UnimplementedWebhookServiceServer
	svc           *webhooks.Service
	principalFrom PrincipalFunc
}

// NewWebhookServer returns the WebhookService implementation.
func NewWebhookServer(svc *webhooks.Service, principalFrom PrincipalFunc) notifyv1.WebhookServiceServer {
	return &webhookServer{svc: svc, principalFrom: principalFrom}
}

// subject is the caller (the zero Subject when unauthenticated).
func (s *webhookServer) subject(ctx context.Context) authz.Subject {
	return callerOf(ctx, s.principalFrom)
}

var stateToProto = map[webhooks.State]notifyv1.WebhookDelivery_State{
	webhooks.StatePending:   notifyv1.WebhookDelivery_STATE_PENDING,
	webhooks.StateDelivered: notifyv1.WebhookDelivery_STATE_DELIVERED,
	webhooks.StateDead:      notifyv1.WebhookDelivery_STATE_DEAD,
}

var stateToDomain = map[notifyv1.WebhookDelivery_State]webhooks.State{
	notifyv1.WebhookDelivery_STATE_UNSPECIFIED: "",
	notifyv1.WebhookDelivery_STATE_PENDING:     webhooks.StatePending,
	notifyv1.WebhookDelivery_STATE_DELIVERED:   webhooks.StateDelivered,
	notifyv1.WebhookDelivery_STATE_DEAD:        webhooks.StateDead,
}

func input(w *notifyv1.Webhook) webhooks.Input {
	return webhooks.Input{URL: w.GetUrl(), EventTypes: w.GetEventTypes(), Enabled: w.Enabled, Description: w.GetDescription()}
}

func (s *webhookServer) ListWebhooks(ctx context.Context, req *notifyv1.ListWebhooksRequest) (*notifyv1.ListWebhooksResponse, error) {
	es, next, err := s.svc.List(ctx, s.subject(ctx), req.GetParent(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ListWebhooksResponse{NextPageToken: next, Webhooks: make([]*notifyv1.Webhook, len(es))}
	for i, e := range es {
		resp.Webhooks[i] = webhookProto(e, "")
	}
	return resp, nil
}

func (s *webhookServer) CreateWebhook(ctx context.Context, req *notifyv1.CreateWebhookRequest) (*notifyv1.Webhook, error) {
	e, secret, err := s.svc.Create(ctx, s.subject(ctx), req.GetParent(), input(req.GetWebhook()))
	if err != nil {
		return nil, err
	}
	return webhookProto(e, secret), nil
}

func (s *webhookServer) GetWebhook(ctx context.Context, req *notifyv1.GetWebhookRequest) (*notifyv1.Webhook, error) {
	e, err := s.svc.Get(ctx, s.subject(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return webhookProto(e, ""), nil
}

func (s *webhookServer) UpdateWebhook(ctx context.Context, req *notifyv1.UpdateWebhookRequest) (*notifyv1.Webhook, error) {
	e, err := s.svc.Update(ctx, s.subject(ctx), req.GetWebhook().GetName(), input(req.GetWebhook()), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, err
	}
	return webhookProto(e, ""), nil
}

func (s *webhookServer) DeleteWebhook(ctx context.Context, req *notifyv1.DeleteWebhookRequest) (*emptypb.Empty, error) {
	if err := s.svc.Delete(ctx, s.subject(ctx), req.GetName()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *webhookServer) RotateWebhookSecret(ctx context.Context, req *notifyv1.RotateWebhookSecretRequest) (*notifyv1.Webhook, error) {
	e, secret, err := s.svc.RotateSecret(ctx, s.subject(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return webhookProto(e, secret), nil
}

func (s *webhookServer) TestWebhook(ctx context.Context, req *notifyv1.TestWebhookRequest) (*notifyv1.WebhookDelivery, error) {
	d, err := s.svc.Test(ctx, s.subject(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return deliveryProto(d), nil
}

func (s *webhookServer) ListWebhookDeliveries(ctx context.Context, req *notifyv1.ListWebhookDeliveriesRequest) (*notifyv1.ListWebhookDeliveriesResponse, error) {
	ds, next, err := s.svc.ListDeliveries(ctx, s.subject(ctx), req.GetParent(), stateToDomain[req.GetState()], int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ListWebhookDeliveriesResponse{NextPageToken: next, Deliveries: make([]*notifyv1.WebhookDelivery, len(ds))}
	for i, d := range ds {
		resp.Deliveries[i] = deliveryProto(d)
	}
	return resp, nil
}

func (s *webhookServer) RedeliverWebhookDelivery(ctx context.Context, req *notifyv1.RedeliverWebhookDeliveryRequest) (*notifyv1.WebhookDelivery, error) {
	d, err := s.svc.Redeliver(ctx, s.subject(ctx), req.GetName())
	if err != nil {
		return nil, err
	}
	return deliveryProto(d), nil
}

func (s *webhookServer) ListEvents(ctx context.Context, req *notifyv1.ListEventsRequest) (*notifyv1.ListEventsResponse, error) {
	evs, next, err := s.svc.ListEvents(ctx, s.subject(ctx), req.GetParent(), req.GetAfter(), int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ListEventsResponse{NextCursor: next, Events: make([]*notifyv1.Event, len(evs))}
	for i, e := range evs {
		resp.Events[i] = eventProto(webhooks.ToCloudEvent(e))
	}
	return resp, nil
}

func timeProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// webhookProto is an endpoint as its Administrators see it; secret is set
// only in the answers that show it (create, rotate).
func webhookProto(e webhooks.Endpoint, secret string) *notifyv1.Webhook {
	w := &notifyv1.Webhook{
		Name: e.Name(), Url: e.URL, EventTypes: e.EventTypes, Enabled: &e.Enabled, Description: e.Description,
		SigningSecret: secret, FailingSince: timeProto(e.FailingSince), DisabledReason: e.DisabledReason,
		CreateTime: timeProto(e.CreateTime), UpdateTime: timeProto(e.UpdateTime),
	}
	if e.PreviousSecretExpireTime.After(time.Now()) {
		w.PreviousSecretExpireTime = timestamppb.New(e.PreviousSecretExpireTime)
	}
	return w
}

func deliveryProto(d webhooks.Delivery) *notifyv1.WebhookDelivery {
	out := &notifyv1.WebhookDelivery{
		Name: d.Name(), EventId: d.EventID, EventType: d.EventType, State: stateToProto[d.State],
		Attempts: int32(d.Attempts), LastResponseCode: int32(d.LastCode), LastError: d.LastError,
		CreateTime: timeProto(d.CreateTime), LastAttemptTime: timeProto(d.LastAttempt),
		CompleteTime: timeProto(d.CompleteTime), Test: d.Test != nil,
	}
	if d.State == webhooks.StatePending {
		out.NextAttemptTime = timeProto(d.NextAttempt)
	}
	return out
}

func eventProto(c webhooks.CloudEvent) *notifyv1.Event {
	return &notifyv1.Event{
		Specversion: c.SpecVersion, Id: c.ID, Source: c.Source, Type: c.Type, Subject: c.Subject,
		Time: timestamppb.New(c.Time), Datacontenttype: c.DataContentType,
		Data: &notifyv1.EventData{Company: c.Data.Company, Resources: c.Data.Resources, Attributes: c.Data.Attributes},
	}
}
