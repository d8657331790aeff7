package cni

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
)

// Check asks the plugins (CNI CHECK) whether podID's network is still as ADD left
// it: the bridge, the pod's interface, address and routes, and its loopback.
// portmap is left out: Debian's portmap 1.1.1 fails CHECK whenever ip6tables exists,
// looking for an IPv6 chain it never created for an IPv4-only pod. Setup's
// adoption does not run it, because a pod whose containers still run in the old
// namespace cannot be moved to a new one anyway; the agent decides what a failed
// Check means for the pod.
func (n *Network) Check(ctx context.Context, podID string) error {
	if err := validPodID(podID); err != nil {
		return err
	}
	if !n.netns.mounted(podID) {
		return fmt.Errorf("%w: %s has no network namespace", ErrNotFound, podID)
	}
	rt := n.runtimeConf(podID, n.netns.path(podID))
	_, cached, err := n.cni.GetNetworkListCachedConfig(n.list, rt)
	if err != nil {
		return fmt.Errorf("cni: read cached config for %s: %w", podID, err)
	}
	if cached == nil {
		return fmt.Errorf("%w: %s has no CNI result", ErrNotFound, podID)
	}
	if err := n.inHost(func() error { return n.cni.CheckNetworkList(ctx, n.checkList, cached) }); err != nil {
		return fmt.Errorf("cni: check %s: %w", podID, err)
	}
	return nil
}

// Status reports what is left of podID's sandbox, or ErrNotFound if nothing is.
func (n *Network) Status(ctx context.Context, podID string) (Sandbox, error) {
	if err := validPodID(podID); err != nil {
		return Sandbox{}, err
	}
	sb := Sandbox{PodID: podID}
	if n.netns.mounted(podID) {
		sb.NetNS = n.netns.path(podID)
	}
	cached, err := n.cachedSandbox(podID, n.runtimeConf(podID, sb.NetNS))
	if err != nil {
		return Sandbox{}, err
	}
	if cached.PodID != "" {
		sb = cached
	}
	if cached.PodID != "" || sb.NetNS != "" {
		return sb, nil
	}
	// Nothing usable, but a crash may have left an unmounted mount point or an IP
	// reservation, which Teardown must still be offered.
	if _, err := os.Lstat(n.netns.path(podID)); err == nil {
		return sb, nil
	}
	reserved, err := n.reservedPodIDs()
	if err != nil {
		return Sandbox{}, err
	}
	if reserved[podID] {
		return sb, nil
	}
	return Sandbox{}, fmt.Errorf("%w: %s", ErrNotFound, podID)
}

// List returns every sandbox this agent left behind, complete or not, so a restarted
// agent can adopt the ones its pods still need and tear down the rest.
func (n *Network) List(ctx context.Context) ([]Sandbox, error) {
	ids, err := n.netns.list()
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	cached, err := n.cachedPodIDs()
	if err != nil {
		return nil, err
	}
	reserved, err := n.reservedPodIDs()
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range append(cached, slices.Sorted(maps.Keys(reserved))...) {
		if !seen[id] {
			ids = append(ids, id)
			seen[id] = true
		}
	}
	slices.Sort(ids)
	out := make([]Sandbox, 0, len(ids))
	for _, id := range ids {
		sb, err := n.Status(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // torn down while we were listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sb)
	}
	return out, nil
}
