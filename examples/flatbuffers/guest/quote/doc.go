// SPDX-License-Identifier: MIT

// Package quote holds the Go code that flatc --go generates from
// ../../quote.fbs. The generated files are not committed: the build
// (tests/cpp/flatbuffers_go.py) writes them into the build tree and lays
// them over this folder with the go command's -overlay, so that they
// always match the schema and the installed flatc. To build by hand:
//
//	flatc --go -o . ../quote.fbs    (from the guest folder; then go build)
package quote
