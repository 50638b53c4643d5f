#!/usr/bin/env bash
# What (b) could reach on this machine if the database cost nothing: bench/submission.sh run
# against a build whose submission writer answers every call "accepted" at once, without the
# database (bench/no-db.patch). (b) then measures only HTTP, reading and hashing the body, the
# file type and the hand-off to the writer. Not a product build: it is made in a temporary git
# worktree of HEAD, with its own target directory (target/ceiling), and never installed.
#
#   bench/ceiling.sh        # first run builds for 3-5 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TREE=$(mktemp -d /tmp/sp-ceiling.XXXXXX)
cleanup() { git -C "$ROOT" worktree remove --force "$TREE" >/dev/null 2>&1 || rm -rf "$TREE"; }
trap cleanup EXIT
git worktree add --detach --quiet --force "$TREE" HEAD
git -C "$TREE" apply "$ROOT/bench/no-db.patch"
echo "ceiling build: HEAD $(git rev-parse --short HEAD) with bench/no-db.patch (no database on the accepted path)"
CARGO_TARGET_DIR="$ROOT/target/ceiling" NO_RACE=1 bash "$TREE/bench/submission.sh"
