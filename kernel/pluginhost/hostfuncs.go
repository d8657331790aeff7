package pluginhost

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero/api"
)

// instantiateHost adds the "weft" host module, the imports of ABI v1. The functions
// take their arguments off wazero's stack themselves: WithFunc would convert them by
// reflection, at three or four allocations a call.
func (p *Plugin) instantiateHost(ctx context.Context) error {
	take := func(ctx context.Context, m api.Module, s []uint64) {
		hostTake(ctx, m, api.DecodeU32(s[0]))
	}
	log := func(ctx context.Context, m api.Module, s []uint64) {
		hostLog(ctx, m, api.DecodeI32(s[0]), api.DecodeU32(s[1]), api.DecodeU32(s[2]))
	}
	call := func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = hostCall(ctx, m, api.DecodeI32(s[0]), api.DecodeU32(s[1]), api.DecodeU32(s[2]))
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	_, err := p.runtime.NewHostModuleBuilder("weft").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(take), []api.ValueType{i32}, nil).Export("take").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(log), []api.ValueType{i32, i32, i32}, nil).Export("log").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(call), []api.ValueType{i32, i32, i32}, []api.ValueType{i64}).Export("call").
		Instantiate(ctx)
	return err
}

// hostTake copies the pending input of the current call into guest memory at ptr.
func hostTake(ctx context.Context, m api.Module, ptr uint32) {
	cs, _ := ctx.Value(callKey{}).(*callState)
	if cs == nil || len(cs.input) == 0 {
		return
	}
	if !m.Memory().Write(ptr, cs.input) {
		panic("weft.take: destination out of bounds") // traps the guest
	}
	cs.input = nil // an input is taken once
}

// maxLogLine bounds what one guest log call may write.
const maxLogLine = 16 << 10

func hostLog(ctx context.Context, m api.Module, level int32, ptr, size uint32) {
	cs, _ := ctx.Value(callKey{}).(*callState)
	if cs == nil {
		return
	}
	size = min(size, maxLogLine)
	b, ok := m.Memory().Read(ptr, size)
	if !ok {
		return
	}
	cs.plugin.log.Log(ctx, slog.Level(level), string(b), "source", "guest")
}

// logWriter sends a guest's stdout or stderr to the plugin's log, a line at a time:
// the guest writes in arbitrary pieces (a Go panic writes word by word).
type logWriter struct {
	p     *Plugin
	level slog.Level
	mu    *sync.Mutex
	buf   *[]byte
}

func newLogWriter(p *Plugin, level slog.Level) logWriter {
	return logWriter{p: p, level: level, mu: &sync.Mutex{}, buf: new([]byte)}
}

func (w logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.buf = append(*w.buf, b...)
	for {
		i := bytes.IndexByte(*w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit((*w.buf)[:i])
		*w.buf = (*w.buf)[i+1:]
	}
	if len(*w.buf) > maxLogLine {
		w.emit(*w.buf)
		*w.buf = nil
	}
	return len(b), nil
}

func (w logWriter) emit(line []byte) {
	if len(line) > 0 {
		w.p.log.Log(context.Background(), w.level, string(line), "source", "guest-stdio")
	}
}
