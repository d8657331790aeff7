package sdk

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// Every envelope survives the wire encoding, including empty and odd values.
func TestWireRoundTrip(t *testing.T) {
	t.Run("reconcile", func(t *testing.T) {
		for _, in := range []ReconcileRequest{{}, {Controller: "c", Kind: GVK{"apps", "v1", "Deployment"}, Namespace: "ns", Name: "n"}} {
			var out ReconcileRequest
			if err := out.UnmarshalWire(in.MarshalWire()); err != nil || out != in {
				t.Errorf("%+v -> %+v, %v", in, out, err)
			}
		}
		for _, in := range []ReconcileResult{{}, {RequeueAfterMillis: 1500, Error: "boom"}} {
			var out ReconcileResult
			if err := out.UnmarshalWire(in.MarshalWire()); err != nil || out != in {
				t.Errorf("%+v -> %+v, %v", in, out, err)
			}
		}
	})
	t.Run("admission", func(t *testing.T) {
		in := AdmissionRequest{Hook: "h", Operation: "UPDATE", Kind: GVK{"", "v1", "Pod"}, Namespace: "ns", Name: "p", Subresource: "status",
			Object: json.RawMessage(`{"a":1}`), OldObject: json.RawMessage(`{"a":0}`), User: UserInfo{Username: "u", Groups: []string{"g1", "g2"}}, DryRun: true}
		var out AdmissionRequest
		if err := out.UnmarshalWire(in.MarshalWire()); err != nil || !reflect.DeepEqual(out, in) {
			t.Errorf("%+v -> %+v, %v", in, out, err)
		}
		resp := AdmissionResponse{Allowed: false, Status: &Status{Code: 422, Reason: "Invalid", Message: "m"}, Patch: json.RawMessage(`[]`),
			Warnings: []string{"w1", "w2"}, AuditAnnotations: map[string]string{"k": "v", "k2": ""}}
		var back AdmissionResponse
		if err := back.UnmarshalWire(resp.MarshalWire()); err != nil || !reflect.DeepEqual(back, resp) {
			t.Errorf("%+v -> %+v, %v", resp, back, err)
		}
	})
	t.Run("call", func(t *testing.T) {
		in := CallRequest{Group: "g", Version: "v", Resource: "r", Namespace: "ns", Name: "n", Object: []byte(`{}`), PatchType: "merge",
			Patch: []byte(`{"x":1}`), LabelSelector: "a=b", FieldSelector: "f=g", PropagationPolicy: "Orphan", UID: "u", ResourceVersion: "7",
			EventType: "Normal", Reason: "R", Message: "M", MetaOnly: true,
			Batch: []BatchItem{{Op: OpCreate, Request: CallRequest{Resource: "pods", Object: []byte(`{"a":1}`)}}, {Op: OpDelete, Request: CallRequest{Name: "x"}}}}
		var out CallRequest
		if err := out.UnmarshalWire(in.MarshalWire()); err != nil || !reflect.DeepEqual(out, in) {
			t.Errorf("%+v -> %+v, %v", in, out, err)
		}
		rs := []BatchResult{{Body: []byte(`{"metadata":{}}`)}, {Code: 409, Body: []byte(`{"code":409,"reason":"AlreadyExists"}`)}}
		got, err := DecodeBatchResults(EncodeBatchResults(rs))
		if err != nil || !reflect.DeepEqual(got, rs) {
			t.Errorf("batch results %+v, %v", got, err)
		}
		if !IsAlreadyExists(got[1].Err()) || got[0].Err() != nil {
			t.Errorf("batch errors: %v %v", got[0].Err(), got[1].Err())
		}
	})
	t.Run("feed", func(t *testing.T) {
		in := []FeedEvent{{Type: Added, Kind: GVK{"", "v1", "Pod"}, Object: []byte(`{"metadata":{"name":"a"}}`)}, {Type: Synced}}
		out, err := DecodeFeed(EncodeFeed(in))
		if err != nil || len(out) != 2 || out[0].Type != Added || out[0].Kind != in[0].Kind || string(out[0].Object) != string(in[0].Object) || out[1].Type != Synced {
			t.Errorf("%+v, %v", out, err)
		}
	})
}

// A truncated or corrupt message is an error, never a panic or a silent partial read.
func TestWireMalformed(t *testing.T) {
	full := (&CallRequest{Resource: "pods", Name: "x", Object: []byte(`{"a":1}`)}).MarshalWire()
	for i := 1; i < len(full); i++ {
		var out CallRequest
		err := out.UnmarshalWire(full[:i])
		if err == nil && i < len(full) {
			// Cutting exactly at a field boundary is a shorter, valid message.
			if _, e := DecodeFeed(full[:i]); e != nil && !errors.Is(e, ErrWire) {
				t.Errorf("cut at %d: %v", i, e)
			}
			continue
		}
		if !errors.Is(err, ErrWire) {
			t.Errorf("cut at %d: %v", i, err)
		}
	}
	var out CallRequest
	if err := out.UnmarshalWire([]byte{5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}); !errors.Is(err, ErrWire) {
		t.Errorf("huge length: %v", err)
	}
}

func FuzzWire(f *testing.F) {
	f.Add((&CallRequest{Resource: "pods", Batch: []BatchItem{{Op: OpGet}}}).MarshalWire())
	f.Add(EncodeFeed([]FeedEvent{{Type: Added, Object: []byte(`{}`)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c CallRequest
		_ = c.UnmarshalWire(b)
		var a AdmissionRequest
		_ = a.UnmarshalWire(b)
		var r AdmissionResponse
		_ = r.UnmarshalWire(b)
		_, _ = DecodeFeed(b)
		_, _ = DecodeBatchResults(b)
	})
}

func TestRouteWire(t *testing.T) {
	in := RouteRequest{Method: "GET", Host: "h", Path: "/p", Headers: map[string]string{"A": "1", "B": ""}, RemoteAddr: "10.0.0.1:5", TLS: true}
	var out RouteRequest
	if err := out.UnmarshalWire(in.MarshalWire()); err != nil || !reflect.DeepEqual(out, in) {
		t.Errorf("%+v -> %+v, %v", in, out, err)
	}
	resp := RouteResponse{Backend: "ns/svc:80", RewritePath: "/x", SetHeaders: map[string]string{"Location": "/y"}, Status: 301}
	var back RouteResponse
	if err := back.UnmarshalWire(resp.MarshalWire()); err != nil || !reflect.DeepEqual(back, resp) {
		t.Errorf("%+v -> %+v, %v", resp, back, err)
	}
}
