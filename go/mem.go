package shmipc

// This is the only file that turns raw memory into typed values with
// unsafe (futex_linux.go and futex_windows.go convert word addresses for
// the system call or the event lookup, file_windows.go the mapped view into
// a slice, release_linux.go a buffer's address to align it to pages). The
// mapping is checked once, here, for size and alignment; everything else
// works with the typed views below, touches the shared words only through
// sync/atomic and indexes the payload buffers as ordinary bounds-checked
// slices.

import (
	"fmt"
	"unsafe"
)

// segHeader mirrors the 256-byte segment header. The mapped file is
// little-endian, so the typed view is only used on little-endian CPUs
// (nativeLittleEndian).
type segHeader struct {
	magic          uint64 // 0
	version        uint32 // 8
	headerSize     uint32 // 12
	hostSlots      uint32 // 16
	guestSlots     uint32 // 20
	reqCapacity    uint32 // 24
	respCapacity   uint32 // 28
	slotHeaderSize uint32 // 32
	slotStride     uint32 // 36
	slotsOffset    uint32 // 40
	flags          uint32 // 44
	segmentSize    uint64 // 48
	sessionNonce   uint64 // 56
	hostState      uint32 // 64, atomic
	hostPid        uint32 // 68
	_              [56]byte
	attach         uint32 // 128, atomic futex word
	guestPid       uint32 // 132
	_              [56]byte
	doorbell       uint32 // 192, atomic futex word
	_              [60]byte
}

// slotHeader mirrors the 64-byte header at the start of every slot.
type slotHeader struct {
	ctrl      uint32 // 0, atomic futex word
	reqType   uint32 // 4
	reqSize   uint32 // 8
	reqFlags  uint32 // 12
	reqSeq    uint64 // 16
	respType  uint32 // 24
	respSize  uint32 // 28
	respFlags uint32 // 32
	_         uint32 // 36
	respSeq   uint64 // 40
	reqTime   uint64 // 48, the requester's clock when its wait left the spin phase
	deadline  uint64 // 56, the requester's deadline and cancel mark (deadline.go)
}

// sideCounters mirrors one side's counter block (docs/PROTOCOL.md,
// "Counters"), written by that side alone, never trusted by the other.
type sideCounters struct {
	timeouts     uint64 // 0
	cancels      uint64 // 8
	quarantined  uint64 // 16
	lateDropped  uint64 // 24
	recovered    uint64 // 32
	peerGone     uint64 // 40
	remote       uint64 // 48
	corrupt      uint64 // 56
	otherSleeps  uint64 // 64
	otherWakes   uint64 // 72
	streamChunks uint64 // 80
	streamBytes  uint64 // 88
	streamDrops  uint64 // 96
	attaches     uint64 // 104
	epoch        uint64 // 112
	startTime    uint64 // 120
}

// slotCounters mirrors a slot's counters: the requester's 128 bytes, then
// the responder's.
type slotCounters struct {
	reqCalls    uint64 // 0
	reqAnswered uint64 // 8
	reqSleeps   uint64 // 16
	reqWakes    uint64 // 24
	_           [12]uint64
	respServed  uint64 // 128
	respErrors  uint64 // 136
	respSleeps  uint64 // 144
	respWakes   uint64 // 152
	_           [12]uint64
}

// slotView is one slot of the mapping: its header and its two buffers, each
// exactly as long as the validated capacity (len == cap), so no index
// computed from a checked size can leave the slot.
type slotView struct {
	hdr  *slotHeader
	req  []byte
	resp []byte
}

// nativeLittleEndian reports whether this CPU stores integers
// little-endian, as the wire format requires for the typed views.
var nativeLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// viewSegment builds the typed views of a mapping whose geometry geo has
// been validated. It checks that the mapping covers segment_size bytes and
// that its base is 64-byte aligned, which makes every header field and
// every slot word naturally aligned (slot_stride is a multiple of 64).
func viewSegment(data []byte, geo *geometry) (*segHeader, []slotView, error) {
	if uint64(len(data)) < geo.segmentSize || len(data) < headerSize {
		return nil, nil, fmt.Errorf("%w: mapping of %d bytes is shorter than segment_size %d",
			ErrCorrupt, len(data), geo.segmentSize)
	}
	// The check above leaves len(data) >= headerSize > 0, so data[0] exists
	// (unsafe.SliceData is go1.20).
	base := unsafe.Pointer(&data[0])
	if uintptr(base)%cacheLine != 0 {
		return nil, nil, fmt.Errorf("%w: mapping is not 64-byte aligned", ErrSystem)
	}
	hdr := (*segHeader)(base)
	n := int(geo.hostSlots + geo.guestSlots)
	stride := int(geo.slotStride)
	reqCap, respCap := int(geo.reqCapacity), int(geo.respCapacity)
	respOff := slotHeaderSize + int(round64(uint64(reqCap)))
	slots := make([]slotView, n)
	for i := range slots {
		off := slotsOffset + i*stride
		s := data[off : off+stride : off+stride]
		slots[i] = slotView{
			hdr:  (*slotHeader)(unsafe.Pointer(&s[0])),
			req:  s[slotHeaderSize : slotHeaderSize+reqCap : slotHeaderSize+reqCap],
			resp: s[respOff : respOff+respCap : respOff+respCap],
		}
	}
	return hdr, slots, nil
}

// viewCounters returns the typed views of the counters of a mapping that
// viewSegment accepted (docs/PROTOCOL.md, "Counters"): the host's and the
// guest's blocks and every slot's two lines.
func viewCounters(data []byte, geo *geometry) (host, guest *sideCounters, slots []slotCounters) {
	n := int(geo.hostSlots + geo.guestSlots)
	off := countersOffset(geo.hostSlots+geo.guestSlots, uint64(geo.slotStride))
	c := data[off:geo.segmentSize:geo.segmentSize]
	host = (*sideCounters)(unsafe.Pointer(&c[countersHost]))
	guest = (*sideCounters)(unsafe.Pointer(&c[countersGuest]))
	slots = (*[2 * maxSlots]slotCounters)(unsafe.Pointer(&c[countersSlots]))[:n:n]
	return host, guest, slots
}

// slotIndex returns the index of the slot whose control word is ctrl, a
// word of g.slots.
func (g *Guest) slotIndex(ctrl *uint32) int {
	return int((uintptr(unsafe.Pointer(ctrl)) - uintptr(unsafe.Pointer(&g.data[0])) - slotsOffset) /
		uintptr(g.geo.slotStride))
}

// requestSlot returns the index among g.slots of the host slot whose
// request buffer holds the start of req (an empty request slice of a
// buffer points at its start: Go does not advance the pointer of a
// slice of capacity 0), or -1: a slice of any other memory, or nil. Only
// the slice's address is used, compared as a number.
func (g *Guest) requestSlot(req []byte) int {
	p := *(*uintptr)(unsafe.Pointer(&req)) // the slice's data pointer
	if p == 0 || g.geo.hostSlots == 0 {
		return -1
	}
	base := uintptr(unsafe.Pointer(&g.data[0])) + slotsOffset + slotHeaderSize
	if p < base {
		return -1
	}
	off := uint64(p - base)
	stride := uint64(g.geo.slotStride)
	i := off / stride
	if i >= uint64(g.geo.hostSlots) || off-i*stride >= uint64(g.geo.reqCapacity) {
		return -1
	}
	return int(i)
}
