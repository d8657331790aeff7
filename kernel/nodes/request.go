package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"weft.dev/weft/kernel/objects"
	"weft.dev/weft/kernel/ujson"
	"weft.dev/weft/nodelink"
	"weft.dev/weft/nodelink/nodeapi"
)

// nodeCtx makes a node's requests run as the node, as kubelets' do.
func (m *Manager) nodeCtx(ctx context.Context, node string) context.Context {
	return objects.WithUser(ctx, objects.User{
		Name: nodelink.NodeUserPrefix + node, Groups: []string{nodelink.NodesGroup, "system:authenticated"}, Agent: "weft-agent/" + node,
	})
}

// handleRequest serves the nodelink request stream. Refusals travel as a Status in
// the response, so the agent can tell NotFound from Conflict from Forbidden.
func (m *Manager) handleRequest(ctx context.Context, node string, raw []byte) ([]byte, error) {
	var req nodeapi.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	ctx = m.nodeCtx(ctx, node)
	resp, err := m.serveRequest(ctx, node, &req)
	if err != nil {
		st := statusOf(err)
		resp = &nodeapi.Response{Error: st}
		if st.Code >= 500 {
			m.log.Warn("node request failed", "node", node, "op", req.Op, "err", err)
		}
	}
	return json.Marshal(resp)
}

func statusOf(err error) *metav1.Status {
	var s apierrors.APIStatus
	if !errors.As(err, &s) {
		s = apierrors.NewInternalError(err)
	}
	st := s.Status()
	return &st
}

func (m *Manager) serveRequest(ctx context.Context, node string, req *nodeapi.Request) (*nodeapi.Response, error) {
	switch req.Op {
	case nodeapi.OpNodeStatus:
		var st corev1.NodeStatus
		if len(req.Status) > 0 {
			if err := json.Unmarshal(req.Status, &st); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("node status: %v", err))
			}
		}
		obj, err := m.register(ctx, node, &st, req.Labels, req.Taints)
		if err != nil {
			return nil, err
		}
		return objectResponse(obj)
	case nodeapi.OpPodStatus:
		return m.podStatus(ctx, node, req)
	case nodeapi.OpPodDelete:
		return m.podDelete(ctx, node, req)
	case nodeapi.OpList:
		return m.list(ctx, node, req)
	case nodeapi.OpLease:
		return &nodeapi.Response{}, m.renewLease(ctx, node)
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("unknown node request %q", req.Op))
}

func objectResponse(obj *unstructured.Unstructured) (*nodeapi.Response, error) {
	raw, err := ujson.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	return &nodeapi.Response{Object: raw}, nil
}

func (m *Manager) podStatus(ctx context.Context, node string, req *nodeapi.Request) (*nodeapi.Response, error) {
	e, err := m.entry(podGVK)
	if err != nil {
		return nil, err
	}
	// Decoded as the kernel decodes what it stores (integers int64), not by
	// encoding/json (every number float64).
	status, err := ujson.UnmarshalObject(req.Status)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod status: %v", err))
	}
	var echoes *fanout
	key, base := e.Key(req.Namespace, req.Name), int64(req.Base)
	if req.Base != 0 && req.Base <= math.MaxInt64 {
		m.fanMu.Lock()
		echoes = m.fanouts[nodeapi.KindPods]
		m.fanMu.Unlock()
		// The status the write will store: nulls where the schema has none pruned,
		// as the write path prunes them. A node holds its status typed, so nulls and
		// absent fields are the same to it, and its copy is the version it would be
		// sent. A status from which more would be pruned, or where the schema would
		// default something, is left to the event.
		if echoes != nil && !e.Structural.DefaultsUnder("status") {
			norm := map[string]any{"status": runtime.DeepCopyJSONValue(status)}
			if len(e.Structural.Prune(norm)) == 0 {
				echoes.expectEcho(key, base, node, norm["status"])
			} else {
				echoes = nil
			}
		} else {
			echoes = nil
		}
	}
	res, err := m.objects.Mutate(ctx, e, req.Namespace, req.Name, "status", func(cur *unstructured.Unstructured) error {
		if n, _, _ := unstructured.NestedString(cur.Object, "spec", "nodeName"); n != node {
			return apierrors.NewForbidden(gr("pods"), req.Name, fmt.Errorf("pod %s/%s is not bound to node %q", req.Namespace, req.Name, node))
		}
		if req.UID != "" && cur.GetUID() != req.UID {
			return apierrors.NewConflict(gr("pods"), req.Name, fmt.Errorf("pod UID %s does not match %s: the pod was replaced", cur.GetUID(), req.UID))
		}
		cur.Object["status"] = status
		return nil
	}, objects.WriteOptions{FieldManager: "weft-agent"})
	rv := uint64(0)
	if err == nil {
		rv, _ = strconv.ParseUint(res.Object.GetResourceVersion(), 10, 64)
	}
	if echoes != nil && (err != nil || rv == req.Base) {
		echoes.withdrawEcho(key, base, node) // no version follows base from this write
	}
	if err != nil {
		return nil, err
	}
	// Not the pod: encoding it was a tenth of a status write's cost, and no node
	// reads it back.
	return &nodeapi.Response{Revision: rv}, nil
}

func (m *Manager) podDelete(ctx context.Context, node string, req *nodeapi.Request) (*nodeapi.Response, error) {
	e, err := m.entry(podGVK)
	if err != nil {
		return nil, err
	}
	p, err := m.podOnNode(ctx, node, req.Namespace, req.Name, req.UID)
	if err != nil {
		return nil, err
	}
	if p.GetDeletionTimestamp() == nil {
		return nil, apierrors.NewForbidden(gr("pods"), req.Name, fmt.Errorf("pod %s/%s is not being deleted; a node deletes only pods whose deletion it has carried out", req.Namespace, req.Name))
	}
	zero := int64(0)
	uid := p.GetUID()
	_, err = m.objects.Delete(ctx, e, req.Namespace, req.Name, objects.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil {
		return nil, err
	}
	return &nodeapi.Response{}, nil
}

// listBudget keeps a list page under the default frame limit with room to spare.
const listBudget = 3 << 20

// list answers one page of a node's list. A page that would not fit in a frame is
// read again with half the items, down to one.
func (m *Manager) list(ctx context.Context, node string, req *nodeapi.Request) (*nodeapi.Response, error) {
	e, sel, err := m.kindScope(node, req.Kind)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	for {
		list, err := m.objects.List(ctx, e, "", objects.ListOptions{Selector: sel, Limit: limit, Continue: req.Continue})
		if err != nil {
			return nil, err
		}
		resp := &nodeapi.Response{Items: make([]json.RawMessage, 0, len(list.Items)), Continue: list.GetContinue()}
		size := 0
		for i := range list.Items {
			raw, err := encodeForNode(list.Items[i].Object, "")
			if err != nil {
				return nil, err
			}
			size += len(raw)
			resp.Items = append(resp.Items, raw)
		}
		if size > listBudget && limit > 1 {
			limit /= 2
			continue
		}
		if resp.Revision, err = strconv.ParseUint(list.GetResourceVersion(), 10, 64); err != nil {
			return nil, err
		}
		return resp, nil
	}
}
