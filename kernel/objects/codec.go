package objects

import (
	"fmt"
	"maps"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"weft.dev/weft/kernel/registry"
	"weft.dev/weft/kernel/ujson"
	"weft.dev/weft/store"
)

// decode turns a stored value into an object whose resourceVersion is the value's
// mod revision.
func (s *Service) decode(e *registry.Entry, kv store.KV) (*unstructured.Unstructured, error) {
	raw := kv.Value
	if e.EncryptAtRest || len(raw) > 0 && raw[0] != '{' {
		if s.cfg.Cipher == nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("%s is encrypted at rest but no data key is configured", kv.Key))
		}
		plain, err := s.cfg.Cipher.open(kv.Key, raw)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		raw = plain
	}
	obj, err := ujson.UnmarshalObject(raw)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("decode %s: %w", kv.Key, err))
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetResourceVersion(strconv.FormatInt(kv.ModRevision, 10))
	return u, nil
}

// encode turns an object into the value stored under key.
func (s *Service) encode(e *registry.Entry, key string, u *unstructured.Unstructured) ([]byte, error) {
	plain, err := s.marshal(u)
	if err != nil {
		return nil, err
	}
	return s.seal(e, key, plain)
}

// marshal encodes an object without resourceVersion and selfLink, which are not part
// of the stored value, and enforces the size limit.
func (s *Service) marshal(u *unstructured.Unstructured) ([]byte, error) {
	obj := u.Object
	meta, _ := obj["metadata"].(map[string]any)
	_, hasRV := meta["resourceVersion"]
	_, hasLink := meta["selfLink"]
	if hasRV || hasLink {
		// Copies of the two maps on the path, not deletes and puts back: u may be a
		// shared decode that others read meanwhile.
		m := make(map[string]any, len(meta))
		for k, v := range meta {
			if k != "resourceVersion" && k != "selfLink" {
				m[k] = v
			}
		}
		obj = maps.Clone(obj)
		obj["metadata"] = m
	}
	raw, err := ujson.Marshal(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("encode %s: %w", u.GetName(), err))
	}
	if len(raw) > s.cfg.MaxObjectSize {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the object is %d bytes, over the limit of %d bytes", len(raw), s.cfg.MaxObjectSize))
	}
	return raw, nil
}

// seal wraps plain in the kind's at-rest envelope.
func (s *Service) seal(e *registry.Entry, key string, plain []byte) ([]byte, error) {
	if !e.EncryptAtRest {
		return plain, nil
	}
	if s.cfg.Cipher == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("%s is encrypted at rest but no data key is configured", e.Resource))
	}
	return s.cfg.Cipher.seal(key, plain), nil
}

// parseRV parses a resourceVersion; "" and "0" both mean "no particular revision".
func parseRV(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", rv))
	}
	return n, nil
}
