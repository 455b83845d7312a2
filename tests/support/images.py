"""Images made at run time for tests: what Pillow cannot write for us, and large ones."""

from __future__ import annotations

import os
import struct
import zlib

from PIL import Image


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` but that holds a single scanline: with a
    large size, a decompression bomb; otherwise a truncated image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (1 + 3 * min(width, 64))))
        + chunk(b"IEND", b"")
    )


def cmyk_profile() -> bytes:
    """A minimal ICC v2 CMYK input profile (no such file ships with Pillow or Debian's base):
    a 2-point lut16 that maps every ink mix to a deep red (Lab 54, 80, 67), except paper white,
    which LittleCMS keeps white. Seeing red proves the embedded profile was used."""

    def fixed(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    d50 = fixed(0.9642) + fixed(1.0) + fixed(0.8249)
    red_lab = struct.pack(">HHH", round(54 / 100 * 0xFF00), (80 + 128) * 256, (67 + 128) * 256)
    lut = (
        b"mft2"
        + bytes(4)
        + bytes([4, 3, 2, 0])
        + b"".join(fixed(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
        + struct.pack(">HH", 2, 2)
        + struct.pack(">HH", 0, 65535) * 4  # input curves: identity
        + red_lab * 16  # the 2x2x2x2 grid
        + struct.pack(">HH", 0, 65535) * 3  # output curves: identity
    )
    name = b"test CMYK\0"
    description = b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(8 + 3 + 67)
    tags = [
        (b"desc", description),
        (b"wtpt", b"XYZ " + bytes(4) + d50),
        (b"cprt", b"text" + bytes(4) + b"none\0"),
        (b"A2B0", lut),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, tag in tags:
        padded = tag + bytes(-len(tag) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(padded))
        body += padded
    header = (
        struct.pack(">I", offset + len(body))
        + bytes(4)
        + bytes([2, 0x10, 0, 0])
        + b"prtrCMYKLab "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + bytes(4)
        + d50
    )
    return header + bytes(128 - len(header)) + table + body


def noise(width: int, height: int) -> Image.Image:
    """Random pixels: the worst case for JPEG, so a large one is well over 8 MB."""
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
