//go:build linux

package shmipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// The serve path must not allocate: a request is taken, handed to the
// handler and answered in place. These measure the whole process (guest
// workers, handler and the allocation-free test host), so any allocation
// on the serve path shows up.

func TestServeZeroAllocs(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	startServe(t, g, echo)
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	req := bytes.Repeat([]byte{0xA5}, 64)
	resp := make([]byte, 256)
	var failed error
	one := func() {
		n, _, err := h.call(0, 0, req, false, resp, 5*time.Second)
		if err != nil || n != len(req) {
			failed = err
		}
	}
	one() // warm up: workers running, first liveness check done
	if a := testing.AllocsPerRun(500, one); a != 0 || failed != nil {
		t.Errorf("host-to-guest round trip: %v allocations per request (err %v), want 0", a, failed)
	}
	// Also with the request end-aligned, and through a handler that makes
	// a guest call of its own (Call's success path is allocation-free too).
	if a := testing.AllocsPerRun(200, func() {
		if _, _, err := h.call(1, 0, req, true, resp, 5*time.Second); err != nil {
			failed = err
		}
	}); a != 0 || failed != nil {
		t.Errorf("end-aligned round trip: %v allocations per request (err %v), want 0", a, failed)
	}
	callResp := make([]byte, 256)
	if a := testing.AllocsPerRun(200, func() {
		if _, _, err := g.Call(MsgGuestCall, req, callResp, 5*time.Second); err != nil {
			failed = err
		}
	}); a != 0 || failed != nil {
		t.Errorf("guest call: %v allocations per call (err %v), want 0", a, failed)
	}
}

// With more host slots than Ps the pollers answer (poll.go); while they
// run, a request allocates nothing either. (Starting them after an idle
// spell makes a channel and their goroutines: per burst, not per request.)
func TestServeZeroAllocsPollers(t *testing.T) {
	withProcs(t, 2)
	o := testOptions()
	o.SpinBudget = 1 << 30 // the pollers stay up for the whole measurement
	h := newHost(t, hostConfig{hostSlots: 4, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, o)
	startServe(t, g, echo)
	req := bytes.Repeat([]byte{0x5A}, 64)
	resp := make([]byte, 256)
	var failed error
	k := 0
	one := func() {
		k = (k + 1) % 4
		n, _, err := h.call(k, 0, req, false, resp, 5*time.Second)
		if err != nil || n != len(req) {
			failed = fmt.Errorf("slot %d: %d bytes, %v", k, n, err)
		}
	}
	for i := 0; i < 8; i++ {
		one() // warm up: pollers running on every slot
	}
	if a := testing.AllocsPerRun(500, one); a != 0 || failed != nil {
		t.Errorf("round trip through the pollers: %v allocations per request (err %v), want 0", a, failed)
	}
}

// Stream chunks served through a Reassembler do not allocate either, nor
// do the other messages it passes on.
func TestServeStreamZeroAllocs(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	c := &collector{}
	r, err := NewReassembler(DefaultStreamLimits(), c.deliver, echo)
	if err != nil {
		t.Fatal(err)
	}
	startServe(t, g, r.Handle)
	const runs, size = 300, 224
	total := uint64(2 * runs * size)
	resp := make([]byte, 256)
	if n, _, err := h.call(0, uint32(MsgStreamStart), startMsg(1, total, 200), false, resp, 5*time.Second); err != nil || n != 16 || resp[0] != 0 {
		t.Fatalf("STREAM_START: %v, %x", err, resp[:n])
	}
	req := chunkMsg(1, total, 0, 200, bytes.Repeat([]byte{0x3C}, size))
	off := uint64(0)
	var failed error
	if a := testing.AllocsPerRun(runs, func() {
		binary.LittleEndian.PutUint64(req[16:], off)
		off += size
		n, _, err := h.call(0, uint32(MsgStreamChunk), req, false, resp, 5*time.Second)
		if err == nil && (n != 16 || resp[0] != 0 || resp[4] != byte(StreamOpen)) {
			err = fmt.Errorf("chunk at %d answered %x", off-size, resp[:n])
		}
		if err != nil {
			failed = err
		}
	}); a != 0 || failed != nil {
		t.Errorf("stream chunk round trip: %v allocations per chunk (err %v), want 0", a, failed)
	}
	other := []byte("not a stream")
	if a := testing.AllocsPerRun(runs, func() {
		if _, _, err := h.call(0, 0, other, false, resp, 5*time.Second); err != nil {
			failed = err
		}
	}); a != 0 || failed != nil {
		t.Errorf("non-stream round trip through the Reassembler: %v allocations (err %v), want 0", a, failed)
	}
}

func BenchmarkServeEcho64(b *testing.B) {
	h := newHost(b, hostConfig{hostSlots: 1, reqCapacity: 4096, respCapacity: 4096})
	g, err := Connect(h.name, &Options{LivenessInterval: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		go func() { <-stop; g.Close() }()
		done <- g.Serve(context.Background(), echo)
	}()
	req := make([]byte, 64)
	resp := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := h.call(0, 0, req, false, resp, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.Fatal("waited 5s for Serve to return after Close")
	}
}

func BenchmarkGuestCall64(b *testing.B) {
	h := newHost(b, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 4096, respCapacity: 4096})
	g, err := Connect(h.name, &Options{LivenessInterval: 20 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	req := make([]byte, 64)
	resp := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := g.Call(MsgGuestCall, req, resp, 5*time.Second); err != nil {
			b.Fatalf("call %d: %v; control word %#x, doorbell %#x", i, err,
				atomic.LoadUint32(&h.slots[1].hdr.ctrl), atomic.LoadUint32(&h.hdr.doorbell))
		}
	}
}

// A Handler that looks at its caller's deadline and cancel mark on every
// request still allocates nothing per request.
func TestDeadlineZeroAllocs(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	var seen atomic.Bool
	startServe(t, g, func(req, resp []byte, mt MsgType) (int, MsgType) {
		_, ok := g.Deadline(req)
		seen.Store(ok && !g.Cancelled(req))
		return copy(resp, req), mt
	})
	atomic.StoreUint64(&h.slots[0].hdr.deadline, uint64(monotonicNow()+int64(time.Minute)))
	req := bytes.Repeat([]byte{0x5A}, 64)
	resp := make([]byte, 256)
	var failed error
	one := func() {
		if _, _, err := h.call(0, 0, req, false, resp, 5*time.Second); err != nil {
			failed = err
		}
	}
	one()
	if a := testing.AllocsPerRun(500, one); a != 0 || failed != nil || !seen.Load() {
		t.Errorf("round trip through a handler that reads its deadline: %v allocations (err %v, seen %v), want 0",
			a, failed, seen.Load())
	}
}
