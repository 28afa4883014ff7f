// Package metrics holds notify's product metrics, shared by its delivery
// channels (e-mail here; webhooks add channel="webhook" to the same
// families):
//
//	vigil_notify_outbox_depth{channel}               deliveries not final yet
//	vigil_notify_outbox_oldest_age_seconds{channel}  age of the oldest of them
//	vigil_notify_deliveries_total{channel,result}    attempts by outcome: sent, retry, dead (suppressed for e-mail)
//	vigil_notify_dead_letters{channel}               dead letters waiting for an operator
//
// The gauges are read from each channel's store when Prometheus scrapes
// (Source), from counters the stores keep in the same transactions as the
// deliveries: a scrape never scans an outbox.
package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Channels.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Results of a delivery attempt.
const (
	ResultSent  = "sent"
	ResultRetry = "retry"
	ResultDead  = "dead"
)

// Snapshot is one channel's outbox at a scrape.
type Snapshot struct {
	Depth         int
	OldestPending time.Time // zero when the outbox is empty
	DeadLetters   int
}

// Source reads a channel's Snapshot.
type Source func(ctx context.Context) (Snapshot, error)

// Metrics are notify's product metrics, registered once per process.
type Metrics struct {
	deliveries *prometheus.CounterVec

	depth, oldest, dead *prometheus.Desc
	now                 func() time.Time

	mu      sync.Mutex
	sources map[string]Source
}

// New registers the metrics on reg (the service's server.Registry()).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_notify_deliveries_total",
			Help: "Delivery attempts by channel and outcome (sent, retry, dead).",
		}, []string{"channel", "result"}),
		depth: prometheus.NewDesc("vigil_notify_outbox_depth",
			"Deliveries accepted and not final yet (pending or being attempted).", []string{"channel"}, nil),
		oldest: prometheus.NewDesc("vigil_notify_outbox_oldest_age_seconds",
			"Age of the oldest delivery not final yet; 0 when the outbox is empty.", []string{"channel"}, nil),
		dead: prometheus.NewDesc("vigil_notify_dead_letters",
			"Deliveries that failed for good and wait for an operator (R-NOTIF-5).", []string{"channel"}, nil),
		now:     time.Now,
		sources: map[string]Source{},
	}
	reg.MustRegister(m.deliveries, m)
	return m
}

// AddSource makes channel's outbox visible to the gauges.
func (m *Metrics) AddSource(channel string, src Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sources[channel] = src
}

// Delivered counts one attempt's outcome.
func (m *Metrics) Delivered(channel, result string) {
	m.deliveries.WithLabelValues(channel, result).Inc()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.depth
	ch <- m.oldest
	ch <- m.dead
}

// Collect implements prometheus.Collector: one read per channel.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	sources := make(map[string]Source, len(m.sources))
	for k, v := range m.sources {
		sources[k] = v
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for channel, src := range sources {
		snap, err := src(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(m.depth, err)
			continue
		}
		age := 0.0
		if !snap.OldestPending.IsZero() {
			age = max(m.now().Sub(snap.OldestPending).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(m.depth, prometheus.GaugeValue, float64(snap.Depth), channel)
		ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age, channel)
		ch <- prometheus.MustNewConstMetric(m.dead, prometheus.GaugeValue, float64(snap.DeadLetters), channel)
	}
}
