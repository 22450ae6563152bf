// SPDX-License-Identifier: MIT

package shmipc

import (
	"os"
	"testing"
)

// cannotRun ends a test that cannot run here (a missing peer binary or
// privilege): a skip, or a failure when the build was set up with
// -Dstrict_tests=true, which Meson's test setups hand to every test as
// SHMIPC_TEST_STRICT=1. No test decides that for itself.
func cannotRun(t testing.TB, format string, args ...interface{}) {
	t.Helper()
	if os.Getenv("SHMIPC_TEST_STRICT") == "1" {
		t.Fatalf(format+" (strict_tests: a failure, not a skip)", args...)
	}
	t.Skipf(format, args...)
}
