package shmipc

// Wire constants of protocol version 1, as listed in docs/PROTOCOL.md and
// tests/layout.golden (layout_test.go checks every one of them against that
// file). Field offsets are those of segHeader and slotHeader in mem.go.

const (
	protoMagic      = 0x315F4350494D4853 // the bytes "SHMIPC_1", little-endian
	protoVersion    = 1
	headerSize      = 256
	slotHeaderSize  = 64
	slotsOffset     = 256
	maxSlots        = 1024
	maxCapacity     = 1 << 30
	maxNameLen      = 64
	cacheLine       = 64
	headerLine0Size = 64 // bytes of the header written once before READY

	// The counters after the slots: one block per side, then two lines
	// per slot (docs/PROTOCOL.md, "Counters").
	countersAlign    = 128 // counters_offset is a multiple of it
	countersSideSize = 128
	countersHost     = 0
	countersGuest    = 128
	countersSlots    = 256
	countersSlotSize = 256
)

// Control word of a slot: state, waiter bits, generation.
const (
	ctrlStateMask    = 0x7
	ctrlRW           = 0x10 // requester waits for RESP_READY
	ctrlSW           = 0x20 // responder waits for REQ_READY
	ctrlReservedMask = 0xC8
	ctrlGenShift     = 8
	ctrlGenMask      = 0xFFFFFF // generation after the shift
)

// Slot states.
const (
	stateFree       = 0
	stateClaimed    = 1
	stateReqReady   = 2
	stateProcessing = 3
	stateRespReady  = 4
)

// host_state values.
const (
	hostInit   = 0
	hostReady  = 1
	hostClosed = 2
)

// attach word: guest state, attach epoch, HOST_WAITING.
const (
	attachNone         = 0
	attachAttached     = 1
	attachDetached     = 2
	attachStateMask    = 0xFF
	attachHostWaiting  = 0x80000000
	attachEpochShift   = 8
	attachEpochMask    = 0xFFFF00 // epoch, incremented (mod 2^16) by every attach
	attachReservedMask = 0x7F000000
)

// doorbell word.
const (
	doorbellListenerWaiting = 0x80000000
	doorbellCounterMask     = 0x7FFFFFFF
)

// Request and response flags.
const flagEndAligned = 0x1

// Liveness lock bytes.
const (
	lockHostByte  = 0
	lockGuestByte = 1
)

// MsgType is the message type carried with every request and response.
// Values 0-127 belong to the library, 128 to 0x7FFFFFFF to applications,
// which the library carries untouched in both directions. Bit 31 is no
// part of any type: it is RespEndAligned, and a responder answers a
// request whose type has it with MsgSystemError.
type MsgType uint32

// RespEndAligned is ORed by a Handler into the type it returns when its n
// bytes occupy the last n bytes of resp (resp[len(resp)-n:], where a
// builder that writes back to front, such as FlatBuffers, leaves them),
// not the first:
//
//	return n, shmipc.MsgAppStart | shmipc.RespEndAligned
//
// The guest sends the type without it and flags the response END_ALIGNED
// on the wire (docs/PROTOCOL.md, "Slot layout"); the host reads the bytes
// in place and never sees the bit in a type. Costs a handler that does
// not use it nothing. A large answer (AnswerHandler's big) ignores it.
const RespEndAligned MsgType = 1 << 31

// Message types defined by the protocol.
const (
	// MsgNormal is an ordinary request or response.
	MsgNormal MsgType = 0
	// MsgShutdown is reserved for an orderly end of a session.
	MsgShutdown MsgType = 1
	// MsgSystemError is the answer of a responder that could not serve a
	// request; its payload is a UTF-8 reason.
	MsgSystemError MsgType = 2
	// MsgGuestCall is the default type of a guest-to-host call.
	MsgGuestCall MsgType = 3
	// MsgStreamStart opens a stream (a Reassembler answers it).
	MsgStreamStart MsgType = 4
	// MsgStreamChunk carries one chunk of a stream, or aborts it.
	MsgStreamChunk MsgType = 5
	// MsgAppStart is the first type that belongs to the application.
	MsgAppStart MsgType = 128
)

// countersOffset returns where the counters begin: after the last of
// slots slots of stride bytes, rounded up to a multiple of countersAlign.
func countersOffset(slots uint32, stride uint64) uint64 {
	return (slotsOffset + uint64(slots)*stride + countersAlign - 1) &^ (countersAlign - 1)
}

// segmentBytes returns segment_size for slots slots of stride bytes: the
// header, the slots, then the counters.
func segmentBytes(slots uint32, stride uint64) uint64 {
	return countersOffset(slots, stride) + countersSlots + uint64(slots)*countersSlotSize
}

// round64 rounds x up to a multiple of 64.
func round64(x uint64) uint64 { return (x + 63) &^ 63 }

// ctrlState returns the state bits of a control word.
func ctrlState(v uint32) uint32 { return v & ctrlStateMask }

// ctrlGen returns the generation of a control word.
func ctrlGen(v uint32) uint32 { return v >> ctrlGenShift }

// ctrlLegal reports whether v has a legal state and no reserved bit set.
func ctrlLegal(v uint32) bool {
	return v&ctrlReservedMask == 0 && ctrlState(v) <= stateRespReady
}

// validName reports whether name is a legal segment name: 1 to 64
// characters of [A-Za-z0-9._-], not starting with '.'.
func validName(name string) bool {
	if len(name) == 0 || len(name) > maxNameLen || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// The slot deadline word (docs/PROTOCOL.md, "Deadline and cancel").
const (
	deadlineCancelledBit = 63
	deadlineBudgetBit    = 62
	deadlineCancelled    = uint64(1) << deadlineCancelledBit
	deadlineBudget       = uint64(1) << deadlineBudgetBit
	deadlineValueMask    = deadlineBudget - 1
)
