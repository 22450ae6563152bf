//go:build linux

package shmipc

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestGlobalIsWindowsOnly: Options.Global asks for the Global\ namespace,
// which only Windows has. Connect refuses it at once, even with a host of
// that name running, as the C guest refuses SHMIPC_GUEST_F_GLOBAL; so does
// ConnectInherited.
func TestGlobalIsWindowsOnly(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, reqCapacity: 64, respCapacity: 64})
	start := time.Now()
	g, err := Connect(h.name, &Options{Global: true, ConnectTimeout: 2 * time.Second})
	if g != nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Windows-only") {
		t.Fatalf("Connect with Global: %v, %v; want ErrInvalid saying Windows-only", g, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refused after %v, want at once", d)
	}
	g, err = ConnectInherited(&Options{Global: true})
	if g != nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("ConnectInherited with Global: %v, %v; want ErrInvalid", g, err)
	}
}
