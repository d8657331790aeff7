package store

import (
	"slices"
	"sort"
	"strings"
	"sync"
)

// chunk is an immutable run of consecutive whole revisions and their events, in
// revision order. Every event carries its PrevKV when the key had a previous version.
// Chunks and the events in them are shared by every watcher they are sent to.
type chunk struct {
	first, last int64
	events      []Event
	bytes       int // size(), set when the chunk enters the ring

	noPrevOnce sync.Once
	noPrev     []Event // events without PrevKV, built on first use
}

// eventsFor returns the chunk's events with or without PrevKV.
func (c *chunk) eventsFor(prevKV bool) []Event {
	if prevKV {
		return c.events
	}
	c.noPrevOnce.Do(func() {
		c.noPrev = make([]Event, len(c.events))
		for i, ev := range c.events {
			ev.PrevKV = nil
			c.noPrev[i] = ev
		}
	})
	return c.noPrev
}

// size approximates the memory a chunk holds, for the ring's budget.
func (c *chunk) size() int {
	n := 64
	for i := range c.events {
		ev := &c.events[i]
		n += 96 + len(ev.KV.Key) + len(ev.KV.Value)
		if ev.PrevKV != nil {
			n += len(ev.PrevKV.Value)
		}
	}
	return n
}

// ring keeps the most recent published chunks in memory, so that a watcher that fell
// behind usually catches up without reading the event log from Pebble.
type ring struct {
	chunks   []*chunk // contiguous, oldest first, from head on
	head     int
	bytes    int
	maxBytes int
}

// push appends c, dropping the oldest chunks beyond the budget. Existing elements of
// r.chunks are never written again, so slices returned by from stay valid without a
// copy after the lock is released: trimming only moves head, and reclaiming the space
// allocates a new array.
func (r *ring) push(c *chunk) {
	c.bytes = c.size()
	r.chunks = append(r.chunks, c)
	r.bytes += c.bytes
	for r.bytes > r.maxBytes && len(r.chunks)-r.head > 1 {
		r.bytes -= r.chunks[r.head].bytes
		r.head++
	}
	if r.head > 1024 && r.head > len(r.chunks)/2 {
		r.chunks = slices.Clone(r.chunks[r.head:])
		r.head = 0
	}
}

// start is the first revision the ring holds, or 0 when it is empty.
func (r *ring) start() int64 {
	if r.head == len(r.chunks) {
		return 0
	}
	return r.chunks[r.head].first
}

// from returns the chunks holding rev and everything after it; nil if rev is not
// held. The returned slice must not be modified.
func (r *ring) from(rev int64) []*chunk {
	live := r.chunks[r.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].last >= rev })
	if i == len(live) || live[i].first > rev {
		return nil
	}
	return live[i:len(live):len(live)]
}

// segment is a response in the making: the events of a watcher from some revision up
// to last, which may be empty when none of those revisions touched its prefix.
type segment struct {
	events []Event
	last   int64
	owned  bool // events was allocated for this segment and may be appended to
}

func (s *segment) add(evs []Event) {
	switch {
	case len(evs) == 0:
	case s.events == nil:
		// Share the chunk's slice until something must be appended to it.
		s.events = evs
	case !s.owned:
		s.events = append(append(make([]Event, 0, 2*(len(s.events)+len(evs))), s.events...), evs...)
		s.owned = true
	default:
		s.events = append(s.events, evs...)
	}
}

// cut builds the responses for a watcher of prefix that needs everything from rev on,
// with at most maxEvents events per response except when a single revision is larger,
// and at most maxSegments responses. Events below startRev are skipped.
func cut(chunks []*chunk, rev, startRev int64, prefix string, prevKV bool,
	maxEvents, maxSegments int) []segment {
	var (
		segs    []segment
		cur     segment
		matched []Event
	)
	for _, c := range chunks {
		if c.last < rev {
			continue
		}
		evs := c.eventsFor(prevKV)
		if c.first >= rev && c.first >= startRev && len(cur.events)+len(evs) <= maxEvents && allMatch(evs, prefix) {
			cur.add(evs)
			cur.last = c.last
			continue
		}
		for i := 0; i < len(evs); {
			r := evs[i].KV.ModRevision
			j := i
			for j < len(evs) && evs[j].KV.ModRevision == r {
				j++
			}
			if r >= rev {
				matched = matched[:0]
				if r >= startRev {
					for k := i; k < j; k++ {
						if strings.HasPrefix(evs[k].KV.Key, prefix) {
							matched = append(matched, evs[k])
						}
					}
				}
				if len(matched) > 0 && len(cur.events) > 0 && len(cur.events)+len(matched) > maxEvents {
					segs = append(segs, cur)
					if len(segs) == maxSegments {
						return segs
					}
					cur = segment{}
				}
				if len(matched) > 0 {
					// matched is reused: the segment must own what it keeps.
					if cur.events == nil {
						cur.events = make([]Event, 0, len(matched))
						cur.owned = true
					}
					cur.add(matched)
				}
				cur.last = r
			}
			i = j
		}
	}
	if cur.last >= rev {
		segs = append(segs, cur)
	}
	return segs
}

func allMatch(evs []Event, prefix string) bool {
	if prefix == "" {
		return true
	}
	for i := range evs {
		if !strings.HasPrefix(evs[i].KV.Key, prefix) {
			return false
		}
	}
	return true
}
