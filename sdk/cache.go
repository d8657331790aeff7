package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Object is one object in a controller's cache, decoded once per version.
type Object struct {
	Kind GVK
	// Meta is the object's metadata: for a registered type that implements Metadata,
	// what that type keeps of it.
	Meta ObjectMeta
	// Raw is the object's JSON as the host fed it (projected to the fields the
	// controller declared, if it declared any), for a kind without a registered type;
	// nil for a kind with one. Once Value holds what the plugin reads, the JSON would
	// be most of what the cache keeps, and tens of thousands of pods of it outgrow a
	// guest's memory cap.
	Raw []byte
	// Value is the fed JSON decoded into the kind's registered type
	// (Handlers.Types); nil when the kind has none.
	Value any
}

// Metadata is implemented by a registered type that carries its metadata, so the
// cache takes it from the one decode instead of decoding the JSON twice.
type Metadata interface {
	ObjectMeta() *ObjectMeta
}

// JSONDecoder is implemented by a registered type (Handlers.Types) that decodes
// itself from a fed object's JSON. The cache then calls DecodeJSON instead of
// json.Unmarshal: encoding/json works by reflection, which inside a wasm guest costs
// dozens of times what it costs natively, while a decoder that reads exactly the
// fields a controller uses with a JSONReader does not.
//
// DecodeJSON is called on a new value with r before the object, and must consume
// exactly that one value (usually with r.Object, skipping the members it does not
// read); the cache checks that nothing follows it and fails the object on r's error.
// It returns an error only for what the reader cannot see, and must not keep r. It
// should decode as json.Unmarshal would into the same type, so that a type decodes
// the same whichever way it is fed. Byte slices it keeps must be copies (Str copies;
// Bytes and Raw may alias): r reads the host's feed buffer, which holds a megabyte of
// other objects that an aliasing slice would keep alive.
type JSONDecoder interface {
	DecodeJSON(r *JSONReader) error
}

// Cache holds what the host fed a controller: the current state of every kind its
// controllers watch. The host feeds every change before the reconcile calls that
// follow it, so reads here are as fresh as the kernel's watch cache.
type Cache struct {
	types   map[GVK]func() any
	kinds   map[GVK]*kindCache
	synced  bool
	observe func(EventType, *Object)
	jr      JSONReader // reused by JSONDecoders
}

type kindCache struct {
	// gvk is the kind every cached object shares, rather than each keeping the
	// strings its feed event was decoded into.
	gvk  GVK
	objs map[string]*Object
	// byController indexes objects by their controller owner's UID.
	byController map[string]map[string]*Object
}

// NewCache returns an empty cache that decodes fed objects of the kinds in types.
func NewCache(types map[GVK]func() any) *Cache {
	return &Cache{types: types, kinds: map[GVK]*kindCache{}}
}

func key(ns, name string) string { return ns + "/" + name }

func (c *Cache) kind(k GVK) *kindCache {
	kc := c.kinds[k]
	if kc == nil {
		kc = &kindCache{gvk: k, objs: map[string]*Object{}, byController: map[string]map[string]*Object{}}
		c.kinds[k] = kc
	}
	return kc
}

// Observe has fn called with every change Apply takes in, after the cache holds it
// (for a deletion, with the object's last state). Controllers use it to learn that
// their own writes have arrived.
func (c *Cache) Observe(fn func(EventType, *Object)) { c.observe = fn }

// Apply applies one fed change.
func (c *Cache) Apply(ev FeedEvent) error {
	if ev.Type == Synced {
		c.synced = true
		return nil
	}
	kc := c.kind(ev.Kind)
	o, err := c.Decode(kc.gvk, ev.Object)
	if err != nil {
		return fmt.Errorf("sdk: feed: %w", err)
	}
	k := key(o.Meta.Namespace, o.Meta.Name)
	if old := kc.objs[k]; old != nil {
		kc.unindex(k, old)
	}
	if ev.Type == Deleted {
		delete(kc.objs, k)
		if c.observe != nil {
			c.observe(Deleted, o)
		}
		return nil
	}
	kc.objs[k] = o
	if ref := o.Meta.ControllerOf(); ref != nil {
		m := kc.byController[ref.UID]
		if m == nil {
			m = map[string]*Object{}
			kc.byController[ref.UID] = m
		}
		m[k] = o
	}
	if c.observe != nil {
		c.observe(ev.Type, o)
	}
	return nil
}

// Decode decodes an object of kind k as the cache decodes what it is fed, without
// keeping it: into the kind's registered type, or as a copy of raw for a kind without
// one.
func (c *Cache) Decode(k GVK, raw []byte) (*Object, error) {
	o := &Object{Kind: k}
	if mk := c.types[k]; mk == nil {
		// A copy: raw may alias the whole feed buffer.
		o.Raw = bytes.Clone(raw)
	} else {
		v := mk()
		if err := c.decode(raw, v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		o.Value = v
		if m, ok := v.(Metadata); ok {
			o.Meta = *m.ObjectMeta()
		}
	}
	if o.Meta.Name == "" {
		r := NewJSONReader(raw)
		r.Object(func(key []byte) {
			if string(key) == "metadata" {
				r.ObjectMeta(&o.Meta)
			} else {
				r.Skip()
			}
		})
		if err := r.End(); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return o, nil
}

// decode decodes a fed object into v, with its DecodeJSON if it has one.
func (c *Cache) decode(b []byte, v any) error {
	d, ok := v.(JSONDecoder)
	if !ok {
		return json.Unmarshal(b, v)
	}
	r := &c.jr
	r.Reset(b)
	err := d.DecodeJSON(r)
	if rerr := r.End(); rerr != nil {
		err = rerr
	}
	r.Reset(nil)
	return err
}

func (kc *kindCache) unindex(k string, o *Object) {
	if ref := o.Meta.ControllerOf(); ref != nil {
		if m := kc.byController[ref.UID]; m != nil {
			delete(m, k)
			if len(m) == 0 {
				delete(kc.byController, ref.UID)
			}
		}
	}
}

// Synced reports whether the initial state of every watched kind has arrived.
func (c *Cache) Synced() bool { return c.synced }

// Get returns an object, or nil.
func (c *Cache) Get(k GVK, namespace, name string) *Object {
	if kc := c.kinds[k]; kc != nil {
		return kc.objs[key(namespace, name)]
	}
	return nil
}

// List returns the objects of a kind in namespace ("" for all) whose labels match sel
// (nil for all), ordered by namespace and name.
func (c *Cache) List(k GVK, namespace string, sel *LabelSelector) []*Object {
	kc := c.kinds[k]
	if kc == nil {
		return nil
	}
	var out []*Object
	for _, o := range kc.objs {
		if namespace != "" && o.Meta.Namespace != namespace {
			continue
		}
		if sel != nil && !sel.Matches(o.Meta.Labels) {
			continue
		}
		out = append(out, o)
	}
	sortObjects(out)
	return out
}

// Controlled returns the objects of kind k whose controller owner has uid, ordered by
// namespace and name.
func (c *Cache) Controlled(k GVK, uid string) []*Object {
	kc := c.kinds[k]
	if kc == nil {
		return nil
	}
	out := make([]*Object, 0, len(kc.byController[uid]))
	for _, o := range kc.byController[uid] {
		out = append(out, o)
	}
	sortObjects(out)
	return out
}

// Len returns how many objects of kind k the cache holds.
func (c *Cache) Len(k GVK) int {
	if kc := c.kinds[k]; kc != nil {
		return len(kc.objs)
	}
	return 0
}

func sortObjects(objs []*Object) {
	sort.Slice(objs, func(i, j int) bool {
		if objs[i].Meta.Namespace != objs[j].Meta.Namespace {
			return objs[i].Meta.Namespace < objs[j].Meta.Namespace
		}
		return objs[i].Meta.Name < objs[j].Meta.Name
	})
}
