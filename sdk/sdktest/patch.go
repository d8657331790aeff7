package sdktest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// mergePatch applies an RFC 7386 JSON merge patch to doc.
func mergePatch(doc any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = mergePatch(d[k], v)
	}
	return d
}

// jsonPatch applies an RFC 6902 JSON patch (add, replace, remove, test) to doc.
func jsonPatch(doc any, raw []byte) (any, error) {
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, err
	}
	for _, op := range ops {
		var val any
		if len(op.Value) > 0 {
			if err := json.Unmarshal(op.Value, &val); err != nil {
				return nil, err
			}
		}
		var err error
		switch op.Op {
		case "add", "replace", "remove", "test":
			doc, err = pointerOp(doc, splitPointer(op.Path), op.Op, val)
		default:
			err = fmt.Errorf("unsupported json patch op %q", op.Op)
		}
		if err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts
}

func pointerOp(doc any, path []string, op string, val any) (any, error) {
	if len(path) == 0 {
		if op == "test" {
			if !jsonEqual(doc, val) {
				return nil, fmt.Errorf("test failed")
			}
			return doc, nil
		}
		return val, nil
	}
	head, rest := path[0], path[1:]
	switch d := doc.(type) {
	case map[string]any:
		if len(rest) == 0 {
			switch op {
			case "add":
				d[head] = val
			case "replace":
				if _, ok := d[head]; !ok {
					return nil, fmt.Errorf("replace: no %q", head)
				}
				d[head] = val
			case "remove":
				if _, ok := d[head]; !ok {
					return nil, fmt.Errorf("remove: no %q", head)
				}
				delete(d, head)
			case "test":
				if !jsonEqual(d[head], val) {
					return nil, fmt.Errorf("test failed at %q", head)
				}
			}
			return d, nil
		}
		child, ok := d[head]
		if !ok {
			return nil, fmt.Errorf("no %q", head)
		}
		nc, err := pointerOp(child, rest, op, val)
		if err != nil {
			return nil, err
		}
		d[head] = nc
		return d, nil
	case []any:
		i := len(d)
		if head != "-" {
			n, err := strconv.Atoi(head)
			if err != nil || n < 0 || n > len(d) {
				return nil, fmt.Errorf("bad index %q", head)
			}
			i = n
		}
		if len(rest) == 0 {
			switch op {
			case "add":
				d = append(d[:i], append([]any{val}, d[i:]...)...)
			case "replace", "remove", "test":
				if i >= len(d) {
					return nil, fmt.Errorf("index %d out of range", i)
				}
				switch op {
				case "replace":
					d[i] = val
				case "remove":
					d = append(d[:i], d[i+1:]...)
				case "test":
					if !jsonEqual(d[i], val) {
						return nil, fmt.Errorf("test failed at %d", i)
					}
				}
			}
			return d, nil
		}
		if i >= len(d) {
			return nil, fmt.Errorf("index %d out of range", i)
		}
		nc, err := pointerOp(d[i], rest, op, val)
		if err != nil {
			return nil, err
		}
		d[i] = nc
		return d, nil
	}
	return nil, fmt.Errorf("cannot descend into %T", doc)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
