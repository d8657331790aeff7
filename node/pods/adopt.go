package pods

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"weft.dev/weft/node/runtime"
)

// adopt finds what an earlier run left: this node's containers (by label), pod
// networks and pod directories. Each pod gets a worker without a pod; its first Sync
// takes over the running containers as they are.
func (m *Manager) adopt(ctx context.Context) error {
	list, err := m.rt.List(ctx, map[string]string{LabelNode: m.cfg.NodeName})
	if err != nil {
		return fmt.Errorf("pods: adopt containers: %w", err)
	}
	byPod := map[types.UID]map[string][]runtime.Status{}
	for _, s := range list {
		uid := types.UID(s.Labels[LabelPodUID])
		name := s.Labels[LabelContainer]
		if uid == "" || name == "" {
			continue
		}
		if byPod[uid] == nil {
			byPod[uid] = map[string][]runtime.Status{}
		}
		byPod[uid][name] = append(byPod[uid][name], s)
	}
	worker := func(uid types.UID) *podWorker {
		w := m.workers[uid]
		if w == nil {
			w = newWorker(m, uid)
			m.workers[uid] = w
		}
		return w
	}
	for uid, ctrs := range byPod {
		w := worker(uid)
		hasApp := false
		for name, insts := range ctrs {
			sort.Slice(insts, func(i, j int) bool { return instNum(insts[i]) > instNum(insts[j]) })
			cur := insts[0]
			init := cur.Labels[LabelInit] == "true"
			if !init {
				hasApp = true
			}
			c := w.ctr(name, init)
			c.id, c.inst = cur.ID, instNum(cur)
			c.st = cur
			c.imageRef, c.imageID = cur.Image, cur.Labels[LabelImageID]
			m.byCtrID[cur.ID] = uid
			if m.byName[cur.Labels[LabelNamespace]+"/"+cur.Labels[LabelPodName]] == "" {
				m.byName[cur.Labels[LabelNamespace]+"/"+cur.Labels[LabelPodName]] = uid
			}
			if cur.State == runtime.StateExited {
				c.exitHandled = true
				c.term = adoptedTerm(cur)
			} else if cur.State != runtime.StateRunning {
				// Created but never started (a crash in between): start it afresh.
				_ = m.rt.Delete(ctx, cur.ID)
				c.id, c.inst = "", c.inst-1
			}
			for i, old := range insts[1:] {
				if i == 0 && instNum(old) == c.inst-1 && old.State == runtime.StateExited {
					c.prevID = old.ID
					c.lastTerm = adoptedTerm(old)
					m.byCtrID[old.ID] = uid
					continue
				}
				if err := m.rt.Delete(ctx, old.ID); err != nil {
					m.log.Warn("delete old container", "id", old.ID, "err", err)
				}
			}
		}
		if hasApp {
			w.initDone = true
		}
		m.log.Info("adopted pod containers", "uid", uid, "containers", len(ctrs))
	}
	if n := m.cfg.Network; n != nil {
		sbs, err := n.List(ctx)
		if err != nil {
			return fmt.Errorf("pods: adopt pod networks: %w", err)
		}
		for _, sb := range sbs {
			w := worker(types.UID(sb.PodID))
			if sb.Complete() {
				w.sandboxReady = true
				w.netns = sb.NetNS
				for _, ip := range sb.IPs {
					w.podIPs = append(w.podIPs, ip.String())
				}
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(m.cfg.DataDir, "pods"))
	if err != nil {
		return fmt.Errorf("pods: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			w := worker(types.UID(e.Name()))
			if _, err := os.Stat(filepath.Join(w.dir, "etc-hosts")); err == nil && !w.sandboxReady {
				// A hostNetwork pod: its sandbox is only its directory.
				hasRunning := false
				for _, c := range w.ctrs {
					if c.id != "" && !c.exitHandled {
						hasRunning = true
					}
				}
				w.sandboxReady = hasRunning && w.netns == ""
			}
		}
	}
	return nil
}

func instNum(s runtime.Status) int {
	n, err := strconv.Atoi(s.Labels[LabelRestart])
	if err != nil {
		return 0
	}
	return n
}

func adoptedTerm(s runtime.Status) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(s.ExitCode),
		StartedAt:   metav1.NewTime(s.StartedAt.Truncate(time.Second)),
		FinishedAt:  metav1.NewTime(s.FinishedAt.Truncate(time.Second)),
		ContainerID: "containerd://" + s.ID,
		Reason:      "Error",
	}
	if s.ExitCode == 0 {
		t.Reason = "Completed"
	}
	return t
}
