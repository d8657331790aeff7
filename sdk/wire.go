package sdk

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// The wire encoding of ABI envelopes (see ABI.md, "Encoding"): a message is a sequence
// of fields, each a tag byte, a uvarint length and that many bytes. Integers are
// uvarints inside their field; repeated fields repeat their tag; unknown tags are
// skipped, so either side may add fields. Objects travel inside fields as JSON.
//
// It exists because decoding JSON inside a Go guest costs about 12 times what it costs
// natively; a reconcile request decodes here in well under a microsecond.

// ErrWire reports a malformed wire message.
var ErrWire = errors.New("sdk: malformed wire message")

// wireWriter builds a message.
type wireWriter struct{ b []byte }

func (w *wireWriter) bytes(tag byte, v []byte) {
	w.b = append(w.b, tag)
	w.b = binary.AppendUvarint(w.b, uint64(len(v)))
	w.b = append(w.b, v...)
}

func (w *wireWriter) str(tag byte, v string) {
	if v == "" {
		return
	}
	w.b = append(w.b, tag)
	w.b = binary.AppendUvarint(w.b, uint64(len(v)))
	w.b = append(w.b, v...)
}

// optBytes writes v only when it is non-empty.
func (w *wireWriter) optBytes(tag byte, v []byte) {
	if len(v) > 0 {
		w.bytes(tag, v)
	}
}

func (w *wireWriter) uint(tag byte, v uint64) {
	if v == 0 {
		return
	}
	var tmp [binary.MaxVarintLen64]byte
	w.bytes(tag, tmp[:binary.PutUvarint(tmp[:], v)])
}

func (w *wireWriter) flag(tag byte, v bool) {
	if v {
		w.uint(tag, 1)
	}
}

// wireReader walks a message's fields.
type wireReader struct {
	b   []byte
	err error
}

// next returns the next field; ok is false at the end or on a malformed message.
func (r *wireReader) next() (tag byte, v []byte, ok bool) {
	if len(r.b) == 0 || r.err != nil {
		return 0, nil, false
	}
	tag = r.b[0]
	n, k := binary.Uvarint(r.b[1:])
	if k <= 0 || uint64(len(r.b)-1-k) < n {
		r.err = ErrWire
		return 0, nil, false
	}
	v = r.b[1+k : 1+k+int(n)]
	r.b = r.b[1+k+int(n):]
	return tag, v, true
}

func wireUint(v []byte) uint64 {
	n, _ := binary.Uvarint(v)
	return n
}

// MarshalWire encodes the request.
func (r *ReconcileRequest) MarshalWire() []byte {
	var w wireWriter
	w.str(1, r.Controller)
	w.str(2, r.Kind.Group)
	w.str(3, r.Kind.Version)
	w.str(4, r.Kind.Kind)
	w.str(5, r.Namespace)
	w.str(6, r.Name)
	return w.b
}

// UnmarshalWire decodes the request.
func (r *ReconcileRequest) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			r.Controller = string(v)
		case 2:
			r.Kind.Group = string(v)
		case 3:
			r.Kind.Version = string(v)
		case 4:
			r.Kind.Kind = string(v)
		case 5:
			r.Namespace = string(v)
		case 6:
			r.Name = string(v)
		}
	}
	return rd.err
}

// MarshalWire encodes the result.
func (r *ReconcileResult) MarshalWire() []byte {
	var w wireWriter
	w.uint(1, uint64(max(r.RequeueAfterMillis, 0)))
	w.str(2, r.Error)
	return w.b
}

// UnmarshalWire decodes the result.
func (r *ReconcileResult) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			r.RequeueAfterMillis = int64(wireUint(v))
		case 2:
			r.Error = string(v)
		}
	}
	return rd.err
}

// MarshalWire encodes the request.
func (r *AdmissionRequest) MarshalWire() []byte {
	var w wireWriter
	w.b = make([]byte, 0, 64+len(r.Object)+len(r.OldObject))
	w.str(1, r.Hook)
	w.str(2, r.Operation)
	w.str(3, r.Kind.Group)
	w.str(4, r.Kind.Version)
	w.str(5, r.Kind.Kind)
	w.str(6, r.Namespace)
	w.str(7, r.Name)
	w.str(8, r.Subresource)
	w.optBytes(9, r.Object)
	w.optBytes(10, r.OldObject)
	w.str(11, r.User.Username)
	for _, g := range r.User.Groups {
		w.bytes(12, []byte(g))
	}
	w.flag(13, r.DryRun)
	return w.b
}

// UnmarshalWire decodes the request. Object and OldObject alias b.
func (r *AdmissionRequest) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			r.Hook = string(v)
		case 2:
			r.Operation = string(v)
		case 3:
			r.Kind.Group = string(v)
		case 4:
			r.Kind.Version = string(v)
		case 5:
			r.Kind.Kind = string(v)
		case 6:
			r.Namespace = string(v)
		case 7:
			r.Name = string(v)
		case 8:
			r.Subresource = string(v)
		case 9:
			r.Object = v
		case 10:
			r.OldObject = v
		case 11:
			r.User.Username = string(v)
		case 12:
			r.User.Groups = append(r.User.Groups, string(v))
		case 13:
			r.DryRun = wireUint(v) != 0
		}
	}
	return rd.err
}

// MarshalWire encodes the response.
func (r *AdmissionResponse) MarshalWire() []byte {
	var w wireWriter
	w.flag(1, r.Allowed)
	if r.Status != nil {
		w.uint(2, uint64(r.Status.Code))
		w.str(3, r.Status.Reason)
		w.str(4, r.Status.Message)
	}
	w.optBytes(5, r.Object)
	w.optBytes(6, r.Patch)
	for _, s := range r.Warnings {
		w.bytes(7, []byte(s))
	}
	for k, v := range r.AuditAnnotations {
		w.bytes(8, []byte(k))
		w.bytes(9, []byte(v))
	}
	return w.b
}

// UnmarshalWire decodes the response.
func (r *AdmissionResponse) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	var key string
	status := func() *Status {
		if r.Status == nil {
			r.Status = &Status{}
		}
		return r.Status
	}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			r.Allowed = wireUint(v) != 0
		case 2:
			status().Code = int32(wireUint(v))
		case 3:
			status().Reason = string(v)
		case 4:
			status().Message = string(v)
		case 5:
			r.Object = v
		case 6:
			r.Patch = v
		case 7:
			r.Warnings = append(r.Warnings, string(v))
		case 8:
			key = string(v)
		case 9:
			if r.AuditAnnotations == nil {
				r.AuditAnnotations = map[string]string{}
			}
			r.AuditAnnotations[key] = string(v)
		}
	}
	return rd.err
}

// MarshalWire encodes the request.
func (r *CallRequest) MarshalWire() []byte {
	var w wireWriter
	w.b = make([]byte, 0, 48+len(r.Object)+len(r.Patch))
	w.str(1, r.Group)
	w.str(2, r.Version)
	w.str(3, r.Resource)
	w.str(4, r.Namespace)
	w.str(5, r.Name)
	w.optBytes(6, r.Object)
	w.str(7, r.PatchType)
	w.optBytes(8, r.Patch)
	w.str(9, r.LabelSelector)
	w.str(10, r.FieldSelector)
	w.str(11, r.PropagationPolicy)
	w.str(12, r.UID)
	w.str(13, r.ResourceVersion)
	w.str(14, r.EventType)
	w.str(15, r.Reason)
	w.str(16, r.Message)
	w.flag(17, r.MetaOnly)
	for _, item := range r.Batch {
		var iw wireWriter
		iw.uint(1, uint64(item.Op))
		iw.bytes(2, item.Request.MarshalWire())
		w.bytes(18, iw.b)
	}
	return w.b
}

// UnmarshalWire decodes the request. Object and Patch alias b.
func (r *CallRequest) UnmarshalWire(b []byte) error {
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		switch tag {
		case 1:
			r.Group = string(v)
		case 2:
			r.Version = string(v)
		case 3:
			r.Resource = string(v)
		case 4:
			r.Namespace = string(v)
		case 5:
			r.Name = string(v)
		case 6:
			r.Object = v
		case 7:
			r.PatchType = string(v)
		case 8:
			r.Patch = v
		case 9:
			r.LabelSelector = string(v)
		case 10:
			r.FieldSelector = string(v)
		case 11:
			r.PropagationPolicy = string(v)
		case 12:
			r.UID = string(v)
		case 13:
			r.ResourceVersion = string(v)
		case 14:
			r.EventType = string(v)
		case 15:
			r.Reason = string(v)
		case 16:
			r.Message = string(v)
		case 17:
			r.MetaOnly = wireUint(v) != 0
		case 18:
			var item BatchItem
			ir := wireReader{b: v}
			for t, iv, ok := ir.next(); ok; t, iv, ok = ir.next() {
				switch t {
				case 1:
					item.Op = Op(wireUint(iv))
				case 2:
					if err := item.Request.UnmarshalWire(iv); err != nil {
						return err
					}
				}
			}
			if ir.err != nil {
				return ir.err
			}
			r.Batch = append(r.Batch, item)
		}
	}
	return rd.err
}

// EncodeBatchResults encodes the results of a batch: per item, its status code (0 on
// success) and body.
func EncodeBatchResults(rs []BatchResult) []byte {
	var w wireWriter
	for _, r := range rs {
		var iw wireWriter
		iw.uint(1, uint64(r.Code))
		iw.optBytes(2, r.Body)
		w.bytes(1, iw.b)
	}
	return w.b
}

// DecodeBatchResults decodes what EncodeBatchResults encoded.
func DecodeBatchResults(b []byte) ([]BatchResult, error) {
	var out []BatchResult
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		if tag != 1 {
			continue
		}
		var r BatchResult
		ir := wireReader{b: v}
		for t, iv, ok := ir.next(); ok; t, iv, ok = ir.next() {
			switch t {
			case 1:
				r.Code = int32(wireUint(iv))
			case 2:
				r.Body = iv
			}
		}
		if ir.err != nil {
			return nil, ir.err
		}
		out = append(out, r)
	}
	return out, rd.err
}

// FeedEvent is one change to an object a controller watches, as the host feeds it.
type FeedEvent struct {
	Type EventType
	Kind GVK
	// Object is the object's JSON, projected to the fields the controller asked for;
	// for a deletion, its last state.
	Object []byte
}

// EventType is what happened to a fed object.
type EventType uint8

// Event types of the feed.
const (
	Added    EventType = 1
	Modified EventType = 2
	Deleted  EventType = 3
	// Synced marks the end of the initial state of every watched kind; Kind and Object
	// are empty.
	Synced EventType = 4
)

// EncodeFeed encodes a batch of feed events.
func EncodeFeed(evs []FeedEvent) []byte {
	n := 0
	for _, e := range evs {
		n += len(e.Object) + 48
	}
	w := wireWriter{b: make([]byte, 0, n)}
	for _, e := range evs {
		var iw wireWriter
		iw.uint(1, uint64(e.Type))
		iw.str(2, e.Kind.Group)
		iw.str(3, e.Kind.Version)
		iw.str(4, e.Kind.Kind)
		iw.optBytes(5, e.Object)
		w.bytes(1, iw.b)
	}
	return w.b
}

// DecodeFeed decodes a batch of feed events. Objects alias b.
func DecodeFeed(b []byte) ([]FeedEvent, error) {
	var out []FeedEvent
	rd := wireReader{b: b}
	for tag, v, ok := rd.next(); ok; tag, v, ok = rd.next() {
		if tag != 1 {
			continue
		}
		var e FeedEvent
		ir := wireReader{b: v}
		for t, iv, ok := ir.next(); ok; t, iv, ok = ir.next() {
			switch t {
			case 1:
				e.Type = EventType(wireUint(iv))
			case 2:
				e.Kind.Group = string(iv)
			case 3:
				e.Kind.Version = string(iv)
			case 4:
				e.Kind.Kind = string(iv)
			case 5:
				e.Object = iv
			}
		}
		if ir.err != nil {
			return nil, ir.err
		}
		out = append(out, e)
	}
	return out, rd.err
}

// String names a kind as "group/version, Kind=Kind".
func (g GVK) String() string {
	if g.Group == "" {
		return g.Version + ", Kind=" + g.Kind
	}
	return g.Group + "/" + g.Version + ", Kind=" + g.Kind
}

// APIVersion is the kind's apiVersion field.
func (g GVK) APIVersion() string {
	if g.Group == "" {
		return g.Version
	}
	return g.Group + "/" + g.Version
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
