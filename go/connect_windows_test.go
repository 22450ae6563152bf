//go:build windows

package shmipc

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Connect's verdicts on Windows objects it cannot use, made here with the
// Windows API (the end-to-end cases run the C host against the echo guest
// in the interop suite).

var procConvertSD = advapi32.NewProc("ConvertStringSecurityDescriptorToSecurityDescriptorW")

// makeMapping creates a 4 KiB named mapping with the security descriptor
// sddl ("" for the default) and returns its handle.
func makeMapping(t *testing.T, name, sddl string) syscall.Handle {
	t.Helper()
	return makeMappingIn(t, segmentPrefix, name, sddl)
}

// makeMappingIn is makeMapping in the namespace of prefix (segmentPrefix
// or globalPrefix).
func makeMappingIn(t *testing.T, prefix, name, sddl string) syscall.Handle {
	t.Helper()
	var sa *syscall.SecurityAttributes
	if sddl != "" {
		var sd uintptr
		if r, _, e := procConvertSD.Call(uintptr(unsafe.Pointer(utf16Ptr(sddl))), 1,
			uintptr(unsafe.Pointer(&sd)), 0); r == 0 {
			t.Fatalf("security descriptor %q: %v", sddl, e)
		}
		sa = &syscall.SecurityAttributes{Length: uint32(unsafe.Sizeof(syscall.SecurityAttributes{})), SecurityDescriptor: sd}
	}
	h, err := syscall.CreateFileMapping(syscall.InvalidHandle, sa, syscall.PAGE_READWRITE, 0, 4096,
		utf16Ptr(prefix+name))
	if err != nil {
		t.Fatalf("CreateFileMapping %s: %v", name, err)
	}
	t.Cleanup(func() { syscall.CloseHandle(h) })
	return h
}

func TestConnectVerdictsWindows(t *testing.T) {
	for _, tc := range []struct {
		name string
		sddl string // mapping to create first; "-" for none
		want error
		max  time.Duration // Connect must decide within this
	}{
		// Nothing there: retried until the connect timeout, then not found.
		{"missing", "-", ErrNotFound, 2 * time.Second},
		// A DACL that grants nobody access, as another user's segment:
		// refused at once, not retried.
		{"forbidden", "D:P", ErrAccess, 150 * time.Millisecond},
		// A mapping without role mutexes: nobody hosts it; Connect waits
		// for a host, then reports the host gone.
		{"no-host", "", ErrPeerGone, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("gotest-%d-%s", os.Getpid(), tc.name)
			if tc.sddl != "-" {
				makeMapping(t, name, tc.sddl)
			}
			start := time.Now()
			g, err := Connect(name, &Options{ConnectTimeout: 100 * time.Millisecond})
			if g != nil {
				g.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Connect: %v, want %v", err, tc.want)
			}
			if d := time.Since(start); d > tc.max {
				t.Errorf("Connect took %v, want at most %v", d, tc.max)
			}
		})
	}
}

// Options.Global looks in Global\ only: a segment in Local\ is not
// found, and a Global\ mapping that grants nobody access is refused at
// once, as in Local\ (the end-to-end case, a global C host and this
// guest, runs in the interop suite: tests/test_global_windows.c).
func TestConnectGlobalWindows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string
		sddl   string
		want   error
		max    time.Duration
	}{
		{"local-only", segmentPrefix, "", ErrNotFound, 2 * time.Second},
		{"forbidden", globalPrefix, "D:P", ErrAccess, 150 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("gotest-global-%d-%s", os.Getpid(), tc.name)
			makeMappingIn(t, tc.prefix, name, tc.sddl)
			start := time.Now()
			g, err := Connect(name, &Options{Global: true, ConnectTimeout: 100 * time.Millisecond})
			if g != nil {
				g.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Connect: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), globalPrefix+name) {
				t.Errorf("Connect: %v, want it to name %s%s", err, globalPrefix, name)
			}
			if d := time.Since(start); d > tc.max {
				t.Errorf("Connect took %v, want at most %v", d, tc.max)
			}
		})
	}
}

// The wake-up on the serve path allocates nothing.
func TestSetEventAllocsWindows(t *testing.T) {
	e, _, err := procCreateEventW.Call(0, 0, 0, 0)
	if e == 0 {
		t.Fatalf("CreateEvent: %v", err)
	}
	defer syscall.CloseHandle(syscall.Handle(e))
	if n := testing.AllocsPerRun(1000, func() { setEvent(syscall.Handle(e)) }); n != 0 {
		t.Errorf("setEvent allocates %v times per call, want 0", n)
	}
}
