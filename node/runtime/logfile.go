package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Container logs use the CRI log format, one line per record:
//
//	2026-11-21T09:48:15.123456789Z stdout F hello
//
// The tag is F for a full line and P for a partial one (a long line split at
// maxLogLine, or output cut short). kubectl logs needs timestamps (--timestamps,
// --since) and the stream; the format is the one kubelet users already know.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"

	tagFull    = 'F'
	tagPartial = 'P'

	// maxLogLine splits runaway lines so that one record never grows unbounded.
	maxLogLine = 16 * 1024
)

// LogLine is one decoded record.
type LogLine struct {
	Time    time.Time
	Stream  string
	Partial bool
	Message []byte
}

// logWriter turns two output streams into CRI records on one file. Each record is
// one Write, under a lock, so stdout and stderr never interleave inside a line.
type logWriter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// copyStream reads r to EOF, writing one record per line.
func (lw *logWriter) copyStream(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := lw.record(stream, tagFull, line[:len(line)-1]); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := lw.record(stream, tagPartial, line); werr != nil {
				return werr
			}
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				return lw.record(stream, tagFull, line)
			}
			return nil
		default:
			if len(line) > 0 {
				_ = lw.record(stream, tagPartial, line)
			}
			return err
		}
	}
}

func (lw *logWriter) record(stream string, tag byte, msg []byte) error {
	var b bytes.Buffer
	b.Grow(len(msg) + 48)
	b.WriteString(lw.now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteByte(tag)
	b.WriteByte(' ')
	b.Write(msg)
	b.WriteByte('\n')
	lw.mu.Lock()
	defer lw.mu.Unlock()
	_, err := lw.w.Write(b.Bytes())
	return err
}

// ParseLogLine decodes one record (without its trailing newline).
func ParseLogLine(line []byte) (LogLine, error) {
	parts := bytes.SplitN(line, []byte{' '}, 4)
	if len(parts) < 3 {
		return LogLine{}, fmt.Errorf("log record %q: too few fields", truncate(line))
	}
	ts, err := time.Parse(time.RFC3339Nano, string(parts[0]))
	if err != nil {
		return LogLine{}, fmt.Errorf("log record %q: %w", truncate(line), err)
	}
	stream := string(parts[1])
	if stream != StreamStdout && stream != StreamStderr {
		return LogLine{}, fmt.Errorf("log record %q: unknown stream", truncate(line))
	}
	if len(parts[2]) != 1 || (parts[2][0] != tagFull && parts[2][0] != tagPartial) {
		return LogLine{}, fmt.Errorf("log record %q: bad tag", truncate(line))
	}
	var msg []byte
	if len(parts) == 4 {
		msg = parts[3]
	}
	return LogLine{Time: ts, Stream: stream, Partial: parts[2][0] == tagPartial, Message: msg}, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
