#!/usr/bin/env bash
# The station's Debian package (scripts/package.sh), checked without installing it on this
# machine: its dependencies (dpkg-deb --info), its files unpacked into a throw-away root (the
# desktop entry, both programs, the watcher's unit, installed disabled), the CLI run from there,
# and the app started from there on a virtual display (scripts/app.sh's check that the window
# appears). Run by scripts/test.sh after the release build, so the package only packs binaries
# that are already built.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "package-test: $*" >&2; exit 1; }
deb=$(scripts/package.sh)
[ -f "$deb" ] || fail "scripts/package.sh printed no package ($deb)"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

[ "$(dpkg-deb --field "$deb" Package)" = capstan ] || fail "$deb: the package is not named capstan"
depends=$(dpkg-deb --field "$deb" Depends)
for dep in libwebkit2gtk-4.1-0 libgtk-3-0 libasound2; do
    grep -qE "(^|, )$dep(,|$)" <<<"$depends" || fail "$deb: Depends lacks $dep: $depends"
done

dpkg-deb -x "$deb" "$root"
for f in usr/bin/capstan usr/bin/capstan-station; do
    [ -x "$root/$f" ] || fail "$deb: /$f is missing or not executable"
done
desktop=$(grep -l '^Exec=capstan-station' "$root"/usr/share/applications/*.desktop) \
    || fail "$deb: no desktop entry starts capstan-station"
grep -qx 'Type=Application' "$desktop" || fail "$desktop: not an application entry"
unit="$root/usr/lib/systemd/system/capstan-watch.service"
[ -f "$unit" ] || fail "$deb: the watcher's unit /usr/lib/systemd/system/capstan-watch.service is missing"
grep -qx 'ExecStart=/usr/bin/capstan watch .*' "$unit" || fail "$unit: ExecStart does not run /usr/bin/capstan watch"
# Disabled: nothing links the unit into a target, and no maintainer script enables or starts it.
wants=$(find "$root" -path '*.wants/*' -o -path '*.requires/*')
[ -z "$wants" ] || fail "$deb: the unit is enabled: $wants"
scripts=$(mktemp -d -p "$root")
dpkg-deb -e "$deb" "$scripts"
if grep -rlE 'systemctl|deb-systemd-helper' "$scripts"; then fail "$deb: a maintainer script enables the watcher"; fi

version=$("$root/usr/bin/capstan" --version) || fail "capstan --version from the package failed"
[[ "$version" == "capstan $(dpkg-deb --field "$deb" Version)" ]] \
    || fail "capstan --version printed '$version', the package is $(dpkg-deb --field "$deb" Version)"

# The app from the package, on an empty archive, under Xvfb: scripts/app.sh's check.
if ! env -u DISPLAY -u WAYLAND_DISPLAY CAPSTAN_APP_BIN="$root/usr/bin/capstan-station" \
    scripts/app.sh --archive "$root/archive" 2>&1 | sed 's/^/package-test: /' >&2; then
    fail "the app from the package did not start"
fi
echo "package-test: $deb ($(du -h "$deb" | cut -f1)): Depends: $depends; the CLI and the app run from it" >&2
