"""A small bar-and-line chart as a PNG, drawn in pure Python (zlib only).

E-mail clients, Outlook first, show neither SVG nor script, so the daily report carries its chart
as an inline PNG. The figures are also in the report's table, so nothing is lost when images are
blocked.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from itertools import pairwise

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)
GRID: Color = (229, 231, 235)
AXIS: Color = (107, 114, 128)
TEXT: Color = (55, 65, 81)
CREATED: Color = (31, 78, 121)
RESOLVED: Color = (46, 125, 50)
BACKLOG: Color = (230, 126, 34)

# A 3x5 pixel font: digits and '-' for axis labels such as "128" or "11-25", capitals and some
# punctuation for titles and legends (the benchmarks' plots). Other characters draw as blanks.
GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "-": ("000", "000", "111", "000", "000"),
    "A": ("010", "101", "111", "101", "101"),
    "B": ("110", "101", "110", "101", "110"),
    "C": ("011", "100", "100", "100", "011"),
    "D": ("110", "101", "101", "101", "110"),
    "E": ("111", "100", "110", "100", "111"),
    "F": ("111", "100", "110", "100", "100"),
    "G": ("011", "100", "101", "101", "011"),
    "H": ("101", "101", "111", "101", "101"),
    "I": ("111", "010", "010", "010", "111"),
    "J": ("001", "001", "001", "101", "010"),
    "K": ("101", "101", "110", "101", "101"),
    "L": ("100", "100", "100", "100", "111"),
    "M": ("101", "111", "111", "101", "101"),
    "N": ("110", "101", "101", "101", "101"),
    "O": ("010", "101", "101", "101", "010"),
    "P": ("110", "101", "110", "100", "100"),
    "Q": ("010", "101", "101", "110", "011"),
    "R": ("110", "101", "110", "101", "101"),
    "S": ("011", "100", "010", "001", "110"),
    "T": ("111", "010", "010", "010", "010"),
    "U": ("101", "101", "101", "101", "111"),
    "V": ("101", "101", "101", "101", "010"),
    "W": ("101", "101", "111", "111", "101"),
    "X": ("101", "101", "010", "101", "101"),
    "Y": ("101", "101", "010", "010", "010"),
    "Z": ("111", "001", "010", "100", "111"),
    ".": ("000", "000", "000", "000", "010"),
    ",": ("000", "000", "000", "010", "100"),
    ":": ("000", "010", "000", "010", "000"),
    "/": ("001", "001", "010", "100", "100"),
    "(": ("001", "010", "010", "010", "001"),
    ")": ("100", "010", "010", "010", "100"),
    "%": ("101", "001", "010", "100", "101"),
    "_": ("000", "000", "000", "000", "111"),
    ">": ("100", "010", "001", "010", "100"),
    "+": ("000", "010", "111", "010", "000"),
}


class Canvas:
    def __init__(self, width: int, height: int, background: Color = WHITE):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i : i + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        for y in range(max(min(y0, y1), 0), min(max(y0, y1), self.height)):
            row = (y * self.width) * 3
            for x in range(max(min(x0, x1), 0), min(max(x0, x1), self.width)):
                self.pixels[row + x * 3 : row + x * 3 + 3] = bytes(color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 2) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for step in range(steps + 1):
            x = round(x0 + (x1 - x0) * step / steps)
            y = round(y0 + (y1 - y0) * step / steps)
            self.rect(x - width // 2, y - width // 2, x - width // 2 + width, y - width // 2 + width, color)

    def text(self, x: int, y: int, text: str, color: Color = TEXT, scale: int = 2) -> None:
        for n, char in enumerate(text):
            for row, bits in enumerate(GLYPHS.get(char, ("000",) * 5)):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        left = x + n * 4 * scale + col * scale
                        self.rect(left, y + row * scale, left + scale, y + row * scale + scale, color)

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3]) for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        )


def trend_chart(
    labels: Sequence[str],
    created: Sequence[int],
    resolved: Sequence[int],
    backlog: Sequence[int],
    width: int = 560,
    height: int = 220,
) -> bytes:
    """Created and resolved as bars, backlog as a line, one group per day."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 40, width - 10, 10, height - 24
    peak = max([*created, *resolved, *backlog, 1])
    for k in range(5):  # grid lines and their values
        y = bottom - (bottom - top) * k // 4
        canvas.rect(left, y, right, y + 1, GRID)
        canvas.text(2, y - 5, str(round(peak * k / 4)))
    canvas.rect(left, top, left + 1, bottom + 1, AXIS)
    canvas.rect(left, bottom, right, bottom + 1, AXIS)

    def y_of(value: int) -> int:
        return bottom - round((bottom - top) * value / peak)

    n = max(len(labels), 1)
    slot = (right - left) / n
    bar = max(int(slot * 0.35), 1)
    points = []
    for i in range(len(labels)):
        x = round(left + slot * i + slot / 2)
        canvas.rect(x - bar, y_of(created[i]), x, bottom, CREATED)
        canvas.rect(x, y_of(resolved[i]), x + bar, bottom, RESOLVED)
        points.append((x, y_of(backlog[i])))
        if i % 2 == (len(labels) - 1) % 2:  # every other day, always the last
            canvas.text(x - 10, bottom + 6, labels[i][-5:])
    for (x0, y0), (x1, y1) in pairwise(points):
        canvas.line(x0, y0, x1, y1, BACKLOG, width=3)
    for x, y in points:
        canvas.rect(x - 3, y - 3, x + 3, y + 3, BACKLOG)
    return canvas.png()
