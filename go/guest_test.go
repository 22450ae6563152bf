//go:build linux

package shmipc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// testOptions are the guest options of most tests: short enough liveness
// checks that host death is seen quickly.
func testOptions() Options {
	return Options{ConnectTimeout: 2 * time.Second, LivenessInterval: 20 * time.Millisecond}
}

// connect attaches a guest to h and closes it when the test ends.
func connect(t *testing.T, h *testHost, o Options) *Guest {
	t.Helper()
	g, err := Connect(h.name, &o)
	if err != nil {
		t.Fatalf("Connect(%q): %v", h.name, err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

// serving is a Serve running in the background.
type serving struct {
	cancel context.CancelFunc
	errc   chan error
	done   bool
	err    error
}

// startServe runs g.Serve(h) until the test ends.
func startServe(t *testing.T, g *Guest, h Handler) *serving {
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{cancel: cancel, errc: make(chan error, 1)}
	go func() { s.errc <- g.Serve(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		s.wait(t, 5*time.Second, "Serve to return at the end of the test")
	})
	return s
}

// wait waits up to d for Serve to return and returns its error.
func (s *serving) wait(t *testing.T, d time.Duration, what string) error {
	t.Helper()
	if s.done {
		return s.err
	}
	select {
	case s.err = <-s.errc:
		s.done = true
		return s.err
	case <-time.After(d):
		t.Fatalf("waited %v for %s", d, what)
		return nil
	}
}

// echo answers with the request bytes and type.
func echo(req, resp []byte, t MsgType) (int, MsgType) { return copy(resp, req), t }

func TestEchoRoundTripsConcurrent(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 4, reqCapacity: 3000, respCapacity: 3000})
	g := connect(t, h, testOptions())
	startServe(t, g, echo)

	var wg sync.WaitGroup
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(k)<<32 | 42))
			req := make([]byte, 3000)
			resp := make([]byte, 3000)
			for i := 0; i < 300; i++ {
				n := rng.Intn(len(req) + 1)
				for j := range req[:n] {
					req[j] = byte(rng.Uint32())
				}
				typ := uint32(rng.Intn(3)) // 0..2 and application types
				if i%2 == 1 {
					typ = uint32(MsgAppStart) + rng.Uint32()%1000
				}
				end := i%3 == 0
				got, rt, err := h.call(k, typ, req[:n], end, resp, 5*time.Second)
				if err != nil {
					t.Errorf("slot %d call %d (%d bytes): %v", k, i, n, err)
					return
				}
				if got != n || rt != typ || !bytes.Equal(resp[:got], req[:n]) {
					t.Errorf("slot %d call %d: sent %d bytes type %d end-aligned %v, got %d bytes type %d (equal %v)",
						k, i, n, typ, end, got, rt, bytes.Equal(resp[:got], req[:n]))
					return
				}
			}
		}(k)
	}
	wg.Wait()
}

func TestEndAlignedRequest(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, reqCapacity: 100, respCapacity: 100})
	g := connect(t, h, testOptions())
	seen := make(chan string, 1)
	startServe(t, g, func(req, resp []byte, t MsgType) (int, MsgType) {
		seen <- string(req)
		return copy(resp, req), t
	})
	resp := make([]byte, 100)
	n, _, err := h.call(0, 0, []byte("flatbuffer at the end"), true, resp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "flatbuffer at the end" {
		t.Errorf("handler saw %q", got)
	}
	if string(resp[:n]) != "flatbuffer at the end" {
		t.Errorf("response %q", resp[:n])
	}
	// The payload really sat at the end of the request buffer.
	if got := string(h.slots[0].req[100-21:]); got != "flatbuffer at the end" {
		t.Errorf("request buffer tail %q", got)
	}
}

func TestAppTypesHostToGuest(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1})
	g := connect(t, h, testOptions())
	startServe(t, g, func(req, resp []byte, t MsgType) (int, MsgType) {
		if t >= MsgAppStart {
			return 0, t + 1
		}
		return 0, t
	})
	resp := make([]byte, 16)
	for _, tc := range []struct{ in, want uint32 }{
		{0, 0}, {5, 5}, {127, 127}, {128, 129}, {0x7FFFFFF0, 0x7FFFFFF1}, // the top application types (bit 31 is RespEndAligned)
	} {
		_, rt, err := h.call(0, tc.in, nil, false, resp, 5*time.Second)
		if err != nil || rt != tc.want {
			t.Errorf("type %d: got type %d, %v; want %d", tc.in, rt, err, tc.want)
		}
	}
}

// takeResponse waits for host slot k's response, returns its type and
// payload and frees the slot.
func (h *testHost) takeResponse(k int, what string) (uint32, string) {
	h.t.Helper()
	h.awaitState(k, stateRespReady, 5*time.Second, what)
	s := &h.slots[k]
	n := atomic.LoadUint32(&s.hdr.respSize)
	if n > uint32(len(s.resp)) {
		h.t.Fatalf("resp_size %d above capacity", n)
	}
	rt, body := atomic.LoadUint32(&s.hdr.respType), string(s.resp[:n])
	h.publish(&s.hdr.ctrl, stateFree, 0)
	return rt, body
}

func TestHandlerFailuresAnswerSystemError(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, respCapacity: 64})
	g := connect(t, h, testOptions())
	startServe(t, g, func(req, resp []byte, t MsgType) (int, MsgType) {
		switch string(req) {
		case "panic":
			panic("boom")
		case "panic-nil":
			panic(nil)
		case "oversize":
			return len(resp) + 1, t
		case "negative":
			return -1, t
		}
		return copy(resp, req), t
	})
	resp := make([]byte, 64)
	for _, tc := range []struct{ req, reason string }{
		{"panic", "handler panic: boom"},
		{"panic-nil", "handler panic"},
		{"oversize", "handler response length 65, limit 64"},
		{"negative", "negative length"},
	} {
		n, rt, err := h.call(0, 7, []byte(tc.req), false, resp, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.req, err)
		}
		if rt != uint32(MsgSystemError) || !strings.Contains(string(resp[:n]), tc.reason) {
			t.Errorf("%s: got type %d %q, want SYSTEM_ERROR containing %q", tc.req, rt, resp[:n], tc.reason)
		}
		// Serving goes on.
		n, rt, err = h.call(0, 7, []byte("after"), false, resp, 5*time.Second)
		if err != nil || rt != 7 || string(resp[:n]) != "after" {
			t.Errorf("after %s: %q type %d, %v", tc.req, resp[:n], rt, err)
		}
	}
}

func TestCorruptRequestAnsweredSystemError(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, reqCapacity: 100})
	g := connect(t, h, testOptions())
	startServe(t, g, echo)
	for _, tc := range []struct {
		size, flags uint32
		reason      string
	}{
		{101, 0, "req_size 101, limit 100"},
		{0xFFFFFFFF, 0, "req_size 4294967295"},
		{0xFFFFFFFF, flagEndAligned, "req_size"},
		{10, 0x2, "req_flags 2"},
	} {
		h.rawRequest(0, 9, tc.size, tc.flags)
		rt, body := h.takeResponse(0, "the answer to a corrupt request")
		if rt != uint32(MsgSystemError) || !strings.Contains(body, tc.reason) {
			t.Errorf("size %d flags %#x: type %d %q, want SYSTEM_ERROR with %q", tc.size, tc.flags, rt, body, tc.reason)
		}
	}
	resp := make([]byte, 10)
	if n, _, err := h.call(0, 0, []byte("ok"), false, resp, 5*time.Second); err != nil || string(resp[:n]) != "ok" {
		t.Errorf("after corrupt requests: %q, %v", resp[:n], err)
	}
}

func TestCorruptControlWordEndsServe(t *testing.T) {
	for _, bad := range []uint32{5, 6, 7, 1<<8 | 0x8, 0x40, 0x80} {
		bad := bad // go1.19: one variable for the whole loop
		t.Run(fmt.Sprintf("%#x", bad), func(t *testing.T) {
			// A long liveness interval: slot 0's sleeping worker stops
			// promptly only if Serve wakes it.
			o := testOptions()
			o.LivenessInterval = time.Minute
			h := newHost(t, hostConfig{hostSlots: 2})
			g := connect(t, h, o)
			s := startServe(t, g, echo)
			h.awaitSleep(0, ctrlSW, "worker 0 to sleep")
			h.awaitSleep(1, ctrlSW, "worker 1 to sleep")
			start := time.Now()
			atomic.StoreUint32(&h.slots[1].hdr.ctrl, bad)
			futexWake(&h.slots[1].hdr.ctrl)
			err := s.wait(t, 5*time.Second, "Serve to report the corrupt control word")
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Serve: %v, want ErrCorrupt", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Serve took %v to return after a worker found corruption", d)
			}
		})
	}
}

func TestHostGoneEndsServe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kill    func(h *testHost)
		crashed bool // Serve's verdict: ErrHostGone; an orderly close is nil
	}{
		{"closed", (*testHost).close, false},
		{"lock dropped", (*testHost).dropLock, true},
		{"nonce changed", func(h *testHost) { atomic.AddUint64(&h.hdr.sessionNonce, 1) }, true},
	} {
		tc := tc // go1.19: one variable for the whole loop
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 1})
			g := connect(t, h, testOptions())
			s := startServe(t, g, echo)
			callErr := make(chan error, 1)
			go func() {
				_, _, err := g.Call(MsgGuestCall, []byte("x"), nil, Infinite)
				callErr <- err
			}()
			h.awaitState(2, stateReqReady, 5*time.Second, "the guest call to be published")
			start := time.Now()
			tc.kill(h)
			err := s.wait(t, 5*time.Second, "Serve to notice the host is gone")
			if tc.crashed && !errors.Is(err, ErrHostGone) {
				t.Errorf("Serve: %v, want ErrHostGone", err)
			}
			if !tc.crashed && err != nil {
				t.Errorf("Serve after the host's orderly close: %v, want nil", err)
			}
			select {
			case err := <-callErr:
				if !errors.Is(err, ErrPeerGone) {
					t.Errorf("Call: %v, want ErrPeerGone", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("waited 5s for the pending Call to notice the host is gone")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to notice (liveness interval 20ms)", d)
			}
		})
	}
}

func TestServeStopsOnContextAndClose(t *testing.T) {
	// A liveness interval far above the bounds below: only the explicit
	// wake-ups of sleeping workers can make these prompt.
	o := testOptions()
	o.LivenessInterval = time.Minute

	t.Run("cancel", func(t *testing.T) {
		h := newHost(t, hostConfig{hostSlots: 3})
		g := connect(t, h, o)
		s := startServe(t, g, echo)
		for k := 0; k < 3; k++ {
			h.awaitSleep(k, ctrlSW, "worker to sleep")
		}
		start := time.Now()
		s.cancel()
		if err := s.wait(t, 5*time.Second, "Serve to return after cancel"); !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Serve took %v to return after cancel", d)
		}
		// Serve can start again and answers.
		startServe(t, g, echo)
		resp := make([]byte, 4)
		if n, _, err := h.call(0, 0, []byte("hi"), false, resp, 5*time.Second); err != nil || string(resp[:n]) != "hi" {
			t.Errorf("second Serve: %q, %v", resp[:n], err)
		}
	})

	t.Run("close", func(t *testing.T) {
		h := newHost(t, hostConfig{hostSlots: 3, guestSlots: 1})
		g, err := Connect(h.name, &o)
		if err != nil {
			t.Fatal(err)
		}
		s := startServe(t, g, echo)
		callErr := make(chan error, 1)
		go func() {
			_, _, err := g.Call(MsgGuestCall, nil, nil, Infinite)
			callErr <- err
		}()
		for k := 0; k < 3; k++ {
			h.awaitSleep(k, ctrlSW, "worker to sleep")
		}
		h.awaitSleep(3, ctrlRW, "guest call to sleep")
		start := time.Now()
		closed := make(chan error, 1)
		go func() { closed <- g.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waited 5s for Close with sleeping workers")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Close took %v", d)
		}
		if err := s.wait(t, time.Second, "Serve to return after Close"); err != nil {
			t.Errorf("Serve after Close: %v, want nil", err)
		}
		if err := <-callErr; !errors.Is(err, ErrClosed) {
			t.Errorf("pending Call after Close: %v, want ErrClosed", err)
		}
		if st, locked := h.guestAttached(); st != attachDetached || locked {
			t.Errorf("after Close: attach state %d, guest lock held %v; want DETACHED, free", st, locked)
		}
		if err := g.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, _, err := g.Call(0, nil, nil, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("Call after Close: %v, want ErrClosed", err)
		}
		if err := g.Serve(context.Background(), echo); !errors.Is(err, ErrClosed) {
			t.Errorf("Serve after Close: %v, want ErrClosed", err)
		}
	})
}

// awaitSleep waits until slot k's control word carries waiter bit bit.
func (h *testHost) awaitSleep(k int, bit uint32, what string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadUint32(&h.slots[k].hdr.ctrl)&bit == 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("waited 5s for %s on slot %d", what, k)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestWakeUps(t *testing.T) {
	o := testOptions()
	o.LivenessInterval = time.Minute // a missed wake-up would stall the test

	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1})
	g := connect(t, h, o)
	startServe(t, g, func(req, resp []byte, t MsgType) (int, MsgType) {
		time.Sleep(50 * time.Millisecond) // long enough for the host to sleep
		return copy(resp, req), t
	})
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		time.Sleep(50 * time.Millisecond) // long enough for the guest to sleep
		return copy(resp, req), t
	})

	// Host to sleeping worker (SW), and worker to sleeping host (RW).
	h.awaitSleep(0, ctrlSW, "worker to sleep")
	start := time.Now()
	resp := make([]byte, 8)
	if _, _, err := h.call(0, 0, []byte("wake"), false, resp, 5*time.Second); err != nil {
		t.Fatalf("host call to a sleeping worker: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("host call took %v", d)
	}
	// Guest to sleeping listener (doorbell), and host to sleeping guest (RW).
	time.Sleep(20 * time.Millisecond) // let the listener sleep
	start = time.Now()
	if _, _, err := g.Call(MsgGuestCall, []byte("ring"), resp, 30*time.Second); err != nil {
		t.Fatalf("guest call to a sleeping listener: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("guest call took %v", d)
	}
}

func TestAttachWord(t *testing.T) {
	h := newHost(t, hostConfig{})
	// The host sleeps waiting for a guest, announcing HOST_WAITING.
	woke := make(chan uint32, 1)
	go func() {
		w := &h.hdr.attach
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			v := atomic.LoadUint32(w)
			if v&attachStateMask == attachAttached {
				woke <- v
				return
			}
			if v&attachHostWaiting == 0 && !atomic.CompareAndSwapUint32(w, v, v|attachHostWaiting) {
				continue
			}
			futexWait(w, v|attachHostWaiting, time.Until(deadline))
		}
		woke <- 0
	}()
	for atomic.LoadUint32(&h.hdr.attach)&attachHostWaiting == 0 {
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(10 * time.Millisecond) // let it reach FUTEX_WAIT
	g, err := Connect(h.name, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-woke:
		if v != 1<<attachEpochShift|attachAttached {
			t.Errorf("attach word %#x, want ATTACHED in epoch 1 with HOST_WAITING cleared", v)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("waited 2s for the host's attach wait to be woken")
	}
	if pid := atomic.LoadUint32(&h.hdr.guestPid); pid != uint32(os.Getpid()) {
		t.Errorf("guest_pid %d", pid)
	}
	if st, locked := h.guestAttached(); st != attachAttached || !locked {
		t.Errorf("attached: state %d, lock held %v", st, locked)
	}
	if _, err := Connect(h.name, nil); !errors.Is(err, ErrBusy) {
		t.Errorf("second guest: %v, want ErrBusy", err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if st, locked := h.guestAttached(); st != attachDetached || locked {
		t.Errorf("detached: state %d, lock held %v", st, locked)
	}
	if v := atomic.LoadUint32(&h.hdr.attach); v != 1<<attachEpochShift|attachDetached {
		t.Errorf("detached: attach word %#x, want DETACHED keeping epoch 1", v)
	}
	// A guest may attach again after a detach, and over a guest that died
	// while ATTACHED (its lock is gone); each attach starts a new epoch.
	g = connect(t, h, testOptions())
	g.Close()
	atomic.StoreUint32(&h.hdr.attach, 2<<attachEpochShift|attachAttached)
	connect(t, h, testOptions())
	if v := atomic.LoadUint32(&h.hdr.attach); v != 3<<attachEpochShift|attachAttached {
		t.Errorf("attach over a dead guest: attach word %#x, want ATTACHED in epoch 3", v)
	}
}

func TestAttachEpochWraps(t *testing.T) {
	h := newHost(t, hostConfig{})
	atomic.StoreUint32(&h.hdr.attach, attachEpochMask|attachDetached)
	connect(t, h, testOptions())
	if v := atomic.LoadUint32(&h.hdr.attach); v != attachAttached {
		t.Errorf("attach word %#x, want ATTACHED in epoch 0 (mod 2^16)", v)
	}
}

func TestCorruptAttachWord(t *testing.T) {
	for _, bad := range []uint32{3, 0xFF, 1 << 24, 0x40000000 | attachDetached} {
		h := newHost(t, hostConfig{})
		atomic.StoreUint32(&h.hdr.attach, bad)
		if g, err := Connect(h.name, nil); !errors.Is(err, ErrCorrupt) {
			if g != nil {
				g.Close()
			}
			t.Errorf("attach word %#x: %v, want ErrCorrupt", bad, err)
		}
		if _, locked := h.guestAttached(); locked {
			t.Errorf("attach word %#x: the failed Connect kept the guest lock", bad)
		}
	}
}

func TestConnectErrors(t *testing.T) {
	const mib = 1 << 20
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	put64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	short := 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		cfg     hostConfig
		after   func(t *testing.T, h *testHost) string // optional; returns the name to connect to
		opts    func(o *Options)
		want    error
		maxTime time.Duration
	}{
		{name: "ok", want: nil},
		{name: "bad magic", cfg: hostConfig{header: put64(0, 0x1234)}, want: ErrCorrupt},
		{name: "version 2", cfg: hostConfig{header: put32(8, 2)}, want: ErrVersion},
		{name: "version 0", cfg: hostConfig{header: put32(8, 0)}, want: ErrVersion},
		{name: "header_size", cfg: hostConfig{header: put32(12, 128)}, want: ErrCorrupt},
		{name: "slot_header_size", cfg: hostConfig{header: put32(32, 128)}, want: ErrCorrupt},
		{name: "slots_offset", cfg: hostConfig{header: put32(40, 512)}, want: ErrCorrupt},
		{name: "flags", cfg: hostConfig{header: put32(44, 1)}, want: ErrCorrupt},
		{name: "host_slots 0", cfg: hostConfig{header: put32(16, 0)}, want: ErrCorrupt},
		{name: "host_slots 1025", cfg: hostConfig{header: put32(16, 1025)}, want: ErrCorrupt},
		{name: "guest_slots 1025", cfg: hostConfig{header: put32(20, 1025)}, want: ErrCorrupt},
		{name: "req_capacity 0", cfg: hostConfig{header: put32(24, 0)}, want: ErrCorrupt},
		{name: "resp_capacity 2^30+1", cfg: hostConfig{header: put32(28, 1<<30+1)}, want: ErrCorrupt},
		{name: "slot_stride", cfg: hostConfig{header: put32(36, 64+4096+4096+64)}, want: ErrCorrupt},
		{name: "segment_size wraps in 32 bits", cfg: hostConfig{header: func(b []byte) {
			// The largest legal geometry, whose real size is 2^42 + 655872
			// (slots and their counters), claiming its size modulo 2^32;
			// the file has that size too.
			put32(16, maxSlots)(b)
			put32(20, maxSlots)(b)
			put32(24, maxCapacity)(b)
			put32(28, maxCapacity)(b)
			put32(36, 1<<31+64)(b)
			put64(48, 256+2048*64+256+2048*256)(b)
		}}, want: ErrCorrupt},
		{name: "segment_size", cfg: hostConfig{header: put64(48, 256+4*(64+4096+4096)+64)}, want: ErrCorrupt},
		{name: "host_state 3", cfg: hostConfig{state: 3}, want: ErrCorrupt},
		{name: "host closed", cfg: hostConfig{state: hostClosed}, want: ErrPeerGone},
		{name: "host init", want: ErrTimeout, maxTime: short + time.Second,
			after: func(t *testing.T, h *testHost) string {
				atomic.StoreUint32(&h.hdr.hostState, hostInit)
				return h.name
			}},
		{name: "all zero header", cfg: hostConfig{header: zeroBytes}, want: ErrTimeout, maxTime: short + time.Second,
			after: func(t *testing.T, h *testHost) string {
				atomic.StoreUint32(&h.hdr.hostState, hostInit)
				return h.name
			}},
		{name: "host not running", cfg: hostConfig{noLock: true}, want: ErrPeerGone, maxTime: short + time.Second},
		{name: "truncated file", want: ErrCorrupt, after: func(t *testing.T, h *testHost) string {
			h.resize(int64(h.geo.segmentSize) - 64)
			return h.name
		}},
		{name: "longer file", want: ErrCorrupt, after: func(t *testing.T, h *testHost) string {
			h.resize(int64(h.geo.segmentSize) + mib)
			return h.name
		}},
		{name: "missing", want: ErrNotFound, maxTime: short + time.Second,
			after: func(t *testing.T, h *testHost) string { return uniqueName() }},
		{name: "bad name", want: ErrName, after: func(*testing.T, *testHost) string { return "../etc" }},
		{name: "symlink", want: ErrAccess, after: func(t *testing.T, h *testHost) string {
			name := uniqueName()
			if err := os.Symlink(h.path, segmentPrefix+name); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(segmentPrefix + name) })
			return name
		}},
		{name: "fifo", want: ErrAccess, after: func(t *testing.T, h *testHost) string {
			name := uniqueName()
			if err := syscall.Mkfifo(segmentPrefix+name, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(segmentPrefix + name) })
			return name
		}},
		{name: "other user", want: ErrAccess, after: chownToOther},
		{name: "other user allowed", want: nil, after: chownToOther,
			opts: func(o *Options) { o.AllowOtherUser = true }},
		{name: "negative option", want: ErrInvalid, opts: func(o *Options) { o.LivenessInterval = -time.Second }},
	} {
		tc := tc // go1.19: one variable for the whole loop
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.cfg)
			name := h.name
			if tc.after != nil {
				name = tc.after(t, h)
			}
			o := Options{ConnectTimeout: short}
			if tc.opts != nil {
				tc.opts(&o)
			}
			start := time.Now()
			g, err := Connect(name, &o)
			d := time.Since(start)
			if g != nil {
				g.Close()
			}
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Connect: %v, want %v", err, tc.want)
			}
			var e *Error
			if err != nil && (!errors.As(err, &e) || e.Code() != tc.want.(*Error).Code()) {
				t.Errorf("error %v does not carry code of %v", err, tc.want)
			}
			if tc.maxTime != 0 && (d > tc.maxTime || d < short) {
				t.Errorf("took %v, want between the connect timeout %v and %v", d, short, tc.maxTime)
			}
		})
	}
}

// zeroBytes sets every byte of b to zero (the built-in clear is go1.21).
func zeroBytes(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// chownToOther gives the segment file to another user. It needs root:
// elsewhere the test cannot run (cannotRun: a skip, or a failure under
// strict_tests).
func chownToOther(t *testing.T, h *testHost) string {
	if err := syscall.Fchown(h.fd, os.Geteuid()+4242, os.Getegid()); err != nil {
		cannotRun(t, "chown the segment to another uid (needs root): %v", err)
	}
	return h.name
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"A-z_0.9", true}, {strings.Repeat("x", 64), true},
		{"", false}, {".hidden", false}, {strings.Repeat("x", 65), false},
		{"a/b", false}, {"a b", false}, {"é", false}, {"a\x00", false},
	} {
		if got := validName(tc.name); got != tc.ok {
			t.Errorf("validName(%q) = %v", tc.name, got)
		}
		if !tc.ok {
			if _, err := Connect(tc.name, nil); !errors.Is(err, ErrName) {
				t.Errorf("Connect(%q): %v, want ErrName", tc.name, err)
			}
		}
	}
}

func TestGuestCall(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 2, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		switch string(req) {
		case "big":
			return 200, t
		case "fail":
			return copy(resp, "host says no"), uint32(MsgSystemError)
		}
		return copy(resp, req), t + 1
	})
	resp := make([]byte, 100)

	n, rt, err := g.Call(300, []byte("hello host"), resp, time.Second)
	if err != nil || rt != 301 || string(resp[:n]) != "hello host" {
		t.Errorf("round trip: %q type %d, %v", resp[:n], rt, err)
	}
	if _, _, err := g.Call(0, make([]byte, 257), resp, time.Second); !errors.Is(err, ErrTooBig) {
		t.Errorf("257-byte request: %v, want ErrTooBig", err)
	}
	n, _, err = g.Call(0, []byte("big"), resp, time.Second)
	if !errors.Is(err, ErrTruncated) || n != 200 {
		t.Errorf("200-byte response into 100: n %d, %v; want 200, ErrTruncated", n, err)
	}
	n, rt, err = g.Call(0, []byte("fail"), resp, time.Second)
	if !errors.Is(err, ErrRemote) || rt != MsgSystemError || string(resp[:n]) != "host says no" ||
		!strings.Contains(err.Error(), "host says no") {
		t.Errorf("SYSTEM_ERROR answer: %q type %d, %v", resp[:n], rt, err)
	}
	if _, _, err := g.Call(0, nil, resp, -2); !errors.Is(err, ErrInvalid) {
		t.Errorf("timeout -2: %v, want ErrInvalid", err)
	}

	// Many callers share the two slots.
	var wg sync.WaitGroup
	for k := 0; k < 8; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			req := []byte(fmt.Sprintf("caller %d", k))
			out := make([]byte, 32)
			for i := 0; i < 50; i++ {
				n, _, err := g.Call(MsgGuestCall, req, out, 5*time.Second)
				if err != nil || !bytes.Equal(out[:n], req) {
					t.Errorf("caller %d call %d: %q, %v", k, i, out[:n], err)
					return
				}
			}
		}(k)
	}
	wg.Wait()
}

func TestGuestCallNoSlots(t *testing.T) {
	h := newHost(t, hostConfig{guestSlots: 0})
	g := connect(t, h, testOptions())
	if _, _, err := g.Call(0, nil, nil, time.Second); !errors.Is(err, ErrInvalid) {
		t.Errorf("Call without guest slots: %v, want ErrInvalid", err)
	}
}

func TestGuestCallTimeouts(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1})
	g := connect(t, h, testOptions())

	// Nobody listens: the request is cancelled (REQ_READY -> FREE).
	start := time.Now()
	_, _, err := g.Call(0, []byte("anyone?"), nil, 100*time.Millisecond)
	if d := time.Since(start); !errors.Is(err, ErrTimeout) || d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("unanswered call: %v after %v, want ErrTimeout after 100ms", err, d)
	}
	if v := atomic.LoadUint32(&h.slots[1].hdr.ctrl); ctrlState(v) != stateFree {
		t.Fatalf("cancelled slot is %#x, want FREE", v)
	}

	// The host takes the request but answers late: the only slot is
	// quarantined, the next call waits for the late response, discards it
	// and gets its own answer.
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		if string(req) == "slow" {
			time.Sleep(300 * time.Millisecond)
		}
		return copy(resp, req), t
	})
	resp := make([]byte, 16)
	if _, _, err := g.Call(0, []byte("slow"), resp, 50*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("slow call: %v, want ErrTimeout", err)
	}
	if g.quarantine[0].Load() != 1 {
		t.Errorf("slot not quarantined after a timeout in PROCESSING")
	}
	n, _, err := g.Call(0, []byte("fast"), resp, 5*time.Second)
	if err != nil || string(resp[:n]) != "fast" {
		t.Errorf("call after quarantine: %q, %v; want \"fast\"", resp[:n], err)
	}
	if g.quarantine[0].Load() != 0 {
		t.Errorf("quarantine mark not cleared")
	}
}

func TestServeTwice(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1})
	g := connect(t, h, testOptions())
	startServe(t, g, echo)
	h.awaitSleep(0, ctrlSW, "the first Serve's worker to sleep")
	if err := g.Serve(context.Background(), echo); !errors.Is(err, ErrBusy) {
		t.Errorf("second Serve: %v, want ErrBusy", err)
	}
	if err := g.Serve(context.Background(), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil handler: %v, want ErrInvalid", err)
	}
}

func TestCapacities(t *testing.T) {
	h := newHost(t, hostConfig{reqCapacity: 100, respCapacity: 7})
	g := connect(t, h, testOptions())
	if g.ReqCapacity() != 100 || g.RespCapacity() != 7 {
		t.Errorf("capacities %d/%d, want 100/7", g.ReqCapacity(), g.RespCapacity())
	}
	// The guest's copy stays, whatever the segment says later.
	atomic.StoreUint32(&h.hdr.reqCapacity, 1<<30)
	if g.ReqCapacity() != 100 {
		t.Errorf("ReqCapacity re-read from the segment")
	}
}

func TestGuestCallHostileResponses(t *testing.T) {
	const capacity = 64
	for _, tc := range []struct {
		name    string
		respond func(s *slotView) // writes the response fields; seq is copied first
		publish uint32            // the state the host moves the slot to
		want    error
		resp    string
	}{
		{name: "end-aligned", publish: stateRespReady, resp: "tail", respond: func(s *slotView) {
			copy(s.resp[capacity-4:], "tail")
			atomic.StoreUint32(&s.hdr.respSize, 4)
			atomic.StoreUint32(&s.hdr.respFlags, flagEndAligned)
		}},
		{name: "resp_seq", publish: stateRespReady, want: ErrCorrupt, respond: func(s *slotView) {
			atomic.AddUint64(&s.hdr.respSeq, 1)
		}},
		{name: "resp_size", publish: stateRespReady, want: ErrCorrupt, respond: func(s *slotView) {
			atomic.StoreUint32(&s.hdr.respSize, capacity+1)
		}},
		{name: "resp_flags", publish: stateRespReady, want: ErrCorrupt, respond: func(s *slotView) {
			atomic.StoreUint32(&s.hdr.respFlags, 0x4)
		}},
		{name: "slot freed by the host", publish: stateFree, want: ErrCorrupt},
		{name: "slot claimed by the host", publish: stateClaimed, want: ErrCorrupt},
	} {
		tc := tc // go1.19: one variable for the whole loop
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: capacity, respCapacity: capacity})
			g := connect(t, h, testOptions())
			go func() {
				h.awaitState(1, stateReqReady, 5*time.Second, "the guest call")
				s := &h.slots[1]
				if !h.take(&s.hdr.ctrl) {
					t.Errorf("could not take the guest call")
					return
				}
				atomic.StoreUint32(&s.hdr.respType, 9)
				atomic.StoreUint32(&s.hdr.respSize, 0)
				atomic.StoreUint32(&s.hdr.respFlags, 0)
				atomic.StoreUint64(&s.hdr.respSeq, atomic.LoadUint64(&s.hdr.reqSeq))
				if tc.respond != nil {
					tc.respond(s)
				}
				h.publish(&s.hdr.ctrl, tc.publish, ctrlRW)
			}()
			resp := make([]byte, capacity)
			n, _, err := g.Call(0, []byte("q"), resp, 5*time.Second)
			if tc.want == nil {
				if err != nil || string(resp[:n]) != tc.resp {
					t.Errorf("got %q, %v; want %q", resp[:n], err, tc.resp)
				}
			} else if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
			if tc.publish == stateRespReady {
				// Consumed or found corrupt, the response is released.
				if v := atomic.LoadUint32(&h.slots[1].hdr.ctrl); ctrlState(v) != stateFree {
					t.Errorf("slot left at %#x, want FREE", v)
				}
			}
		})
	}
}

// A host responder may sleep on a guest slot's own word (SW) instead of the
// doorbell; publishing the call must wake it.
func TestGuestCallWakesSlotSleeper(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1})
	g := connect(t, h, testOptions())
	s := &h.slots[1]
	asleep := make(chan struct{})
	go func() {
		ctrl := &s.hdr.ctrl
		v := atomic.LoadUint32(ctrl)
		if !atomic.CompareAndSwapUint32(ctrl, v, v|ctrlSW) {
			t.Errorf("announce failed")
			return
		}
		close(asleep)
		// No periodic wake-up: only the guest's publish can end this.
		deadline := time.Now().Add(10 * time.Second)
		for ctrlState(atomic.LoadUint32(ctrl)) != stateReqReady && time.Now().Before(deadline) {
			futexWait(ctrl, v|ctrlSW, time.Until(deadline))
		}
		if !h.take(ctrl) {
			t.Errorf("no guest call after 10s")
			return
		}
		h.serveGuestCall(s, func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	}()
	<-asleep
	time.Sleep(20 * time.Millisecond) // let it reach FUTEX_WAIT
	start := time.Now()
	resp := make([]byte, 8)
	if n, _, err := g.Call(0, []byte("wake"), resp, 5*time.Second); err != nil || string(resp[:n]) != "wake" {
		t.Fatalf("call: %q, %v", resp[:n], err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the call took %v: the slot sleeper was not woken", d)
	}
	if v := atomic.LoadUint32(&s.hdr.ctrl); v&ctrlSW != 0 {
		t.Errorf("SW still set: %#x", v)
	}
}
