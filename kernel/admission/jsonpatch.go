package admission

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	sigsjson "sigs.k8s.io/json"

	"weft.dev/weft/kernel/schema"
	"weft.dev/weft/kernel/ujson"
)

// A hook's JSON Patch (RFC 6902) is applied to the decoded object, not to its JSON:
// the object has just been encoded for the hook and must be decoded afterwards anyway,
// and a byte-level patch library decodes the patch, the document and the result again
// (a third of a pod create's admission cost). Array indices may be negative, counting
// from the end, as evanphx/json-patch allows by default, which the patches of existing
// webhooks may rely on.

var (
	errPatchMissing = errors.New("path does not exist")
	errPatchIndex   = errors.New("invalid array index")
)

// decodePatch decodes a patch's operations as sigs.k8s.io/json decodes them into
// []map[string]any, by ujson's faster decoder when every operation is an object.
func decodePatch(patch []byte) ([]map[string]any, error) {
	if all, ok := ujson.DecodeArray(patch); ok {
		ops := make([]map[string]any, len(all))
		for i, op := range all {
			if ops[i], ok = op.(map[string]any); !ok {
				break
			}
		}
		if ok {
			return ops, nil
		}
	}
	var ops []map[string]any
	err := sigsjson.UnmarshalCaseSensitivePreserveInts(patch, &ops)
	return ops, err
}

// applyJSONPatch applies patch to doc, which it changes in place, and returns the
// result; on error doc may be partly changed and must be discarded.
func applyJSONPatch(doc map[string]any, patch []byte) (map[string]any, error) {
	ops, err := decodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("returned a patch that does not decode: %w", err)
	}
	var root any = doc
	for i, op := range ops {
		var err error
		if root, err = applyPatchOp(root, op); err != nil {
			return nil, fmt.Errorf("returned a patch that does not apply: operation %d: %w", i, err)
		}
	}
	out, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("returned a patch that does not apply: the result is not an object")
	}
	return out, nil
}

func applyPatchOp(root any, op map[string]any) (any, error) {
	kind, _ := op["op"].(string)
	path, ok := op["path"].(string)
	if !ok {
		return nil, fmt.Errorf("%q: no path", kind)
	}
	toks, err := pointer(path)
	if err != nil {
		return nil, err
	}
	value, hasValue := op["value"]
	from := func() ([]string, error) {
		f, ok := op["from"].(string)
		if !ok {
			return nil, fmt.Errorf("%q: no from", kind)
		}
		return pointer(f)
	}
	switch kind {
	case "add", "replace":
		if !hasValue {
			return nil, fmt.Errorf("%q %s: no value", kind, path)
		}
		if kind == "add" {
			return patchAdd(root, toks, value)
		}
		return patchReplace(root, toks, value)
	case "remove":
		root, _, err = patchRemove(root, toks)
		return root, err
	case "move":
		ftoks, err := from()
		if err != nil {
			return nil, err
		}
		if slices.Equal(ftoks, toks) {
			_, err := patchGet(root, ftoks)
			return root, err
		}
		if len(ftoks) < len(toks) && slices.Equal(ftoks, toks[:len(ftoks)]) {
			return nil, fmt.Errorf("move %s: into its own child %s", op["from"], path)
		}
		root, v, err := patchRemove(root, ftoks)
		if err != nil {
			return nil, err
		}
		return patchAdd(root, toks, v)
	case "copy":
		ftoks, err := from()
		if err != nil {
			return nil, err
		}
		v, err := patchGet(root, ftoks)
		if err != nil {
			return nil, err
		}
		return patchAdd(root, toks, schema.DeepCopyJSON(v))
	case "test":
		v, err := patchGet(root, toks)
		if err != nil {
			return nil, err
		}
		if !schema.JSONEqual(v, value) {
			return nil, fmt.Errorf("test %s: the value differs", path)
		}
		return root, nil
	}
	return nil, fmt.Errorf("unsupported operation %q", kind)
}

// pointer splits an RFC 6901 JSON pointer into its unescaped tokens; "" is the root.
func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("path %q does not start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if strings.IndexByte(t, '~') >= 0 {
			toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		}
	}
	return toks, nil
}

// within walks to the parent of the last token and hands it to leaf, which returns
// the parent's new value (an array grows or shrinks by a new slice); the new values
// are stored back along the path.
func within(node any, toks []string, leaf func(parent any, key string) (any, error)) (any, error) {
	if len(toks) == 1 {
		return leaf(node, toks[0])
	}
	switch c := node.(type) {
	case map[string]any:
		child, ok := c[toks[0]]
		if !ok {
			return nil, fmt.Errorf("%w: %q", errPatchMissing, toks[0])
		}
		n, err := within(child, toks[1:], leaf)
		if err != nil {
			return nil, err
		}
		c[toks[0]] = n
		return c, nil
	case []any:
		i, err := existingIndex(toks[0], len(c))
		if err != nil {
			return nil, err
		}
		n, err := within(c[i], toks[1:], leaf)
		if err != nil {
			return nil, err
		}
		c[i] = n
		return c, nil
	}
	return nil, notContainer(toks[0])
}

// notContainer is the error for a token that names a member of a scalar.
func notContainer(tok string) error {
	return fmt.Errorf("%w: %q is inside a value that is neither object nor array", errPatchMissing, tok)
}

// existingIndex parses an index of an element of an array of n.
func existingIndex(tok string, n int) (int, error) {
	i, err := strconv.Atoi(tok)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", errPatchIndex, tok)
	}
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return 0, fmt.Errorf("%w: %s of %d elements", errPatchIndex, tok, n)
	}
	return i, nil
}

func patchAdd(root any, toks []string, v any) (any, error) {
	if len(toks) == 0 {
		return v, nil
	}
	return within(root, toks, func(parent any, key string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			c[key] = v
			return c, nil
		case []any:
			if key == "-" {
				return append(c, v), nil
			}
			// Up to len: an insert may append; negative counts from the end of the
			// array as it will be.
			i, err := existingIndex(key, len(c)+1)
			if err != nil {
				return nil, err
			}
			c = append(c, nil)
			copy(c[i+1:], c[i:])
			c[i] = v
			return c, nil
		}
		return nil, notContainer(key)
	})
}

func patchReplace(root any, toks []string, v any) (any, error) {
	if len(toks) == 0 {
		return v, nil
	}
	return within(root, toks, func(parent any, key string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			if _, ok := c[key]; !ok {
				return nil, fmt.Errorf("%w: %q", errPatchMissing, key)
			}
			c[key] = v
			return c, nil
		case []any:
			i, err := existingIndex(key, len(c))
			if err != nil {
				return nil, err
			}
			c[i] = v
			return c, nil
		}
		return nil, notContainer(key)
	})
}

// patchRemove removes the value at toks and returns it.
func patchRemove(root any, toks []string) (any, any, error) {
	if len(toks) == 0 {
		return nil, nil, errors.New("cannot remove the whole object")
	}
	var removed any
	root, err := within(root, toks, func(parent any, key string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			v, ok := c[key]
			if !ok {
				return nil, fmt.Errorf("%w: %q", errPatchMissing, key)
			}
			removed = v
			delete(c, key)
			return c, nil
		case []any:
			i, err := existingIndex(key, len(c))
			if err != nil {
				return nil, err
			}
			removed = c[i]
			return append(c[:i:i], c[i+1:]...), nil
		}
		return nil, notContainer(key)
	})
	return root, removed, err
}

func patchGet(root any, toks []string) (any, error) {
	var got any
	_, err := within(root, append(toks[:len(toks):len(toks)], ""), func(parent any, _ string) (any, error) {
		got = parent
		return parent, nil
	})
	return got, err
}
