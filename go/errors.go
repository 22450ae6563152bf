package shmipc

import "fmt"

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

// The sentinel errors, one per code. Their texts are the C library's
// shmipc_strerror() texts: tests/errors.txt lists both, and the C and Go
// tests check them against it.
var (
	// ErrInvalid reports a bad argument or configuration.
	ErrInvalid = &Error{-1, "invalid argument or configuration"}
	// ErrName reports a segment name that is not valid.
	ErrName = &Error{-2, "invalid segment name"}
	// ErrNoMem reports that memory ran out.
	ErrNoMem = &Error{-3, "out of memory"}
	// ErrExists reports a segment that exists and whose host is alive.
	ErrExists = &Error{-4, "segment exists and its host is alive"}
	// ErrNotFound reports that there is no such segment.
	ErrNotFound = &Error{-5, "no such segment"}
	// ErrAccess reports a permission problem or a segment owned by another
	// user.
	ErrAccess = &Error{-6, "permission denied or segment owned by another user"}
	// ErrVersion reports a protocol version mismatch.
	ErrVersion = &Error{-7, "protocol version mismatch"}
	// ErrCorrupt reports an illegal value in the shared segment.
	ErrCorrupt = &Error{-8, "segment holds an illegal value"}
	// ErrTimeout reports that a wait ran out.
	ErrTimeout = &Error{-9, "timed out"}
	// ErrPeerGone reports that the peer died, detached or closed.
	ErrPeerGone = &Error{-10, "peer gone (closed, detached or died)"}
	// ErrTooBig reports a request larger than the slot's capacity.
	ErrTooBig = &Error{-11, "request larger than the slot's capacity"}
	// ErrTruncated reports a response larger than the caller's buffer.
	ErrTruncated = &Error{-12, "response larger than the caller's buffer"}
	// ErrRemote reports that the peer answered with MsgSystemError.
	ErrRemote = &Error{-13, "peer answered with a system error"}
	// ErrBusy reports that no slot is free, or that what was asked for is
	// in use by another guest or goroutine (a second guest, a second
	// Serve).
	ErrBusy = &Error{-14, "busy: no free slot, or in use by another guest or thread"}
	// ErrClosed reports that the local handle is closed or closing.
	ErrClosed = &Error{-15, "handle is closed or closing"}
	// ErrSystem reports that an operating-system call failed.
	ErrSystem = &Error{-16, "operating-system call failed"}
	// ErrState reports a call that is not valid in the handle's current
	// state.
	ErrState = &Error{-17, "not valid in the handle's current state"}
	// ErrRefused reports that the receiver refused the stream. A
	// StreamFunc may return it to refuse a stream.
	ErrRefused = &Error{-18, "the receiver refused the stream"}
	// ErrAborted reports a wait that was ended on purpose: the error of a
	// CallContext that its context ended wraps it together with
	// ctx.Err() (errors.Is(err, ErrAborted) and errors.Is(err,
	// context.Canceled) both hold). The C library returns its code from
	// waits that shmipc_slot_abort() or a handle's abort ended.
	ErrAborted = &Error{-19, "aborted by another thread"}
)

// errNotTaken is a Call's timeout when the host never took the request: a
// host whose segment has guest slots but that serves no guest calls (no
// listener, no serve loop) answers nothing.
var errNotTaken = fmt.Errorf("%w: no response in time: the host did not take the request (is it serving guest calls?)", ErrTimeout)

// ErrHostGone is ErrPeerGone under the name a guest uses: the host closed
// the session, died or was replaced (a Call's error says which). Serve
// returns it only for a host that died or was replaced: the host's orderly
// close ends Serve with nil. It is the same value, not a second
// sentinel: errors.Is(err, ErrHostGone) and errors.Is(err, ErrPeerGone)
// always agree, and its code is SHMIPC_E_PEER_GONE (-10). Both names are
// part of the API.
var ErrHostGone = ErrPeerGone
