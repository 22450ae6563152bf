//go:build linux

package shmipc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// What a hostile writer can make a receiver hold in resident memory: the
// bound that StreamLimits documents (MaxTotal plus the stated overhead),
// measured on the echo guest as a separate process.

// procStatusKiB returns field ("VmHWM", "VmRSS") of /proc/pid/status in KiB.
func procStatusKiB(t *testing.T, pid int, field string) uint64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			rest := strings.TrimSpace(line[len(field)+1:])
			v, err := strconv.ParseUint(strings.TrimSuffix(rest, " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status: %q: %v", pid, line, err)
			}
			return v
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// hostileWriter is a host with an echo guest whose MaxTotal is maxTotal.
type hostileWriter struct {
	t   *testing.T
	h   *testHost
	p   *echoProc
	k   int // the slot it writes on
	req []byte
	id  uint64
}

const (
	hostileMaxTotal = 64 << 20
	hostileChunk    = 1 << 20
)

func newHostileWriter(t *testing.T, bin string) *hostileWriter {
	h := newHost(t, hostConfig{hostSlots: 4, reqCapacity: hostileChunk + streamHeaderSize, respCapacity: 128})
	p := startGuestEnv(t, h, bin, withoutMallocPerturb(), "-stream-max-total", strconv.Itoa(hostileMaxTotal), "-stream-max-stream", strconv.Itoa(hostileMaxTotal),
		"-stream-max-streams", "16", "-stream-idle-ms", "60000")
	w := &hostileWriter{t: t, h: h, p: p, req: make([]byte, hostileChunk+streamHeaderSize), id: 1}
	for i := range w.req[streamHeaderSize:] {
		w.req[streamHeaderSize+i] = byte(i*7) ^ 0x5A
	}
	return w
}

func (w *hostileWriter) msg(typ MsgType, b []byte, want StreamReason) {
	w.t.Helper()
	var resp [128]byte
	n, rt, err := w.h.call(w.k, uint32(typ), b, false, resp[:], 10*time.Second)
	if err != nil || rt != uint32(typ) || n != streamRespSize {
		w.t.Errorf("type %d: %d bytes type %d, %v; guest stderr: %s", typ, n, rt, err, w.p.stderr.String())
	}
	if got := StreamReason(binary.LittleEndian.Uint32(resp[:])); got != want {
		w.t.Errorf("type %d: %s, want %s", typ, got, want)
	}
}

// fill opens a stream of total bytes, writes all of it but its last byte
// (so that every page is resident) and returns its id.
func (w *hostileWriter) fill(total uint64) uint64 {
	w.t.Helper()
	w.id++
	w.msg(MsgStreamStart, startMsg(w.id, total, 300), StreamOK)
	for off := uint64(0); off < total-1; off += hostileChunk {
		n := minU64(hostileChunk, total-1-off)
		putStreamHeader(w.req[:0], streamHeader{id: w.id, total: total, offset: off, appType: 300})
		w.msg(MsgStreamChunk, w.req[:streamHeaderSize+n], StreamOK)
	}
	return w.id
}

func (w *hostileWriter) abort(id, total uint64) {
	w.t.Helper()
	w.msg(MsgStreamChunk, abortMsg(id, total, 300), StreamAborted)
}

// check fails the test if the echo guest's peak resident memory grew by
// more than the bound StreamLimits states since base (KiB):
// 1.1 x MaxTotal + 64 KiB x (MaxStreams + 16), and 8 MiB for the
// runtime's own growth (goroutines, the garbage collector's work).
func (w *hostileWriter) check(base uint64, what string) {
	w.t.Helper()
	peak := procStatusKiB(w.t, w.p.cmd.Process.Pid, "VmHWM")
	grew := (peak - base) << 10
	limit := uint64(hostileMaxTotal+hostileMaxTotal/10+64<<10*(16+16)) + 8<<20
	w.t.Logf("%s, %s: VmHWM %d KiB at start, %d KiB after: grew %.2f x MaxTotal (limit %.2f x)",
		filepath.Base(w.p.cmd.Path), what, base, peak, float64(grew)/hostileMaxTotal, float64(limit)/hostileMaxTotal)
	if grew > limit {
		w.t.Errorf("%s: resident memory grew by %d MiB with MaxTotal %d MiB, want at most %d MiB",
			what, grew>>20, hostileMaxTotal>>20, limit>>20)
	}
}

// withoutMallocPerturb is this process's environment without glibc's
// MALLOC_PERTURB_ (meson test sets it): with it, free() fills every freed
// block, which makes resident again the pages the receiver has just given
// back to the kernel, so the C guest's resident memory would measure
// glibc's debugging aid instead of the library.
func withoutMallocPerturb() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MALLOC_PERTURB_=") {
			env = append(env, kv)
		}
	}
	return env
}

// eachGuest runs f against the Go echo guest and, when SHMIPC_TEST_ECHO_C
// names it (the Meson suite builds it and sets it), the C echo guest: the
// two receivers state the same bound.
func eachGuest(t *testing.T, f func(t *testing.T, bin string)) {
	t.Run("go", func(t *testing.T) { f(t, buildEcho(t)) })
	t.Run("c", func(t *testing.T) {
		bin := os.Getenv("SHMIPC_TEST_ECHO_C")
		if bin == "" {
			cannotRun(t, "SHMIPC_TEST_ECHO_C is not set: the C echo guest is built by Meson (tests/shmipc-echo-c)")
		}
		f(t, bin)
	})
}

// A hostile writer opens streams against the echo guest, writes every
// byte of them and abandons them, in lengths that rarely repeat: the
// guest's peak resident memory stays within the bound StreamLimits states.
func TestStreamResidentBoundLong(t *testing.T) { eachGuest(t, residentLong) }

func residentLong(t *testing.T, bin string) {
	w := newHostileWriter(t, bin)
	base := procStatusKiB(t, w.p.cmd.Process.Pid, "VmHWM")
	for round := 0; round < 24; round++ {
		if round%3 != 2 {
			// one stream of nearly all the budget, a new length each time
			total := uint64(hostileMaxTotal - round*(300<<10) - 1)
			w.abort(w.fill(total), total)
			continue
		}
		// four streams of a quarter each, then all abandoned
		var ids [4]uint64
		total := uint64(hostileMaxTotal/4 - round*4096 - 1)
		for k := range ids {
			ids[k] = w.fill(total)
		}
		for _, id := range ids {
			w.abort(id, total)
		}
	}
	w.check(base, "long streams abandoned")
}

// Short streams opened and abandoned by the thousand next to one long
// stream that holds nearly all the budget: each would otherwise leave its
// zeroed buffer to the garbage collector, which lets garbage grow to the
// size of the live heap before it runs.
func TestStreamResidentBoundShort(t *testing.T) { eachGuest(t, residentShort) }

func residentShort(t *testing.T, bin string) {
	w := newHostileWriter(t, bin)
	base := procStatusKiB(t, w.p.cmd.Process.Pid, "VmHWM")
	total := uint64(hostileMaxTotal - 1<<20)
	long := w.fill(total)
	for k := 0; k < 12000; k++ {
		n := uint64(4096 + k%15*4096 - 1)
		w.abort(w.fill(n), n)
	}
	w.abort(long, total)
	w.check(base, "short streams abandoned")
}

// Four writers on four slots at once open streams of a quarter of the
// budget each, fill them and abandon them, in lengths that rarely repeat,
// so the guest's workers allocate and discard on several threads at once.
func TestStreamResidentBoundParallel(t *testing.T) { eachGuest(t, residentParallel) }

func residentParallel(t *testing.T, bin string) {
	w := newHostileWriter(t, bin)
	base := procStatusKiB(t, w.p.cmd.Process.Pid, "VmHWM")
	var wg sync.WaitGroup
	for k := 0; k < 4; k++ {
		wk := &hostileWriter{t: t, h: w.h, p: w.p, k: k, req: make([]byte, len(w.req)), id: uint64(k+1) << 32}
		copy(wk.req, w.req)
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for round := 0; round < 16 && !t.Failed(); round++ {
				total := uint64(hostileMaxTotal/4 - (round*4+k)*(40<<10) - 1)
				wk.abort(wk.fill(total), total)
			}
		}(k)
	}
	wg.Wait()
	w.check(base, "four writers at once")
}

func minU64(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}
