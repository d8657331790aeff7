package ujson

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	sigsjson "sigs.k8s.io/json"
)

// UnmarshalObject decodes data as sigs.k8s.io/json's UnmarshalCaseSensitivePreserveInts
// decodes it into a map[string]any, outcome and errors alike: by DecodeObject when it
// takes the input, else by sigs.k8s.io/json itself.
func UnmarshalObject(data []byte) (map[string]any, error) {
	if obj, ok := DecodeObject(data); ok {
		return obj, nil
	}
	obj := map[string]any{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// DecodeObject decodes a JSON object as sigs.k8s.io/json's
// UnmarshalCaseSensitivePreserveInts decodes it into a map[string]any: objects become
// map[string]any, arrays []any, integers without a '.' that fit int64 become int64,
// other numbers float64.
//
// It takes only the common case and reports false for anything else: a syntax error,
// a top level that is not an object, a key repeated within an object, invalid UTF-8,
// a number out of float64's range, nesting beyond encoding/json's limit. The caller
// then decodes with its usual decoder, so that the outcome, error messages included,
// stays that decoder's in every case; this one is only faster. It is a recursive
// descent over the bytes, without encoding/json's separate validation pass, and each
// map is made at its final size.
func DecodeObject(data []byte) (map[string]any, bool) {
	d := decoder{b: data}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	m, ok := d.object()
	if !ok {
		return nil, false
	}
	d.ws()
	return m, d.i == len(d.b)
}

// DecodeArray is DecodeObject for a top level that is an array.
func DecodeArray(data []byte) ([]any, bool) {
	d := decoder{b: data}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return nil, false
	}
	a, ok := d.array()
	if !ok {
		return nil, false
	}
	d.ws()
	return a, d.i == len(d.b)
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type decoder struct {
	b     []byte
	i     int
	depth int
	// members and elems hold the members and elements of the containers being
	// decoded, innermost last, so that each map and slice is made once at its size.
	members []member
	elems   []any
}

func (d *decoder) ws() {
	b, i := d.b, d.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	d.i = i
}

func (d *decoder) value() (any, bool) {
	d.ws()
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		m, ok := d.object()
		return m, ok
	case c == '[':
		a, ok := d.array()
		return a, ok
	case c == '"':
		s, ok := d.str()
		return s, ok
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, false
}

func (d *decoder) literal(lit string) bool {
	if len(d.b)-d.i >= len(lit) && string(d.b[d.i:d.i+len(lit)]) == lit {
		d.i += len(lit)
		return true
	}
	return false
}

// object decodes the object at d.i, which is '{'.
func (d *decoder) object() (map[string]any, bool) {
	if d.depth++; d.depth > maxDepth {
		return nil, false
	}
	d.i++
	base := len(d.members)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return map[string]any{}, true
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.key()
		if !ok {
			return nil, false
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		d.members = append(d.members, member{k, v})
		d.ws()
		if d.i >= len(d.b) {
			return nil, false
		}
		if d.b[d.i] == ',' {
			d.i++
			continue
		}
		if d.b[d.i] != '}' {
			return nil, false
		}
		d.i++
		break
	}
	ms := d.members[base:]
	m := make(map[string]any, len(ms))
	for j := range ms {
		m[ms[j].k] = ms[j].v
		ms[j] = member{} // let the values go with the map
	}
	d.members = d.members[:base]
	if len(m) != len(ms) {
		return nil, false // a repeated key: the caller's decoder decides what it means
	}
	d.depth--
	return m, true
}

// array decodes the array at d.i, which is '['.
func (d *decoder) array() ([]any, bool) {
	if d.depth++; d.depth > maxDepth {
		return nil, false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return []any{}, true
	}
	base := len(d.elems)
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		d.elems = append(d.elems, v)
		d.ws()
		if d.i >= len(d.b) {
			return nil, false
		}
		if d.b[d.i] == ',' {
			d.i++
			continue
		}
		if d.b[d.i] != ']' {
			return nil, false
		}
		d.i++
		d.depth--
		a := make([]any, len(d.elems)-base)
		copy(a, d.elems[base:])
		clear(d.elems[base:])
		d.elems = d.elems[:base]
		return a, true
	}
}

// key decodes the object key at d.i, which is '"'. The keys of Kubernetes objects
// are a small vocabulary, repeated in every object: those come from keys, not from a
// new string each.
func (d *decoder) key() (string, bool) {
	b := d.b
	start := d.i + 1
	for i := start; i < len(b) && i-start <= maxKnownKey; i++ {
		if b[i] == '"' {
			if k, ok := knownKeys[string(b[start:i])]; ok {
				d.i = i + 1
				return k, true
			}
			break
		}
		if b[i] == '\\' {
			break
		}
	}
	return d.str()
}

// str decodes the string at d.i, which is '"'.
func (d *decoder) str() (string, bool) {
	b := d.b
	start := d.i + 1
	i := start
	for i < len(b) {
		c := b[i]
		if c == '"' {
			d.i = i + 1
			return string(b[start:i]), true
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	// An escape, a control character or non-ASCII: build the string.
	out := make([]byte, i-start, i-start+16)
	copy(out, b[start:i])
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return string(out), true
		case c < 0x20:
			return "", false
		case c < utf8.RuneSelf && c != '\\':
			out = append(out, c)
			i++
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false // invalid UTF-8
			}
			out = append(out, b[i:i+n]...)
			i += n
		default: // a backslash
			if i+1 >= len(b) {
				return "", false
			}
			e := b[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r1, ok := hex4(b[i:])
				if !ok {
					return "", false
				}
				i += 4
				r := rune(r1)
				if utf16.IsSurrogate(r) {
					// A valid pair is one character; anything else is U+FFFD and
					// what follows is read on its own, as encoding/json does.
					r = utf8.RuneError
					if rest := b[i:]; len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
						if r2, ok := hex4(rest[2:]); ok {
							if p := utf16.DecodeRune(rune(r1), rune(r2)); p != utf8.RuneError {
								r = p
								i += 6
							}
						}
					}
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		}
	}
	return "", false
}

func hex4(b []byte) (int, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v := 0
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// number decodes the number at d.i strictly by JSON's grammar: an int64 when it has
// no '.' and parses as one (so 1e3 is a float64, as in sigs.k8s.io/json), else a
// float64.
func (d *decoder) number() (any, bool) {
	b, start, i := d.b, d.i, d.i
	neg := b[i] == '-'
	if neg {
		i++
	}
	var u uint64
	overflow := false
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if u > (1<<63)/10 {
				overflow = true
			}
			u = u*10 + uint64(b[i]-'0')
		}
	default:
		return nil, false
	}
	plain := true
	if i < len(b) && b[i] == '.' {
		i++
		plain = false
		from := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == from {
			return nil, false
		}
	}
	exp := false
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		exp = true
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		from := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == from {
			return nil, false
		}
	}
	d.i = i
	if plain && !exp && !overflow {
		switch {
		case !neg && u <= 1<<63-1:
			return int64(u), true
		case neg && u <= 1<<63:
			return -int64(u), true // -(1<<63) wraps to itself, as it should
		}
	}
	// A fraction, an exponent (sigs.k8s.io/json's integer parse fails on 1e3 too) or
	// an integer beyond int64.
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	return f, err == nil
}

// knownKeys are the commonest keys of Kubernetes objects (metadata, pods, nodes,
// workloads, managed fields), each mapped to itself.
var knownKeys, maxKnownKey = func() (map[string]string, int) {
	m := map[string]string{}
	longest := 0
	for _, k := range []string{
		"apiVersion", "kind", "metadata", "spec", "status", "data", "items", "type",
		"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
		"deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
		"ownerReferences", "finalizers", "generateName", "controller", "blockOwnerDeletion",
		"managedFields", "manager", "operation", "time", "fieldsType", "fieldsV1", "subresource",
		"containers", "initContainers", "image", "imagePullPolicy", "command", "args", "env",
		"value", "valueFrom", "ports", "containerPort", "protocol", "resources", "requests",
		"limits", "cpu", "memory", "volumeMounts", "mountPath", "readOnly", "volumes",
		"terminationMessagePath", "terminationMessagePolicy", "restartPolicy",
		"terminationGracePeriodSeconds", "dnsPolicy", "securityContext", "schedulerName",
		"serviceAccountName", "serviceAccount", "nodeName", "nodeSelector", "tolerations",
		"key", "operator", "effect", "tolerationSeconds", "priority", "enableServiceLinks",
		"preemptionPolicy", "affinity", "hostname", "subdomain", "selector", "matchLabels",
		"template", "replicas", "phase", "conditions", "lastProbeTime", "lastTransitionTime",
		"lastHeartbeatTime", "lastUpdateTime", "reason", "message", "hostIP", "hostIPs",
		"podIP", "podIPs", "ip", "startTime", "containerStatuses", "state", "lastState",
		"running", "startedAt", "ready", "restartCount", "started", "imageID", "containerID",
		"qosClass", "capacity", "allocatable", "addresses", "address", "daemonEndpoints",
		"kubeletEndpoint", "Port", "nodeInfo", "taints", "podCIDR", "podCIDRs",
		"holderIdentity", "leaseDurationSeconds", "renewTime", "acquireTime",
		"involvedObject", "source", "component", "host", "firstTimestamp", "lastTimestamp",
		"count", "reportingComponent", "reportingInstance", "eventTime", "action",
		"f:metadata", "f:spec", "f:status", "f:labels", "f:annotations", "f:conditions",
		"f:containers", "f:name", "f:image", "f:resources", "f:requests", "f:cpu",
		"f:phase", "f:podIP", "f:podIPs", "f:startTime", "f:containerStatuses",
		"f:nodeName", "f:type", "f:status", "f:lastTransitionTime", "f:lastProbeTime",
		"f:ip", "f:app", "f:ownerReferences", "f:renewTime", "f:holderIdentity", ".",
	} {
		m[k] = k
		longest = max(longest, len(k))
	}
	return m, longest
}()
