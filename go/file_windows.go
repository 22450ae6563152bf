//go:build windows

package shmipc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The Windows side of a segment (docs/PROTOCOL.md, "Windows"): a named,
// pagefile-backed file mapping Local\shmipc-<name>, and a named mutex per
// role, Local\shmipc-<name>-host and -guest, as the liveness lock. The
// standard syscall package lacks a few kernel32 and advapi32 procedures;
// they are loaded lazily below (still no cgo).

// supported reports whether this OS has a guest implementation.
const supported = true

// segmentPrefix + name is the file mapping's name, in the session's local
// namespace; globalPrefix + name the same in the global namespace, where
// a host created with SHMIPC_HOST_F_GLOBAL puts every object of the
// session (Options.Global).
const (
	segmentPrefix = `Local\shmipc-`
	globalPrefix  = `Global\shmipc-`
)

var (
	kernel32             = syscall.NewLazyDLL("kernel32.dll")
	advapi32             = syscall.NewLazyDLL("advapi32.dll")
	procOpenFileMappingW = kernel32.NewProc("OpenFileMappingW")
	procOpenMutexW       = kernel32.NewProc("OpenMutexW")
	procReleaseMutex     = kernel32.NewProc("ReleaseMutex")
	procCreateEventW     = kernel32.NewProc("CreateEventW")
	procSetEvent         = kernel32.NewProc("SetEvent")
	procVirtualQuery     = kernel32.NewProc("VirtualQuery")
	procSwitchToThread   = kernel32.NewProc("SwitchToThread")
	procGetSecurityInfo  = advapi32.NewProc("GetSecurityInfo")
	procEqualSid         = advapi32.NewProc("EqualSid")
	procSDToString       = advapi32.NewProc("ConvertSecurityDescriptorToStringSecurityDescriptorW")
	procStringToSD       = advapi32.NewProc("ConvertStringSecurityDescriptorToSecurityDescriptorW")
)

const (
	fileMapRead       = 0x0004
	fileMapWrite      = 0x0002
	readControl       = 0x00020000
	synchronize       = 0x00100000
	mutexModifyState  = 0x0001
	errorFileNotFound = syscall.Errno(2)
	errorAccessDenied = syscall.Errno(5)
	errorInvalidHndl  = syscall.Errno(6)
	seKernelObject    = 6
	ownerSecurityInfo = 1
	daclSecurityInfo  = 4
	waitAbandoned     = 0x80
	lockTakeMs        = 200 // see lockRole
)

// winSeg is the open segment: the mapping, its view and the role mutexes.
type winSeg struct {
	name   string
	prefix string                      // segmentPrefix or globalPrefix: the objects' namespace
	sa     *syscall.SecurityAttributes // global: the mapping's DACL, for the events; else nil
	sd     uintptr                     // global: that descriptor (LocalFree)
	mapH   syscall.Handle
	view   uintptr           // the whole section, mapped at open (Windows cannot read it otherwise)
	size   int               // the view's size: the section's, rounded up to pages
	mutex  [2]syscall.Handle // by role
	hold   *mutexHolder

	evOnce sync.Once
	events []atomic.Uintptr // wake-up events by index, opened on first use
}

// segFile is the open segment.
type segFile = *winSeg

// memoryBasicInformation is MEMORY_BASIC_INFORMATION.
type memoryBasicInformation struct {
	BaseAddress       uintptr
	AllocationBase    uintptr
	AllocationProtect uint32
	PartitionID       uint16
	_                 uint16
	RegionSize        uintptr
	State             uint32
	Protect           uint32
	Type              uint32
}

func utf16Ptr(s string) *uint16 {
	p, _ := syscall.UTF16PtrFromString(s) // names are [A-Za-z0-9._-]
	return p
}

// openSegment opens the mapping named path, maps it whole and opens the
// role mutexes. A missing mapping is errNoSegment and missing mutexes
// errHostAbsent, so that Connect retries.
func openSegment(path string) (*winSeg, error) {
	s := &winSeg{name: strings.TrimPrefix(path, segmentPrefix), prefix: segmentPrefix}
	if strings.HasPrefix(path, globalPrefix) {
		s.name, s.prefix = strings.TrimPrefix(path, globalPrefix), globalPrefix
	}
	h, _, e := procOpenFileMappingW.Call(fileMapRead|fileMapWrite|readControl, 0,
		uintptr(unsafe.Pointer(utf16Ptr(path))))
	if h == 0 {
		switch e {
		case errorFileNotFound:
			return nil, errNoSegment
		case errorAccessDenied, errorInvalidHndl:
			return nil, fmt.Errorf("%w: open %s: %v", ErrAccess, path, e)
		default:
			return nil, fmt.Errorf("%w: open %s: %v", ErrSystem, path, e)
		}
	}
	s.mapH = syscall.Handle(h)
	view, err := syscall.MapViewOfFile(s.mapH, fileMapRead|fileMapWrite, 0, 0, 0)
	if err != nil {
		closeFile(s)
		return nil, fmt.Errorf("%w: map %s: %v", ErrNoMem, path, err)
	}
	s.view = view
	var mbi memoryBasicInformation
	if r, _, e := procVirtualQuery.Call(view, uintptr(unsafe.Pointer(&mbi)), unsafe.Sizeof(mbi)); r == 0 {
		closeFile(s)
		return nil, fmt.Errorf("%w: VirtualQuery: %v", ErrSystem, e)
	}
	s.size = int(mbi.RegionSize)
	if s.prefix == globalPrefix {
		if err := copySecurity(s); err != nil {
			closeFile(s)
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	for i, role := range [2]string{"host", "guest"} {
		m, _, e := procOpenMutexW.Call(synchronize|mutexModifyState, 0,
			uintptr(unsafe.Pointer(utf16Ptr(path+"-"+role))))
		if m == 0 {
			closeFile(s)
			if e == errorFileNotFound {
				return nil, errHostAbsent // nobody holds them: no host
			}
			return nil, fmt.Errorf("%w: open the %s mutex: %v", ErrSystem, role, e)
		}
		s.mutex[i] = syscall.Handle(m)
	}
	return s, nil
}

// copySecurity makes s.sa for the events this side creates first in the
// global namespace: they must admit the host's user, who may be another.
// They get the mapping's DACL (the host's explicit one) and this user as
// owner, set explicitly as the host sets its own (an elevated
// administrator's default owner is the Administrators group); as the C
// guest's do (src/segment_windows.c, copy_security).
func copySecurity(s *winSeg) error {
	var msd uintptr
	if r, _, _ := procGetSecurityInfo.Call(uintptr(s.mapH), seKernelObject, daclSecurityInfo,
		0, 0, 0, 0, uintptr(unsafe.Pointer(&msd))); r != 0 {
		return fmt.Errorf("%w: GetSecurityInfo(DACL): %v", ErrSystem, syscall.Errno(r))
	}
	defer syscall.LocalFree(syscall.Handle(msd))
	var dacl *uint16
	if r, _, e := procSDToString.Call(msd, 1, daclSecurityInfo, uintptr(unsafe.Pointer(&dacl)), 0); r == 0 {
		return fmt.Errorf("%w: ConvertSecurityDescriptorToStringSecurityDescriptor: %v", ErrSystem, e)
	}
	daclStr := utf16PtrToString(dacl)
	syscall.LocalFree(syscall.Handle(uintptr(unsafe.Pointer(dacl))))
	tok, err := syscall.OpenCurrentProcessToken()
	if err != nil {
		return fmt.Errorf("%w: OpenProcessToken: %v", ErrSystem, err)
	}
	defer tok.Close()
	me, err := tok.GetTokenUser()
	if err != nil {
		return fmt.Errorf("%w: GetTokenInformation: %v", ErrSystem, err)
	}
	sid, err := me.User.Sid.String()
	if err != nil {
		return fmt.Errorf("%w: ConvertSidToStringSid: %v", ErrSystem, err)
	}
	var sd uintptr
	if r, _, e := procStringToSD.Call(uintptr(unsafe.Pointer(utf16Ptr("O:"+sid+daclStr))), 1,
		uintptr(unsafe.Pointer(&sd)), 0); r == 0 {
		return fmt.Errorf("%w: ConvertStringSecurityDescriptorToSecurityDescriptor: %v", ErrSystem, e)
	}
	s.sd = sd
	s.sa = &syscall.SecurityAttributes{SecurityDescriptor: sd}
	s.sa.Length = uint32(unsafe.Sizeof(*s.sa))
	return nil
}

// utf16PtrToString is the NUL-terminated UTF-16 text at p.
func utf16PtrToString(p *uint16) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*uint16)(unsafe.Add(unsafe.Pointer(p), 2*n)) != 0 {
		n++
	}
	return syscall.UTF16ToString(unsafe.Slice(p, n))
}

// fileInfo is what Connect needs to know about the open segment.
type fileInfo struct {
	size    int64
	owner   string // for messages
	mine    bool   // owned by this process's user
	regular bool
}

// statSegment returns the view's size and the mapping's owner.
func statSegment(s *winSeg) (fileInfo, error) {
	var owner *syscall.SID
	var sd uintptr
	if r, _, _ := procGetSecurityInfo.Call(uintptr(s.mapH), seKernelObject, ownerSecurityInfo,
		uintptr(unsafe.Pointer(&owner)), 0, 0, 0, uintptr(unsafe.Pointer(&sd))); r != 0 {
		return fileInfo{}, fmt.Errorf("%w: GetSecurityInfo: %v", ErrSystem, syscall.Errno(r))
	}
	defer syscall.LocalFree(syscall.Handle(sd))
	tok, err := syscall.OpenCurrentProcessToken()
	if err != nil {
		return fileInfo{}, fmt.Errorf("%w: OpenProcessToken: %v", ErrSystem, err)
	}
	defer tok.Close()
	me, err := tok.GetTokenUser()
	if err != nil {
		return fileInfo{}, fmt.Errorf("%w: GetTokenInformation: %v", ErrSystem, err)
	}
	fi := fileInfo{size: int64(s.size), owner: "nobody", regular: true}
	if owner != nil {
		fi.owner, _ = owner.String()
		eq, _, _ := procEqualSid.Call(uintptr(unsafe.Pointer(owner)), uintptr(unsafe.Pointer(me.User.Sid)))
		fi.mine = eq != 0
	}
	return fi, nil
}

// sizeMatches reports whether a view of size bytes (whole pages) holds
// exactly a section of segmentSize bytes.
func sizeMatches(size int64, segmentSize uint64) bool {
	page := uint64(syscall.Getpagesize())
	return segmentSize <= uint64(size) && segmentSize > uint64(size)-page
}

// viewBytes is the mapped view as a byte slice of n bytes.
func (s *winSeg) viewBytes(n int) []byte {
	// The view is memory outside the Go heap, mapped until closeFile.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&s.view))
	return unsafe.Slice((*byte)(p), n)[:n:n]
}

// readHeader copies the first len(buf) bytes of the view.
func readHeader(s *winSeg, buf []byte) error {
	if len(buf) > s.size {
		return fmt.Errorf("%w: segment shorter than its header", ErrCorrupt)
	}
	copy(buf, s.viewBytes(len(buf)))
	return nil
}

// mapSegment returns the first size bytes of the view, mapped at open.
func mapSegment(s *winSeg, size int) ([]byte, error) {
	if size > s.size {
		return nil, fmt.Errorf("%w: view of %d bytes is shorter than %d", ErrCorrupt, s.size, size)
	}
	return s.viewBytes(size), nil
}

// unmapSegment does nothing: the view belongs to the winSeg, which
// closeFile unmaps.
func unmapSegment(b []byte) error { return nil }

// closeFile unmaps the view and closes every handle. The guest mutex is
// released before (unlockRole).
func closeFile(s *winSeg) error {
	var errs []error
	if s.hold != nil {
		unlockRole(s, roleGuest)
	}
	if s.view != 0 {
		if err := syscall.UnmapViewOfFile(s.view); err != nil {
			errs = append(errs, err)
		}
		s.view = 0
	}
	for i := range s.events {
		if e := s.events[i].Swap(0); e != 0 {
			syscall.CloseHandle(syscall.Handle(e))
		}
	}
	for i, m := range s.mutex {
		if m != 0 {
			syscall.CloseHandle(m)
			s.mutex[i] = 0
		}
	}
	if s.mapH != 0 {
		if err := syscall.CloseHandle(s.mapH); err != nil {
			errs = append(errs, err)
		}
		s.mapH = 0
	}
	if s.sd != 0 {
		syscall.LocalFree(syscall.Handle(s.sd))
		s.sd, s.sa = 0, nil
	}
	return joinErrors(errs...)
}

// errLockBusy: another live guest holds the guest mutex.
var errLockBusy = errors.New("the mutex is held")

// mutexHolder is the goroutine, locked to its OS thread, that holds a role
// mutex. Windows mutexes belong to threads: held by a goroutine that moves
// between threads, or by a thread that ends, a mutex would be abandoned
// (the sign of a dead process) while the guest lives on.
type mutexHolder struct {
	release chan struct{}
	done    chan struct{}
}

// lockRole takes role r's mutex for good, waiting at most lockTakeMs: a
// peer's liveness check (roleLocked) holds it for a moment.
func lockRole(s *winSeg, r role) error {
	m := s.mutex[r]
	h := &mutexHolder{release: make(chan struct{}), done: make(chan struct{})}
	res := make(chan error, 1)
	go func() {
		defer close(h.done)
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		w, err := syscall.WaitForSingleObject(m, lockTakeMs)
		switch w {
		case syscall.WAIT_OBJECT_0, waitAbandoned: // abandoned: its holder died
			res <- nil
		case syscall.WAIT_TIMEOUT:
			res <- errLockBusy
			return
		default:
			res <- err
			return
		}
		<-h.release
		syscall.SyscallN(procReleaseMutex.Addr(), uintptr(m))
	}()
	if err := <-res; err != nil {
		<-h.done
		return err
	}
	s.hold = h
	return nil
}

// unlockRole releases the mutex lockRole took.
func unlockRole(s *winSeg, r role) error {
	if s.hold == nil {
		return nil
	}
	close(s.hold.release)
	<-s.hold.done
	s.hold = nil
	return nil
}

// roleLocked reports whether role r's mutex is held, that is whether the
// peer in that role is alive. Windows cannot ask without taking it: taking
// it (or finding it abandoned) means nobody held it, and it is given back
// at once from the same thread.
func roleLocked(s *winSeg, r role) (bool, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := s.mutex[r]
	w, err := syscall.WaitForSingleObject(m, 0)
	switch w {
	case syscall.WAIT_OBJECT_0, waitAbandoned:
		syscall.SyscallN(procReleaseMutex.Addr(), uintptr(m))
		return false, nil
	case syscall.WAIT_TIMEOUT:
		return true, nil
	}
	return false, err
}

// lockBusy reports whether err from lockRole means another holder.
func lockBusy(err error) bool { return err == errLockBusy }

// envFD names the handles of the segment a launching host handed down
// (docs/PROTOCOL.md, "Windows", "Launched guests"):
// MAPPING:HOSTMUTEX:GUESTMUTEX:LABEL, the handles in decimal.
const envFD = "SHMIPC_FD"

var (
	procGetHandleInformation = kernel32.NewProc("GetHandleInformation")
	procSetHandleInformation = kernel32.NewProc("SetHandleInformation")
)

// inheritedSegment returns the segment whose inherited handles SHMIPC_FD
// names, mapped, its handles made non-inheritable; and its name for
// errors. The texts are the C guest's (src/segment_windows.c).
func inheritedSegment() (*winSeg, string, error) {
	v, ok := os.LookupEnv(envFD)
	if !ok {
		return nil, "", fmt.Errorf("%w: %s is not set: this program was not started by a host's "+
			"shmipc_host_launch() (attach by name instead)", ErrNotFound, envFD)
	}
	what := fmt.Sprintf("inherited segment (%s=%.24s)", envFD, v)
	parts := strings.SplitN(v, ":", 4)
	if len(parts) != 4 || !validName(parts[3]) {
		return nil, "", fmt.Errorf("%w: %s=%q is not MAPPING:HOST:GUEST:LABEL", ErrNotFound, envFD, v)
	}
	var h [3]syscall.Handle
	for i := range h {
		n, err := strconv.ParseUint(parts[i], 10, 40)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s=%q is not MAPPING:HOST:GUEST:LABEL", ErrNotFound, envFD, v)
		}
		h[i] = syscall.Handle(n)
		var flags uint32
		if r, _, _ := procGetHandleInformation.Call(uintptr(h[i]), uintptr(unsafe.Pointer(&flags))); r == 0 {
			return nil, "", fmt.Errorf("%w: %s: handle %d is not open (a launched guest's own "+
				"children do not inherit it)", ErrNotFound, envFD, n)
		}
	}
	s := &winSeg{name: parts[3], prefix: segmentPrefix, mapH: h[0], mutex: [2]syscall.Handle{h[1], h[2]}}
	view, err := syscall.MapViewOfFile(s.mapH, fileMapRead|fileMapWrite, 0, 0, 0)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: handle %d is not a file mapping (%v)", ErrNotFound, envFD, h[0], err)
	}
	s.view = view
	var mbi memoryBasicInformation
	if r, _, e := procVirtualQuery.Call(view, uintptr(unsafe.Pointer(&mbi)), unsafe.Sizeof(mbi)); r == 0 {
		closeFile(s)
		return nil, "", fmt.Errorf("%w: VirtualQuery: %v", ErrSystem, e)
	}
	s.size = int(mbi.RegionSize)
	// Ours now: not passed on to what this process starts.
	for _, x := range h {
		procSetHandleInformation.Call(uintptr(x), handleFlagInherit, 0)
	}
	return s, what, nil
}

// handleFlagInherit is HANDLE_FLAG_INHERIT.
const handleFlagInherit = 1
