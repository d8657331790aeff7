package objects

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"weft.dev/weft/kernel/ujson"
)

// trackUpdate records the field ownership of an update (or a create, from an empty
// live object) by manager, as managedfields' FieldManager does, and returns next
// with its managedFields set.
func trackUpdate(fm *managedfields.FieldManager, live, next *unstructured.Unstructured, manager string) *unstructured.Unstructured {
	out := fm.UpdateNoErrors(fastManaged{live}, fastManaged{next}, manager)
	switch o := out.(type) {
	case fastManaged:
		return o.Unstructured
	case *unstructured.Unstructured:
		return o
	}
	return next
}

// fastManaged is an object whose managedFields the field manager reads and writes
// by hand. Unstructured converts each entry through reflection and, for fieldsV1,
// a JSON round trip: on a pod write that was a third of the cost of tracking
// ownership. Whatever the hand-written path does not expect (an unknown key, a
// value of another type) goes to Unstructured's own methods, so the outcome is
// theirs in every case.
type fastManaged struct{ *unstructured.Unstructured }

func (o fastManaged) GetManagedFields() []metav1.ManagedFieldsEntry {
	meta, ok := o.Object["metadata"].(map[string]any)
	if !ok {
		return o.Unstructured.GetManagedFields()
	}
	v, ok := meta["managedFields"]
	if !ok {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		return o.Unstructured.GetManagedFields()
	}
	out := make([]metav1.ManagedFieldsEntry, 0, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return o.Unstructured.GetManagedFields()
		}
		e, ok := entryFromMap(m)
		if !ok {
			return o.Unstructured.GetManagedFields()
		}
		out = append(out, e)
	}
	return out
}

func (o fastManaged) SetManagedFields(entries []metav1.ManagedFieldsEntry) {
	meta, ok := o.Object["metadata"].(map[string]any)
	if !ok {
		o.Unstructured.SetManagedFields(entries)
		return
	}
	if entries == nil {
		delete(meta, "managedFields")
		return
	}
	items := make([]any, 0, len(entries))
	for i := range entries {
		m, ok := entryToMap(&entries[i])
		if !ok {
			o.Unstructured.SetManagedFields(entries)
			return
		}
		items = append(items, m)
	}
	meta["managedFields"] = items
}

func entryFromMap(m map[string]any) (e metav1.ManagedFieldsEntry, ok bool) {
	if e, ok = entryHeader(m); !ok {
		return e, false
	}
	if f, has := m["fieldsV1"]; has {
		raw, err := ujson.Marshal(f)
		if err != nil {
			return e, false
		}
		e.FieldsV1 = &metav1.FieldsV1{Raw: raw}
	}
	return e, true
}

// entryHeader is entryFromMap without encoding fieldsV1, which it only checks is an
// object.
func entryHeader(m map[string]any) (e metav1.ManagedFieldsEntry, ok bool) {
	for k, v := range m {
		if k == "fieldsV1" {
			if _, isMap := v.(map[string]any); !isMap {
				return e, false
			}
			continue
		}
		s, isStr := v.(string)
		if !isStr {
			return e, false
		}
		switch k {
		case "manager":
			e.Manager = s
		case "operation":
			e.Operation = metav1.ManagedFieldsOperationType(s)
		case "apiVersion":
			e.APIVersion = s
		case "fieldsType":
			e.FieldsType = s
		case "subresource":
			e.Subresource = s
		case "time":
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return e, false
			}
			e.Time = &metav1.Time{Time: t.Local()} // as metav1.Time decodes
		default:
			return e, false
		}
	}
	return e, true
}

func entryToMap(e *metav1.ManagedFieldsEntry) (map[string]any, bool) {
	m := make(map[string]any, 7)
	if e.Manager != "" {
		m["manager"] = e.Manager
	}
	if e.Operation != "" {
		m["operation"] = string(e.Operation)
	}
	if e.APIVersion != "" {
		m["apiVersion"] = e.APIVersion
	}
	if e.Time != nil {
		if e.Time.IsZero() {
			return nil, false
		}
		m["time"] = e.Time.UTC().Format(time.RFC3339)
	}
	if e.FieldsType != "" {
		m["fieldsType"] = e.FieldsType
	}
	if e.FieldsV1 != nil {
		f, ok := parseFieldsV1(e.FieldsV1.Raw)
		if !ok {
			return nil, false
		}
		m["fieldsV1"] = f
	}
	if e.Subresource != "" {
		m["subresource"] = e.Subresource
	}
	return m, true
}

// parseFieldsV1 decodes a field set as structured-merge-diff writes it: objects
// all the way down, keys of ASCII with only \" and \\ escaped (list-map keys are
// JSON: k:{"name":"web"}). Anything else is left to the generic path.
func parseFieldsV1(raw []byte) (map[string]any, bool) {
	p := fieldsParser{b: raw}
	m, ok := p.object()
	if !ok {
		return nil, false
	}
	p.ws()
	return m, p.i == len(p.b)
}

type fieldsParser struct {
	b []byte
	i int
}

func (p *fieldsParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *fieldsParser) object() (map[string]any, bool) {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, false
	}
	p.i++
	m := map[string]any{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, true
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, false
		}
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.object()
		if !ok {
			return nil, false
		}
		m[key] = v
		p.ws()
		if p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return m, true
		default:
			return nil, false
		}
	}
}

// key reads a quoted key at p.i.
func (p *fieldsParser) key() (string, bool) {
	start := p.i + 1
	i := start
	plain := true
	for ; i < len(p.b) && p.b[i] != '"'; i++ {
		switch c := p.b[i]; {
		case c == '\\':
			if i+1 >= len(p.b) || p.b[i+1] != '"' && p.b[i+1] != '\\' {
				return "", false
			}
			plain = false
			i++
		case c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	if i >= len(p.b) {
		return "", false
	}
	p.i = i + 1
	if plain {
		return string(p.b[start:i]), true
	}
	k := make([]byte, 0, i-start)
	for j := start; j < i; j++ {
		if p.b[j] == '\\' {
			j++
		}
		k = append(k, p.b[j])
	}
	return string(k), true
}
