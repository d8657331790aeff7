package runtime

import "errors"

// Sentinel errors; callers test them with errors.Is, wrapped errors say which object.
var (
	// ErrNotFound means the container (or its task) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotRunning means the operation needs a running task.
	ErrNotRunning = errors.New("container not running")
	// ErrDaemon means the private containerd failed to start or to answer.
	ErrDaemon = errors.New("containerd daemon")
	// ErrInvalidSpec means a container spec was rejected before reaching containerd.
	ErrInvalidSpec = errors.New("invalid container spec")
)
