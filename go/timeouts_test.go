//go:build linux

package shmipc

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A host that went away is ErrPeerGone for every later Call, whether or not
// Serve ran and saw it first; ErrClosed is only the guest's own Close.
func TestHostGoneIsPeerGoneForEveryCall(t *testing.T) {
	for _, kill := range []struct {
		name string
		kill func(h *testHost)
	}{
		{"closed", (*testHost).close},
		{"lock dropped", (*testHost).dropLock},
		{"replaced", func(h *testHost) { atomic.AddUint64(&h.hdr.sessionNonce, 1) }},
	} {
		for _, served := range []bool{false, true} {
			kill, served := kill, served // go1.19: one variable for the whole loop
			name := kill.name + "/no Serve"
			if served {
				name = kill.name + "/Serve ran"
			}
			t.Run(name, func(t *testing.T) {
				h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 1})
				g := connect(t, h, testOptions())
				var s *serving
				if served {
					s = startServe(t, g, echo)
				}
				kill.kill(h)
				if served {
					// An orderly close ends Serve without an error.
					err := s.wait(t, 5*time.Second, "Serve to see the host gone")
					if kill.name == "closed" && err != nil || kill.name != "closed" && !errors.Is(err, ErrPeerGone) {
						t.Errorf("Serve: %v, want ErrPeerGone (nil for an orderly close)", err)
					}
				}
				for i := 0; i < 2; i++ {
					_, _, err := g.Call(MsgGuestCall, []byte("x"), nil, 5*time.Second)
					if !errors.Is(err, ErrPeerGone) || errors.Is(err, ErrClosed) {
						t.Errorf("Call %d after the host went: %v, want ErrPeerGone", i, err)
					}
				}
				if err := g.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if _, _, err := g.Call(MsgGuestCall, []byte("x"), nil, 5*time.Second); !errors.Is(err, ErrClosed) {
					t.Errorf("Call after Close: %v, want ErrClosed", err)
				}
			})
		}
	}
}

// timeoutClasses are the kinds of timeout value a Go caller can give:
// 0 (the configured default), Infinite, small, huge up to the largest
// Duration, and invalid negatives.
var timeoutClasses = []struct {
	name    string
	d       time.Duration
	bounded bool // runs out at its value (or at the default for 0)
	invalid bool
}{
	{name: "0 (default)", d: 0, bounded: true},
	{name: "Infinite", d: Infinite},
	{name: "40ms", d: 40 * time.Millisecond, bounded: true},
	{name: "2^62ns", d: 1 << 62},
	{name: "MaxInt64-1", d: math.MaxInt64 - 1},
	{name: "MaxInt64", d: math.MaxInt64},
	{name: "-2", d: -2, invalid: true},
	{name: "MinInt64", d: math.MinInt64, invalid: true},
}

const (
	classDefault = 60 * time.Millisecond  // the configured default of the guest
	classEnd     = 150 * time.Millisecond // when the event that ends an unlimited wait comes
	classSlack   = 700 * time.Millisecond // how late a call may return on a loaded machine
)

// checkElapsed reports a call that took less than lo or more than lo+slack.
func checkElapsed(t *testing.T, what string, d, lo time.Duration) {
	t.Helper()
	if d < lo-time.Millisecond || d > lo+classSlack {
		t.Errorf("%s took %v, want %v to %v", what, d, lo, lo+classSlack)
	}
}

// Call with each class of timeout: nobody listens, and the host starts to
// listen classEnd in; a bounded call times out first, an unlimited one is
// answered.
func TestCallTimeoutClasses(t *testing.T) {
	for _, c := range timeoutClasses {
		c := c
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1})
			o := testOptions()
			o.CallTimeout = classDefault
			g := connect(t, h, o)
			listening := make(chan struct{})
			if !c.bounded && !c.invalid {
				time.AfterFunc(classEnd, func() {
					h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
					close(listening)
				})
			} else {
				close(listening)
			}
			resp := make([]byte, 8)
			start := time.Now()
			n, _, err := g.Call(MsgGuestCall, []byte("ping"), resp, c.d)
			d := time.Since(start)
			<-listening
			switch {
			case c.invalid:
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("Call: %v, want ErrInvalid", err)
				}
				checkElapsed(t, "Call", d, 0)
			case c.bounded:
				lo := c.d
				if lo == 0 {
					lo = classDefault
				}
				if !errors.Is(err, ErrTimeout) {
					t.Errorf("Call: %v, want ErrTimeout", err)
				}
				checkElapsed(t, "Call", d, lo)
			default:
				if err != nil || string(resp[:n]) != "ping" {
					t.Errorf("Call: %q, %v; want the answer", resp[:n], err)
				}
				checkElapsed(t, "Call", d, classEnd)
			}
		})
	}
}

// Options.CallTimeout takes Infinite and huge values too (Call given 0
// then waits for the answer); negatives other than Infinite are refused.
func TestCallTimeoutOption(t *testing.T) {
	for _, c := range timeoutClasses {
		c := c
		if c.d == 0 || c.bounded {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1})
			o := testOptions()
			o.CallTimeout = c.d
			if c.invalid {
				if g, err := Connect(h.name, &o); !errors.Is(err, ErrInvalid) {
					if g != nil {
						g.Close()
					}
					t.Errorf("Connect with CallTimeout %v: %v, want ErrInvalid", c.d, err)
				}
				return
			}
			g := connect(t, h, o)
			listening := make(chan struct{})
			time.AfterFunc(classEnd, func() {
				h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
				close(listening)
			})
			start := time.Now()
			_, _, err := g.Call(MsgGuestCall, []byte("x"), make([]byte, 8), 0)
			d := time.Since(start)
			<-listening
			if err != nil {
				t.Errorf("Call: %v, want the answer", err)
			}
			checkElapsed(t, "Call", d, classEnd)
		})
	}
}

// Connect with each class of ConnectTimeout: a bounded one runs out on a
// missing segment (ErrNotFound); an unlimited one (and the 5s default) waits
// until the host of a segment it found starts, classEnd in.
func TestConnectTimeoutClasses(t *testing.T) {
	for _, c := range timeoutClasses {
		c := c
		t.Run(c.name, func(t *testing.T) {
			o := testOptions()
			o.ConnectTimeout = c.d
			if c.bounded && c.d != 0 {
				start := time.Now()
				g, err := Connect(uniqueName(), &o)
				if g != nil {
					g.Close()
				}
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("Connect: %v, want ErrNotFound", err)
				}
				checkElapsed(t, "Connect", time.Since(start), c.d)
				return
			}
			h := newHost(t, hostConfig{noLock: true})
			if c.invalid {
				start := time.Now()
				if g, err := Connect(h.name, &o); !errors.Is(err, ErrInvalid) {
					if g != nil {
						g.Close()
					}
					t.Errorf("Connect: %v, want ErrInvalid", err)
				}
				checkElapsed(t, "Connect", time.Since(start), 0)
				return
			}
			// The host comes alive: it takes its liveness lock.
			locked := make(chan error, 1)
			time.AfterFunc(classEnd, func() {
				fd, err := syscall.Open(h.path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
				if err == nil {
					h.lockFd = fd
					err = lockRole(fd, roleHost)
				}
				locked <- err
			})
			start := time.Now()
			g, err := Connect(h.name, &o)
			d := time.Since(start)
			if lerr := <-locked; lerr != nil {
				t.Fatalf("taking the host lock: %v", lerr)
			}
			if err != nil {
				t.Fatalf("Connect: %v, want a guest once the host lives", err)
			}
			g.Close()
			checkElapsed(t, "Connect", d, classEnd)
		})
	}
}

// Serve is bounded by its context: a short deadline ends it with the
// context's error at that deadline; one far off (up to the largest
// Duration) lets it serve until the host closes the session (nil).
func TestServeContextDeadlines(t *testing.T) {
	for _, c := range []struct {
		name string
		d    time.Duration
	}{
		{"40ms", 40 * time.Millisecond},
		{"2^62ns", 1 << 62},
		{"MaxInt64", math.MaxInt64},
	} {
		c := c
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, hostConfig{hostSlots: 2})
			g := connect(t, h, testOptions())
			ctx, cancel := context.WithTimeout(context.Background(), c.d)
			defer cancel()
			bounded := c.d < time.Second
			if !bounded {
				time.AfterFunc(classEnd, func() { h.close() })
			}
			start := time.Now()
			err := g.Serve(ctx, echo)
			d := time.Since(start)
			if bounded {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Serve: %v, want context.DeadlineExceeded", err)
				}
				checkElapsed(t, "Serve", d, c.d)
				return
			}
			if err != nil {
				t.Errorf("Serve: %v, want nil (the host closed the session in order)", err)
			}
			checkElapsed(t, "Serve", d, classEnd)
		})
	}
}
