# SPDX-License-Identifier: MIT
# Sourced by the scripts: a Go toolchain in /usr/local/go counts as installed.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
  export PATH
fi
BUILD_DIR="${BUILD_DIR:-build}"
setup_build() {
  if [ -f "$BUILD_DIR/build.ninja" ]; then
    meson setup --reconfigure "$BUILD_DIR" "$@" >/dev/null
  else
    meson setup "$BUILD_DIR" "$@"
  fi
  meson compile -C "$BUILD_DIR" -j 2
}
