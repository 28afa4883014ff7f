// Package metrics holds notify's product metrics, registered once on the
// server's registry and shared by the e-mail and webhook deliveries.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Delivery channels and results, the label values of vigil_notify_deliveries_total.
var (
	Channels = []string{"email", "webhook"}
	Results  = []string{"sent", "retry", "dead"}
)

// Deliveries counts delivery attempts by channel and result:
// vigil_notify_deliveries_total{channel="email|webhook",result="sent|retry|dead"}.
type Deliveries struct {
	c *prometheus.CounterVec
}

// NewDeliveries registers the counter on reg, every series starting at 0.
func NewDeliveries(reg prometheus.Registerer) *Deliveries {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_notify_deliveries_total",
		Help: "Delivery attempts by channel (email, webhook) and result (sent, retry, dead).",
	}, []string{"channel", "result"})
	reg.MustRegister(c)
	for _, ch := range Channels {
		for _, r := range Results {
			c.WithLabelValues(ch, r)
		}
	}
	return &Deliveries{c: c}
}

// Channel returns the counting function of one channel: it takes a result.
func (d *Deliveries) Channel(channel string) func(result string) {
	return func(result string) { d.c.WithLabelValues(channel, result).Inc() }
}
