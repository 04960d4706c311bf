//go:build tools

// Package tools records the Kubo command this module exists to build, so
// that `go mod tidy` keeps its dependencies in go.sum.
package tools

import _ "github.com/ipfs/kubo/cmd/ipfs"
