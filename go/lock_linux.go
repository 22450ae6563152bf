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

// roleByte is the byte of the file that is role r's lock.
func roleByte(r role) int64 {
	if r == roleHost {
		return lockHostByte
	}
	return lockGuestByte
}

// lockRole takes role r's lock, a write lock on its byte of fd, without
// waiting. A lock held by another open file description gives EAGAIN or
// EACCES.
func lockRole(fd int, r role) error {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: roleByte(r), Len: 1}
	return syscall.FcntlFlock(uintptr(fd), fOFDSetlk, &lk)
}

// unlockRole releases role r's lock on fd.
func unlockRole(fd int, r role) error {
	lk := syscall.Flock_t{Type: syscall.F_UNLCK, Whence: io.SeekStart, Start: roleByte(r), Len: 1}
	return syscall.FcntlFlock(uintptr(fd), fOFDSetlk, &lk)
}

// roleLocked reports whether another open file description holds role r's
// lock on fd, that is whether the peer in that role is alive.
func roleLocked(fd int, r role) (bool, error) {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: roleByte(r), Len: 1}
	if err := syscall.FcntlFlock(uintptr(fd), fOFDGetlk, &lk); err != nil {
		return false, err
	}
	return lk.Type != syscall.F_UNLCK, nil
}

// lockBusy reports whether err from lockRole means another holder.
func lockBusy(err error) bool { return err == syscall.EAGAIN || err == syscall.EACCES }
