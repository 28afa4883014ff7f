#!/usr/bin/env bash
# buf breaking against the previous contract. The base is HEAD when proto/ has
# uncommitted changes (a developer's check), else HEAD~1 (CI on a fresh clone:
# the last commit must not break the one before). BREAKING_BASE overrides.
# buf cannot read '.git#branch=…' here because the imported protos are
# git-ignored, so the base is built into an image from an export of its proto/.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BREAKING_BASE:-}
if [ -z "$base" ]; then
  if git diff --quiet HEAD -- proto 2>/dev/null && [ -z "$(git ls-files --others --exclude-standard proto)" ]; then
    base=HEAD~1
  else
    base=HEAD
  fi
fi
if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
  echo "breaking: no commit $base to compare with (shallow clone or first commit); skipped"
  exit 0
fi
if ! git cat-file -e "$base:proto" 2>/dev/null; then
  echo "breaking: $base has no proto/; nothing to compare"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$base" proto | tar -x -C "$tmp"
mkdir -p "$tmp/.third_party"
cp -r .third_party/proto "$tmp/.third_party/proto"
cp buf.yaml "$tmp/buf.yaml"
(cd "$tmp" && buf build proto -o base.binpb)
buf breaking proto --against "$tmp/base.binpb"
echo "breaking: no breaking change against $base ($(git rev-parse --short "$base"))"
