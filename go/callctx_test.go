//go:build linux

package shmipc

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A cancelled CallContext ends within a bounded time with an error that
// is both the context's and ErrAborted: while the host holds the request
// in its handler (the slot is then quarantined until the late answer,
// which the next call drops), and while nobody takes it (taken back).
func TestCallContextCancel(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	var block atomic.Bool
	block.Store(true)
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		if block.Load() {
			time.Sleep(200 * time.Millisecond)
		}
		return copy(resp, req), t
	})
	resp := make([]byte, 256)
	for _, taken := range []bool{true, false} {
		if !taken {
			h.stopListening()
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(30 * time.Millisecond); cancel() }()
		t0 := time.Now()
		_, _, err := g.CallContext(ctx, MsgType(150), []byte("abc"), resp)
		el := time.Since(t0)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrAborted) {
			t.Fatalf("taken %v: CallContext after cancel: %v, want context.Canceled and ErrAborted", taken, err)
		}
		if el > 150*time.Millisecond {
			t.Errorf("taken %v: cancelled call returned after %v, want about 30 ms", taken, el)
		}
		cancel()
	}
	// An already cancelled context does not even publish.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := g.CallContext(ctx, MsgType(150), []byte("x"), resp); !errors.Is(err, context.Canceled) {
		t.Errorf("CallContext(cancelled): %v", err)
	}
	// The slot comes back: the late answer to the first call is dropped,
	// and a call is answered with its own bytes.
	block.Store(false)
	h.listenStop.Store(false)
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	time.Sleep(250 * time.Millisecond) // the late answer is in
	n, _, err := g.CallContext(context.Background(), MsgType(150), []byte("hello"), resp)
	if err != nil || !bytes.Equal(resp[:n], []byte("hello")) {
		t.Fatalf("call after the cancelled ones: %q, %v", resp[:n], err)
	}
}

// A context's deadline ends the call with context.DeadlineExceeded (and
// ErrAborted), not ErrTimeout, at about the deadline.
func TestCallContextDeadline(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		time.Sleep(300 * time.Millisecond)
		return copy(resp, req), t
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, _, err := g.CallContext(ctx, MsgType(150), []byte("abc"), make([]byte, 16))
	el := time.Since(t0)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrAborted) || errors.Is(err, ErrTimeout) {
		t.Fatalf("CallContext past its deadline: %v, want context.DeadlineExceeded and ErrAborted", err)
	}
	if el < 30*time.Millisecond || el > 200*time.Millisecond {
		t.Errorf("call with a 40 ms deadline returned after %v", el)
	}
}

// CallContext with a context that is never cancelled allocates nothing,
// with context.Background() (Done nil) and with a cancellable context.
func TestCallContextZeroAllocs(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	req := bytes.Repeat([]byte{0xA5}, 64)
	resp := make([]byte, 256)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for name, c := range map[string]context.Context{"Background": context.Background(), "WithCancel": ctx} {
		var failed error
		one := func() {
			if _, _, err := g.CallContext(c, MsgGuestCall, req, resp); err != nil {
				failed = err
			}
		}
		one() // warm up (a cancellable context makes its Done channel once)
		if a := testing.AllocsPerRun(300, one); a != 0 || failed != nil {
			t.Errorf("CallContext(%s): %v allocations per call (err %v), want 0", name, a, failed)
		}
	}
}

func BenchmarkCallContext(b *testing.B) {
	h := newHost(b, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	o := testOptions()
	g, err := Connect(h.name, &o)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	req := bytes.Repeat([]byte{0xA5}, 64)
	resp := make([]byte, 256)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := g.CallContext(ctx, MsgGuestCall, req, resp); err != nil {
			b.Fatal(err)
		}
	}
}
