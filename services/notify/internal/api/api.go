// Package api is notify's gRPC surface: it turns proto requests into calls
// of the notify domain and domain results into proto. It holds no rules:
// who may do what, what is valid, what is stored, is the domain's.
package api

import (
	"context"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	notifyv1 "github.com/vigil/vigil/gen/vigil/notify/v1"
	"github.com/vigil/vigil/services/notify/internal/notify"
	"github.com/vigil/vigil/services/runtime/authz"
	"github.com/vigil/vigil/services/runtime/errs"
)

// PrincipalFunc returns the authenticated caller of ctx as the
// authorization table sees it (its user `users/{id}`, session company, kind,
// role, and whether it is a platform administrator); ok is false for an
// unauthenticated call. The app wires auth.FromContext through it, so that
// this package depends on no token format.
type PrincipalFunc func(ctx context.Context) (subject authz.Subject, ok bool)

var templateToDomain = map[notifyv1.Template]notify.Template{
	notifyv1.Template_TEMPLATE_INVITATION:              notify.TemplateInvitation,
	notifyv1.Template_TEMPLATE_PASSWORD_RESET:          notify.TemplatePasswordReset,
	notifyv1.Template_TEMPLATE_REVIEW_NEW_USER:         notify.TemplateReviewNewUser,
	notifyv1.Template_TEMPLATE_DOCUMENT_REJECTED:       notify.TemplateDocumentRejected,
	notifyv1.Template_TEMPLATE_DOCUMENT_UPDATE_REQUEST: notify.TemplateDocumentUpdateRequest,
	notifyv1.Template_TEMPLATE_EXPIRY_REMINDER:         notify.TemplateExpiryReminder,
	notifyv1.Template_TEMPLATE_WEEKLY_DIGEST:           notify.TemplateWeeklyDigest,
}

var templateToProto = func() map[notify.Template]notifyv1.Template {
	m := make(map[notify.Template]notifyv1.Template, len(templateToDomain))
	for p, d := range templateToDomain {
		m[d] = p
	}
	return m
}()

const (
	inboxPrefix      = "me/notifications/"
	deadLetterPrefix = "deadLetters/"
)

type notificationServer struct {
	notifyv1.UnimplementedNotificationServiceServer
	svc           *notify.Service
	principalFrom PrincipalFunc
}

// NewNotificationServer returns the NotificationService implementation.
func NewNotificationServer(svc *notify.Service, principalFrom PrincipalFunc) notifyv1.NotificationServiceServer {
	return &notificationServer{svc: svc, principalFrom: principalFrom}
}

type internalServer struct {
	notifyv1.UnimplementedNotificationInternalServiceServer
	svc *notify.Service
}

// NewInternalServer returns the NotificationInternalService implementation,
// which the other services call to enqueue.
func NewInternalServer(svc *notify.Service) notifyv1.NotificationInternalServiceServer {
	return &internalServer{svc: svc}
}

func (s *notificationServer) caller(ctx context.Context) notify.Caller {
	return callerOf(ctx, s.principalFrom)
}

func callerOf(ctx context.Context, principalFrom PrincipalFunc) authz.Subject {
	sub, ok := principalFrom(ctx)
	if !ok {
		return authz.Subject{}
	}
	return sub
}

// EnqueueNotification durably accepts one notification from another service.
func (s *internalServer) EnqueueNotification(ctx context.Context, req *notifyv1.EnqueueNotificationRequest) (*notifyv1.EnqueueNotificationResponse, error) {
	t, ok := templateToDomain[req.GetTemplate()]
	if !ok {
		return nil, errs.InvalidArgument("template", "unknown template %s", req.GetTemplate())
	}
	var data map[string]any
	if req.GetData() != nil {
		// Bound before converting: the domain checks the JSON size again.
		if size := proto.Size(req.GetData()); size > notify.MaxDataBytes {
			return nil, errs.InvalidArgument("data", "too large: %d bytes, at most %d", size, notify.MaxDataBytes)
		}
		data = req.GetData().AsMap()
	}
	recipients := make([]notify.Recipient, len(req.GetRecipients()))
	for i, r := range req.GetRecipients() {
		recipients[i] = notify.Recipient{User: r.GetUser(), Email: r.GetEmail(), Name: r.GetDisplayName(), Language: r.GetLanguage()}
	}
	id, dup, err := s.svc.Enqueue(ctx, notify.EnqueueRequest{
		IdempotencyKey: req.GetIdempotencyKey(),
		Template:       t,
		Recipients:     recipients,
		Data:           data,
		Company:        req.GetCompany(),
	})
	if err != nil {
		return nil, err
	}
	return &notifyv1.EnqueueNotificationResponse{Id: id, Duplicate: dup}, nil
}

func (s *notificationServer) ListMyNotifications(ctx context.Context, req *notifyv1.ListMyNotificationsRequest) (*notifyv1.ListMyNotificationsResponse, error) {
	items, next, err := s.svc.ListInbox(ctx, s.caller(ctx), int(req.GetPageSize()), req.GetPageToken(), req.GetUnreadOnly())
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ListMyNotificationsResponse{NextPageToken: next, Notifications: make([]*notifyv1.Notification, len(items))}
	for i, item := range items {
		resp.Notifications[i] = notificationProto(item)
	}
	return resp, nil
}

func (s *notificationServer) MarkNotificationRead(ctx context.Context, req *notifyv1.MarkNotificationReadRequest) (*notifyv1.Notification, error) {
	id, ok := strings.CutPrefix(req.GetName(), inboxPrefix)
	if !ok {
		return nil, errs.InvalidArgument("name", "must be me/notifications/{notification}")
	}
	item, err := s.svc.MarkRead(ctx, s.caller(ctx), id)
	if err != nil {
		return nil, err
	}
	return notificationProto(item), nil
}

func (s *notificationServer) ListDeadLetters(ctx context.Context, req *notifyv1.ListDeadLettersRequest) (*notifyv1.ListDeadLettersResponse, error) {
	dead, next, err := s.svc.ListDeadLetters(ctx, s.caller(ctx), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &notifyv1.ListDeadLettersResponse{NextPageToken: next, DeadLetters: make([]*notifyv1.DeadLetter, len(dead))}
	for i, d := range dead {
		resp.DeadLetters[i] = deadLetterProto(d)
	}
	return resp, nil
}

func (s *notificationServer) RetryDeadLetter(ctx context.Context, req *notifyv1.RetryDeadLetterRequest) (*notifyv1.DeadLetter, error) {
	id, ok := strings.CutPrefix(req.GetName(), deadLetterPrefix)
	if !ok {
		return nil, errs.InvalidArgument("name", "must be deadLetters/{dead_letter}")
	}
	d, err := s.svc.RetryDeadLetter(ctx, s.caller(ctx), id)
	if err != nil {
		return nil, err
	}
	return deadLetterProto(d), nil
}

func notificationProto(item notify.InboxItem) *notifyv1.Notification {
	n := &notifyv1.Notification{
		Name:       inboxPrefix + item.Entry.ID,
		Template:   templateToProto[item.Template],
		Subject:    item.Subject,
		Body:       item.Body,
		Company:    item.Company,
		CreateTime: timestamppb.New(item.Entry.CreateTime),
	}
	if !item.Entry.ReadTime.IsZero() {
		n.ReadTime = timestamppb.New(item.Entry.ReadTime)
	}
	return n
}

func deadLetterProto(d notify.Delivery) *notifyv1.DeadLetter {
	out := &notifyv1.DeadLetter{
		Name:           deadLetterPrefix + d.ID,
		IdempotencyKey: d.IdempotencyKey,
		Template:       templateToProto[d.Template],
		Email:          d.Email,
		Attempts:       int32(d.Attempts),
		LastError:      d.LastError,
	}
	if !d.DeadTime.IsZero() {
		out.DeadTime = timestamppb.New(d.DeadTime)
	}
	return out
}
