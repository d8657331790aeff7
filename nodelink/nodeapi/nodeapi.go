// Package nodeapi is what Weft's kernel and node agent say to each other over nodelink:
// the request stream's JSON operations, the scope of the watch kinds, and the headers
// and framing of the kernel-opened logs, exec and port-forward streams. nodelink
// itself carries these bytes without knowing them; both kernel/nodes and node/agent
// import this package, so it depends on nothing but the Kubernetes API types.
package nodeapi

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Watch kinds (nodelink.Client.Watch). Revisions are store revisions, the objects'
// resourceVersions. A watch from revision 0 starts at the current revision with no
// initial events: list first (OpList), then watch from the list's revision.
const (
	// KindPods: the pods whose spec.nodeName is the node.
	KindPods = "pods"
	// KindConfigMaps and KindSecrets: every ConfigMap and Secret of the cluster (the
	// node authorizer's narrower scope, only those its pods use, is future work).
	KindConfigMaps = "configmaps"
	KindSecrets    = "secrets"
	// KindNodes: every Node, for routes to the other nodes' pod CIDRs.
	KindNodes = "nodes"
)

// Request operations.
const (
	// OpNodeStatus registers the node or refreshes its status: Status carries a
	// corev1.NodeStatus with addresses, capacity, allocatable and nodeInfo; the kernel
	// owns conditions. The response's Object is the Node (spec.podCIDR assigned).
	OpNodeStatus = "nodeStatus"
	// OpPodStatus replaces the status of the pod Namespace/Name (UID must match) with
	// Status, a corev1.PodStatus. The response's Revision is the pod's new
	// resourceVersion. Base, when set, is the resourceVersion of the node's copy of the
	// pod: the kernel then leaves out of the node's pod watch the version this write
	// makes, if that version is exactly the node's copy at Base with Status (apart from
	// managedFields, which nodes are not sent). The node, whose copy is still at Base
	// when the response comes, sets Status on it and its resourceVersion to Revision
	// itself; should the event come anyway, it is that same version.
	OpPodStatus = "podStatus"
	// OpPodDelete deletes the pod Namespace/Name (UID must match) for good, with grace
	// 0, once the node has stopped everything of it: it must be terminating or
	// finished.
	OpPodDelete = "podDelete"
	// OpList lists Kind as the node's watch sees it, one page per request: Limit
	// items at most (the kernel may return fewer to keep the response under the
	// frame limit), and Continue, when set in the response, asks for the next page.
	// All pages are one snapshot; Revision is where the watch starts.
	OpList = "list"
	// OpLease renews the node's Lease now (the kernel also renews it on heartbeats).
	OpLease = "lease"
)

// Request is one node request.
type Request struct {
	Op        string          `json:"op"`
	Kind      string          `json:"kind,omitempty"`
	Namespace string          `json:"namespace,omitempty"`
	Name      string          `json:"name,omitempty"`
	UID       types.UID       `json:"uid,omitempty"`
	Status    json.RawMessage `json:"status,omitempty"`
	// Base is the resourceVersion of the node's copy of the object (OpPodStatus).
	Base uint64 `json:"base,omitempty"`
	// Labels and Taints of a nodeStatus request are given to a Node when it is
	// created, as kubelet's --node-labels and --register-with-taints are.
	Labels   map[string]string `json:"labels,omitempty"`
	Taints   []corev1.Taint    `json:"taints,omitempty"`
	Limit    int64             `json:"limit,omitempty"`
	Continue string            `json:"continue,omitempty"`
}

// Response answers a Request. Error is set when the kernel refused it, as the
// Status the API would have returned.
type Response struct {
	Error    *metav1.Status    `json:"error,omitempty"`
	Object   json.RawMessage   `json:"object,omitempty"`
	Items    []json.RawMessage `json:"items,omitempty"`
	Revision uint64            `json:"revision,omitempty"`
	Continue string            `json:"continue,omitempty"`
}

// NodeStatus is the status a node reports (OpNodeStatus); conditions are the kernel's.
type NodeStatus = corev1.NodeStatus

// Kernel-opened stream kinds.
const (
	StreamLogs        = "logs"
	StreamExec        = "exec"
	StreamPortForward = "port-forward"
)

// LogsHeader is the header of a logs stream (kubectl logs' options).
type LogsHeader struct {
	Namespace  string     `json:"namespace"`
	Pod        string     `json:"pod"`
	UID        types.UID  `json:"uid,omitempty"`
	Container  string     `json:"container"`
	Follow     bool       `json:"follow,omitempty"`
	Previous   bool       `json:"previous,omitempty"`
	Timestamps bool       `json:"timestamps,omitempty"`
	TailLines  *int64     `json:"tailLines,omitempty"`
	Since      *time.Time `json:"since,omitempty"`
	LimitBytes *int64     `json:"limitBytes,omitempty"`
}

// ExecHeader is the header of an exec stream.
type ExecHeader struct {
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	UID       types.UID `json:"uid,omitempty"`
	Container string    `json:"container"`
	Command   []string  `json:"command"`
	Stdin     bool      `json:"stdin,omitempty"`
	Stdout    bool      `json:"stdout,omitempty"`
	Stderr    bool      `json:"stderr,omitempty"`
	TTY       bool      `json:"tty,omitempty"`
}

// PortForwardHeader is the header of a port-forward stream: one TCP connection to
// Port on the pod's loopback (inside its network namespace), as kubelet dials it.
type PortForwardHeader struct {
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	UID       types.UID `json:"uid,omitempty"`
	Port      int32     `json:"port"`
}

// A port-forward stream starts, node to kernel, with one result message
// (WriteResult): an empty Status once the node has connected to the port, after which
// the stream carries the connection's bytes both ways (FIN is the TCP half-close); or
// the failure (pod not found, connection refused), after which the stream ends.

// A logs stream starts, node to kernel, with one result message (WriteResult): an
// empty Status on success, after which the log follows as raw bytes; or the failure,
// after which the stream ends. The node sends the result as soon as the log's first
// bytes are ready, or when the log call returns, or after a short wait for a follow
// that has nothing yet.

// WriteResult writes a result message: a 4-byte big-endian length and a Status as JSON.
func WriteResult(w io.Writer, st *metav1.Status) error {
	if st == nil {
		st = &metav1.Status{Status: metav1.StatusSuccess}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(raw)))
	_, err = w.Write(append(buf, raw...))
	return err
}

// maxResult bounds a result message.
const maxResult = 64 << 10

// ReadResult reads a result message; a failure Status is returned as is, not as error.
func ReadResult(r io.Reader) (*metav1.Status, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxResult {
		return nil, fmt.Errorf("nodeapi: result of %d bytes exceeds %d", n, maxResult)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, err
	}
	st := &metav1.Status{}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("nodeapi: bad result: %w", err)
	}
	return st, nil
}

// An exec stream carries channel messages both ways, numbered as Kubernetes' remote
// command channels are: a 1-byte channel, a 4-byte big-endian length, the payload.
// Kernel to node: ChanStdin (data), ChanResize (JSON {"Width","Height"}), ChanClose
// (payload: the channel closed, ChanStdin). Node to kernel: ChanStdout, ChanStderr, and
// last ChanError with the final Status (Success, or Failure with reason
// NonZeroExitCode and an ExitCode cause, as the kubelet sends it), then FIN.
const (
	ChanStdin  byte = 0
	ChanStdout byte = 1
	ChanStderr byte = 2
	ChanError  byte = 3
	ChanResize byte = 4
	ChanClose  byte = 255

	// MaxMessage bounds one exec message.
	MaxMessage = 1 << 20
)

// ErrMessageTooLarge: an exec message exceeds MaxMessage.
var ErrMessageTooLarge = errors.New("nodeapi: exec message too large")

// WriteMessage writes one exec channel message.
func WriteMessage(w io.Writer, ch byte, p []byte) error {
	if len(p) > MaxMessage {
		return ErrMessageTooLarge
	}
	buf := make([]byte, 5+len(p))
	buf[0] = ch
	binary.BigEndian.PutUint32(buf[1:], uint32(len(p)))
	copy(buf[5:], p)
	_, err := w.Write(buf)
	return err
}

// ReadMessage reads one exec channel message.
func ReadMessage(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxMessage {
		return 0, nil, ErrMessageTooLarge
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// ExitStatus is the Status of an exec that ended with code, as the kubelet reports it.
func ExitStatus(code int) *metav1.Status {
	if code == 0 {
		return &metav1.Status{Status: metav1.StatusSuccess}
	}
	return &metav1.Status{
		Status:  metav1.StatusFailure,
		Reason:  "NonZeroExitCode",
		Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command, exit status %d", code),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: fmt.Sprint(code)}}},
	}
}

// ErrorStatus is the Status of an exec or log that failed before or while running.
func ErrorStatus(code int32, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg}
}
