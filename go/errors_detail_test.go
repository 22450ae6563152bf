//go:build linux

package shmipc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// closeFrom calls g.Close: a frame between the Handler and Close, as in a
// program whose Handler calls its own shutdown function.
func closeFrom(g *Guest) error { return g.Close() }

// A Handler that calls Close does not wait for itself: Close returns at
// once, the request is still answered, Serve returns nil, and the detach
// follows; a Close from outside then waits for it and returns.
func TestCloseFromHandler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(g *Guest) error
	}{
		{"direct", (*Guest).Close},
		{"nested", closeFrom},
	} {
		tc := tc // go1.19: one variable for the whole loop
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 1})
			o := testOptions()
			g, err := Connect(h.name, &o)
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			closed := make(chan error, 1)
			served := make(chan error, 1)
			go func() {
				served <- g.Serve(context.Background(), func(req, resp []byte, mt MsgType) (int, MsgType) {
					closed <- tc.close(g)
					// The mapping is still ours until this Handler returns.
					return copy(resp, req), mt
				})
			}()
			resp := make([]byte, 16)
			n, _, err := h.call(0, uint32(MsgAppStart), []byte("bye"), false, resp, 5*time.Second)
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("Close from a Handler: %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close called from a Handler did not return within 5s")
			}
			if err != nil || string(resp[:n]) != "bye" {
				t.Errorf("host call: %q, %v; want the answer \"bye\"", resp[:n], err)
			}
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("Serve: %v, want nil after Close", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return within 5s of Close")
			}
			outside := make(chan error, 1)
			go func() { outside <- g.Close() }()
			select {
			case err := <-outside:
				if err != nil {
					t.Errorf("Close after the Handler's Close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close from outside did not return within 5s")
			}
			if st, locked := h.guestAttached(); st != attachDetached || locked {
				t.Errorf("after Close: attach state %d, guest lock held %v; want DETACHED, free", st, locked)
			}
			if _, _, err := g.Call(MsgGuestCall, []byte("x"), nil, time.Second); !errors.Is(err, ErrClosed) {
				t.Errorf("Call after Close: %v, want ErrClosed", err)
			}
		})
	}
}

// A Call that the host never takes (it has guest slots but serves none)
// runs out with a hint; one the host took and answers late does not get
// it.
func TestCallTimeoutHint(t *testing.T) {
	const hint = "is it serving guest calls?"
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1})
	g := connect(t, h, testOptions())
	_, _, err := g.Call(MsgGuestCall, []byte("x"), nil, 100*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), hint) {
		t.Errorf("Call to a host that serves no guest calls: %v, want ErrTimeout with %q", err, hint)
	}

	release := make(chan struct{})
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		<-release
		return copy(resp, req), t
	})
	_, _, err = g.Call(MsgGuestCall, []byte("x"), nil, 100*time.Millisecond)
	close(release)
	h.stopListening()
	if !errors.Is(err, ErrTimeout) || strings.Contains(err.Error(), hint) {
		t.Errorf("Call the host took but answered late: %v, want ErrTimeout without %q", err, hint)
	}
}

// Connect to a name with no segment: ErrNotFound, naming the path and the
// wait, as the C library's NOT_FOUND.
func TestConnectNotFound(t *testing.T) {
	name := uniqueName()
	_, err := Connect(name, &Options{ConnectTimeout: 50 * time.Millisecond})
	want := "shmipc: no such segment: no segment " + segmentPrefix + name + " after 50ms"
	if !errors.Is(err, ErrNotFound) || err.Error() != want {
		t.Errorf("Connect: %v, want %q", err, want)
	}
}

// The C library's shmipc_last_error() and the Go guest's errors say the
// same thing for the same failure: the C echo guest prints the C text.
func TestErrorTextsMatchC(t *testing.T) {
	bin := os.Getenv("SHMIPC_ECHO_C")
	if bin == "" {
		t.Skip("SHMIPC_ECHO_C is not set: the C echo guest is built by Meson (tests/shmipc-echo-c)")
	}
	for _, name := range []string{uniqueName(), "my ipc", "tab\there", ".hidden"} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "-name", name, "-timeout-ms", "50")
		cmd.Stderr = &stderr
		_ = cmd.Run()
		cText := strings.TrimSuffix(strings.TrimPrefix(stderr.String(), "shmipc-echo-c: attach "+name+": "), "\n")
		_, err := Connect(name, &Options{ConnectTimeout: 50 * time.Millisecond})
		if err == nil {
			t.Fatalf("Connect(%q) succeeded", name)
		}
		goText := strings.TrimPrefix(err.Error(), "shmipc: ")
		if cText != goText {
			t.Errorf("name %q: C says %q, Go says %q", name, cText, goText)
		}
	}
}
