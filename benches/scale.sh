#!/usr/bin/env bash
# Scale benchmark (issue 3): an archive of 100,000 small files (1,000 BagIt bags of 100 payload
# files of 1-8 KiB, written by a generator below with SHA-256 manifests, Payload-Oxum and tag
# manifests, as any BagIt tool would), then `capstan verify` over it, with wall time and peak
# RSS from GNU time. The archive is kept in $SCALE_DIR (default /tmp/capstan-scale-bench).
#
#   benches/scale.sh [watch]     (builds release; with `watch`, also times the watcher's
#                                 start-up reconcile on the same archive)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/capstan"
dir=${SCALE_DIR:-/tmp/capstan-scale-bench}
archive="$dir/archive"
if [ ! -f "$dir/ready" ]; then
    rm -rf "$dir" && mkdir -p "$archive/.capstan"
    /usr/bin/python3 - "$archive" <<'EOF'
import hashlib, os, random, sys
root = sys.argv[1]
rng = random.Random(7)
for b in range(1000):
    bag = os.path.join(root, "scale", f"item-{b:04d}")
    os.makedirs(os.path.join(bag, "data"))
    lines, octets = [], 0
    for f in range(100):
        body = rng.randbytes(rng.randint(1024, 8192))
        name = f"data/file-{f:03d}.bin"
        with open(os.path.join(bag, name), "wb") as out:
            out.write(body)
        lines.append(f"{hashlib.sha256(body).hexdigest()}  {name}\n")
        octets += len(body)
    tags = {
        "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "bag-info.txt": f"External-Identifier: item-{b:04d}\nPayload-Oxum: {octets}.100\n",
        "manifest-sha256.txt": "".join(lines),
    }
    for name, text in tags.items():
        with open(os.path.join(bag, name), "w") as out:
            out.write(text)
    with open(os.path.join(bag, "tagmanifest-sha256.txt"), "w") as out:
        for name, text in tags.items():
            out.write(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}\n")
EOF
    touch "$dir/ready"
fi
files=$(find "$archive" -type f | wc -l)
echo "archive: $files files in $(find "$archive" -name bagit.txt | wc -l) bags"
find "$archive" -type f -exec cat {} + >/dev/null # page cache
for mode in "" "--deep"; do
    /usr/bin/time -f "verify $mode: %e s wall, %M KiB peak RSS, exit %x" \
        "$bin" verify --no-record $mode "$archive" >/dev/null || true
done
/usr/bin/time -f "verify, recording a fixity-check event per bag and per file: %e s wall, %M KiB peak RSS, exit %x" \
    "$bin" verify "$archive" >/dev/null || true
if [ "${1:-}" = watch ]; then
    rm -f "$archive/.capstan/catalogue.sqlite"* "$archive/.capstan/events.jsonl"
    /usr/bin/time -f "watch --once (no catalogue: reindex, then every file read once): %e s wall, %M KiB peak RSS, exit %x" \
        "$bin" watch --once "$archive" >/dev/null || true
    /usr/bin/time -f "watch --once (reconcile, catalogue up to date): %e s wall, %M KiB peak RSS, exit %x" \
        "$bin" watch --once "$archive" >/dev/null || true
fi
