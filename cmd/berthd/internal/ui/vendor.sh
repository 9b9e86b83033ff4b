#!/bin/bash
# vendor.sh — refresh the dashboard's vendored front-end files from the npm
# registry (`make ui-vendor`). Building berth never runs this: the files are
# committed under static/vendor/ and embedded in berthd. Change a version
# here, run it, review the diff and SHA256SUMS, commit.
set -euo pipefail
cd "$(dirname "$0")"
HTMX=4.0.1
XTERM=6.0.0
XTERM_FIT=0.11.0
UPLOT=1.6.32
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent htmx.org@$HTMX @xterm/xterm@$XTERM @xterm/addon-fit@$XTERM_FIT uplot@$UPLOT >/dev/null)
x() { mkdir -p "$tmp/$1" && tar xzf "$tmp/$2" -C "$tmp/$1"; }
x htmx htmx.org-$HTMX.tgz
x xterm xterm-xterm-$XTERM.tgz
x fit xterm-addon-fit-$XTERM_FIT.tgz
x uplot uplot-$UPLOT.tgz
v=static/vendor
# Source-map comments are dropped: the maps are not vendored.
strip() { sed -e 's|//# sourceMappingURL=.*$||' "$1" >"$2"; }
cp "$tmp/htmx/package/dist/htmx.min.js" $v/htmx.min.js
strip "$tmp/xterm/package/lib/xterm.js" $v/xterm.min.js
cp "$tmp/xterm/package/css/xterm.css" $v/xterm.css
strip "$tmp/fit/package/lib/addon-fit.js" $v/addon-fit.min.js
cp "$tmp/uplot/package/dist/uPlot.iife.min.js" "$tmp/uplot/package/dist/uPlot.min.css" $v/
cat >$v/VERSIONS <<V
htmx.org $HTMX (0BSD)
@xterm/xterm $XTERM (MIT)
@xterm/addon-fit $XTERM_FIT (MIT)
uplot $UPLOT (MIT)
V
(cd $v && sha256sum *.js *.css VERSIONS >SHA256SUMS)
echo "vendored: $(tr '\n' ' ' <$v/VERSIONS)"
