package pluginhost

import (
	"slices"
	"sync"
	"time"
)

// Consecutive failures after which a plugin is Degraded, and its backoff bounds.
const (
	degradeAfter = 3
	minBackoff   = time.Second
	maxBackoff   = 5 * time.Minute
)

// health counts consecutive failures and backs a failing plugin off exponentially.
type health struct {
	mu          sync.Mutex
	consecutive int
	until       time.Time
	backoff     time.Duration
}

// failure counts a failure and reports whether it made the plugin Degraded.
func (h *health) failure(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consecutive++
	if h.consecutive < degradeAfter {
		return false
	}
	if h.backoff == 0 {
		h.backoff = minBackoff
	} else {
		h.backoff = min(2*h.backoff, maxBackoff)
	}
	h.until = now.Add(h.backoff)
	return h.consecutive == degradeAfter
}

func (h *health) success() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consecutive, h.backoff, h.until = 0, 0, time.Time{}
}

// degraded reports whether calls are refused now, and until when.
func (h *health) degraded(now time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.until, now.Before(h.until)
}

// stats counts calls and keeps recent latencies for percentiles.
type stats struct {
	mu     sync.Mutex
	calls  int64
	errors int64
	denied int64
	recent [1024]time.Duration
	n      int
}

func (s *stats) record(d time.Duration, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if failed {
		s.errors++
	}
	s.recent[s.n%len(s.recent)] = d
	s.n++
}

func (s *stats) deny() {
	s.mu.Lock()
	s.denied++
	s.mu.Unlock()
}

// Stats is what a plugin reports in its status.
type Stats struct {
	Calls  int64
	Errors int64
	// Denied counts host calls refused for want of a permission.
	Denied    int64
	P99       time.Duration // over the last 1024 calls
	Instances int
	Degraded  bool
	// DegradedUntil is when calls are tried again, while Degraded.
	DegradedUntil time.Time
}

// Stats reports the plugin's counters.
func (p *Plugin) Stats() Stats {
	p.stats.mu.Lock()
	n := min(p.stats.n, len(p.stats.recent))
	lat := slices.Clone(p.stats.recent[:n])
	st := Stats{Calls: p.stats.calls, Errors: p.stats.errors, Denied: p.stats.denied}
	p.stats.mu.Unlock()
	if n > 0 {
		slices.Sort(lat)
		st.P99 = lat[(n-1)*99/100]
	}
	st.Instances = int(p.live.Load())
	st.DegradedUntil, st.Degraded = p.health.degraded(time.Now())
	return st
}
