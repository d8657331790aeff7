package sdk

import (
	"encoding/json"
	"errors"
)

// Resource names a resource: group, version and lowercase plural.
type Resource struct {
	Group    string
	Version  string
	Resource string
}

func (r Resource) req(namespace, name string) CallRequest {
	return CallRequest{Group: r.Group, Version: r.Version, Resource: r.Resource, Namespace: namespace, Name: name}
}

// PatchType names a patch format.
type PatchType string

// Patch formats, as the API serves them.
const (
	JSONPatch      PatchType = "json"
	MergePatch     PatchType = "merge"
	StrategicPatch PatchType = "strategic"
	ApplyPatch     PatchType = "apply"
)

// ListOptions filter a list read from the kernel.
type ListOptions struct {
	LabelSelector string
	FieldSelector string
}

// DeleteOptions shape a delete.
type DeleteOptions struct {
	// PropagationPolicy is Background, Foreground or Orphan; empty for the kind's default.
	PropagationPolicy string
	// Preconditions: the delete fails with a conflict unless the object still has them.
	UID             string
	ResourceVersion string
}

// Client is what a handler uses to reach the kernel: reads from the cache the host
// feeds (no crossing), and reads and writes through weft.call (one crossing each).
// Writes go through the API's normal path: admission, validation, the store.
type Client struct {
	host  Host
	cache *Cache
}

// NewClient returns a client over a host transport and a cache. Plugins receive one;
// native tests make one over a fake host.
func NewClient(h Host, c *Cache) *Client {
	if c == nil {
		c = NewCache(nil)
	}
	return &Client{host: h, cache: c}
}

// Cache returns the controller's cache.
func (c *Client) Cache() *Cache { return c.cache }

// Log writes to the plugin's log in the kernel.
func (c *Client) Log(level Level, msg string) { c.host.Log(level, msg) }

// Call makes a raw request: op and request as the ABI defines them.
func (c *Client) Call(op Op, req CallRequest) (json.RawMessage, error) { return c.host.Call(op, req) }

// Get reads an object from the kernel into into.
func (c *Client) Get(r Resource, namespace, name string, into any) error {
	raw, err := c.host.Call(OpGet, r.req(namespace, name))
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// Fresh reads an object of kind k from the kernel rather than the cache, decoded as
// the cache decodes what it is fed (Cache.Decode). Controllers use it before acting
// on an object the host feeds only in part (FieldSet.ControlledOnly).
func (c *Client) Fresh(r Resource, k GVK, namespace, name string) (*Object, error) {
	raw, err := c.host.Call(OpGet, r.req(namespace, name))
	if err != nil {
		return nil, err
	}
	return c.cache.Decode(k, raw)
}

// List reads a list from the kernel into into (a struct with an Items field, or a map).
func (c *Client) List(r Resource, namespace string, opts ListOptions, into any) error {
	req := r.req(namespace, "")
	req.LabelSelector, req.FieldSelector = opts.LabelSelector, opts.FieldSelector
	raw, err := c.host.Call(OpList, req)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

func (c *Client) write(op Op, req CallRequest) (ObjectMeta, error) {
	req.MetaOnly = true
	raw, err := c.host.Call(op, req)
	if err != nil {
		return ObjectMeta{}, err
	}
	return metaOf(raw)
}

func metaOf(raw []byte) (ObjectMeta, error) {
	var m struct {
		Metadata ObjectMeta `json:"metadata"`
	}
	err := json.Unmarshal(raw, &m)
	return m.Metadata, err
}

func body(obj any) ([]byte, error) {
	if b, ok := obj.([]byte); ok {
		return b, nil
	}
	if b, ok := obj.(json.RawMessage); ok {
		return b, nil
	}
	return json.Marshal(obj)
}

// Create creates obj (a value to encode as JSON, or its JSON) and returns the
// created object's metadata.
func (c *Client) Create(r Resource, namespace string, obj any) (ObjectMeta, error) {
	b, err := body(obj)
	if err != nil {
		return ObjectMeta{}, err
	}
	req := r.req(namespace, "")
	req.Object = b
	return c.write(OpCreate, req)
}

// Update replaces an object; its metadata.resourceVersion makes it a compare-and-swap.
func (c *Client) Update(r Resource, namespace string, obj any) (ObjectMeta, error) {
	b, err := body(obj)
	if err != nil {
		return ObjectMeta{}, err
	}
	req := r.req(namespace, "")
	req.Object = b
	return c.write(OpUpdate, req)
}

// UpdateStatus replaces an object's status through the status subresource.
func (c *Client) UpdateStatus(r Resource, namespace string, obj any) (ObjectMeta, error) {
	b, err := body(obj)
	if err != nil {
		return ObjectMeta{}, err
	}
	req := r.req(namespace, "")
	req.Object = b
	return c.write(OpUpdateStatus, req)
}

// Patch patches an object.
func (c *Client) Patch(r Resource, namespace, name string, pt PatchType, patch []byte) (ObjectMeta, error) {
	req := r.req(namespace, name)
	req.PatchType, req.Patch = string(pt), patch
	return c.write(OpPatch, req)
}

// Delete deletes an object.
func (c *Client) Delete(r Resource, namespace, name string, opts DeleteOptions) error {
	req := r.req(namespace, name)
	req.PropagationPolicy, req.UID, req.ResourceVersion = opts.PropagationPolicy, opts.UID, opts.ResourceVersion
	_, err := c.host.Call(OpDelete, req)
	return err
}

// Event records an Event about an object of resource r; typ is Normal or Warning.
func (c *Client) Event(r Resource, about *ObjectMeta, typ, reason, message string) error {
	req := r.req(about.Namespace, about.Name)
	req.UID, req.EventType, req.Reason, req.Message = about.UID, typ, reason, message
	_, err := c.host.Call(OpEvent, req)
	return err
}

// Config decodes the plugin's configuration (the Plugin object's spec.config).
func (c *Client) Config(into any) error {
	raw, err := c.host.Call(OpConfig, CallRequest{})
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// Batch runs writes concurrently in the kernel, in one crossing, and returns each
// one's result in order. Writes return only metadata (BatchResult.Meta).
func (c *Client) Batch(items []BatchItem) ([]BatchResult, error) {
	for i := range items {
		items[i].Request.MetaOnly = true
	}
	raw, err := c.host.Call(OpBatch, CallRequest{Batch: items})
	if err != nil {
		return nil, err
	}
	rs, err := DecodeBatchResults(raw)
	if err == nil && len(rs) != len(items) {
		err = errors.New("sdk: batch: host returned the wrong number of results")
	}
	return rs, err
}

// Err is the item's error, a *Status, or nil.
func (r BatchResult) Err() error {
	if r.Code == 0 {
		return nil
	}
	return decodeStatus(r.Code, r.Body)
}

// Meta is the written object's metadata.
func (r BatchResult) Meta() (ObjectMeta, error) { return metaOf(r.Body) }

// CreateItem is a batch item that creates obj.
func CreateItem(r Resource, namespace string, obj any) (BatchItem, error) {
	b, err := body(obj)
	req := r.req(namespace, "")
	req.Object = b
	return BatchItem{Op: OpCreate, Request: req}, err
}

// DeleteItem is a batch item that deletes an object.
func DeleteItem(r Resource, namespace, name string, opts DeleteOptions) BatchItem {
	req := r.req(namespace, name)
	req.PropagationPolicy, req.UID, req.ResourceVersion = opts.PropagationPolicy, opts.UID, opts.ResourceVersion
	return BatchItem{Op: OpDelete, Request: req}
}

func decodeStatus(code int32, b []byte) error {
	st := &Status{Code: code, Message: string(b)}
	_ = json.Unmarshal(b, st)
	if st.Code == 0 {
		st.Code = code
	}
	return st
}

// Reason-based checks, as apimachinery's errors package has them.

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return statusCode(err) == 404 }

// IsConflict reports a 409 other than AlreadyExists.
func IsConflict(err error) bool { return statusCode(err) == 409 && !IsAlreadyExists(err) }

// IsAlreadyExists reports a create of a name that is taken.
func IsAlreadyExists(err error) bool {
	var st *Status
	return errors.As(err, &st) && st.Reason == "AlreadyExists"
}

func statusCode(err error) int32 {
	var st *Status
	if errors.As(err, &st) {
		return st.Code
	}
	return 0
}
