package nodelink

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/quic-go/quic-go"
)

// ProtocolVersion is the newest message-protocol version this package speaks. The ALPN
// suffix changes only if the framing itself changes; message-level changes are negotiated
// in the hello so old nodes keep working through a kernel upgrade.
const ProtocolVersion = 1

// supportedVersions lists what we accept, newest first.
var supportedVersions = []int{ProtocolVersion}

const (
	alpnJoin = "weft-join/1"
	alpnNode = "weft-node/1"

	headerLen = 5 // 1 byte type, 4 bytes big-endian payload length

	// DefaultMaxFrameSize bounds one message. Kubernetes objects are capped near 1.5 MiB
	// by etcd; 4 MiB leaves room for wrapping without letting a peer make us allocate
	// arbitrary amounts.
	DefaultMaxFrameSize = 4 << 20
)

type frameType uint8

const (
	frameError     frameType = 0x01
	frameHello     frameType = 0x02
	frameHelloAck  frameType = 0x03
	frameHeartbeat frameType = 0x04
	frameRenew     frameType = 0x05
	frameRenewAck  frameType = 0x06
	frameJoin      frameType = 0x10
	frameJoinAck   frameType = 0x11
	frameWatch     frameType = 0x20
	frameEvent     frameType = 0x21
	frameOpen      frameType = 0x30
	frameOpenAck   frameType = 0x31
	frameRequest   frameType = 0x40
	frameResponse  frameType = 0x41
)

func (t frameType) String() string {
	switch t {
	case frameError:
		return "error"
	case frameHello:
		return "hello"
	case frameHelloAck:
		return "hello-ack"
	case frameHeartbeat:
		return "heartbeat"
	case frameRenew:
		return "renew"
	case frameRenewAck:
		return "renew-ack"
	case frameJoin:
		return "join"
	case frameJoinAck:
		return "join-ack"
	case frameWatch:
		return "watch"
	case frameEvent:
		return "event"
	case frameOpen:
		return "open"
	case frameOpenAck:
		return "open-ack"
	case frameRequest:
		return "request"
	case frameResponse:
		return "response"
	}
	return fmt.Sprintf("type-%#x", uint8(t))
}

// QUIC stream and connection error codes. They travel in RESET_STREAM/STOP_SENDING and
// CONNECTION_CLOSE, so a peer learns why even when no error frame could be delivered.
const (
	streamCodeCancel        quic.StreamErrorCode = 0x0
	streamCodeProtocol      quic.StreamErrorCode = 0x1
	streamCodeFrameTooLarge quic.StreamErrorCode = 0x2
	streamCodeHandler       quic.StreamErrorCode = 0x3

	connCodeNormal           quic.ApplicationErrorCode = 0x0
	connCodeProtocol         quic.ApplicationErrorCode = 0x1
	connCodeHeartbeatTimeout quic.ApplicationErrorCode = 0x2
	connCodeCertExpired      quic.ApplicationErrorCode = 0x3
	connCodeDisconnected     quic.ApplicationErrorCode = 0x4
	connCodeRotated          quic.ApplicationErrorCode = 0x5
	connCodeShutdown         quic.ApplicationErrorCode = 0x6
)

// Error codes carried in error frames.
const (
	codeUnauthorized  = "unauthorized"
	codeBadRequest    = "bad_request"
	codeVersion       = "unsupported_version"
	codeCompacted     = "compacted"
	codeFrameTooLarge = "frame_too_large"
	codeNoHandler     = "no_handler"
	codeInternal      = "internal"
	codeRequestFailed = "request_failed"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrCompacted: the requested revision is no longer in history; relist, then watch
	// from the list's revision.
	ErrCompacted = errors.New("nodelink: revision compacted")
	// ErrFrameTooLarge: a message exceeded the receiver's size limit; only the stream that
	// carried it is closed.
	ErrFrameTooLarge = errors.New("nodelink: frame too large")
	// ErrJoinRejected: the server refused the join token or node name.
	ErrJoinRejected = errors.New("nodelink: join rejected")
	// ErrCAMismatch: the server's CA does not match the pinned fingerprint.
	ErrCAMismatch = errors.New("nodelink: server CA does not match pinned fingerprint")
	// ErrVersion: no protocol version in common.
	ErrVersion = errors.New("nodelink: no common protocol version")
	// ErrNoHandler: the node has no handler for a kernel-opened stream's kind.
	ErrNoHandler = errors.New("nodelink: no stream handler")
	// ErrNotConnected: the node has no live connection.
	ErrNotConnected = errors.New("nodelink: node not connected")
	// ErrProtocol: the peer sent something the protocol does not allow.
	ErrProtocol = errors.New("nodelink: protocol error")
	// ErrRequestFailed: the server's request hook returned an error for a node request.
	ErrRequestFailed = errors.New("nodelink: request failed")
	// ErrClosed: the client or server was closed.
	ErrClosed = errors.New("nodelink: closed")
)

// RemoteError is an error frame received from the peer.
type RemoteError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("nodelink: remote error %s: %s", e.Code, e.Message)
}

// Is maps wire codes onto the package sentinels.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrCompacted:
		return e.Code == codeCompacted
	case ErrFrameTooLarge:
		return e.Code == codeFrameTooLarge
	case ErrJoinRejected:
		return e.Code == codeUnauthorized
	case ErrVersion:
		return e.Code == codeVersion
	case ErrNoHandler:
		return e.Code == codeNoHandler
	case ErrRequestFailed:
		return e.Code == codeRequestFailed
	}
	return false
}

// Messages. Control messages are JSON: they are rare and debuggability wins. Events are
// binary because they are the hot path.

type helloMsg struct {
	Versions        []int `json:"versions"`
	HeartbeatMillis int64 `json:"heartbeatMillis"`
}

type helloAckMsg struct {
	Version int    `json:"version"`
	Node    string `json:"node"`
}

type heartbeatMsg struct {
	Seq uint64 `json:"seq"`
}

type renewMsg struct {
	CSR []byte `json:"csr"` // DER PKCS#10
}

type certMsg struct {
	Cert []byte `json:"cert"` // PEM, leaf
	CA   []byte `json:"ca"`   // PEM
}

type joinMsg struct {
	Version int    `json:"version"`
	Token   string `json:"token"`
	Node    string `json:"node"`
	CSR     []byte `json:"csr"` // DER PKCS#10
}

type watchMsg struct {
	Kind string `json:"kind"`
	From uint64 `json:"from"`
}

type openMsg struct {
	Kind   string `json:"kind"`
	Header []byte `json:"header,omitempty"`
}

// EventType says what happened to an object.
type EventType uint8

const (
	Added    EventType = 1
	Modified EventType = 2
	Deleted  EventType = 3
	// Bookmark carries only a revision: the watcher has seen everything up to it.
	Bookmark EventType = 4
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "ADDED"
	case Modified:
		return "MODIFIED"
	case Deleted:
		return "DELETED"
	case Bookmark:
		return "BOOKMARK"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one change of one object. Revisions increase strictly within a watch.
type Event struct {
	Type     EventType
	Revision uint64
	Object   []byte
}

// appendEvent encodes ev as a frame: type, uvarint revision, then the object verbatim.
func appendEvent(dst []byte, ev Event) []byte {
	start := len(dst)
	dst = append(dst, byte(frameEvent), 0, 0, 0, 0, byte(ev.Type))
	dst = binary.AppendUvarint(dst, ev.Revision)
	dst = append(dst, ev.Object...)
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-headerLen))
	return dst
}

func decodeEvent(p []byte) (Event, error) {
	if len(p) < 2 {
		return Event{}, fmt.Errorf("%w: short event", ErrProtocol)
	}
	rev, n := binary.Uvarint(p[1:])
	if n <= 0 {
		return Event{}, fmt.Errorf("%w: bad event revision", ErrProtocol)
	}
	return Event{Type: EventType(p[0]), Revision: rev, Object: p[1+n:]}, nil
}

func frameTooLarge(what string, size, limit int) error {
	return fmt.Errorf("%w: %s frame of %d bytes exceeds the %d-byte limit", ErrFrameTooLarge, what, size, limit)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeFrame sends one frame in a single Write so a frame is never interleaved.
func writeFrame(w io.Writer, t frameType, payload []byte, limit int) error {
	if len(payload) > limit {
		return frameTooLarge(t.String(), len(payload), limit)
	}
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], byte(t), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	b = append(b, payload...)
	_, err := w.Write(b)
	*bp = b
	bufPool.Put(bp)
	return err
}

func writeJSON(w io.Writer, t frameType, v any, limit int) error {
	p, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFrame(w, t, p, limit)
}

func writeError(w io.Writer, code, msg string) error {
	return writeJSON(w, frameError, RemoteError{Code: code, Message: msg}, DefaultMaxFrameSize)
}

// frameReader reads frames from a stream. The limit is checked before allocating, so an
// oversized header costs nothing but the header.
type frameReader struct {
	r     *bufio.Reader
	limit int
	hdr   [headerLen]byte
}

func newFrameReader(r io.Reader, limit int) *frameReader {
	return newFrameReaderSize(r, limit, 64<<10)
}

// newFrameReaderSize buffers size bytes. The kernel holds a reader for every stream of
// every node, mostly idle, so its own are small: a payload larger than the buffer is
// read straight into place anyway.
func newFrameReaderSize(r io.Reader, limit, size int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, size), limit: limit}
}

// next returns a freshly allocated payload: callers may keep it (event objects do).
func (fr *frameReader) next() (frameType, []byte, error) {
	return readFrame(fr.r, fr.hdr[:], fr.limit)
}

// readOne reads a stream's only frame, unbuffered: a request's answer is one frame,
// and a 64 KiB buffer for each was a quarter of weft sim's CPU while pods started.
func readOne(r io.Reader, limit int) (frameType, []byte, error) {
	var hdr [headerLen]byte
	return readFrame(r, hdr[:], limit)
}

func readFrame(r io.Reader, hdr []byte, limit int) (frameType, []byte, error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, nil, err
	}
	t := frameType(hdr[0])
	n := int(binary.BigEndian.Uint32(hdr[1:]))
	if n > limit {
		return t, nil, frameTooLarge(t.String(), n, limit)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return t, nil, err
	}
	return t, p, nil
}

// expect reads one frame of type want into v (JSON). An error frame becomes *RemoteError.
func (fr *frameReader) expect(want frameType, v any) error {
	t, p, err := fr.next()
	if err != nil {
		return err
	}
	return decodeAs(t, p, want, v)
}

func decodeAs(t frameType, p []byte, want frameType, v any) error {
	if t == frameError {
		re := &RemoteError{}
		if err := json.Unmarshal(p, re); err != nil {
			return fmt.Errorf("%w: bad error frame: %v", ErrProtocol, err)
		}
		return re
	}
	if t != want {
		return fmt.Errorf("%w: got %s frame, want %s", ErrProtocol, t, want)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: bad %s frame: %v", ErrProtocol, t, err)
	}
	return nil
}

// rejectStream tells the peer why a stream is being dropped, then drops it. The error
// frame is best effort: the stream error code says the same if the frame is lost.
func rejectStream(s *quic.Stream, code quic.StreamErrorCode, wireCode, msg string) {
	_ = writeError(s, wireCode, msg)
	s.CancelRead(code)
	_ = s.Close()
}

func negotiate(offered []int) (int, bool) {
	for _, v := range supportedVersions {
		for _, o := range offered {
			if o == v {
				return v, true
			}
		}
	}
	return 0, false
}
