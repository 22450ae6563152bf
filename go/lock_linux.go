//go:build linux

package shmipc

import (
	"io"
	"syscall"
)

// Liveness locks (docs/PROTOCOL.md, "Liveness locks") are open-file-
// description locks: they belong to the open file, not to the process, so
// two opens in one process conflict like two processes do, and the kernel
// drops them when the last reference to the open file goes away (the
// process died). Note that a mapping holds such a reference: Close unlocks
// explicitly before it unmaps.
const (
	fOFDGetlk = 36 // F_OFD_GETLK
	fOFDSetlk = 37 // F_OFD_SETLK
)

// lockByte takes a write lock on byte b of fd without waiting. A lock held
// by another open file description gives EAGAIN or EACCES.
func lockByte(fd int, b int64) error {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: b, Len: 1}
	return syscall.FcntlFlock(uintptr(fd), fOFDSetlk, &lk)
}

// unlockByte releases the lock on byte b of fd.
func unlockByte(fd int, b int64) error {
	lk := syscall.Flock_t{Type: syscall.F_UNLCK, Whence: io.SeekStart, Start: b, Len: 1}
	return syscall.FcntlFlock(uintptr(fd), fOFDSetlk, &lk)
}

// byteLocked reports whether another open file description holds a lock on
// byte b of fd, that is whether the peer owning that byte is alive.
func byteLocked(fd int, b int64) (bool, error) {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: b, Len: 1}
	if err := syscall.FcntlFlock(uintptr(fd), fOFDGetlk, &lk); err != nil {
		return false, err
	}
	return lk.Type != syscall.F_UNLCK, nil
}

// lockBusy reports whether err from lockByte means another holder.
func lockBusy(err error) bool { return err == syscall.EAGAIN || err == syscall.EACCES }
