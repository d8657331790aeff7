package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// terminate signals only the one pid it is given; done must close when it has exited.
func terminate(ctx context.Context, pid int, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	default:
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%w: SIGTERM %d: %v", ErrDaemon, pid, err)
	}
	grace := time.NewTimer(10 * time.Second)
	defer grace.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	case <-grace.C:
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%w: SIGKILL %d: %v", ErrDaemon, pid, err)
	}
	<-done
	return nil
}

// stopStale stops a containerd that an earlier agent started with this data dir and
// did not stop (the agent was killed). It checks the command line so that a recycled
// pid belonging to someone else is left alone.
func stopStale(ctx context.Context, p daemonPaths) error {
	b, err := os.ReadFile(p.pid)
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), p.config) {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for syscall.Kill(pid, 0) == nil {
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && isZombie(st) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return terminate(ctx, pid, done)
}

func isZombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}
