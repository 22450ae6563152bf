//go:build linux

package shmipc

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// withProcs runs the rest of the test with GOMAXPROCS n, so that a Serve
// with more host slots than n uses pollers.
func withProcs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// A handler that blocks must not hold up the other slots, also when every
// poller is inside a handler: with GOMAXPROCS 1 there are 2 pollers, and
// 3 of 4 slots block here while the fourth must still be answered.
func TestPollersDoNotHoldUpOtherSlots(t *testing.T) {
	withProcs(t, 1)
	o := testOptions()
	o.SpinBudget = 1 << 30 // the pollers never go idle during the test
	h := newHost(t, hostConfig{hostSlots: 4})
	g := connect(t, h, o)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	startServe(t, g, func(req, resp []byte, t MsgType) (int, MsgType) {
		if t == MsgAppStart {
			<-release
		}
		return copy(resp, req), t
	})
	t.Cleanup(unblock) // before Serve's own cleanup, which waits for handlers
	// Traffic first, so that the pollers run.
	resp := make([]byte, 16)
	for i := 0; i < 100; i++ {
		if _, _, err := h.call(3, 0, []byte("warm"), false, resp, 5*time.Second); err != nil {
			t.Fatalf("warm-up call %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for k := 0; k < 3; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			buf := make([]byte, 16)
			n, _, err := h.call(k, uint32(MsgAppStart), []byte{byte(k)}, false, buf, 10*time.Second)
			if err == nil && (n != 1 || buf[0] != byte(k)) {
				err = fmt.Errorf("slot %d: answer %q", k, buf[:n])
			}
			errs <- err
		}(k)
	}
	for k := 0; k < 3; k++ {
		h.awaitState(k, stateProcessing, 5*time.Second, "the blocking handler to take the request")
	}
	start := time.Now()
	n, _, err := h.call(3, 0, []byte("through"), false, resp, 5*time.Second)
	if err != nil || string(resp[:n]) != "through" {
		t.Fatalf("call beside three blocked handlers: %q, %v", resp[:n], err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("call beside three blocked handlers took %v", d)
	}
	unblock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// Pollers stop when requests stop, the workers go to sleep on their slots
// (the waiter bit shows it), and a request to a sleeping worker starts the
// traffic again; over several rounds of this, every answer is right.
func TestPollersHandOverToSleepingWorkers(t *testing.T) {
	withProcs(t, 2)
	o := testOptions()
	o.SpinBudget = 64
	o.LivenessInterval = time.Minute // a missed wake-up would stall the test
	h := newHost(t, hostConfig{hostSlots: 4})
	g := connect(t, h, o)
	startServe(t, g, echo)
	for round := 0; round < 3; round++ {
		for k := 0; k < 4; k++ {
			h.awaitSleep(k, ctrlSW, fmt.Sprintf("round %d: worker to sleep", round))
		}
		var wg sync.WaitGroup
		for k := 0; k < 4; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				req, resp := make([]byte, 64), make([]byte, 64)
				for i := 0; i < 200; i++ {
					req[0], req[1], req[2] = byte(round), byte(k), byte(i)
					n, _, err := h.call(k, 0, req, false, resp, 5*time.Second)
					if err != nil || !bytes.Equal(resp[:n], req) {
						t.Errorf("round %d slot %d call %d: %v (answer equal: %v)", round, k, i, err, bytes.Equal(resp[:n], req))
						return
					}
				}
			}(k)
		}
		wg.Wait()
	}
}

// Pollers starting and stopping all the time (a tiny spin budget) while
// four slots carry calls: every call answered, with its own bytes.
func TestPollersChurn(t *testing.T) {
	withProcs(t, 2)
	o := testOptions()
	o.SpinBudget = 2
	h := newHost(t, hostConfig{hostSlots: 4, reqCapacity: 512, respCapacity: 512})
	g := connect(t, h, o)
	startServe(t, g, echo)
	var wg sync.WaitGroup
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			req, resp := make([]byte, 512), make([]byte, 512)
			for i := 0; i < 2000; i++ {
				n := (i*37 + k) % len(req)
				for j := range req[:n] {
					req[j] = byte(i ^ j ^ k)
				}
				got, _, err := h.call(k, 0, req[:n], false, resp, 5*time.Second)
				if err != nil || !bytes.Equal(resp[:got], req[:n]) {
					t.Errorf("slot %d call %d: %v (answer equal: %v)", k, i, err, bytes.Equal(resp[:got], req[:n]))
					return
				}
				if i%500 == 0 {
					time.Sleep(time.Millisecond) // let the pollers stop
				}
			}
		}(k)
	}
	wg.Wait()
}
