//go:build linux

package shmipc

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// supported reports whether this OS has a guest implementation.
const supported = true

// segmentPrefix + name is the segment's file (docs/PROTOCOL.md, "Names and
// files").
const segmentPrefix = "/dev/shm/shmipc-"

// globalPrefix is empty: no global namespace here (Options.Global is
// Windows-only).
const globalPrefix = ""

// segFile is the open segment: a file descriptor.
type segFile = int

// openSegment opens path for the guest: read-write, never through a
// symbolic link, not inherited by child processes. A missing file is
// errNoSegment so that Connect retries.
func openSegment(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		switch err {
		case nil:
			return fd, nil
		case syscall.EINTR:
			continue
		case syscall.ENOENT:
			return -1, errNoSegment
		case syscall.EACCES, syscall.EPERM:
			return -1, fmt.Errorf("%w: open %s: %v", ErrAccess, path, err)
		case syscall.ELOOP:
			return -1, fmt.Errorf("%w: open %s: is a symbolic link", ErrAccess, path)
		default:
			return -1, fmt.Errorf("%w: open %s: %v", ErrSystem, path, err)
		}
	}
}

// fileInfo is what Connect needs to know about the open segment file.
type fileInfo struct {
	size    int64
	owner   string // for messages
	mine    bool   // owned by this process's effective user
	regular bool
}

// statSegment returns fd's size, owner and type.
func statSegment(fd int) (fileInfo, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return fileInfo{}, fmt.Errorf("%w: fstat: %v", ErrSystem, err)
	}
	return fileInfo{
		size:    st.Size,
		owner:   fmt.Sprintf("uid %d", st.Uid),
		mine:    st.Uid == uint32(syscall.Geteuid()),
		regular: st.Mode&syscall.S_IFMT == syscall.S_IFREG,
	}, nil
}

// sizeMatches reports whether a file of size bytes holds exactly a
// segment of segmentSize bytes.
func sizeMatches(size int64, segmentSize uint64) bool { return uint64(size) == segmentSize }

// readHeader reads the first len(buf) bytes of fd without mapping it.
func readHeader(fd int, buf []byte) error {
	for done := 0; done < len(buf); {
		n, err := syscall.Pread(fd, buf[done:], int64(done))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: pread: %v", ErrSystem, err)
		}
		if n == 0 {
			return fmt.Errorf("%w: segment shorter than its header", ErrCorrupt)
		}
		done += n
	}
	return nil
}

// mapSegment maps size bytes of fd shared and read-write.
func mapSegment(fd int, size int) ([]byte, error) {
	b, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		if err == syscall.ENOMEM {
			return nil, fmt.Errorf("%w: mmap %d bytes: %v", ErrNoMem, size, err)
		}
		return nil, fmt.Errorf("%w: mmap %d bytes: %v", ErrSystem, size, err)
	}
	return b, nil
}

// unmapSegment undoes mapSegment.
func unmapSegment(b []byte) error { return syscall.Munmap(b) }

// closeFile closes fd.
func closeFile(fd int) error { return syscall.Close(fd) }

// envFD names the descriptor of the segment a launching host handed down
// (docs/PROTOCOL.md, "Launched guests").
const envFD = "SHMIPC_FD"

// The memfd seals that an inherited segment must carry: its size is fixed
// for good, so nobody can truncate it under our mapping.
const (
	fGetSeals      = 1034 // F_GET_SEALS
	sealSeal       = 0x1  // F_SEAL_SEAL
	sealShrink     = 0x2  // F_SEAL_SHRINK
	sealGrow       = 0x4  // F_SEAL_GROW
	inheritedSeals = sealSeal | sealShrink | sealGrow
)

func fcntl(fd int, cmd int, arg int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// inheritedSegment returns the segment descriptor that SHMIPC_FD names,
// checked to be an open memfd with inheritedSeals, and made close-on-exec;
// and its name for errors. The texts are the C guest's
// (src/segment_linux.c, shmipc__seg_os_inherit).
func inheritedSegment() (int, string, error) {
	v, ok := os.LookupEnv(envFD)
	if !ok {
		return -1, "", fmt.Errorf("%w: %s is not set: this program was not started by a host's "+
			"shmipc_host_launch() (attach by name instead)", ErrNotFound, envFD)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1<<20 {
		return -1, "", fmt.Errorf("%w: %s=%q is not a descriptor number", ErrNotFound, envFD, v)
	}
	what := fmt.Sprintf("inherited segment (%s=%d)", envFD, n)
	if _, err := fcntl(n, syscall.F_GETFD, 0); err != nil {
		return -1, "", fmt.Errorf("%w: %s=%d: descriptor %d is not open (a launched guest's own "+
			"children do not inherit it)", ErrNotFound, envFD, n, n)
	}
	seals, err := fcntl(n, fGetSeals, 0)
	if err != nil {
		return -1, "", fmt.Errorf("%w: %s=%d: descriptor %d is not a memfd (%v)", ErrNotFound, envFD, n, n, err)
	}
	if seals&inheritedSeals != inheritedSeals {
		return -1, "", fmt.Errorf("%w: %s=%d: memfd seals %#x lack %#x (shrink, grow, seal)",
			ErrAccess, envFD, n, seals, inheritedSeals&^seals)
	}
	syscall.CloseOnExec(n)
	return n, what, nil
}
