//go:build linux

package shmipc

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestStatsCounts checks the guest's counters after known traffic: host
// calls served (one answered MsgSystemError by a panic), guest calls
// answered, one that timed out while the host held it (quarantined), and
// the counters at the offsets of docs/PROTOCOL.md, as a host reads them.
// Stats runs meanwhile from another goroutine (the race detector checks
// that it reads only what it may).
func TestStatsCounts(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 2, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	startServe(t, g, func(req, resp []byte, typ MsgType) (int, MsgType) {
		if typ == 200 {
			panic("a handler failure")
		}
		return copy(resp, req), typ
	})
	hold := make(chan struct{})
	h.listen(func(req, resp []byte, typ uint32) (int, uint32) {
		if typ == 201 {
			<-hold // the guest's call times out meanwhile
		}
		return copy(resp, req), typ
	})
	t.Cleanup(h.stopListening)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = g.Stats()
				time.Sleep(time.Millisecond)
			}
		}
	}()

	resp := make([]byte, 256)
	const n = 10
	for i := 0; i < n; i++ {
		if _, _, err := h.call(i%2, uint32(MsgAppStart), []byte("hello"), false, resp, 5*time.Second); err != nil {
			t.Fatalf("host call %d: %v", i, err)
		}
	}
	if _, rt, err := h.call(0, 200, []byte("x"), false, resp, 5*time.Second); err != nil || rt != uint32(MsgSystemError) {
		t.Fatalf("host call answered by a panic: type %d, %v", rt, err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := g.Call(MsgGuestCall, []byte("ping"), resp, 5*time.Second); err != nil {
			t.Fatalf("guest call %d: %v", i, err)
		}
	}
	if _, _, err := g.Call(201, []byte("late"), resp, 30*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a guest call the host holds: %v, want ErrTimeout", err)
	}
	close(hold)
	close(stop)
	wg.Wait()

	st := g.Stats()
	want := []struct {
		name      string
		got, want uint64
	}{
		{"Served", st.Served, n + 1},
		{"ServedErrors", st.ServedErrors, 1},
		{"Calls", st.Calls, 4},
		{"Answered", st.Answered, 3},
		{"Timeouts", st.Timeouts, 1},
		{"Quarantined", st.Quarantined, 1},
		{"Cancels", st.Cancels, 0},
		{"Remote", st.Remote, 0},
		{"Attaches", st.Attaches, 1},
		{"Epoch", uint64(st.Epoch), 1},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("Stats().%s = %d, want %d", w.name, w.got, w.want)
		}
	}
	if st.Uptime <= 0 || st.Uptime > time.Minute {
		t.Errorf("Stats().Uptime = %v", st.Uptime)
	}

	// As a host or shmipc-stat reads them: computed from the header alone.
	le := binary.LittleEndian
	nslots := uint64(h.geo.hostSlots + h.geo.guestSlots)
	off := (uint64(slotsOffset) + nslots*uint64(h.geo.slotStride) + 127) &^ 127
	var served, calls uint64
	for i := uint64(0); i < nslots; i++ {
		line := h.data[off+256+i*256:]
		if i < uint64(h.geo.hostSlots) {
			served += le.Uint64(line[128:]) // resp_served
		} else {
			calls += le.Uint64(line[0:]) // req_calls
		}
	}
	if served != n+1 || calls != 4 {
		t.Errorf("raw slot counters: served %d calls %d, want %d and 4", served, calls, n+1)
	}
	guest := h.data[off+128:]
	if a, e := le.Uint64(guest[104:]), le.Uint64(guest[112:]); a != 1 || e != 1 {
		t.Errorf("raw guest block: attaches %d epoch %d, want 1 and 1", a, e)
	}
	if ts := le.Uint64(guest[120:]); ts == 0 {
		t.Errorf("raw guest block: start_time 0")
	}
}

// TestStatsStartFresh checks that a guest's counters start at zero,
// whatever the guest before it (or a peer) left in them.
func TestStatsStartFresh(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 64, respCapacity: 64})
	nslots := uint64(h.geo.hostSlots + h.geo.guestSlots)
	off := (uint64(slotsOffset) + nslots*uint64(h.geo.slotStride) + 127) &^ 127
	for i := off; i < h.geo.segmentSize; i++ {
		h.data[i] = 0xFF
	}
	g := connect(t, h, testOptions())
	st := g.Stats()
	if st.Served != 0 || st.Calls != 0 || st.Timeouts != 0 || st.Sleeps != 0 || st.Attaches != 1 {
		t.Errorf("a new guest's Stats() = %+v, want zeros and one attach", st)
	}
	// The host's block is the host's: the guest leaves it alone.
	if v := binary.LittleEndian.Uint64(h.data[off:]); v != ^uint64(0) {
		t.Errorf("the guest wrote the host's block: %#x", v)
	}
}
