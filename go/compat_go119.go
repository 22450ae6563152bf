//go:build !go1.20

package shmipc

import (
	"errors"
	"strings"
)

// joinErrors stands in for errors.Join, which go1.19 lacks: nil when every
// error is nil, otherwise an error that wraps the non-nil ones and whose
// message is theirs, one per line.
func joinErrors(errs ...error) error {
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	e := &joinError{errs: make([]error, 0, n)}
	for _, err := range errs {
		if err != nil {
			e.errs = append(e.errs, err)
		}
	}
	return e
}

// joinError is the error joinErrors returns. go1.19's errors.Is and
// errors.As do not follow Unwrap() []error, so it answers them itself.
type joinError struct {
	errs []error
}

func (e *joinError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

func (e *joinError) Is(target error) bool {
	for _, err := range e.errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func (e *joinError) As(target interface{}) bool {
	for _, err := range e.errs {
		if errors.As(err, target) {
			return true
		}
	}
	return false
}
