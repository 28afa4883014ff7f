package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestProductMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	m.AddSource(ChannelEmail, func(context.Context) (Snapshot, error) {
		return Snapshot{Depth: 7, OldestPending: now.Add(-90 * time.Second), DeadLetters: 2}, nil
	})
	// A second channel (webhooks) adds its own series to the same families.
	m.AddSource(ChannelWebhook, func(context.Context) (Snapshot, error) { return Snapshot{}, nil })
	m.Delivered(ChannelEmail, ResultSent)
	m.Delivered(ChannelEmail, ResultSent)
	m.Delivered(ChannelEmail, ResultRetry)
	m.Delivered(ChannelWebhook, ResultDead)

	want := `
# HELP vigil_notify_dead_letters Deliveries that failed for good and wait for an operator (R-NOTIF-5).
# TYPE vigil_notify_dead_letters gauge
vigil_notify_dead_letters{channel="email"} 2
vigil_notify_dead_letters{channel="webhook"} 0
# HELP vigil_notify_deliveries_total Delivery attempts by channel and outcome (sent, retry, dead).
# TYPE vigil_notify_deliveries_total counter
vigil_notify_deliveries_total{channel="email",result="retry"} 1
vigil_notify_deliveries_total{channel="email",result="sent"} 2
vigil_notify_deliveries_total{channel="webhook",result="dead"} 1
# HELP vigil_notify_outbox_depth Deliveries accepted and not final yet (pending or being attempted).
# TYPE vigil_notify_outbox_depth gauge
vigil_notify_outbox_depth{channel="email"} 7
vigil_notify_outbox_depth{channel="webhook"} 0
# HELP vigil_notify_outbox_oldest_age_seconds Age of the oldest delivery not final yet; 0 when the outbox is empty.
# TYPE vigil_notify_outbox_oldest_age_seconds gauge
vigil_notify_outbox_oldest_age_seconds{channel="email"} 90
vigil_notify_outbox_oldest_age_seconds{channel="webhook"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestFailingSourceIsReportedNotHidden(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.AddSource(ChannelEmail, func(context.Context) (Snapshot, error) { return Snapshot{}, errors.New("store closed") })
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Fatalf("Gather = %v, want the source's error", err)
	}
}
