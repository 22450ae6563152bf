//go:build linux

package shmipc

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// What a new guest finds in the slots at attach is what an earlier epoch
// (or a peer meanwhile) left there (docs/PROTOCOL.md, "Repair").

// An illegal host slot word that Serve never saw legal is the host's to
// repair: Serve waits for it, and serves the slot once it is repaired.
func TestIllegalWordBeforeServeIsRepaired(t *testing.T) {
	for _, bad := range []uint32{5, 6, 7, 0x08, 0x40, 0x80 | stateReqReady} {
		bad := bad // go1.19: one variable for the whole loop
		t.Run(fmt.Sprintf("%#x", bad), func(t *testing.T) {
			h := newHost(t, hostConfig{hostSlots: 2})
			ctrl := &h.slots[1].hdr.ctrl
			atomic.StoreUint32(ctrl, 3<<ctrlGenShift|bad)
			g := connect(t, h, testOptions())
			s := startServe(t, g, echo)
			resp := make([]byte, 16)
			if n, _, err := h.call(0, 0, []byte("zero"), false, resp, 5*time.Second); err != nil || string(resp[:n]) != "zero" {
				t.Fatalf("slot 0 beside the spoiled one: %q, %v", resp[:n], err)
			}
			select {
			case err := <-s.errc:
				s.done, s.err = true, err
				t.Fatalf("Serve gave up the session over a word it never saw legal: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			// The host repairs it (FREE, a new generation; SW kept).
			for {
				v := atomic.LoadUint32(ctrl)
				if atomic.CompareAndSwapUint32(ctrl, v, 4<<ctrlGenShift|v&ctrlSW|stateFree) {
					break
				}
			}
			if n, _, err := h.call(1, 0, []byte("one"), false, resp, 5*time.Second); err != nil || string(resp[:n]) != "one" {
				t.Fatalf("repaired slot 1: %q, %v", resp[:n], err)
			}
			// Seen legal now: an illegal word is corruption again.
			h.awaitSleep(1, ctrlSW, "worker 1 to sleep")
			atomic.StoreUint32(ctrl, bad)
			futexWake(ctrl)
			if err := s.wait(t, 5*time.Second, "Serve to report the corrupt word"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Serve: %v, want ErrCorrupt", err)
			}
		})
	}
}

// A host slot left in PROCESSING by the guest before is answered at
// Connect with SYSTEM_ERROR for its request, and the slot is usable.
func TestConnectAnswersOrphanedRequest(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1})
	s := &h.slots[0]
	atomic.StoreUint64(&s.hdr.reqSeq, 77)
	atomic.StoreUint32(&s.hdr.ctrl, 5<<ctrlGenShift|ctrlRW|stateProcessing)
	g := connect(t, h, testOptions())
	v := atomic.LoadUint32(&s.hdr.ctrl)
	if v != 5<<ctrlGenShift|stateRespReady {
		t.Fatalf("after Connect the word is %#x, want RESP_READY of generation 5, RW cleared", v)
	}
	if rt, seq := atomic.LoadUint32(&s.hdr.respType), atomic.LoadUint64(&s.hdr.respSeq); rt != uint32(MsgSystemError) || seq != 77 {
		t.Errorf("answer type %d seq %d, want SYSTEM_ERROR for seq 77", rt, seq)
	}
	if body := string(s.resp[:atomic.LoadUint32(&s.hdr.respSize)]); !strings.Contains(body, "gone") {
		t.Errorf("answer %q does not say the guest is gone", body)
	}
	h.publish(&s.hdr.ctrl, stateFree, 0)
	startServe(t, g, echo)
	resp := make([]byte, 16)
	if n, _, err := h.call(0, 0, []byte("ok"), false, resp, 5*time.Second); err != nil || string(resp[:n]) != "ok" {
		t.Errorf("after the orphan: %q, %v", resp[:n], err)
	}
}

// Guest slots left CLAIMED, RESP_READY or illegal go back to FREE at
// Connect (this guest is their only requester now), so every one of them
// serves guest calls; one the host still processes is quarantined until
// its answer comes.
func TestConnectRepairsGuestSlots(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 4})
	gs := h.slots[h.geo.hostSlots:]
	left := []uint32{stateClaimed, stateRespReady, 7, stateProcessing}
	for i, st := range left {
		atomic.StoreUint32(&gs[i].hdr.ctrl, uint32(i+1)<<ctrlGenShift|st)
	}
	g := connect(t, h, testOptions())
	for i, st := range left {
		v := atomic.LoadUint32(&gs[i].hdr.ctrl)
		want := (uint32(i+2)<<ctrlGenShift | stateFree)
		if st == stateProcessing {
			want = uint32(i+1)<<ctrlGenShift | stateProcessing
		}
		if v != want {
			t.Errorf("guest slot %d left in state %d reads %#x after Connect, want %#x", i, st, v, want)
		}
	}
	// The host answers the one it holds; then all four serve calls.
	h.publish(&gs[3].hdr.ctrl, stateRespReady, ctrlRW)
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	defer h.stopListening()
	for i := 0; i < 4; i++ {
		resp := make([]byte, 16)
		if n, _, err := g.Call(MsgGuestCall, []byte("hi"), resp, 5*time.Second); err != nil || string(resp[:n]) != "hi" {
			t.Fatalf("guest call %d: %q, %v", i, resp[:n], err)
		}
	}
	for i := range gs {
		if v := atomic.LoadUint32(&gs[i].hdr.ctrl); !ctrlLegal(v) || ctrlState(v) != stateFree {
			t.Errorf("guest slot %d reads %#x after the calls", i, v)
		}
	}
}
