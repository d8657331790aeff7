package runtime

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock ticks one second per record so that records are distinguishable.
func fakeClock() func() time.Time {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

func writeLog(t *testing.T, path string, now func() time.Time, lines ...[2]string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lw := &logWriter{w: f, now: now}
	for _, l := range lines {
		if err := lw.copyStream(l[0], strings.NewReader(l[1])); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLogWriterFormat(t *testing.T) {
	var buf bytes.Buffer
	lw := &logWriter{w: &buf, now: fakeClock()}
	long := strings.Repeat("x", maxLogLine+10)
	if err := lw.copyStream(StreamStdout, strings.NewReader("a\n\nb\n"+long+"\nno newline")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2026-01-02T03:04:06Z stdout F a",
		"2026-01-02T03:04:07Z stdout F ",
		"2026-01-02T03:04:08Z stdout F b",
		"2026-01-02T03:04:09Z stdout P " + long[:maxLogLine],
		"2026-01-02T03:04:10Z stdout F " + long[maxLogLine:],
		"2026-01-02T03:04:11Z stdout F no newline",
	}
	got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %.60q, want %.60q", i, got[i], want[i])
		}
	}
}

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		line    string
		ok      bool
		stream  string
		partial bool
		msg     string
	}{
		{"2026-01-02T03:04:05.123Z stdout F hello world", true, StreamStdout, false, "hello world"},
		{"2026-01-02T03:04:05Z stderr P part", true, StreamStderr, true, "part"},
		{"2026-01-02T03:04:05Z stdout F", true, StreamStdout, false, ""},
		{"2026-01-02T03:04:05Z stdout F ", true, StreamStdout, false, ""},
		{"yesterday stdout F x", false, "", false, ""},
		{"2026-01-02T03:04:05Z stdin F x", false, "", false, ""},
		{"2026-01-02T03:04:05Z stdout X x", false, "", false, ""},
		{"garbage", false, "", false, ""},
	} {
		l, err := ParseLogLine([]byte(tc.line))
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.line, err, tc.ok)
			continue
		}
		if tc.ok && (l.Stream != tc.stream || l.Partial != tc.partial || string(l.Message) != tc.msg) {
			t.Errorf("%q: got %+v", tc.line, l)
		}
	}
}

func TestReadLogs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	long := strings.Repeat("y", maxLogLine+5)
	clock := fakeClock()
	writeLog(t, path, clock,
		[2]string{StreamStdout, "one\ntwo\n"},
		[2]string{StreamStderr, "err\n"},
		[2]string{StreamStdout, "three\n" + long + "\n"},
	)
	// A torn record (an agent crash mid-write) must not hide what follows it.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	_, _ = f.WriteString("torn\n")
	f.Close()
	writeLog(t, path, clock, [2]string{StreamStdout, "four\n"})

	for _, tc := range []struct {
		name         string
		opts         LogOptions
		stdout, errs string
	}{
		{"all", LogOptions{Tail: -1}, "one\ntwo\nthree\n" + long + "\nfour\n", "err\n"},
		{"tail 2", LogOptions{Tail: 2}, long[maxLogLine:] + "\nfour\n", ""},
		{"tail 0", LogOptions{Tail: 0}, "", ""},
		{"since", LogOptions{Tail: -1, Since: time.Date(2026, 1, 2, 3, 4, 9, 0, time.UTC)}, "three\n" + long + "\nfour\n", ""},
		{"timestamps", LogOptions{Tail: 1, Timestamps: true}, "2026-01-02T03:04:12Z four\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := ReadLogs(context.Background(), path, tc.opts, &out, &errOut); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.stdout || errOut.String() != tc.errs {
				t.Errorf("stdout %.80q stderr %q\nwant   %.80q        %q", out.String(), errOut.String(), tc.stdout, tc.errs)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		var out bytes.Buffer
		if err := ReadLogs(context.Background(), path+".none", LogOptions{Tail: -1}, &out, &out); err != nil || out.Len() != 0 {
			t.Errorf("missing log: %q %v", out.String(), err)
		}
	})
}

// syncBuffer lets the test read what a following ReadLogs has written so far.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

func TestReadLogsFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	writeLog(t, path, fakeClock(), [2]string{StreamStdout, "before\n"})
	out := newSyncBuffer()
	stop := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ReadLogs(ctx, path, LogOptions{Tail: -1, Follow: true, Stop: stop, PollInterval: 5 * time.Millisecond}, out, out)
	}()
	waitFor(t, ctx, func() bool { return out.String() == "before\n" })

	// A record written in two pieces is delivered once, whole.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _ = f.WriteString("2026-01-02T03:04:09Z stdout F aft")
	time.Sleep(20 * time.Millisecond) // let the follower see the torn half; correctness does not depend on it
	_, _ = f.WriteString("er\n")
	waitFor(t, ctx, func() bool { return out.String() == "before\nafter\n" })

	_, _ = f.WriteString("2026-01-02T03:04:10Z stdout F last\n")
	close(stop) // the container exited: read to the end, then return
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "before\nafter\nlast\n" {
		t.Errorf("followed %q", got)
	}
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition never met")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
