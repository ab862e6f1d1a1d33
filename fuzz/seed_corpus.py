#!/usr/bin/env python3
"""Seeds a libFuzzer corpus directory with the frames of capture files.

Usage: seed_corpus.py OUT_DIR CAPTURE... — each CAPTURE is [u32 big-endian length][frame]
records (frames.bin, webcast_frames.bin); at most 500 frames are taken from each file, each
written to OUT_DIR under its SHA-1. Missing captures are skipped with a note.
"""
import hashlib
import os
import struct
import sys

LIMIT = 500


def frames(path):
    with open(path, "rb") as f:
        while len(header := f.read(4)) == 4:
            (length,) = struct.unpack(">I", header)
            frame = f.read(length)
            if len(frame) != length:
                return
            yield frame


def main():
    out, captures = sys.argv[1], sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    written = 0
    for path in captures:
        if not os.path.exists(path):
            print(f"seed_corpus: {path} not found, skipped", file=sys.stderr)
            continue
        for i, frame in enumerate(frames(path)):
            if i >= LIMIT:
                break
            name = hashlib.sha1(frame).hexdigest()
            with open(os.path.join(out, name), "wb") as f:
                f.write(frame)
            written += 1
    print(f"seed_corpus: {written} frames in {out}")


if __name__ == "__main__":
    main()
