#!/bin/sh
# make check hook for the Go client (client/go): go vet, then go test
# -race (Go's ThreadSanitizer) against the jqd under test, for the module
# and the benchmark (bench/client-go).  Exit 77 (skip) when go is not
# installed or JQD (path to the jqd binary, set by make check) is unset.
# Nothing is fetched (GOPROXY=off, GOTOOLCHAIN=local) and nothing is
# written to $HOME: the build cache and GOPATH live under the build tree.
if ! command -v go >/dev/null 2>&1; then
  echo "go not found: skipping the Go client tests (Debian: apt install golang-go)"
  exit 77
fi
if test -z "$JQD"; then
  echo "JQD is not set: skipping the Go client tests"
  exit 77
fi
case $JQD in
  /*) ;;
  *) JQD=$(pwd)/$JQD; export JQD ;;
esac
build=${ABS_TOP_BUILDDIR:-$(pwd)}/tests/go-build
GOCACHE=$build/cache GOPATH=$build/path GOPROXY=off GOTOOLCHAIN=local GOFLAGS=
GOTMPDIR= GO111MODULE=on GOENV=off GOTELEMETRY=off
export GOCACHE GOPATH GOPROXY GOTOOLCHAIN GOFLAGS GOTMPDIR GO111MODULE GOENV GOTELEMETRY
top=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)
set -e
go version
cd "$top/client/go"
go vet ./...
go test -race -count=1 -timeout 5m ./...
cd "$top/bench/client-go"
go vet .
