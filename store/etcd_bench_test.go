package store_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdBinary is the server the benchmarks compare against: Debian's etcd-server package.
const etcdBinary = "/usr/bin/etcd"

// etcdServer is a real, single-member etcd started by a benchmark on loopback ports,
// with a fresh data directory and its default fsync policy: it fsyncs its WAL before
// acknowledging a write, as the store does.
type etcdServer struct {
	cmd      *exec.Cmd
	endpoint string
	exited   chan struct{}
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startEtcd(tb testing.TB) *etcdServer {
	tb.Helper()
	if _, err := os.Stat(etcdBinary); err != nil {
		tb.Skipf("%s not found: install Debian's etcd-server package (apt-get install -y etcd-server) to compare with etcd", etcdBinary)
	}
	dir := filepath.Join(tb.TempDir(), "etcd") // etcd creates it with the mode it wants
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(tb))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(tb))
	cmd := exec.Command(etcdBinary,
		"--name", "bench",
		"--data-dir", dir,
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "bench="+peer,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-level", "error",
	)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	s := &etcdServer{cmd: cmd, endpoint: client, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	tb.Cleanup(s.stop)

	// Wait until it serves: a bounded number of attempts.
	c := s.client(tb)
	defer c.Close()
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "health")
		cancel()
		if err == nil {
			return s
		}
		select {
		case <-s.exited:
			tb.Fatal("etcd exited at startup")
		default:
		}
		if attempt == 100 {
			tb.Fatalf("etcd does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *etcdServer) client(tb testing.TB) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      nopZap(),
	})
	if err != nil {
		tb.Fatalf("etcd client: %v", err)
	}
	return c
}

// stop kills the server by its PID and waits for it.
func (s *etcdServer) stop() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}
