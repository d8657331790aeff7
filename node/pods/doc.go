// Package pods runs the pods bound to a node: Manager implements agent.PodManager on
// top of node/runtime (containers on the agent's containerd), node/image (pull
// policies) and cni (one network namespace and address per pod), with kubelet's
// semantics as users know them.
//
// # Workers
//
// Each pod has one worker goroutine that owns everything of the pod and reconciles it
// whenever something happens: a Sync from the agent, a container exit (from the
// runtime's exit events), a probe result, a backoff timer, a changed ConfigMap or
// Secret, or the periodic resync. A reconcile builds the sandbox once (pod dir,
// network namespace, /etc/hosts, /etc/resolv.conf, volumes), runs the init containers
// one after the other, then starts the app containers, restarts what exited according
// to restartPolicy with CrashLoopBackOff, and computes the pod's status. An Update is
// sent only when that status differs (semantically) from the last one sent or, for a
// pod met for the first time, from the status the pod already had in the API.
//
// The CPU-heavy steps of starting a pod, CNI ADD and each container's create and
// start, take a turn at the manager's start gate: at most Config.StartParallelism
// pods run them at once, the pod met first going first. When many pods arrive
// together the CPUs are the limit, and in turn they reach Running one after the other
// instead of all near the end. A turn is a lease that expires, and a pod deleted
// while it waits gives its place up.
//
// # On disk and in containerd
//
//	<DataDir>/pods/<uid>/
//	    etc-hosts, resolv.conf, hostname   bind-mounted into every container
//	    volumes/<kind>/<name>              emptyDir, configMap, secret, downwardAPI, projected
//	    logs/<container>/<n>.log           CRI-format log of the container's n-th instance
//	    term/<container>/<n>               its terminationMessagePath file
//
// Every container instance is its own containerd container, named
// <uid prefix>-<container>-<n>, where n is the instance number and so the
// restartCount it reports. Its labels (LabelPodUID, LabelContainer, LabelRestart, ...)
// are all a restarted agent needs to map it back to its pod: New lists them, together
// with the CNI sandboxes, and the first Sync of such a pod adopts them as they are. The
// instance before the current one is kept (stopped) for lastState and `logs
// --previous`; older ones are deleted. A pod's containers share one containerd shim
// process, and Config.PodsPerShim pods share it (see Manager.shimGroup); the group
// is in each container's spec, so containerd finds its shim again after a restart.
//
// # Adoption and orphans
//
// After a restart, adopted pods wait for the agent's Sync. Pods that never get one
// (deleted while the agent was down) are torn down by CollectOrphans, which the agent
// calls once it has synced every pod the API binds to this node, or automatically
// after Config.OrphanGrace when that is set.
//
// # Restarts and termination
//
// CrashLoopBackOff follows kubelet's doBackOff: the first restart after an exit is
// immediate, each later one waits BackoffInitial, doubling up to BackoffMax, counted
// from the exit; a container that went BackoffReset without a restart starts over.
// Liveness and startup probe failures stop the instance with the pod's
// terminationGracePeriodSeconds and the restart follows restartPolicy. A pod that
// reaches Succeeded or Failed never runs again (also after an agent restart): its
// sidecars are stopped and its address released at once, its containers and logs
// stay until deletion. A deleting pod gets preStop hooks, SIGTERM, its grace period
// (a shorter one from a later Sync, or Forget, cuts it), SIGKILL, then CNI DEL, its
// mounts and directory removed, and a last Update with Terminated set, whose phase
// is Succeeded if every container exited 0 and Failed otherwise.
//
// # Files updated atomically
//
// configMap, secret, downwardAPI and projected volumes use kubelet's atomic writer:
// the payload is written to a new timestamped directory "..<time>", a "..data_tmp"
// symlink to it is renamed over "..data", and every user-visible name is a symlink
// through "..data". A container therefore sees either the old or the new set of
// files, never a mix, and subPath mounts (which bind one file) do not update, as in
// Kubernetes.
package pods
