//go:build !linux

package shmipc

import "fmt"

// supported reports whether this OS has a guest implementation. The
// protocol's wake-ups are Linux futexes and its liveness locks Linux
// open-file-description locks; other systems have no guest yet.
const supported = false

var errUnsupported = fmt.Errorf("%w: unsupported OS", ErrSystem)

type fileInfo struct {
	size    int64
	uid     uint32
	regular bool
}

func openSegment(path string) (int, error)        { return -1, errUnsupported }
func statSegment(fd int) (fileInfo, error)        { return fileInfo{}, errUnsupported }
func readHeader(fd int, buf []byte) error         { return errUnsupported }
func mapSegment(fd int, size int) ([]byte, error) { return nil, errUnsupported }
func unmapSegment(b []byte) error                 { return errUnsupported }
func closeFile(fd int) error                      { return errUnsupported }
func effectiveUID() uint32                        { return 0 }
func lockByte(fd int, b int64) error              { return errUnsupported }
func unlockByte(fd int, b int64) error            { return errUnsupported }
func byteLocked(fd int, b int64) (bool, error)    { return false, errUnsupported }
func lockBusy(err error) bool                     { return false }
