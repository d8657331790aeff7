package apps

import (
	"time"

	"weft.dev/weft/sdk"
)

// expectationsTTL is how long an unmet expectation holds back a ReplicaSet, as in
// kube-controller-manager: after it, the controller trusts its cache again.
const expectationsTTL = 5 * time.Minute

// expectations are the ReplicaSet controller's record of writes it made that its
// cache has not shown yet, exactly as kube's UIDTrackingControllerExpectations: while
// a ReplicaSet has some, it is not resized, so a lagging feed cannot make it create
// or delete twice. Creations are observed when the host feeds the created pod (the
// cache tells Pod.ObjectMeta about every fed version); deletions when the pod is gone
// from the cache or terminating.
type expectations struct {
	byRS map[string]*expectation
	// created maps a created pod's namespace/name to its ReplicaSet's key.
	created map[string]string
}

type expectation struct {
	creates map[string]bool   // pod keys created and not yet fed
	deletes map[string]string // pod key -> uid deleted and not yet gone
	at      time.Time
}

func newExpectations() *expectations {
	return &expectations{byRS: map[string]*expectation{}, created: map[string]string{}}
}

func objKey(m *sdk.ObjectMeta) string { return m.Namespace + "/" + m.Name }

// observe is called for every pod version the host feeds.
func (e *expectations) observe(p *Pod) {
	k := objKey(&p.Metadata)
	rsKey, ok := e.created[k]
	if !ok {
		return
	}
	delete(e.created, k)
	if x := e.byRS[rsKey]; x != nil {
		delete(x.creates, k)
	}
}

// satisfied reports whether rsKey may be resized: no record, every expectation met,
// or the record expired.
func (e *expectations) satisfied(rsKey string, cache *sdk.Cache, now time.Time) bool {
	x := e.byRS[rsKey]
	if x == nil {
		return true
	}
	for k, uid := range x.deletes {
		ns, name := splitKey(k)
		o := cache.Get(podGVK, ns, name)
		if o == nil || o.Meta.UID != uid || o.Meta.Deleting() {
			delete(x.deletes, k)
		}
	}
	if len(x.creates) == 0 && len(x.deletes) == 0 {
		return true
	}
	return now.Sub(x.at) > expectationsTTL
}

// reset starts a new record for rsKey, replacing any old one.
func (e *expectations) reset(rsKey string, now time.Time) *expectation {
	e.forget(rsKey)
	x := &expectation{creates: map[string]bool{}, deletes: map[string]string{}, at: now}
	e.byRS[rsKey] = x
	return x
}

func (e *expectations) expectCreate(rsKey string, x *expectation, podKey string) {
	x.creates[podKey] = true
	e.created[podKey] = rsKey
}

// forget drops rsKey's record (its ReplicaSet is gone, or a new record replaces it).
func (e *expectations) forget(rsKey string) {
	if x := e.byRS[rsKey]; x != nil {
		for k := range x.creates {
			delete(e.created, k)
		}
		delete(e.byRS, rsKey)
	}
}

func splitKey(k string) (ns, name string) {
	for i := 0; i < len(k); i++ {
		if k[i] == '/' {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}
