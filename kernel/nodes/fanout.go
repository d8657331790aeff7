package nodes

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	wschema "weft.dev/weft/kernel/schema"
	"weft.dev/weft/kernel/ujson"
	"weft.dev/weft/nodelink"
	"weft.dev/weft/store"
)

// A fanout serves the watches of every node on one kind from a single store watch.
//
// A field-selected watch per node decodes every event of the kind once per node, so
// each pod write cost O(nodes) and the scheduler's throughput fell as the cluster
// grew. Here each event is decoded and encoded once, then handed only to the nodes
// its old and new versions concern (by spec.nodeName for pods; to every node for a
// kind without a key). Recent events stay in a ring so that a node reconnecting,
// or one cut off for falling behind, resumes from its last revision without a
// relist; a node asking for a revision older than the ring is served by the
// per-node watch instead (watchSource), which reads the store's history.
type fanout struct {
	log *slog.Logger
	dec func(store.KV) (*unstructured.Unstructured, error)
	st  store.Interface
	// prefix is the kind's key prefix in the store.
	prefix string
	// key names the node an object version concerns; nil means every node.
	key func(*unstructured.Unstructured) string
	// sealed: the kind's stored values are encrypted, not JSON to splice.
	sealed bool
	// bookmarkEvery is how often the fanout looks for subscribers that need a
	// bookmark: one whose resume point the ring will soon evict, or that has been sent
	// nothing for bookmarkAge, so that compaction does not overtake it either.
	// Bookmarking every quiet subscriber each second was, at 5000 nodes, a QUIC packet
	// per node and kind every second.
	bookmarkEvery time.Duration
	bookmarkAge   time.Duration
	// subBuffer is how many events a subscriber may have queued before it is dropped.
	subBuffer int

	mu sync.Mutex
	// floor: every event after it is in the ring or still to come. A subscriber may
	// start from floor or later.
	floor int64
	// rev is the last revision dispatched.
	rev     int64
	running bool
	ring    fanRing
	subs    map[string]map[*fanSub]struct{}
	// keys remembers each stored object's key, so that an update need not decode its
	// previous version to learn which node it leaves.
	keys map[string]string

	echoMu    sync.Mutex
	echoes    map[echoKey]echo // see expectEcho
	echoSwept time.Time
}

// echoKey is a write expected on top of a stored version: the object's store key and
// that version's revision.
type echoKey struct {
	key  string
	base int64
}

// echo is a node's own write: the node, and the status it wrote.
type echo struct {
	node   string
	status any
	at     time.Time
}

// fanEntry is one dispatched change, as every subscriber of its keys sees it.
type fanEntry struct {
	rev     int64
	prevKey string // "" when the previous version concerned nobody or there was none
	curKey  string // "" for a delete, or when the new version concerns nobody
	created bool
	deleted bool
	obj     []byte // JSON with resourceVersion set
	// echo is the node that made this version and knows it (expectEcho): it is not
	// sent the event, but a replay from the ring still carries it.
	echo string
}

// fanSub is one node's watch. Its queue grows only while its node is behind, so
// thousands of idle subscribers cost next to nothing.
type fanSub struct {
	key  string
	skip int64 // revisions up to skip were already seen
	wake chan struct{}
	// Guarded by the fanout's mu:
	queue   []nodelink.Event
	dropped bool // it fell behind; it ends once its queue is sent
	sentRev int64
	sentAt  time.Time // when sentRev last moved
}

const (
	fanSubBuffer  = 4096
	fanRingBytes  = 64 << 20
	fanRingEvents = 1 << 18
)

var errTooOld = errors.New("revision is older than the fanout's ring")

func newFanout(log *slog.Logger, st store.Interface, prefix string, dec func(store.KV) (*unstructured.Unstructured, error), key func(*unstructured.Unstructured) string) *fanout {
	return &fanout{
		log:           log,
		dec:           dec,
		st:            st,
		prefix:        prefix,
		key:           key,
		bookmarkEvery: time.Second,
		bookmarkAge:   time.Minute,
		subBuffer:     fanSubBuffer,
		subs:          map[string]map[*fanSub]struct{}{},
		keys:          map[string]string{},
		echoes:        map[echoKey]echo{},
	}
}

// expectEcho says that node is writing status on the version base of the object at
// key. If the next version of that object is exactly base with that status (apart from
// managedFields, which nodes are not sent), node is not sent its event: the node
// advances its own copy (nodeapi.OpPodStatus), and a node's pod watch would otherwise
// carry back every status it writes, a third of what a pod's life sends it. Anything
// else, a write by someone else on base included, is sent as usual.
//
// The event is judged by its content, not by which write made it, so an expectation
// can be left to the fanout: it is used up by the next version of the object, which
// may come after the write's handler has returned. The handler withdraws it only when
// no version will follow (the write failed or changed nothing); the rest expire.
func (f *fanout) expectEcho(key string, base int64, node string, status any) {
	now := time.Now()
	f.echoMu.Lock()
	defer f.echoMu.Unlock()
	if len(f.echoes) >= echoSweepAt && now.Sub(f.echoSwept) > echoTTL/4 {
		f.echoSwept = now
		for k, e := range f.echoes {
			if now.Sub(e.at) > echoTTL {
				delete(f.echoes, k)
			}
		}
	}
	f.echoes[echoKey{key, base}] = echo{node: node, status: status, at: now}
}

// withdrawEcho withdraws an expectation of node's.
func (f *fanout) withdrawEcho(key string, base int64, node string) {
	k := echoKey{key, base}
	f.echoMu.Lock()
	if e, ok := f.echoes[k]; ok && e.node == node {
		delete(f.echoes, k)
	}
	f.echoMu.Unlock()
}

// Expectations whose version never came (the object was deleted, the fanout
// restarted) are dropped after echoTTL, looked for once there are echoSweepAt, at
// most every quarter of it.
const (
	echoTTL     = time.Minute
	echoSweepAt = 1024
)

// echoOf is the node whose expected write made cur out of prev, or "".
func (f *fanout) echoOf(key string, prevKV *store.KV, cur *unstructured.Unstructured, node string) string {
	f.echoMu.Lock()
	e, ok := f.echoes[echoKey{key, prevKV.ModRevision}]
	if ok {
		delete(f.echoes, echoKey{key, prevKV.ModRevision}) // base has one successor
	}
	f.echoMu.Unlock()
	if !ok || e.node != node {
		return ""
	}
	prev, err := f.dec(*prevKV)
	if err != nil || !sameButStatus(prev.Object, cur.Object, e.status) {
		return ""
	}
	return node
}

// sameButStatus reports whether cur is prev with status replaced by status, apart
// from what every write changes (resourceVersion) and what nodes are not sent
// (managedFields).
func sameButStatus(prev, cur map[string]any, status any) bool {
	if _, ok := cur["status"]; !ok {
		return false
	}
	for k, cv := range cur {
		pv, ok := prev[k]
		switch {
		case k == "status":
			if !wschema.JSONEqual(cv, status) {
				return false
			}
		case !ok:
			return false
		case k == "metadata":
			pm, _ := pv.(map[string]any)
			cm, _ := cv.(map[string]any)
			if pm == nil || cm == nil || !sameIgnoring(pm, cm, "managedFields", "resourceVersion") {
				return false
			}
		default:
			if !wschema.JSONEqual(pv, cv) {
				return false
			}
		}
	}
	for k := range prev {
		if _, ok := cur[k]; !ok {
			return false
		}
	}
	return true
}

// sameIgnoring reports whether a and b are equal but for the members ignored.
func sameIgnoring(a, b map[string]any, ignored ...string) bool {
	for k, bv := range b {
		if slices.Contains(ignored, k) {
			continue
		}
		if av, ok := a[k]; !ok || !wschema.JSONEqual(av, bv) {
			return false
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok && !slices.Contains(ignored, k) {
			return false
		}
	}
	return true
}

// start begins dispatching from the current revision. The first store watch is
// opened before start returns, so that nodes subscribing right after it are served
// by the fanout.
func (f *fanout) start(ctx context.Context) error {
	w, err := f.open(ctx)
	if err != nil {
		return err
	}
	go f.run(ctx, w)
	return nil
}

// open watches the store from the current revision on, which becomes the floor.
func (f *fanout) open(ctx context.Context) (store.Watcher, error) {
	from := f.st.CurrentRevision()
	w, err := f.st.Watch(ctx, f.prefix, from+1, store.WatchOptions{PrevKV: true, ProgressNotify: true})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.floor, f.rev, f.running = from, from, true
	f.mu.Unlock()
	return w, nil
}

// run dispatches until ctx ends. When its store watch fails it drops every
// subscriber (their nodes resume, through the per-node watch if the ring no longer
// reaches back far enough) and starts again from the current revision.
func (f *fanout) run(ctx context.Context, w store.Watcher) {
	for {
		err := f.dispatch(ctx, w)
		w.Close()
		f.reset()
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("node watch fanout restarts", "prefix", f.prefix, "err", err)
		for {
			if w, err = f.open(ctx); err == nil {
				break
			}
			f.log.Warn("node watch fanout: watch", "prefix", f.prefix, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// reset forgets everything: subscribers are dropped, and the next watch starts
// from the current revision with an empty ring.
func (f *fanout) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running = false
	for _, set := range f.subs {
		for s := range set {
			s.dropped = true
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
	f.subs = map[string]map[*fanSub]struct{}{}
	f.keys = map[string]string{}
	f.ring = fanRing{}
}

func (f *fanout) dispatch(ctx context.Context, w store.Watcher) error {
	t := time.NewTicker(f.bookmarkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			f.bookmark()
		case resp, ok := <-w.Responses():
			if !ok {
				if err := w.Err(); err != nil {
					return err
				}
				return errors.New("store watch ended")
			}
			entries := make([]fanEntry, 0, len(resp.Events))
			for i := range resp.Events {
				en, ok, err := f.entry(&resp.Events[i])
				if err != nil {
					// A value that does not decode is skipped, as a per-node watch
					// would fail on it; nodes would otherwise never get past it.
					f.log.Error("node watch fanout: skip event", "key", resp.Events[i].KV.Key, "err", err)
					continue
				}
				if ok {
					entries = append(entries, en)
				}
			}
			f.publish(entries, resp.Revision)
		}
	}
}

// entry turns a store event into a fanEntry; ok is false when it concerns no node.
func (f *fanout) entry(ev *store.Event) (fanEntry, bool, error) {
	k := ev.KV.Key
	en := fanEntry{rev: ev.KV.ModRevision, deleted: ev.Type == store.EventDelete}
	var prev *unstructured.Unstructured
	if ev.PrevKV != nil && en.deleted {
		var err error
		if prev, err = f.dec(*ev.PrevKV); err != nil {
			return en, false, err
		}
	}
	if f.key != nil {
		prevKey, known := f.keys[k]
		if !known && ev.PrevKV != nil {
			if prev == nil {
				var err error
				if prev, err = f.dec(*ev.PrevKV); err != nil {
					return en, false, err
				}
			}
			prevKey = f.key(prev)
		}
		en.prevKey = prevKey
	}
	if en.deleted {
		delete(f.keys, k)
		if prev == nil || f.key != nil && en.prevKey == "" {
			return en, false, nil
		}
		var err error
		if en.obj, err = f.encode(ev.PrevKV.Value, prev, ev.KV.ModRevision); err != nil {
			return en, false, err
		}
		return en, true, nil
	}
	cur, err := f.dec(ev.KV)
	if err != nil {
		return en, false, err
	}
	en.created = ev.KV.CreateRevision == ev.KV.ModRevision
	if f.key != nil {
		en.curKey = f.key(cur)
		f.keys[k] = en.curKey
		if en.curKey == "" && en.prevKey == "" {
			return en, false, nil
		}
		if !en.created && ev.PrevKV != nil && en.curKey != "" && en.curKey == en.prevKey {
			en.echo = f.echoOf(k, ev.PrevKV, cur, en.curKey)
		}
	}
	if en.obj, err = f.encode(ev.KV.Value, cur, ev.KV.ModRevision); err != nil {
		return en, false, err
	}
	return en, true, nil
}

// encode is encodeForNode of the stored value raw, decoded as u, at revision rev:
// the stored bytes with the revision spliced in and managedFields cut out, when they
// are plain JSON, which is the same bytes for a fraction of the work.
func (f *fanout) encode(raw []byte, u *unstructured.Unstructured, rev int64) ([]byte, error) {
	rv := strconv.FormatInt(rev, 10)
	if !f.sealed {
		if b, ok := ujson.AppendWithResourceVersion(nil, raw, rv, true); ok {
			return b, nil
		}
	}
	return encodeForNode(u.Object, rv)
}

// encodeForNode encodes an object as nodes receive it: without managedFields, which
// no node reads and which are most of a small pod's bytes once two writers touched
// it, to encode, to send and for the node to decode; and with resourceVersion rv, when
// given. obj is shared with other readers, so only copies of the maps on the way are
// changed.
func encodeForNode(obj map[string]any, rv string) ([]byte, error) {
	meta, _ := obj["metadata"].(map[string]any)
	if _, hasMF := meta["managedFields"]; hasMF || rv != "" {
		m := make(map[string]any, len(meta))
		for k, v := range meta {
			if k != "managedFields" {
				m[k] = v
			}
		}
		if rv != "" {
			m["resourceVersion"] = rv
		}
		o := make(map[string]any, len(obj))
		for k, v := range obj {
			o[k] = v
		}
		o["metadata"] = m
		obj = o
	}
	return ujson.Marshal(obj)
}

// eventFor is what a subscriber of key sees of en, if anything: an object entering
// the node's view is ADDED and one leaving it DELETED, as with a field selector.
func (en *fanEntry) eventFor(key string) (nodelink.Event, bool) {
	ev := nodelink.Event{Revision: uint64(en.rev), Object: en.obj}
	inPrev, inCur := !en.created && en.prevKey == key, !en.deleted && en.curKey == key
	switch {
	case inPrev && inCur:
		ev.Type = nodelink.Modified
	case inCur:
		ev.Type = nodelink.Added
	case inPrev:
		ev.Type = nodelink.Deleted
	default:
		return ev, false
	}
	return ev, true
}

func (f *fanout) publish(entries []fanEntry, rev int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range entries {
		en := &entries[i]
		f.ring.push(*en)
		f.deliverLocked(en, en.prevKey)
		if en.curKey != en.prevKey {
			f.deliverLocked(en, en.curKey)
		}
	}
	f.rev = max(f.rev, rev)
	if f.ring.evicted > f.floor {
		f.floor = f.ring.evicted
	}
}

func (f *fanout) deliverLocked(en *fanEntry, key string) {
	if en.echo != "" && en.echo == key {
		return
	}
	for s := range f.subs[key] {
		if en.rev <= s.skip {
			continue
		}
		if ev, ok := en.eventFor(key); ok {
			f.pushLocked(s, ev)
		}
	}
}

// pushLocked queues ev for s, or drops s when its node reads too slowly: it then
// resumes from what it saw, from the ring.
func (f *fanout) pushLocked(s *fanSub, ev nodelink.Event) {
	if len(s.queue) >= f.subBuffer {
		s.dropped = true
		delete(f.subs[s.key], s)
	} else {
		s.queue = append(s.queue, ev)
		s.sentRev = int64(ev.Revision)
		s.sentAt = time.Now()
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// bookmark tells the subscribers that need it how far the fanout got: those whose
// resume point is in the older half of a ring more than half full, which the ring
// will evict first, and those sent nothing for bookmarkAge, which compaction (every
// few minutes) would otherwise overtake.
func (f *fanout) bookmark() {
	f.mu.Lock()
	defer f.mu.Unlock()
	var risk int64 // resume points below it are soon evicted
	if n := f.ring.len(); n > fanRingEvents/2 || f.ring.bytes > fanRingBytes/2 {
		risk = f.ring.at(n / 2).rev
	}
	now := time.Now()
	for _, set := range f.subs {
		for s := range set {
			if s.sentRev < f.rev && f.rev > s.skip && len(s.queue) == 0 && (s.sentRev < risk || now.Sub(s.sentAt) >= f.bookmarkAge) {
				f.pushLocked(s, nodelink.Event{Type: nodelink.Bookmark, Revision: uint64(f.rev)})
			}
		}
	}
}

// subscribe starts a node's watch of the objects of key after revision from. It
// fails with errTooOld when the ring does not reach back to from, from is compacted,
// or the fanout is not running.
func (f *fanout) subscribe(key string, from int64) (*fanSub, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Below the store's compaction the answer is ErrCompacted, as anywhere else, even
	// while the ring still holds the events.
	if !f.running || from < f.floor || from < f.st.CompactedRevision() {
		return nil, errTooOld
	}
	s := &fanSub{key: key, skip: from, wake: make(chan struct{}, 1), sentRev: from, sentAt: time.Now()}
	first := sort.Search(f.ring.len(), func(i int) bool { return f.ring.at(i).rev > from })
	for i := first; i < f.ring.len(); i++ {
		en := f.ring.at(i)
		if en.prevKey != key && en.curKey != key {
			continue
		}
		if ev, ok := en.eventFor(key); ok {
			s.queue = append(s.queue, ev) // however long: the ring bounds it
			s.sentRev = int64(ev.Revision)
		}
	}
	set := f.subs[key]
	if set == nil {
		set = map[*fanSub]struct{}{}
		f.subs[key] = set
	}
	set[s] = struct{}{}
	return s, nil
}

func (f *fanout) unsubscribe(s *fanSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if set := f.subs[s.key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(f.subs, s.key)
		}
	}
}

// serve streams s to send until ctx ends, send fails or s is dropped. A dropped
// subscriber returns nil once its queue is sent: the node asks again from the last
// revision it took.
func (f *fanout) serve(ctx context.Context, s *fanSub, send func(nodelink.Event) error) error {
	defer f.unsubscribe(s)
	var batch []nodelink.Event
	for {
		f.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		dropped := s.dropped
		f.mu.Unlock()
		for _, ev := range batch {
			if err := send(ev); err != nil {
				return err
			}
		}
		clear(batch)
		if len(batch) > 0 {
			continue
		}
		if dropped {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
	}
}

// fanRing holds recent entries within a byte and count budget. evicted is the
// revision of the newest entry pushed out.
type fanRing struct {
	buf     []fanEntry
	head    int // index of the oldest entry
	n       int
	bytes   int
	evicted int64
}

func (r *fanRing) len() int { return r.n }

func (r *fanRing) at(i int) *fanEntry { return &r.buf[(r.head+i)%len(r.buf)] }

func (r *fanRing) push(en fanEntry) {
	if r.n == len(r.buf) {
		if len(r.buf) < fanRingEvents {
			r.grow()
		} else {
			r.pop()
		}
	}
	r.buf[(r.head+r.n)%len(r.buf)] = en
	r.n++
	r.bytes += len(en.obj)
	for r.bytes > fanRingBytes && r.n > 1 {
		r.pop()
	}
}

func (r *fanRing) grow() {
	nb := make([]fanEntry, max(64, 2*len(r.buf)))
	for i := range r.n {
		nb[i] = *r.at(i)
	}
	r.buf, r.head = nb, 0
}

// pop drops the oldest entry, and every other entry of its revision, so that evicted
// is a revision wholly gone.
func (r *fanRing) pop() {
	rev := r.at(0).rev
	for r.n > 0 && r.at(0).rev == rev {
		old := r.at(0)
		r.bytes -= len(old.obj)
		*old = fanEntry{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	r.evicted = max(r.evicted, rev)
}
