package pods_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"weft.dev/weft/node/pods"
	"weft.dev/weft/node/runtime"
)

// TestLocalhostBetweenContainers: two containers of one pod share its network
// namespace (httpd answers wget on localhost), the pod gets an address from the
// pod CIDR, and its hosts file, resolv.conf and hostname are kubelet's.
func TestLocalhostBetweenContainers(t *testing.T) {
	e := newEnv(t, nil)
	pod := newPod("web",
		sh("server", `mkdir -p /www && echo hello-from-server > /www/index.html && exec httpd -f -p 8080 -h /www`),
		sh("client", `while true; do wget -q -O - http://localhost:8080/ && sleep 5 || sleep 0.2; done`),
	)
	e.sync(pod)
	p := e.waitRunning(pod)
	ip, err := netip.ParseAddr(p.Status.PodIP)
	if err != nil || !netip.MustParsePrefix(podCIDR).Contains(ip) {
		t.Fatalf("pod IP %q not in %s", p.Status.PodIP, podCIDR)
	}
	if p.Status.HostIP != "192.0.2.10" || p.Status.StartTime == nil || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status: hostIP %q startTime %v qos %q", p.Status.HostIP, p.Status.StartTime, p.Status.QOSClass)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || cs.Image != "localhost/busybox:latest" || cs.Started == nil || !*cs.Started {
			t.Errorf("container status %+v", cs)
		}
	}
	eventually(t, 20*time.Second, func() error {
		out, err := e.logs(pod, "client", false, runtime.LogOptions{Tail: -1})
		if err != nil || !strings.Contains(out, "hello-from-server") {
			return fmt.Errorf("client log %q %v", out, err)
		}
		return nil
	})
	hosts := e.mustExec(pod, "client", "cat", "/etc/hosts")
	if !strings.Contains(hosts, p.Status.PodIP+"\tweb\n") || !strings.Contains(hosts, "127.0.0.1\tlocalhost") {
		t.Errorf("/etc/hosts:\n%s", hosts)
	}
	if h := strings.TrimSpace(e.mustExec(pod, "client", "hostname")); h != "web" {
		t.Errorf("hostname %q", h)
	}
	if _, _, err := e.exec(pod, "client", "test", "-s", "/etc/resolv.conf"); err != nil {
		t.Errorf("resolv.conf: %v", err)
	}
	// The node reaches the pod on its address (the path httpGet probes take).
	if out, err := e.logs(pod, "server", false, runtime.LogOptions{Tail: -1, Timestamps: true}); err != nil {
		t.Errorf("server logs: %v %q", err, out)
	}
	e.deleteAndWait(p, 2, 20*time.Second)
}

// TestInitContainersInOrder: init containers run one after the other to completion
// before the app container starts.
func TestInitContainersInOrder(t *testing.T) {
	e := newEnv(t, nil)
	pod := newPod("init", sh("app", `cat /work/order; exec sleep 1000`))
	pod.Spec.InitContainers = []corev1.Container{
		sh("first", `sleep 0.5; echo first >> /work/order`),
		sh("second", `echo second >> /work/order`),
	}
	pod.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	for i := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[i].Image = "localhost/busybox:latest"
		pod.Spec.InitContainers[i].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	e.sync(pod)
	p := e.waitRunning(pod)
	if got := e.mustExec(pod, "app", "cat", "/work/order"); got != "first\nsecond\n" {
		t.Errorf("order %q", got)
	}
	for _, name := range []string{"first", "second"} {
		cs := ctrStatus(p, name)
		if cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" || !cs.Ready {
			t.Errorf("init %s: %+v", name, cs.State)
		}
	}
	if !condition(p, corev1.PodInitialized) {
		t.Error("Initialized is not True")
	}
	e.deleteAndWait(p, 2, 20*time.Second)

	// A sidecar (an init container with restartPolicy Always) starts before the app
	// containers, runs beside them, and is stopped once they have finished.
	side := newPod("sidecar", sh("app", "sleep 1; ls /work/sidecar-was-here"))
	side.Spec.RestartPolicy = corev1.RestartPolicyNever
	side.Spec.Volumes = pod.Spec.Volumes
	always := corev1.ContainerRestartPolicyAlways
	side.Spec.InitContainers = []corev1.Container{sh("helper", "touch /work/sidecar-was-here; exec sleep 1000")}
	side.Spec.InitContainers[0].Image = "localhost/busybox:latest"
	side.Spec.InitContainers[0].RestartPolicy = &always
	side.Spec.InitContainers[0].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	side.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	e.sync(side)
	p = e.waitPod(side.UID, 30*time.Second, "Succeeded with its sidecar stopped", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded && ctrStatus(p, "helper").State.Terminated != nil
	})
	if cs := ctrStatus(p, "app"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
		t.Errorf("app beside a sidecar: %s", describe(p))
	}
	e.deleteAndWait(p, 2, 20*time.Second)

	// A failing init container with restartPolicy Never fails the pod.
	bad := newPod("init-fail", sh("app", "sleep 1000"))
	bad.Spec.RestartPolicy = corev1.RestartPolicyNever
	bad.Spec.InitContainers = []corev1.Container{sh("broken", "exit 7")}
	bad.Spec.InitContainers[0].Image = "localhost/busybox:latest"
	e.sync(bad)
	p = e.waitPod(bad.UID, 30*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if cs := ctrStatus(p, "app"); cs.State.Waiting == nil || cs.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("app container of failed init: %+v", cs.State)
	}
	e.deleteAndWait(p, 2, 20*time.Second)
}

// TestEnv: valueFrom ConfigMap, Secret, fieldRef and resourceFieldRef, envFrom with
// a prefix, $(VAR) expansion; a missing required ConfigMap holds the container in
// CreateContainerConfigError until it appears.
func TestEnv(t *testing.T) {
	e := newEnv(t, nil)
	e.objs.setSecret("default", "creds", map[string]string{"password": "s3cret"})
	c := sh("app", "exec sleep 1000")
	c.Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "plain"},
		{Name: "FROM_CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "color"}}},
		{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "APP_LABEL", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		{Name: "MEM_LIMIT_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "x", Optional: ptr(true)}}},
		{Name: "COMBINED", Value: "$(PLAIN)-$(FROM_CM)-$$(PLAIN)"},
	}
	c.EnvFrom = []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("500m")}
	pod := newPod("env", c)
	e.sync(pod)
	p := e.waitPod(pod.UID, 30*time.Second, "waiting in CreateContainerConfigError", func(p *corev1.Pod) bool {
		w := ctrStatus(p, "app").State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" && strings.Contains(w.Message, `configmap "settings" not found`)
	})
	if p.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s", p.Status.Phase)
	}
	e.objs.setConfigMap("default", "settings", map[string]string{"color": "blue", "size": "L"})
	e.m.ObjectChanged("ConfigMap", "default", "settings")
	p = e.waitRunning(pod)
	env := e.mustExec(pod, "app", "env")
	for _, want := range []string{
		"PLAIN=plain", "FROM_CM=blue", "FROM_SECRET=s3cret", "POD_NAME=env", "POD_IP=" + p.Status.PodIP,
		"NODE=" + testNode, "APP_LABEL=env", "MEM_LIMIT_MI=64", "CFG_color=blue", "CFG_size=L", "COMBINED=plain-blue-$(PLAIN)",
	} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "OPTIONAL=") {
		t.Error("optional missing ref was set")
	}
	// Limits reach the cgroup.
	if got := e.cgroupValue(p, "app", "memory.max", "memory", "memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("memory limit %q", got)
	}
	if got := e.cgroupValue(p, "app", "cpu.max", "cpu", "cpu.cfs_quota_us"); got != "50000 100000" && got != "50000" {
		t.Errorf("cpu quota %q", got)
	}
	e.deleteAndWait(p, 2, 20*time.Second)
}

func ptr[T any](v T) *T { return &v }

// TestRestartAlways: a killed container restarts at once (restartCount 1), a second
// crash waits out the CrashLoopBackOff, and logs --previous shows the last instance.
func TestRestartAlways(t *testing.T) {
	e := newEnv(t, nil)
	pod := newPod("crashy", sh("app", `echo started $RANDOM$RANDOM; exec sleep 1000`))
	e.sync(pod)
	p := e.waitRunning(pod)
	kill := func() {
		t.Helper()
		// The instance has logged before it dies, so that --previous has something.
		eventually(t, 10*time.Second, func() error {
			out, err := e.logs(p, "app", false, runtime.LogOptions{Tail: -1})
			if err != nil || !strings.Contains(out, "started") {
				return fmt.Errorf("log of the running instance %q %v", out, err)
			}
			return nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		id := strings.TrimPrefix(ctrStatus(p, "app").ContainerID, "containerd://")
		st, err := e.rt.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(int(st.Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	kill()
	p = e.waitPod(pod.UID, 20*time.Second, "restarted once", func(p *corev1.Pod) bool {
		cs := ctrStatus(p, "app")
		return cs.RestartCount == 1 && cs.State.Running != nil
	})
	cs := ctrStatus(p, "app")
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 137 || lt.Reason != "Error" {
		t.Errorf("lastState %+v", cs.LastTerminationState)
	}
	prev, err := e.logs(pod, "app", true, runtime.LogOptions{Tail: -1})
	if err != nil || !strings.Contains(prev, "started") {
		t.Errorf("previous logs %q %v", prev, err)
	}
	eventually(t, 10*time.Second, func() error {
		cur, err := e.logs(pod, "app", false, runtime.LogOptions{Tail: -1})
		if err != nil || !strings.Contains(cur, "started") || cur == prev {
			return fmt.Errorf("current logs %q (previous %q) %v", cur, prev, err)
		}
		return nil
	})

	kill()
	p = e.waitPod(pod.UID, 20*time.Second, "in CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := ctrStatus(p, "app").State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	if p.Status.Phase != corev1.PodRunning || condition(p, corev1.PodReady) {
		t.Errorf("in backoff: %s", describe(p))
	}
	begin := time.Now()
	p = e.waitPod(pod.UID, 20*time.Second, "restarted twice", func(p *corev1.Pod) bool {
		cs := ctrStatus(p, "app")
		return cs.RestartCount == 2 && cs.State.Running != nil
	})
	t.Logf("second restart after %v of backoff", time.Since(begin).Round(time.Millisecond))
	e.deleteAndWait(p, 2, 20*time.Second)
}

// TestRestartNever: with restartPolicy Never a failed container stays terminated
// and the pod is Failed; one that succeeds makes the pod Succeeded.
func TestRestartNever(t *testing.T) {
	e := newEnv(t, nil)
	fail := newPod("fails", sh("app", "echo bye; echo last words > /dev/termination-log; exit 3"))
	fail.Spec.RestartPolicy = corev1.RestartPolicyNever
	ok := newPod("succeeds", sh("app", "true"))
	ok.Spec.RestartPolicy = corev1.RestartPolicyNever
	onFailure := newPod("onfailure", sh("app", "true"))
	onFailure.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	for _, p := range []*corev1.Pod{fail, ok, onFailure} {
		e.sync(p)
	}
	p := e.waitPod(fail.UID, 30*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	cs := ctrStatus(p, "app")
	if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 3 || cs.State.Terminated.Reason != "Error" || cs.RestartCount != 0 {
		t.Errorf("failed container: %s", describe(p))
	} else if cs.State.Terminated.Message != "last words\n" {
		t.Errorf("termination message %q", cs.State.Terminated.Message)
	}
	if out, err := e.logs(fail, "app", false, runtime.LogOptions{Tail: 1}); err != nil || out != "bye\n" {
		t.Errorf("logs of exited container %q %v", out, err)
	}
	for _, pod := range []*corev1.Pod{ok, onFailure} {
		p := e.waitPod(pod.UID, 30*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if cs := ctrStatus(p, "app"); cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
			t.Errorf("%s: %s", pod.Name, describe(p))
		}
		if condition(p, corev1.PodReady) {
			t.Errorf("%s: finished pod is Ready", pod.Name)
		}
	}
	// A finished pod gives its address back at once.
	eventually(t, 10*time.Second, func() error {
		sbs, err := e.net.List(context.Background())
		if err != nil || len(sbs) != 0 {
			return fmt.Errorf("sandboxes of finished pods: %+v %v", sbs, err)
		}
		return nil
	})
	for _, pod := range []*corev1.Pod{fail, ok, onFailure} {
		e.deleteAndWait(pod, 2, 20*time.Second)
	}
}

// TestLivenessProbeRestarts: a failing exec liveness probe restarts the container.
func TestLivenessProbeRestarts(t *testing.T) {
	e := newEnv(t, nil)
	c := sh("app", "touch /tmp/healthy; exec sleep 1000")
	c.LivenessProbe = &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/healthy"}}},
		PeriodSeconds:    1,
		FailureThreshold: 2,
	}
	pod := newPod("liveness", c)
	e.sync(pod)
	e.waitRunning(pod)
	e.mustExec(pod, "app", "rm", "/tmp/healthy")
	p := e.waitPod(pod.UID, 30*time.Second, "restarted by its liveness probe", func(p *corev1.Pod) bool {
		cs := ctrStatus(p, "app")
		return cs.RestartCount >= 1 && cs.State.Running != nil
	})
	// The new instance is healthy again and stays.
	time.Sleep(2 * time.Second)
	if n := ctrStatus(p, "app").RestartCount; n != 1 {
		t.Errorf("restartCount %d", n)
	}
	e.deleteAndWait(p, 2, 20*time.Second)
}

// TestReadinessAndStartupProbes: an httpGet readiness probe to the pod IP drives the
// container's ready flag and the Ready/ContainersReady conditions; a tcpSocket
// startup probe gates it.
func TestReadinessAndStartupProbes(t *testing.T) {
	e := newEnv(t, nil)
	c := sh("web", `mkdir -p /www && exec httpd -f -p 8080 -h /www`)
	c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready.html", Port: intstr.FromString("http")}},
		PeriodSeconds: 1,
	}
	c.StartupProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	pod := newPod("ready", c)
	e.sync(pod)
	p := e.waitPod(pod.UID, 30*time.Second, "started but not ready", func(p *corev1.Pod) bool {
		cs := ctrStatus(p, "web")
		return p.Status.Phase == corev1.PodRunning && cs.Started != nil && *cs.Started && !cs.Ready
	})
	if condition(p, corev1.PodReady) || condition(p, corev1.ContainersReady) {
		t.Fatalf("ready without readiness: %s", describe(p))
	}
	e.mustExec(pod, "web", "sh", "-c", "echo ok > /www/ready.html")
	e.waitRunning(pod)
	e.mustExec(pod, "web", "rm", "/www/ready.html")
	p = e.waitPod(pod.UID, 30*time.Second, "unready again", func(p *corev1.Pod) bool {
		return !condition(p, corev1.PodReady) && !condition(p, corev1.ContainersReady) && !ctrStatus(p, "web").Ready
	})
	if n := ctrStatus(p, "web").RestartCount; n != 0 {
		t.Errorf("readiness failure restarted the container (%d)", n)
	}
	e.deleteAndWait(p, 2, 20*time.Second)
}

// TestConfigMapVolumeUpdate: an update of the ConfigMap reaches the file inside the
// running container, through the atomic writer's ..data symlink; secrets and the
// downward API are volumes too.
func TestConfigMapVolumeUpdate(t *testing.T) {
	e := newEnv(t, nil)
	e.objs.setConfigMap("default", "conf", map[string]string{"greeting": "v1", "other": "x"})
	e.objs.setSecret("default", "sec", map[string]string{"token": "t0k"})
	c := sh("app", "exec sleep 1000")
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: "conf", MountPath: "/etc/conf", ReadOnly: true},
		{Name: "sec", MountPath: "/etc/sec", ReadOnly: true},
		{Name: "info", MountPath: "/etc/info"},
		{Name: "conf", MountPath: "/etc/greeting", SubPath: "greeting"},
		{Name: "mem", MountPath: "/scratch"},
	}
	pod := newPod("cmvol", c)
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptr(int32(0o400))}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		}}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	}
	e.sync(pod)
	e.waitRunning(pod)
	if got := e.mustExec(pod, "app", "cat", "/etc/conf/greeting"); got != "v1" {
		t.Fatalf("greeting %q", got)
	}
	if got := e.mustExec(pod, "app", "cat", "/etc/sec/token"); got != "t0k" {
		t.Errorf("secret %q", got)
	}
	if got := e.mustExec(pod, "app", "stat", "-L", "-c", "%a", "/etc/sec/token"); strings.TrimSpace(got) != "400" {
		t.Errorf("secret mode %q", got)
	}
	if got := e.mustExec(pod, "app", "cat", "/etc/info/labels"); got != `app="cmvol"` {
		t.Errorf("downward labels %q", got)
	}
	if mounts := e.mustExec(pod, "app", "cat", "/proc/mounts"); !strings.Contains(mounts, "tmpfs /scratch tmpfs") {
		t.Errorf("emptyDir medium Memory is not a tmpfs:\n%s", mounts)
	}
	if _, _, err := e.exec(pod, "app", "touch", "/etc/conf/new"); err == nil {
		t.Error("readOnly mount is writable")
	}
	e.objs.setConfigMap("default", "conf", map[string]string{"greeting": "v2"})
	e.m.ObjectChanged("ConfigMap", "default", "conf")
	eventually(t, 15*time.Second, func() error {
		got, _, err := e.exec(pod, "app", "cat", "/etc/conf/greeting")
		if err != nil || got != "v2" {
			return fmt.Errorf("greeting after update %q %v", got, err)
		}
		return nil
	})
	if _, _, err := e.exec(pod, "app", "test", "-e", "/etc/conf/other"); err == nil {
		t.Error("a key removed from the ConfigMap is still there")
	}
	// A subPath mount is a bind of one file and does not update, as in Kubernetes.
	if got := e.mustExec(pod, "app", "cat", "/etc/greeting"); got != "v1" {
		t.Errorf("subPath greeting %q", got)
	}
	e.deleteAndWait(pod, 2, 20*time.Second)
}

// TestGracefulDelete: a container that handles SIGTERM ends at once; one that
// ignores it is killed when the grace period runs out.
func TestGracefulDelete(t *testing.T) {
	e := newEnv(t, nil)
	polite := newPod("polite", sh("app", `trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done`))
	stubborn := newPod("stubborn", sh("app", `trap '' TERM; while true; do sleep 0.1; done`))
	hooked := newPod("hooked", sh("app", `trap 'echo term >> /out/marker; exit 0' TERM; while true; do sleep 0.1; done`))
	hooked.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo prestop >> /out/marker"}}}}
	out := t.TempDir()
	hooked.Spec.Volumes = []corev1.Volume{{Name: "out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: out}}}}
	hooked.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "out", MountPath: "/out"}}
	for _, p := range []*corev1.Pod{polite, stubborn} {
		e.sync(p)
		e.waitRunning(p)
	}

	begin := time.Now()
	p := e.deleteAndWait(polite, 30, 15*time.Second)
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("polite pod took %v to stop with a 30 s grace period", d)
	}
	if cs := ctrStatus(p, "app"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 || p.Status.Phase != corev1.PodSucceeded {
		t.Errorf("polite: %s", describe(p))
	}

	begin = time.Now()
	p = e.deleteAndWait(stubborn, 2, 20*time.Second)
	d := time.Since(begin)
	if d < 2*time.Second || d > 10*time.Second {
		t.Errorf("stubborn pod stopped after %v, want just over the 2 s grace period", d)
	}
	if cs := ctrStatus(p, "app"); cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 137 || p.Status.Phase != corev1.PodFailed {
		t.Errorf("stubborn: %s", describe(p))
	}

	// The preStop hook runs before SIGTERM; both write to a hostPath volume that
	// outlives the pod.
	e.sync(hooked)
	e.waitRunning(hooked)
	e.sync(deletePod(hooked, 10))
	e.waitTerminated(hooked.UID, 20*time.Second)
	if b, err := os.ReadFile(filepath.Join(out, "marker")); err != nil || string(b) != "prestop\nterm\n" {
		t.Errorf("hostPath marker %q %v, want preStop then SIGTERM", b, err)
	}
	if _, err := os.Stat(filepath.Join(e.cfg.DataDir, "pods", string(hooked.UID))); !os.IsNotExist(err) {
		t.Errorf("pod dir left after delete: %v", err)
	}
	e.m.Forget(context.Background(), hooked.UID)
}

// TestNoCNILeftovers: deleting pods leaves no address reservation, veth, netns
// mount, CNI cache entry, container or pod directory.
func TestNoCNILeftovers(t *testing.T) {
	e := newEnv(t, nil)
	before := e.leftovers()
	var ps []*corev1.Pod
	for i := range 4 {
		p := newPod(fmt.Sprintf("leak-%d", i), sh("app", "exec sleep 1000"))
		if i == 3 {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 18080 + int32(i)}}
		}
		ps = append(ps, p)
		e.sync(p)
	}
	for _, p := range ps {
		e.waitRunning(p)
	}
	during := e.leftovers()
	if during.ips != before.ips+4 || during.veths != before.veths+4 || during.netns != before.netns+4 || during.containers != 4 {
		t.Fatalf("with 4 pods: %+v (before %+v); the check below would prove nothing", during, before)
	}
	for i, p := range ps {
		if i == 0 {
			// One is forgotten without a graceful delete (force delete).
			e.m.Forget(context.Background(), p.UID)
			continue
		}
		e.deleteAndWait(p, 1, 20*time.Second)
	}
	eventually(t, 20*time.Second, func() error {
		if after := e.leftovers(); after != before {
			return fmt.Errorf("after deleting the pods: %+v, before: %+v", after, before)
		}
		return nil
	})
}

type leftovers struct {
	ips, veths, netns, cache, containers, podDirs int
}

func (e *env) leftovers() leftovers {
	e.t.Helper()
	var l leftovers
	count := func(dir string, keep func(string) bool) int {
		entries, _ := os.ReadDir(dir)
		n := 0
		for _, en := range entries {
			if keep(en.Name()) {
				n++
			}
		}
		return n
	}
	ipamDirs, _ := os.ReadDir(filepath.Join(e.dir, "ipam"))
	for _, d := range ipamDirs {
		l.ips += count(filepath.Join(e.dir, "ipam", d.Name()), func(n string) bool { _, err := netip.ParseAddr(n); return err == nil })
	}
	l.netns = count(filepath.Join(e.dir, "netns"), func(string) bool { return true })
	l.cache = count(filepath.Join(e.dir, "cnicache", "results"), func(string) bool { return true })
	l.podDirs = count(filepath.Join(e.cfg.DataDir, "pods"), func(string) bool { return true })
	withNetlink(e.t, e.hostNS, func(h *netlink.Handle) error {
		links, err := h.LinkList()
		for _, lk := range links {
			if lk.Type() == "veth" {
				l.veths++
			}
		}
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// List can fail when a task goes away while it lists; a retry settles it.
	for {
		cs, err := e.rt.List(ctx, map[string]string{pods.LabelNode: testNode})
		if err == nil {
			l.containers = len(cs)
			return l
		}
		if ctx.Err() != nil {
			e.t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdoption: a new Manager over the same runtime and data dir adopts a running
// pod: same container, same start time, no restart, no status change, and exec,
// logs and delete work on it.
func TestAdoption(t *testing.T) {
	e := newEnv(t, nil)
	c := sh("app", `i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done`)
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1}
	pod := newPod("survivor", c)
	e.sync(pod)
	p := e.waitRunning(pod)
	before := ctrStatus(p, "app")

	e.stop()
	e.start()
	if got := e.m.PodUIDs(); len(got) != 1 || got[0] != pod.UID {
		t.Fatalf("adopted %v", got)
	}
	n := e.updateCount(pod.UID)
	e.sync(p) // the agent's first sync after a restart: the pod as the API has it
	time.Sleep(3 * time.Second)
	if m := e.updateCount(pod.UID); m != n {
		e.mu.Lock()
		t.Errorf("adopted pod sent %d updates; latest: %s", m-n, describe(e.latest[pod.UID]))
		e.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.rt.Status(ctx, strings.TrimPrefix(before.ContainerID, "containerd://"))
	if err != nil || st.State != runtime.StateRunning || !st.StartedAt.Truncate(time.Second).Equal(before.State.Running.StartedAt.Time) {
		t.Errorf("container after adoption: %+v %v (was started %v)", st, err, before.State.Running.StartedAt)
	}
	if out := e.mustExec(p, "app", "echo", "adopted"); out != "adopted\n" {
		t.Errorf("exec %q", out)
	}
	if out, err := e.logs(p, "app", false, runtime.LogOptions{Tail: 1}); err != nil || !strings.HasPrefix(out, "tick ") {
		t.Errorf("logs %q %v", out, err)
	}
	// The adopted pod is still managed: a crash restarts it.
	if err := syscall.Kill(int(st.Pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p = e.waitPod(pod.UID, 20*time.Second, "restarted after adoption", func(p *corev1.Pod) bool {
		cs := ctrStatus(p, "app")
		return cs.RestartCount == 1 && cs.State.Running != nil && cs.Ready
	})
	e.deleteAndWait(p, 2, 20*time.Second)

	// A pod that disappeared while the agent was down is collected.
	orphan := newPod("orphan", sh("app", "exec sleep 1000"))
	e.sync(orphan)
	e.waitRunning(orphan)
	e.stop()
	e.start()
	e.m.CollectOrphans(context.Background())
	eventually(t, 20*time.Second, func() error {
		if l := e.leftovers(); l.containers != 0 || l.netns != 0 || l.ips != 0 || l.podDirs != 0 {
			return fmt.Errorf("orphan left %+v", l)
		}
		return nil
	})
}

// TestLogsFollow: a follow ends when the container exits.
func TestLogsFollow(t *testing.T) {
	e := newEnv(t, nil)
	pod := newPod("follow", sh("app", `for i in 1 2 3; do echo line $i; sleep 0.3; done`))
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	e.sync(pod)
	e.waitPod(pod.UID, 30*time.Second, "started", func(p *corev1.Pod) bool {
		return ctrStatus(p, "app").ContainerID != ""
	})
	done := make(chan string, 1)
	go func() {
		out, err := e.logs(pod, "app", false, runtime.LogOptions{Tail: -1, Follow: true})
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	select {
	case out := <-done:
		if out != "line 1\nline 2\nline 3\n" {
			t.Errorf("followed %q", out)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("follow did not end with the container")
	}
	e.waitPod(pod.UID, 10*time.Second, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	e.deleteAndWait(pod, 2, 20*time.Second)
}

// cgroupValue reads a cgroup setting of a container's process from the node: the v2
// file when the node has the unified hierarchy, else the v1 controller's file.
func (e *env) cgroupValue(p *corev1.Pod, container, v2File, v1Controller, v1File string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.rt.Status(ctx, strings.TrimPrefix(ctrStatus(p, container).ContainerID, "containerd://"))
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", st.Pid))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var path string
		switch {
		case parts[0] == "0" && parts[1] == "":
			path = filepath.Join("/sys/fs/cgroup", parts[2], v2File)
		case strings.Contains(","+parts[1]+",", ","+v1Controller+","):
			path = filepath.Join("/sys/fs/cgroup", v1Controller, parts[2], v1File)
		default:
			continue
		}
		if v, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(v))
		}
	}
	e.t.Fatalf("no %s/%s for pid %d in:\n%s", v2File, v1File, st.Pid, b)
	return ""
}

// TestHostNetworkAndImageErrors: a hostNetwork pod skips CNI and reports the node's
// address; images that cannot be had leave containers waiting with kubelet's reasons.
func TestHostNetworkAndImageErrors(t *testing.T) {
	e := newEnv(t, nil)
	host := newPod("hostnet", sh("app", "exec sleep 1000"))
	host.Spec.HostNetwork = true
	never := newPod("never", corev1.Container{Name: "app", Image: "example.invalid/absent:1", ImagePullPolicy: corev1.PullNever})
	// A registry on a closed loopback port: the pull fails without leaving the machine.
	pull := newPod("pull", corev1.Container{Name: "app", Image: "127.0.0.1:1/absent:1", ImagePullPolicy: corev1.PullIfNotPresent})
	for _, p := range []*corev1.Pod{host, never, pull} {
		e.sync(p)
	}
	p := e.waitRunning(host)
	if p.Status.PodIP != "192.0.2.10" || p.Status.HostIP != "192.0.2.10" {
		t.Errorf("hostNetwork pod IPs: %s", describe(p))
	}
	if sb, err := e.net.Status(context.Background(), string(host.UID)); err == nil {
		t.Errorf("hostNetwork pod has a CNI sandbox: %+v", sb)
	}
	e.waitPod(never.UID, 30*time.Second, "ErrImageNeverPull", func(p *corev1.Pod) bool {
		w := ctrStatus(p, "app").State.Waiting
		return w != nil && w.Reason == "ErrImageNeverPull"
	})
	e.waitPod(pull.UID, 30*time.Second, "ImagePullBackOff", func(p *corev1.Pod) bool {
		w := ctrStatus(p, "app").State.Waiting
		return w != nil && w.Reason == "ImagePullBackOff" && p.Status.Phase == corev1.PodPending
	})
	for _, p := range []*corev1.Pod{host, never, pull} {
		e.deleteAndWait(p, 1, 20*time.Second)
	}
}

// TestOOMKilled: a container that outgrows its memory limit is reported OOMKilled.
func TestOOMKilled(t *testing.T) {
	e := newEnv(t, nil)
	c := sh("app", "dd if=/dev/zero of=/dev/null bs=64M count=1")
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")}
	pod := newPod("oom", c)
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	e.sync(pod)
	p := e.waitPod(pod.UID, 30*time.Second, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if term := ctrStatus(p, "app").State.Terminated; term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("over its limit: %s", describe(p))
	}
	e.deleteAndWait(p, 1, 20*time.Second)
}
