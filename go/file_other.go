//go:build !linux && !windows

package shmipc

import "fmt"

// supported reports whether this OS has a guest implementation. The
// protocol's wake-ups and liveness locks exist for Linux (futexes,
// open-file-description locks) and Windows (named events and mutexes);
// other systems have no guest yet.
const supported = false

const segmentPrefix = ""

// globalPrefix is empty: no global namespace here (Options.Global is
// Windows-only).
const globalPrefix = ""

var errUnsupported = fmt.Errorf("%w: unsupported OS", ErrSystem)

type segFile = int

type fileInfo struct {
	size    int64
	owner   string
	mine    bool
	regular bool
}

func openSegment(path string) (int, error)            { return -1, errUnsupported }
func statSegment(fd int) (fileInfo, error)            { return fileInfo{}, errUnsupported }
func sizeMatches(size int64, segmentSize uint64) bool { return false }
func readHeader(fd int, buf []byte) error             { return errUnsupported }
func mapSegment(fd int, size int) ([]byte, error)     { return nil, errUnsupported }
func unmapSegment(b []byte) error                     { return errUnsupported }
func closeFile(fd int) error                          { return errUnsupported }
func lockRole(fd int, r role) error                   { return errUnsupported }
func unlockRole(fd int, r role) error                 { return errUnsupported }
func roleLocked(fd int, r role) (bool, error)         { return false, errUnsupported }
func lockBusy(err error) bool                         { return false }
func inheritedSegment() (int, string, error)          { return -1, "", errUnsupported }
