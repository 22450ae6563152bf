//go:build go1.20

package shmipc

import "errors"

// joinErrors is errors.Join where the toolchain has it (go1.20 on);
// compat_go119.go stands in for it on go1.19.
func joinErrors(errs ...error) error { return errors.Join(errs...) }
