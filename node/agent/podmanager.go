package agent

import (
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/node/runtime"
)

// PodManager runs the pods bound to this node (node/pods implements it). The agent
// feeds it what the kernel says and carries back what it reports.
type PodManager interface {
	// Sync makes the pod's containers match its spec, or, once it has a
	// deletionTimestamp, stops them within its grace period. It returns quickly; the
	// work happens in the background. The pod is the agent's cached copy, which is
	// replaced and never changed: the manager may keep it, and copies it to change it.
	Sync(ctx context.Context, pod *corev1.Pod)
	// Forget releases everything of a pod that no longer exists in the API.
	Forget(ctx context.Context, uid types.UID)
	// Updates delivers pods whose status changed: a copy of the pod with the new
	// status. A pod that was deleting and has stopped everything comes with
	// Terminated set, and the agent then deletes it for good.
	Updates() <-chan Update
	// Logs writes a container's log (previous: the instance before the last restart).
	Logs(ctx context.Context, namespace, pod, container string, previous bool, opts runtime.LogOptions, stdout, stderr io.Writer) error
	// Exec runs a command in a running container and returns its exit code.
	Exec(ctx context.Context, namespace, pod, container string, opts runtime.ExecOptions) (int, error)
	// PortForward connects to port on the pod's loopback, inside its network
	// namespace, and copies between that connection and stream until both directions
	// end (end of stream: half-close the connection; end of the connection: CloseWrite
	// the stream if it has that method) or ctx ends. uid, when set, must be the pod's.
	// It must not touch stream before it is connected: the first Read or Write of
	// stream reports the connection made to the kernel, an error returned before
	// reports the failure.
	PortForward(ctx context.Context, namespace, pod string, uid types.UID, port int32, stream io.ReadWriteCloser) error
	// ObjectChanged tells the manager a ConfigMap or Secret changed, so the volumes
	// made from it are updated.
	ObjectChanged(kind, namespace, name string)
}

// Update is a pod's new status, as a PodManager reports it.
type Update struct {
	Pod *corev1.Pod
	// Terminated: the pod was deleting and everything of it has stopped.
	Terminated bool
}

// Objects gives a PodManager the ConfigMaps and Secrets its pods refer to (for env and
// volumes), from the agent's watch cache.
type Objects interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, bool)
	Secret(namespace, name string) (*corev1.Secret, bool)
}
