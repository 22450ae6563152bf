package shmipc

// Error is a libshmipc error with one of the protocol's stable codes
// (docs/PROTOCOL.md, "Error codes"). The package's sentinel values (ErrTimeout,
// ErrPeerGone, ...) are *Error; functions return them wrapped with context, so
// test for them with errors.Is and read the code with errors.As.
type Error struct {
	code int
	msg  string
}

// Error returns the error's message.
func (e *Error) Error() string { return "shmipc: " + e.msg }

// Code returns the error's stable code, the same value as the C library's
// SHMIPC_E_* constant.
func (e *Error) Code() int { return e.code }

// The sentinel errors, one per code.
var (
	// ErrInvalid reports a bad argument or configuration.
	ErrInvalid = &Error{-1, "invalid argument"}
	// ErrName reports a segment name that is not valid.
	ErrName = &Error{-2, "invalid segment name"}
	// ErrNoMem reports that memory ran out.
	ErrNoMem = &Error{-3, "out of memory"}
	// ErrExists reports a segment that exists and whose host is alive.
	ErrExists = &Error{-4, "segment exists"}
	// ErrNotFound reports that there is no such segment.
	ErrNotFound = &Error{-5, "no such segment"}
	// ErrAccess reports a permission problem or a segment owned by another
	// user.
	ErrAccess = &Error{-6, "access denied"}
	// ErrVersion reports a protocol version mismatch.
	ErrVersion = &Error{-7, "protocol version mismatch"}
	// ErrCorrupt reports an illegal value in the shared segment.
	ErrCorrupt = &Error{-8, "corrupt segment"}
	// ErrTimeout reports that a wait ran out.
	ErrTimeout = &Error{-9, "timeout"}
	// ErrPeerGone reports that the peer died, detached or closed.
	ErrPeerGone = &Error{-10, "peer gone"}
	// ErrTooBig reports a request larger than the slot's capacity.
	ErrTooBig = &Error{-11, "request too big"}
	// ErrTruncated reports a response larger than the caller's buffer.
	ErrTruncated = &Error{-12, "response truncated"}
	// ErrRemote reports that the peer answered with MsgSystemError.
	ErrRemote = &Error{-13, "remote error"}
	// ErrBusy reports that no slot is free or that a guest is already
	// attached.
	ErrBusy = &Error{-14, "busy"}
	// ErrClosed reports that the local handle is closed or closing.
	ErrClosed = &Error{-15, "closed"}
	// ErrSystem reports that an operating-system call failed.
	ErrSystem = &Error{-16, "system error"}
	// ErrState reports a call that is not valid in the slot's current state.
	ErrState = &Error{-17, "invalid state"}
	// ErrRefused reports that the receiver refused the stream. A
	// StreamFunc may return it to refuse a stream.
	ErrRefused = &Error{-18, "the receiver refused the stream"}
)

// ErrHostGone is ErrPeerGone under the name a guest uses: the host closed
// the session, died or was replaced.
var ErrHostGone = ErrPeerGone
