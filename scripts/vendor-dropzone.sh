#!/usr/bin/env bash
# Copies Dropzone's minified build and licence from the npm registry into the package (run by hand).
set -euo pipefail
version="${1:-5.9.3}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/src/codecalamity/drop/static/vendor/dropzone/$version"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "dropzone@$version" >/dev/null && tar xzf dropzone-*.tgz)
mkdir -p "$dest/min"
cp "$tmp"/package/dist/min/{dropzone.min.js,dropzone.min.css,basic.min.css} "$dest/min/"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "vendored dropzone $version into $dest"
