package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LogOptions select what ReadLogs returns, after kubectl logs' flags.
type LogOptions struct {
	// Tail is the number of last lines to return; negative means all.
	Tail int
	// Since drops records older than this; zero keeps all.
	Since time.Time
	// Timestamps prefixes each line with its RFC3339Nano time, as --timestamps does.
	Timestamps bool
	// Follow keeps reading as the file grows until ctx ends or Stop is closed.
	Follow bool
	// Stop, when closed, ends a follow once the file has been read to its end; the
	// caller closes it when the container exits.
	Stop <-chan struct{}
	// PollInterval is how often a follow checks for growth; default 100 ms.
	PollInterval time.Duration
}

// ReadLogs writes a container's log file to stdout and stderr, each record to the
// stream it came from (they may be the same writer). A missing file is an empty log.
func ReadLogs(ctx context.Context, path string, opts LogOptions, stdout, stderr io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !opts.Follow {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	defer f.Close()
	out := &logOutput{stdout: stdout, stderr: stderr, opts: opts}
	sc := &recordScanner{r: f}

	if opts.Tail >= 0 {
		// Tail needs the whole existing file before it can emit anything; records are
		// small and files are rotated, so holding the last N in memory is fine.
		ring := make([]LogLine, 0, opts.Tail)
		err := sc.scan(func(l LogLine) error {
			if opts.Tail == 0 {
				return nil
			}
			if len(ring) == opts.Tail {
				copy(ring, ring[1:])
				ring = ring[:len(ring)-1]
			}
			l.Message = bytes.Clone(l.Message)
			ring = append(ring, l)
			return nil
		})
		if err != nil {
			return err
		}
		for _, l := range ring {
			if err := out.write(l); err != nil {
				return err
			}
		}
	} else if err := sc.scan(out.write); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	poll := opts.PollInterval
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		stopping := false
		select {
		case <-ctx.Done():
			return nil
		case <-opts.Stop:
			stopping = true
		case <-tick.C:
		}
		if err := sc.scan(out.write); err != nil {
			return err
		}
		if stopping {
			return nil
		}
	}
}

// recordScanner reads complete records from a growing file. A trailing record
// without its newline is still being written; it stays buffered until the next scan
// finds the rest.
type recordScanner struct {
	r       io.Reader
	pending []byte
	chunk   []byte
}

func (s *recordScanner) scan(fn func(LogLine) error) error {
	if s.chunk == nil {
		s.chunk = make([]byte, 32*1024)
	}
	for {
		n, err := s.r.Read(s.chunk)
		s.pending = append(s.pending, s.chunk[:n]...)
		for {
			i := bytes.IndexByte(s.pending, '\n')
			if i < 0 {
				break
			}
			l, perr := ParseLogLine(s.pending[:i])
			if perr == nil {
				// A torn or foreign line is skipped; it must not hide the rest.
				if ferr := fn(l); ferr != nil {
					return ferr
				}
			}
			s.pending = s.pending[i+1:]
		}
		if errors.Is(err, io.EOF) {
			// Compact so that a long follow does not keep every byte ever read.
			s.pending = append([]byte(nil), s.pending...)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

type logOutput struct {
	stdout, stderr io.Writer
	opts           LogOptions
	// midLine is true after a partial record, so the next one continues the line
	// rather than starting a new one (and gets no timestamp of its own).
	midLine map[string]bool
}

func (o *logOutput) write(l LogLine) error {
	if !o.opts.Since.IsZero() && l.Time.Before(o.opts.Since) {
		return nil
	}
	if o.midLine == nil {
		o.midLine = map[string]bool{}
	}
	w := o.stdout
	if l.Stream == StreamStderr {
		w = o.stderr
	}
	var b bytes.Buffer
	if o.opts.Timestamps && !o.midLine[l.Stream] {
		b.WriteString(l.Time.UTC().Format(time.RFC3339Nano))
		b.WriteByte(' ')
	}
	b.Write(l.Message)
	if !l.Partial {
		b.WriteByte('\n')
	}
	o.midLine[l.Stream] = l.Partial
	_, err := w.Write(b.Bytes())
	return err
}
