package shmipc

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMinMaxDuration(t *testing.T) {
	for _, c := range []struct{ a, b, lo, hi time.Duration }{
		{1, 2, 1, 2}, {2, 1, 1, 2}, {3, 3, 3, 3}, {-1, 0, -1, 0}, {noDeadline, 0, 0, noDeadline},
	} {
		if got := minDuration(c.a, c.b); got != c.lo {
			t.Errorf("minDuration(%v, %v) = %v, want %v", c.a, c.b, got, c.lo)
		}
		if got := maxDuration(c.a, c.b); got != c.hi {
			t.Errorf("maxDuration(%v, %v) = %v, want %v", c.a, c.b, got, c.hi)
		}
	}
}

// TestJoinErrors checks what Close's callers see of joinErrors, on every
// toolchain: errors.Join's nil, message, errors.Is and errors.As.
func TestJoinErrors(t *testing.T) {
	if err := joinErrors(); err != nil {
		t.Errorf("joinErrors() = %v, want nil", err)
	}
	if err := joinErrors(nil, nil); err != nil {
		t.Errorf("joinErrors(nil, nil) = %v, want nil", err)
	}
	unlock := fmt.Errorf("%w: unlock: boom", ErrSystem)
	other := errors.New("other")
	one := joinErrors(nil, unlock)
	if one == nil || one.Error() != unlock.Error() {
		t.Errorf("one error: %v, want %q", one, unlock.Error())
	}
	err := joinErrors(unlock, nil, other)
	if want := unlock.Error() + "\n" + other.Error(); err == nil || err.Error() != want {
		t.Fatalf("two errors: %q, want %q", err, want)
	}
	if !errors.Is(err, ErrSystem) || !errors.Is(err, other) || errors.Is(err, ErrClosed) {
		t.Errorf("errors.Is on %q: ErrSystem %v, other %v, ErrClosed %v",
			err, errors.Is(err, ErrSystem), errors.Is(err, other), errors.Is(err, ErrClosed))
	}
	var e *Error
	if !errors.As(err, &e) || e != ErrSystem || e.Code() != ErrSystem.Code() {
		t.Errorf("errors.As on %q: %v", err, e)
	}
	if errors.As(joinErrors(other), &e) {
		t.Errorf("errors.As found an *Error in %q", other)
	}
}
