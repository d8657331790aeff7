package core

import (
	"sync"

	"weft.dev/weft/sdk"
)

// podMemo remembers the pod hooks' answers by the pod's spec, byte for byte. Pods
// made from one template (a Deployment's, a Job's, a benchmark's) have identical
// specs, and each answer it keeps is a function of what the key holds: the defaults'
// patch of the spec, the operation and whether a status was sent (defaultPod reads
// nothing else once the pod decodes); the validation of a CREATE of the spec alone
// (validatePod names the pod only in a denial, and denials are not kept). A hit spares
// decoding the spec again, which in a wasm guest is most of a pod's admission: about
// 100 µs a hook against 10 natively.
type podMemo struct {
	mu       sync.Mutex
	defaults map[string][]byte   // operation, status flag, spec -> patch (nil for none)
	valid    map[string]struct{} // specs a CREATE found valid
	bytes    int
	key      []byte // scratch for lookups
	hits     int
}

// memoMaxBytes bounds what the memo keeps; past it, it starts over.
const memoMaxBytes = 4 << 20

func newPodMemo() *podMemo {
	return &podMemo{defaults: map[string][]byte{}, valid: map[string]struct{}{}}
}

// Admit answers as Admit does, from the memo when it can.
func (m *podMemo) Admit(c *sdk.Client, req sdk.AdmissionRequest) sdk.AdmissionResponse {
	if len(req.Object) == 0 || req.Subresource != "" || req.Kind != (sdk.GVK{Version: "v1", Kind: "Pod"}) {
		return Admit(c, req)
	}
	switch {
	case req.Hook == HookPodDefaults:
		spec, hasStatus, ok := scanPod(req.Object)
		if !ok {
			return Admit(c, req)
		}
		m.mu.Lock()
		m.key = defaultsKey(m.key[:0], req.Operation, hasStatus, spec)
		patch, hit := m.defaults[string(m.key)]
		if hit {
			m.hits++
		}
		m.mu.Unlock()
		if hit {
			if patch == nil {
				return allowed
			}
			return sdk.AdmissionResponse{Allowed: true, Patch: patch}
		}
		resp := Admit(c, req)
		if resp.Allowed && resp.Status == nil && resp.Object == nil && len(resp.Warnings) == 0 && len(resp.AuditAnnotations) == 0 {
			m.mu.Lock()
			m.key = defaultsKey(m.key[:0], req.Operation, hasStatus, spec)
			m.keep(len(m.key) + len(resp.Patch))
			m.defaults[string(m.key)] = resp.Patch
			m.mu.Unlock()
		}
		return resp
	case req.Hook == HookPodValidation && req.Operation == "CREATE":
		spec, _, ok := scanPod(req.Object)
		if !ok {
			return Admit(c, req)
		}
		m.mu.Lock()
		_, hit := m.valid[string(spec)]
		if hit {
			m.hits++
		}
		m.mu.Unlock()
		if hit {
			return allowed
		}
		resp := Admit(c, req)
		if resp.Allowed && resp.Status == nil && resp.Object == nil && resp.Patch == nil && len(resp.Warnings) == 0 && len(resp.AuditAnnotations) == 0 {
			m.mu.Lock()
			m.keep(len(spec))
			m.valid[string(spec)] = struct{}{}
			m.mu.Unlock()
		}
		return resp
	}
	return Admit(c, req)
}

// defaultsKey appends the key of the defaults' answer to dst.
func defaultsKey(dst []byte, op string, hasStatus bool, spec []byte) []byte {
	flag := byte('0')
	if hasStatus {
		flag = '1'
	}
	return append(append(append(dst, op...), 0, flag, 0), spec...)
}

// keep makes room for n more bytes. m.mu is held.
func (m *podMemo) keep(n int) {
	if m.bytes+n > memoMaxBytes {
		clear(m.defaults)
		clear(m.valid)
		m.bytes = 0
	}
	m.bytes += n
}

// scanPod finds a pod's spec, as the bytes it came as, and whether the object has a
// status, reading metadata's name as decodePod does; ok is false where decodePod
// would fail or find no spec (the hooks then answer without the memo). It checks the
// whole document, as decodePod does.
func scanPod(b []byte) (spec []byte, hasStatus, ok bool) {
	r := sdk.NewJSONReader(b)
	r.Object(func(k []byte) {
		switch string(k) {
		case "metadata":
			var name string
			readName(r, &name)
		case "spec":
			spec = r.Raw()
		case "status":
			hasStatus = true
			r.Skip()
		default:
			r.Skip()
		}
	})
	if r.End() != nil || spec == nil || string(spec) == "null" {
		return nil, false, false
	}
	return spec, hasStatus, true
}
