//go:build linux

package shmipc

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestConnectInheritedRefuses: a guest not started by a launching host, or
// handed something that is no sealed memfd, gets a clear error and
// attaches to nothing.
func TestConnectInheritedRefuses(t *testing.T) {
	// A /dev/shm file is shmem, whose seals are just F_SEAL_SEAL; a file
	// elsewhere has no seals at all.
	shm, err := os.CreateTemp("/dev/shm", "shmipc-inherit-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(shm.Name())
	defer shm.Close()
	plain, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	closed := p[1] + 100 // not open

	for _, tc := range []struct {
		name  string
		value string // "" with unset: the variable is absent
		unset bool
		is    error
		text  string
	}{
		{"unset", "", true, ErrNotFound, "SHMIPC_FD is not set"},
		{"not a number", "three", false, ErrNotFound, `SHMIPC_FD="three" is not a descriptor number`},
		{"negative", "-1", false, ErrNotFound, "is not a descriptor number"},
		{"not open", strconv.Itoa(closed), false, ErrNotFound, "is not open"},
		{"pipe", strconv.Itoa(p[0]), false, ErrNotFound, "is not a memfd"},
		{"plain file", strconv.Itoa(int(plain.Fd())), false, ErrNotFound, "is not a memfd"},
		{"shm file without the seals", strconv.Itoa(int(shm.Fd())), false, ErrAccess, "lack 0x6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unset {
				t.Setenv(envFD, "")
				os.Unsetenv(envFD)
			} else {
				t.Setenv(envFD, tc.value)
			}
			g, err := ConnectInherited(nil)
			if g != nil || !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("ConnectInherited = %v, %v; want %v containing %q", g, err, tc.is, tc.text)
			}
		})
	}
	// Nothing of the above was closed or taken over by the refusals.
	if _, err := fcntl(p[0], syscall.F_GETFD, 0); err != nil {
		t.Fatalf("the pipe was closed: %v", err)
	}
}

// TestConnectInheritedBadOptions: options are checked first.
func TestConnectInheritedBadOptions(t *testing.T) {
	if _, err := ConnectInherited(&Options{CallTimeout: -5}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}
