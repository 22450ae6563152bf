//go:build linux

package shmipc

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockedCallTimeout is the timeout of every call the blocked-handler test
// expects to be answered; blockedLatencyLimit is "well within" it.
const (
	blockedCallTimeout  = time.Second
	blockedLatencyLimit = blockedCallTimeout / 4
)

// A handler that blocks never holds up another slot, whatever the ratio of
// host slots to GOMAXPROCS (with more slots than Ps the pollers of poll.go
// serve while requests flow): with k of n handlers blocked, k = 1..n-1,
// every other slot is answered, both right after traffic (the pollers run)
// and after an idle gap (the idle pollers have stopped, and the blocked
// handler may be running in a poller).
func TestBlockedHandlersLeaveOtherSlotsServed(t *testing.T) {
	for _, procs := range []int{1, 2, 8} {
		for _, slots := range []int{2, 4, 16} {
			procs, slots := procs, slots
			t.Run(fmt.Sprintf("GOMAXPROCS=%d/slots=%d", procs, slots), func(t *testing.T) {
				withProcs(t, procs)
				testBlockedHandlers(t, slots)
			})
		}
	}
}

// blockedLatencies collects the latency of the calls beside blocked
// handlers, per phase.
type blockedLatencies struct {
	mu    sync.Mutex
	phase map[string][]time.Duration
}

func (l *blockedLatencies) add(phase string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase[phase] = append(l.phase[phase], d)
}

// report logs the median, 99th percentile and maximum of each phase.
func (l *blockedLatencies) report(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, name := range []string{"after traffic", "after idle gap"} {
		ds := l.phase[name]
		if len(ds) == 0 {
			t.Errorf("no calls measured %s", name)
			continue
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.Logf("%-14s %4d calls: median %v, p99 %v, max %v", name, len(ds),
			ds[len(ds)/2], ds[len(ds)*99/100], ds[len(ds)-1])
	}
}

func testBlockedHandlers(t *testing.T, slots int) {
	h := newHost(t, hostConfig{hostSlots: uint32(slots), reqCapacity: 64, respCapacity: 64})
	g := connect(t, h, testOptions())
	// The blocking handlers of round k wait for that round's channel.
	var release atomic.Pointer[chan struct{}]
	startServe(t, g, func(req, resp []byte, typ MsgType) (int, MsgType) {
		if typ == MsgAppStart {
			<-*release.Load()
		}
		return copy(resp, req), typ
	})
	lat := &blockedLatencies{phase: map[string][]time.Duration{}}
	for k := 1; k < slots; k++ {
		ch := make(chan struct{})
		release.Store(&ch)
		var once sync.Once
		unblock := func() { once.Do(func() { close(ch) }) }
		t.Cleanup(unblock) // runs before Serve's cleanup, which waits for handlers
		blockedRound(t, h, slots, k, lat, unblock)
		if t.Failed() {
			break
		}
	}
	lat.report(t)
}

// blockedRound blocks the handlers of slots 0..k-1 and calls every other
// slot right after traffic and after an idle gap; it then releases the
// blocked handlers and checks their answers.
func blockedRound(t *testing.T, h *testHost, slots, k int, lat *blockedLatencies, unblock func()) {
	busy := slots - 1 // a slot that is never blocked carries the traffic
	traffic := func(calls int) {
		req, resp := []byte("traffic"), make([]byte, 64)
		for i := 0; i < calls; i++ {
			if n, _, err := h.call(busy, 0, req, false, resp, blockedCallTimeout); err != nil || string(resp[:n]) != "traffic" {
				t.Fatalf("k=%d: traffic call %d on slot %d: %q, %v", k, i, busy, resp[:n], err)
			}
		}
	}
	// one calls slot j and checks its answer; it is safe to run
	// concurrently for different slots.
	one := func(phase string, j int) {
		req, resp := []byte{byte(k), byte(j), 'x'}, make([]byte, 64)
		start := time.Now()
		n, _, err := h.call(j, 0, req, false, resp, blockedCallTimeout)
		d := time.Since(start)
		switch {
		case err != nil:
			t.Errorf("k=%d %s: slot %d beside %d blocked handlers not answered after %v: %v", k, phase, j, k, d, err)
		case string(resp[:n]) != string(req):
			t.Errorf("k=%d %s: slot %d: answer %q, want %q", k, phase, j, resp[:n], req)
		case d > blockedLatencyLimit:
			t.Errorf("k=%d %s: slot %d answered after %v (limit %v)", k, phase, j, d, blockedLatencyLimit)
		}
		lat.add(phase, d)
	}

	// Traffic first, so that the pollers (if any) run and take the
	// blocking requests.
	traffic(200)
	var blocked sync.WaitGroup
	blockedErrs := make(chan error, k)
	for j := 0; j < k; j++ {
		blocked.Add(1)
		go func(j int) {
			defer blocked.Done()
			req, resp := []byte{byte(k), byte(j), 'b'}, make([]byte, 64)
			n, _, err := h.call(j, uint32(MsgAppStart), req, false, resp, 20*time.Second)
			if err == nil && string(resp[:n]) != string(req) {
				err = fmt.Errorf("answer %q, want %q", resp[:n], req)
			}
			if err != nil {
				blockedErrs <- fmt.Errorf("k=%d: blocked call on slot %d: %w", k, j, err)
			}
		}(j)
	}
	defer func() {
		unblock()
		blocked.Wait()
		close(blockedErrs)
		for err := range blockedErrs {
			t.Error(err)
		}
	}()
	for j := 0; j < k; j++ {
		h.awaitState(j, stateProcessing, 5*time.Second, "a blocking handler to take its request")
	}

	// Right after traffic, one slot after the other.
	for j := k; j < slots; j++ {
		traffic(20)
		one("after traffic", j)
	}
	// After an idle gap: all free slots at once, then the first and the
	// last free slot alone.
	time.Sleep(50 * time.Millisecond)
	var wg sync.WaitGroup
	for j := k; j < slots; j++ {
		wg.Add(1)
		go func(j int) { defer wg.Done(); one("after idle gap", j) }(j)
	}
	wg.Wait()
	for _, j := range []int{k, busy} {
		time.Sleep(50 * time.Millisecond)
		one("after idle gap", j)
		if j == busy {
			break // k == busy: one slot is free
		}
	}
}
