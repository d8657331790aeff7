package kernel

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"weft.dev/weft/nodelink"
	"weft.dev/weft/store"
)

// storeObserver exports the store's group commits.
type storeObserver struct {
	latency prometheus.Histogram
	txns    prometheus.Histogram
}

func newStoreObserver(reg prometheus.Registerer) *storeObserver {
	o := &storeObserver{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_store_commit_duration_seconds",
			Help:    "Time from applying a group commit to it being durable (fsynced).",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1},
		}),
		txns: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weft_store_commit_transactions",
			Help:    "Transactions sharing one fsync (group commit size).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	reg.MustRegister(o.latency, o.txns)
	return o
}

func (o *storeObserver) ObserveCommit(txns int, _ int, d time.Duration) {
	o.latency.Observe(d.Seconds())
	o.txns.Observe(float64(txns))
}

// storeCollector exports the store's current state when scraped.
type storeCollector struct{ db *store.DB }

var (
	descRevision  = prometheus.NewDesc("weft_store_revision", "Last durable store revision.", nil, nil)
	descCompacted = prometheus.NewDesc("weft_store_compacted_revision", "Revision history is compacted to.", nil, nil)
	descWatchers  = prometheus.NewDesc("weft_store_watchers", "Open store watchers by group.", []string{"group"}, nil)
)

func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRevision
	ch <- descCompacted
	ch <- descWatchers
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(descRevision, prometheus.GaugeValue, float64(s.Revision))
	ch <- prometheus.MustNewConstMetric(descCompacted, prometheus.GaugeValue, float64(s.CompactedRevision))
	ch <- prometheus.MustNewConstMetric(descWatchers, prometheus.GaugeValue, float64(s.SyncedWatchers), "synced")
	ch <- prometheus.MustNewConstMetric(descWatchers, prometheus.GaugeValue, float64(s.UnsyncedWatchers), "unsynced")
	ch <- prometheus.MustNewConstMetric(descWatchers, prometheus.GaugeValue, float64(s.SlowWatchers), "slow")
}

// newShadowCounter exports how often shadow scheduler policies agree with the active
// one, per profile and shadow.
func newShadowCounter(reg prometheus.Registerer) func(profile, shadow string, agreed, disagreed int) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_scheduler_shadow_decisions_total",
		Help: "Decisions of shadow scheduler policies, by whether they agreed with the profile's active policy.",
	}, []string{"profile", "shadow", "outcome"})
	reg.MustRegister(c)
	return func(profile, shadow string, agreed, disagreed int) {
		c.WithLabelValues(profile, shadow, "agree").Add(float64(agreed))
		c.WithLabelValues(profile, shadow, "disagree").Add(float64(disagreed))
	}
}

// linkCollector exports the node link's state when scraped: whether it lags, its
// socket's queue and drops, and the watchdog's cuts (nodelink/lag.go).
type linkCollector struct{ srv *nodelink.Server }

var (
	descLinkNodes   = prometheus.NewDesc("weft_nodelink_nodes", "Nodes connected over the node link.", nil, nil)
	descLinkLagging = prometheus.NewDesc("weft_nodelink_lagging", "1 while the node link shows signs that the kernel is not keeping up with its nodes.", nil, nil)
	descLinkQueued  = prometheus.NewDesc("weft_nodelink_socket_queued_bytes", "Bytes waiting in the node link's UDP socket.", nil, nil)
	descLinkBuffer  = prometheus.NewDesc("weft_nodelink_socket_buffer_bytes", "The node link's UDP receive buffer, as the OS counts it.", nil, nil)
	descLinkDrops   = prometheus.NewDesc("weft_nodelink_socket_drops_total", "Datagrams the node link's UDP socket dropped for want of room.", nil, nil)
	descLinkCuts    = prometheus.NewDesc("weft_nodelink_heartbeat_cuts_total", "Node connections cut for missing heartbeats.", nil, nil)
	descLinkSpared  = prometheus.NewDesc("weft_nodelink_heartbeat_spared_total", "Times a late node connection was left alone because the link lagged.", nil, nil)
)

func (linkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLinkNodes, descLinkLagging, descLinkQueued, descLinkBuffer, descLinkDrops, descLinkCuts, descLinkSpared} {
		ch <- d
	}
}

func (c linkCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.srv.Stats()
	lagging := 0.0
	if s.Lagging {
		lagging = 1
	}
	ch <- prometheus.MustNewConstMetric(descLinkNodes, prometheus.GaugeValue, float64(s.Nodes))
	ch <- prometheus.MustNewConstMetric(descLinkLagging, prometheus.GaugeValue, lagging)
	ch <- prometheus.MustNewConstMetric(descLinkQueued, prometheus.GaugeValue, float64(s.SocketQueued))
	ch <- prometheus.MustNewConstMetric(descLinkBuffer, prometheus.GaugeValue, float64(s.SocketBuffer))
	ch <- prometheus.MustNewConstMetric(descLinkDrops, prometheus.CounterValue, float64(s.SocketDrops))
	ch <- prometheus.MustNewConstMetric(descLinkCuts, prometheus.CounterValue, float64(s.HeartbeatCuts))
	ch <- prometheus.MustNewConstMetric(descLinkSpared, prometheus.CounterValue, float64(s.Spared))
}
