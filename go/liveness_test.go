//go:build linux

package shmipc

import (
	"context"
	"errors"
	"math/rand"
	"sort"
	"testing"
	"time"
)

// Detection of a dead host by a sleeping guest: every trial attaches a
// fresh guest with a short liveness interval, lets it sleep a few
// intervals, drops the host's liveness lock (what the kernel does when the
// host dies) at a random moment, and measures how long the sleeping waits
// take to fail with ErrPeerGone. The bound is one interval plus
// detectSlack (the futex or timer wake-up and the way out), plus the time
// the machine kept this process from running in the trial, which a
// stallMeter measures on sleepers of its own: on a quiet machine that is
// nothing, on a loaded one it keeps the test about this code. The
// interval is long enough that a shared machine's wake-up delays stay well
// inside the slack, and short enough that a check skipped for a whole
// interval (the bound this test guards) still shows within its trials.
const (
	detectInterval = 50 * time.Millisecond
	detectSlack    = 20 * time.Millisecond
	detectTrials   = 20
)

func TestDeadHostDetectedWithinOneInterval(t *testing.T) {
	cases := []struct {
		name  string
		serve bool // an idle Serve
		call  bool // a guest call the host never answers
	}{
		{name: "idle Serve", serve: true},
		{name: "pending Call", call: true},
		{name: "idle Serve and pending Call", serve: true, call: true},
	}
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(len(c.name))))
			var ds, stalls []time.Duration
			for i := 0; i < detectTrials && !t.Failed(); i++ {
				// A few intervals of sleep, so that the checks run on their
				// own schedule, then a random phase within an interval.
				settle := 2*detectInterval + time.Duration(rng.Int63n(int64(detectInterval)))
				d, stall := detectTrial(t, c.serve, c.call, settle)
				ds, stalls = append(ds, d), append(stalls, stall)
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			sort.Slice(stalls, func(i, j int) bool { return stalls[i] < stalls[j] })
			t.Logf("%d trials, interval %v: detected after median %v, p90 %v, max %v (bound %v + stall; stall median %v, max %v)",
				len(ds), detectInterval, ds[len(ds)/2], ds[len(ds)*9/10], ds[len(ds)-1],
				detectInterval+detectSlack, stalls[len(stalls)/2], stalls[len(stalls)-1])
		})
	}
}

// detectTrial runs one trial: it lets the guest sleep for settle, drops
// the host lock, and returns the time until every sleeping wait (Serve
// and, with call, a Call) has failed, and the stall measured meanwhile.
func detectTrial(t *testing.T, serve, call bool, settle time.Duration) (time.Duration, time.Duration) {
	h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 1, reqCapacity: 64, respCapacity: 64})
	o := testOptions()
	o.LivenessInterval = detectInterval
	g := connect(t, h, o)
	// Each wait reports its error and when it returned (not when this
	// goroutine got to read it).
	type ended struct {
		err error
		at  time.Time
	}
	var serveErr, callErr chan ended
	if serve {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		serveErr = make(chan ended, 1)
		go func() {
			err := g.Serve(ctx, echo)
			serveErr <- ended{err, time.Now()}
		}()
		for k := 0; k < 2; k++ {
			h.awaitSleep(k, ctrlSW, "the Serve worker to sleep")
		}
	}
	if call {
		callErr = make(chan ended, 1)
		go func() {
			_, _, err := g.Call(MsgGuestCall, []byte("never answered"), make([]byte, 64), 10*time.Second)
			callErr <- ended{err, time.Now()}
		}()
		h.awaitSleep(2, ctrlRW, "the Call to sleep")
	}
	m := startStallMeter()
	time.Sleep(settle)
	start := time.Now()
	h.dropLock()
	var got [2]ended
	for i, ch := range []chan ended{serveErr, callErr} {
		if ch == nil {
			continue
		}
		select {
		case got[i] = <-ch:
		case <-time.After(2 * time.Second):
			m.finish()
			t.Fatalf("%s still waiting 2s after the host died", [2]string{"Serve", "Call"}[i])
		}
	}
	stall := m.finish()
	bound := detectInterval + detectSlack + stall
	var worst time.Duration
	for i, e := range got {
		if e.at.IsZero() {
			continue
		}
		what := [2]string{"Serve", "Call"}[i]
		d := e.at.Sub(start)
		if !errors.Is(e.err, ErrPeerGone) {
			t.Errorf("%s after the host died: %v, want ErrPeerGone", what, e.err)
		}
		if d > bound {
			t.Errorf("%s saw the host dead after %v, bound %v (interval %v + %v + stall %v)",
				what, d, bound, detectInterval, detectSlack, stall)
		}
		if d > worst {
			worst = d
		}
	}
	return worst, stall
}

// stallMeter measures how long this process was kept from running: a
// goroutine that sleeps stallTick at a time on a Go timer, and the most it
// woke late. (A futex sleeper would hold a P in its system call and make
// the lateness it measures itself.)
type stallMeter struct {
	stop chan struct{}
	done chan time.Duration
}

const stallTick = time.Millisecond

func startStallMeter() *stallMeter {
	m := &stallMeter{stop: make(chan struct{}), done: make(chan time.Duration, 1)}
	go func() {
		var worst time.Duration
		for {
			select {
			case <-m.stop:
				m.done <- worst
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(stallTick)
			if late := time.Since(t0) - stallTick; late > worst {
				worst = late
			}
		}
	}()
	return m
}

// finish stops the sleeper and returns the longest lateness seen.
func (m *stallMeter) finish() time.Duration {
	close(m.stop)
	return <-m.done
}
