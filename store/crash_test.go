package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The crash test runs the store in a child process (this test binary, re-executed with
// crashChildEnv set) that writes under load and reports, over a pipe, each operation
// before it is submitted and each outcome after it returns. The parent SIGKILLs the
// child mid-load, reopens the store and checks every acknowledged write against what
// it finds. Each worker of the child owns its keys, so the parent knows the exact state
// of every key except for the one operation per worker that was in flight at the kill,
// which must have been applied entirely or not at all.

const (
	crashChildEnv = "WEFT_STORE_CRASH_CHILD" // the store directory, in the child
	crashModeEnv  = "WEFT_STORE_CRASH_MODE"  // "load" or "compact"
	crashRoundEnv = "WEFT_STORE_CRASH_ROUND"
	crashWorkers  = 32
	crashKeys     = 12 // keys per worker
)

// crashMsg is one line of the child's report.
type crashMsg struct {
	T   string // "I" intent, "A" acknowledged, "F" condition failed, "K" compaction chunk
	W   int    `json:",omitempty"` // worker
	S   int    `json:",omitempty"` // sequence number within the worker
	Ops []Op   `json:",omitempty"`
	Rev int64  `json:",omitempty"`
	KVs []KV   `json:",omitempty"`
	N   int    `json:",omitempty"` // compaction chunks applied / compaction target
}

func TestCrashDuringLoad(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	m := newCrashModel()
	rounds := []string{"load", "load", "compact", "load", "compact", "load"}
	for round, mode := range rounds {
		t.Run(fmt.Sprintf("%d-%s", round, mode), func(t *testing.T) {
			msgs := runCrashChild(t, dir, mode, round)
			m.apply(t, round, msgs)
			var interrupted [2]int64
			if mode == "compact" {
				// The child was killed while its compactor was parked after a chunk: the
				// durable target must be ahead of the durable done revision.
				interrupted = rawCompactionState(t, dir)
				if interrupted[0] <= interrupted[1] {
					t.Fatalf("compaction target %d, done %d: the kill did not interrupt it", interrupted[0], interrupted[1])
				}
			}
			db := openTest(t, dir, testOptions(nil))
			if mode == "compact" {
				waitFor(t, "the interrupted compaction to finish", func() bool {
					return db.Stats().CompactionDone >= interrupted[0]
				})
			}
			m.verify(t, db)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
		if t.Failed() {
			return
		}
	}
}

// rawCompactionState reads the compaction target and done revision straight from Pebble.
func rawCompactionState(t *testing.T, dir string) [2]int64 {
	pdb, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	var out [2]int64
	for i, k := range [][]byte{metaCompactTarget, metaCompactDone} {
		v, closer, err := pdb.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out[i], err = decodeInt(v)
		closer.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// runCrashChild runs one child until the kill point and returns everything it reported.
func runCrashChild(t *testing.T, dir, mode string, round int) []crashMsg {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringLoad$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashModeEnv+"="+mode, crashRoundEnv+"="+strconv.Itoa(round))
	cmd.ExtraFiles = []*os.File{pw}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	rng := rand.New(rand.NewPCG(uint64(round), 3))
	killAfter := 300 + rng.IntN(1200) // acknowledgements, in load mode
	var msgs []crashMsg
	acks := 0
	killed := false
	r := bufio.NewReader(pr)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			// EOF: the child is dead. A last line without its newline was cut by the
			// kill; what it would have said never reached us, as with a real client.
			break
		}
		var msg crashMsg
		if err := json.Unmarshal(line, &msg); err != nil {
			t.Fatalf("bad line from the child: %q: %v", line, err)
		}
		msgs = append(msgs, msg)
		if msg.T == "A" {
			acks++
		}
		kill := !killed && ((mode == "load" && acks >= killAfter) || (mode == "compact" && msg.T == "K"))
		if kill {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = <-exited
	if !killed {
		t.Fatalf("the child exited before the kill: %v", err)
	}
	return msgs
}

// crashChild is the child's side: it opens the store and writes until it is killed.
func crashChild(t *testing.T, dir string) {
	out := os.NewFile(3, "report")
	var outMu sync.Mutex
	report := func(m crashMsg) {
		b, _ := json.Marshal(m)
		outMu.Lock()
		defer outMu.Unlock()
		if _, err := out.Write(append(b, '\n')); err != nil {
			os.Exit(3)
		}
	}
	round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	opts := testOptions(nil)
	compact := os.Getenv(crashModeEnv) == "compact"
	if compact {
		opts.hooks = &testHooks{afterCompactChunk: func(chunks int) {
			if chunks == 2 {
				report(crashMsg{T: "K", N: chunks})
				select {} // park the compactor until the kill
			}
		}}
	}
	db, err := Open(dir, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	if compact {
		// History to compact: several versions of many keys, enough for a few chunks.
		for b := range 40 {
			for v := range 3 {
				ops := make([]Op, 100)
				for i := range ops {
					ops[i] = Op{Type: OpUpdate, Key: fmt.Sprintf("bulk/r%d/%02d/%03d", round, b, i), Value: []byte(strconv.Itoa(v))}
					if v == 0 {
						ops[i].Type = OpCreate
					}
				}
				if _, err := db.Txn(ctx, ops); err != nil && !isTxnErr(err) {
					fmt.Fprintln(os.Stderr, "child: preload:", err)
					os.Exit(2)
				}
			}
		}
	}
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() { crashWorker(db, round, w, report) })
	}
	if compact {
		time.Sleep(20 * time.Millisecond) // let the load start first
		if err := db.Compact(ctx, db.CurrentRevision()); err != nil {
			fmt.Fprintln(os.Stderr, "child: compact:", err)
			os.Exit(2)
		}
	}
	wg.Wait()
	select {} // never reached: workers loop until the kill
}

func crashKey(round, w, k int) string { return fmt.Sprintf("r%d/w%02d/k%02d", round, w, k) }

// crashWorker writes its own keys forever. It knows their state exactly, so its
// conditional writes succeed, except the deliberate failures.
func crashWorker(db *DB, round, w int, report func(crashMsg)) {
	rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
	mods := make(map[int]int64) // key index -> mod revision; absent when deleted
	ctx := context.Background()
	for seq := 1; ; seq++ {
		var ops []Op
		val := func(k int) []byte { return []byte(fmt.Sprintf("s%d/%s", seq, crashKey(round, w, k))) }
		n := 1
		if rng.IntN(4) == 0 {
			n = 2 + rng.IntN(3)
		}
		for _, k := range rng.Perm(crashKeys)[:n] {
			key := crashKey(round, w, k)
			mod, exists := mods[k]
			switch {
			case !exists:
				ops = append(ops, Op{Type: OpCreate, Key: key, Value: val(k)})
			case rng.IntN(10) == 0:
				ops = append(ops, Op{Type: OpCreate, Key: key, Value: val(k)}) // fails: exists
			case rng.IntN(4) == 0:
				ops = append(ops, Op{Type: OpDelete, Key: key, ModRevision: mod})
			case rng.IntN(3) == 0:
				ops = append(ops, Op{Type: OpUpdate, Key: key, Value: val(k)})
			default:
				ops = append(ops, Op{Type: OpUpdate, Key: key, Value: val(k), ModRevision: mod})
			}
		}
		report(crashMsg{T: "I", W: w, S: seq, Ops: ops})
		res, err := db.Txn(ctx, ops)
		switch {
		case isTxnErr(err):
			report(crashMsg{T: "F", W: w, S: seq})
			continue
		case err != nil:
			fmt.Fprintln(os.Stderr, "child: txn:", err)
			os.Exit(2)
		}
		for _, op := range ops {
			k, _ := strconv.Atoi(op.Key[len(op.Key)-2:])
			if op.Type == OpDelete {
				delete(mods, k)
			} else {
				mods[k] = res.Revision
			}
		}
		report(crashMsg{T: "A", W: w, S: seq, Rev: res.Revision, KVs: res.KVs})
	}
}

// crashModel is the parent's knowledge of every key the children wrote.
type crashModel struct {
	state   map[string]*KV // nil: known absent
	acked   []crashAck     // every acknowledged transaction, all rounds
	maxRev  int64
	pending map[string][]crashPending // per round's in-flight ops, resolved by verify
}

type crashAck struct {
	rev int64
	ops []Op
	kvs []KV
}

type crashPending struct {
	ops []Op
}

func newCrashModel() *crashModel {
	return &crashModel{state: make(map[string]*KV), pending: make(map[string][]crashPending)}
}

// apply folds one child's report into the model.
func (m *crashModel) apply(t *testing.T, round int, msgs []crashMsg) {
	inFlight := make(map[int]crashMsg) // worker -> intent without outcome
	for _, msg := range msgs {
		switch msg.T {
		case "I":
			inFlight[msg.W] = msg
		case "F":
			delete(inFlight, msg.W)
		case "A":
			intent, ok := inFlight[msg.W]
			if !ok || intent.S != msg.S {
				t.Fatalf("acknowledgement without intent: %+v", msg)
			}
			delete(inFlight, msg.W)
			m.acked = append(m.acked, crashAck{rev: msg.Rev, ops: intent.Ops, kvs: msg.KVs})
			m.maxRev = max(m.maxRev, msg.Rev)
			for i, op := range intent.Ops {
				switch op.Type {
				case OpDelete:
					m.state[op.Key] = nil
				case OpCreate, OpUpdate:
					kv := msg.KVs[i]
					m.state[op.Key] = &kv
				}
			}
		}
	}
	m.pending = make(map[string][]crashPending)
	for _, intent := range inFlight {
		p := crashPending{ops: intent.Ops}
		for _, op := range intent.Ops {
			m.pending[op.Key] = append(m.pending[op.Key], p)
		}
	}
	t.Logf("round %d: %d messages, %d acknowledged in total, %d in flight at the kill",
		round, len(msgs), len(m.acked), len(inFlight))
}

// verify checks the reopened store against the model, then resolves the in-flight
// operations to what the store holds.
func (m *crashModel) verify(t *testing.T, db *DB) {
	ctx := bg(t)
	st, err := checkConsistency(db)
	if err != nil {
		t.Fatal(err)
	}
	if cur := db.CurrentRevision(); cur < m.maxRev {
		t.Fatalf("current revision %d below the acknowledged %d", cur, m.maxRev)
	}
	compacted := db.CompactedRevision()

	// Revisions: one per acknowledged transaction, holding exactly its writes.
	seen := make(map[int64]bool)
	for _, a := range m.acked {
		if seen[a.rev] {
			t.Fatalf("revision %d acknowledged twice", a.rev)
		}
		seen[a.rev] = true
		if a.rev <= st.compactTarget {
			continue
		}
		var want []eventRef
		for i, op := range a.ops {
			switch op.Type {
			case OpDelete:
				want = append(want, eventRef{EventDelete, op.Key})
			case OpCreate, OpUpdate:
				want = append(want, eventRef{EventPut, op.Key})
				got, err := db.Get(ctx, op.Key, a.rev)
				if err != nil || got.ModRevision != a.rev || string(got.Value) != string(a.kvs[i].Value) {
					t.Fatalf("%s at acknowledged revision %d: %+v, %v; want %q", op.Key, a.rev, got, err, a.kvs[i].Value)
				}
			}
		}
		if g, w := refStrings(st.log[a.rev]), refStrings(want); fmt.Sprint(g) != fmt.Sprint(w) {
			t.Fatalf("revision %d logs %v, the transaction wrote %v", a.rev, g, w)
		}
	}

	// Current state: what was acknowledged, or an in-flight operation applied whole.
	for key, want := range m.state {
		got, err := db.Get(ctx, key, 0)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if sameState(want, got, exists) {
			continue
		}
		if len(m.pending[key]) == 0 {
			t.Fatalf("%s: store has %+v (exists=%v), acknowledged %+v", key, got, exists, want)
		}
	}
	// Each in-flight transaction is all or nothing, at one revision above every
	// acknowledged one of its worker.
	checked := make(map[*crashPending]bool)
	for _, ps := range m.pending {
		for i := range ps {
			p := &ps[i]
			if checked[p] {
				continue
			}
			checked[p] = true
			m.checkPending(t, ctx, db, p.ops, compacted)
		}
	}
	// Later rounds must find this state again: take the store's word for in-flight ops.
	for key := range m.pending {
		got, err := db.Get(ctx, key, 0)
		if err != nil {
			m.state[key] = nil
		} else {
			m.state[key] = &got
		}
	}
	m.pending = nil
}

func (m *crashModel) checkPending(t *testing.T, ctx context.Context, db *DB, ops []Op, compacted int64) {
	applied, notApplied := 0, 0
	var rev int64
	for _, op := range ops {
		before := m.state[op.Key]
		got, err := db.Get(ctx, op.Key, 0)
		exists := err == nil
		if sameState(before, got, exists) {
			notApplied++
			continue
		}
		applied++
		switch op.Type {
		case OpDelete:
			if exists {
				t.Fatalf("in-flight delete of %s: store has %+v", op.Key, got)
			}
		default:
			if !exists || string(got.Value) != string(op.Value) {
				t.Fatalf("in-flight write of %s: store has %+v, %v", op.Key, got, err)
			}
			if rev != 0 && got.ModRevision != rev {
				t.Fatalf("in-flight transaction split across revisions %d and %d", rev, got.ModRevision)
			}
			rev = got.ModRevision
		}
	}
	if applied > 0 && notApplied > 0 {
		t.Fatalf("in-flight transaction %+v applied partly: %d of %d ops", ops, applied, len(ops))
	}
}

func sameState(want *KV, got KV, exists bool) bool {
	if want == nil {
		return !exists
	}
	return exists && got.ModRevision == want.ModRevision && string(got.Value) == string(want.Value)
}
