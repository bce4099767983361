"""A loopback ESC/POS printer: what a kitchen printer on TCP port 9100 does with the bytes it is sent.

Tests and the demo need a printer that can be read back and made to fail on purpose. The core,
:class:`Parser`, is pure (bytes in; printed tickets and status requests out; no socket, no clock):
it decodes the stream the way an Epson-compatible printer would, one :class:`Printed` per paper
cut, with each line's text and styles (bold, double size, inverse, alignment) in the code page
selected by ESC t. :func:`parse` runs it over a whole byte string. :class:`PrinterEmulator` is the
thin asyncio shell: a TCP server that feeds each connection's bytes to its own parser, answers the
real-time status requests (DLE EOT n, :func:`status_byte`) and keeps what was printed.

Faults, set at run time:

- ``await set_offline(True)``: the printer is switched off: the port refuses connections and open
  ones are reset; ``set_offline(False)`` listens on the same port again;
- ``paper_out`` / ``cover_open``: the printer answers, reports itself offline with the cause in
  its status bytes, and prints nothing: tickets decoded meanwhile go to ``discarded`` (a real
  printer would keep them in its buffer and may print them once the paper is back; the hub must
  not count on either);
- ``slow(seconds)``: each new connection waits that long before the printer reads a byte, so
  the job and any status answer come late;
- ``drop_after(n_bytes)``: each new connection is reset after ``n_bytes``; the part printed so
  far is reported with ``cut=False``.

A QR code (GS ( k: its data stored by function 80, printed by 81) prints as a ``[qr code]`` line
and its text is kept in ``Printed.codes``, so a test reads the link a receipt carries as a phone
would. Commands the parser does not act on are skipped by their lengths from the Epson ESC/POS
reference; an unknown one is skipped as two bytes, logged, and named in ``Printed.unknown``.
Nothing a peer sends can stop the server. Not modelled: page mode, kanji (double-byte) modes,
user-defined characters' glyphs, and GS r / ESC v style status commands (not answered).

Run it from a terminal to watch what the hub prints::

    python -m fireflow.clients.printers.emulator --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CODE_PAGES",
    "Line",
    "Parser",
    "Printed",
    "PrinterEmulator",
    "Span",
    "StatusRequest",
    "main",
    "parse",
    "status_byte",
]

logger = logging.getLogger(__name__)

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C
LF, HT, FF, DEL = 0x0A, 0x09, 0x0C, 0x7F
EOT, ENQ, DC4 = 0x04, 0x05, 0x14

# ESC t n: the code pages an Epson TM printer numbers, as Python codecs (others decode as CP437, logged).
CODE_PAGES = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
}
_ALIGN = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}

# Parameter bytes after ESC x / GS x / FS x for commands of fixed length (variable ones are parsed apart).
_ESC_FIXED = {
    0x0C: 0,  # ESC FF   print in page mode
    0x20: 1,  # ESC SP n character spacing
    0x21: 1,  # ESC ! n  print mode (font, bold, double height/width, underline)
    0x24: 2,  # ESC $    absolute position
    0x25: 1,  # ESC % n  user-defined characters on/off
    0x2D: 1,  # ESC - n  underline
    0x32: 0,  # ESC 2    default line spacing
    0x33: 1,  # ESC 3 n  line spacing
    0x3C: 0,  # ESC <    return home
    0x3D: 1,  # ESC = n  select peripheral
    0x3F: 1,  # ESC ? n  cancel user-defined character
    0x40: 0,  # ESC @    initialise
    0x42: 2,  # ESC B n t buzzer
    0x45: 1,  # ESC E n  emphasised (bold)
    0x47: 1,  # ESC G n  double-strike
    0x4A: 1,  # ESC J n  print and feed n dots
    0x4B: 1,  # ESC K n  print and reverse feed
    0x4C: 0,  # ESC L    page mode
    0x4D: 1,  # ESC M n  font
    0x52: 1,  # ESC R n  international character set
    0x53: 0,  # ESC S    standard mode
    0x54: 1,  # ESC T n  page-mode direction
    0x55: 1,  # ESC U n  unidirectional printing
    0x56: 1,  # ESC V n  90-degree rotation
    0x57: 8,  # ESC W    page-mode area
    0x5C: 2,  # ESC \    relative position
    0x61: 1,  # ESC a n  justification
    0x63: 2,  # ESC c x n paper sensors, panel buttons
    0x64: 1,  # ESC d n  print and feed n lines
    0x65: 1,  # ESC e n  print and reverse feed n lines
    0x69: 0,  # ESC i    partial cut (old)
    0x6D: 0,  # ESC m    partial cut (old)
    0x70: 3,  # ESC p m t1 t2 cash drawer pulse
    0x72: 1,  # ESC r n  colour
    0x74: 1,  # ESC t n  code page
    0x75: 1,  # ESC u n  peripheral status (not answered)
    0x76: 0,  # ESC v    paper status (not answered)
    0x7B: 1,  # ESC { n  upside down
}
_GS_FIXED = {
    0x21: 1,  # GS ! n   character size
    0x24: 2,  # GS $     vertical position (page mode)
    0x2F: 1,  # GS / m   print downloaded image
    0x3A: 0,  # GS :     macro definition
    0x42: 1,  # GS B n   white/black reverse
    0x45: 1,  # GS E n   head control
    0x48: 1,  # GS H n   barcode text position
    0x49: 1,  # GS I n   printer id (not answered)
    0x4C: 2,  # GS L     left margin
    0x50: 2,  # GS P     motion units
    0x54: 1,  # GS T n   start of line
    0x57: 2,  # GS W     print area width
    0x5C: 2,  # GS \     relative vertical position
    0x5E: 3,  # GS ^     run macro
    0x61: 1,  # GS a n   automatic status back
    0x62: 1,  # GS b n   smoothing
    0x63: 0,  # GS c     print counter
    0x66: 1,  # GS f n   barcode text font
    0x67: 4,  # GS g 0/2 m nL nH maintenance counters
    0x68: 1,  # GS h n   barcode height
    0x72: 1,  # GS r n   transmit status (not answered)
    0x77: 1,  # GS w n   barcode width
    0x7C: 1,  # GS | n   print density
}
_FS_FIXED = {
    0x21: 1,  # FS ! n   kanji print mode
    0x26: 0,  # FS &     kanji mode on
    0x2D: 1,  # FS - n   kanji underline
    0x2E: 0,  # FS .     kanji mode off
    0x3F: 2,  # FS ? c1 c2 cancel user-defined kanji
    0x43: 1,  # FS C n   kanji code system
    0x53: 2,  # FS S     kanji spacing
    0x57: 1,  # FS W n   kanji quadruple size
    0x70: 2,  # FS p n m print NV image
}
_CUTS = frozenset({0, 1, 48, 49})  # GS V m: cut now
_FEED_CUTS = frozenset({65, 66, 97, 98, 103, 104})  # GS V m n: feed n, then cut


@dataclass(frozen=True)
class Span:
    """A run of text printed in one style; ``width``/``height`` are multiples of the normal size."""

    text: str
    bold: bool = False
    underline: bool = False
    width: int = 1
    height: int = 1
    inverse: bool = False


@dataclass(frozen=True)
class Line:
    """One printed line: its text and whether any visible part of it was bold, enlarged or inverted."""

    text: str
    bold: bool = False
    double: bool = False
    inverse: bool = False
    align: str = "left"
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Printed:
    """One piece of paper: everything between two cuts (``cut=False``: the job stopped before its cut)."""

    text: str
    lines: tuple[Line, ...]
    cut: bool
    images: int
    raw: bytes
    at: float
    unknown: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # the QR codes printed (GS ( k), each as the text it holds

    def show(self, width: int = 48) -> str:
        """The ticket as a terminal shows it: aligned to ``width``, flags B(old) 2(double) I(nverse) on the left."""
        rows = []
        for line in self.lines:
            flags = ("B" if line.bold else "") + ("2" if line.double else "") + ("I" if line.inverse else "")
            text = line.text.rstrip() if not line.inverse else line.text
            placed = {"center": text.center(width), "right": text.rjust(width)}.get(line.align, text.ljust(width))
            rows.append(f"{flags:<3}|{placed}|")
        end = "cut" if self.cut else "NOT CUT (job interrupted)"
        rule = "-" * (width + 4)
        return "\n".join([rule, *rows, f"{rule[: -len(end) - 1]} {end}"])


@dataclass(frozen=True)
class StatusRequest:
    """DLE EOT ``n``: the sender waits for one status byte (1 printer, 2 offline cause, 3 error, 4 paper)."""

    n: int


Event = Printed | StatusRequest


def status_byte(n: int, *, paper_out: bool = False, cover_open: bool = False) -> bytes:
    """The answer to DLE EOT ``n`` by Epson's ESC/POS reference.

    Bits 1 and 4 are always set (0x12: all is well). n=1, printer: bit 3 offline (an open cover and
    a paper end take the printer offline). n=2, offline cause: bit 2 cover open, bit 5 printing
    stopped by paper end. n=3, error cause: none modelled. n=4, roll paper sensor: bits 2-3 near
    end, bits 5-6 paper end (python-escpos's ``paper_status`` reads 0x72 as "no paper").
    """
    value = 0x12
    if n == 1 and (paper_out or cover_open):
        value |= 0x08
    elif n == 2:
        value |= (0x04 if cover_open else 0) | (0x20 if paper_out else 0)
    elif n == 4 and paper_out:
        value |= 0x0C | 0x60
    return bytes((value,))


class Parser:
    """An ESC/POS byte stream decoded into printed tickets and status requests; feed it bytes as they come.

    Commands split across reads are kept until complete. Modes (styles, code page) persist across cuts,
    as on a printer; ESC @ resets them and drops the unprinted line.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._reset_modes()
        self._new_job()

    def _reset_modes(self) -> None:
        self._bold = self._underline = self._inverse = False
        self._width = self._height = 1
        self._align = "left"
        self._codec = CODE_PAGES[0]
        self._qr = b""  # the QR code's data stored (GS ( k fn 80), printed by fn 81

    def _new_job(self) -> None:
        self._lines: list[Line] = []
        self._spans: list[Span] = []
        self._line_align = "left"
        self._images = 0
        self._raw = bytearray()
        self._unknown: list[str] = []
        self._codes: list[str] = []

    # -- the stream ---------------------------------------------------------------------------------

    def feed(self, data: bytes, now: float = 0.0) -> list[Event]:
        """Decode ``data``: a :class:`Printed` per cut and a :class:`StatusRequest` per DLE EOT, in stream order."""
        self._buffer += data
        events: list[Event] = []
        pos = 0
        while pos < len(self._buffer):
            used = self._step(pos, events, now)
            if used == 0:  # a command not complete yet: wait for more bytes
                break
            pos += used
        del self._buffer[:pos]
        return events

    def close(self, now: float = 0.0) -> list[Printed]:
        """The stream ended: what was printed since the last cut, if anything, as a ticket that was not cut."""
        if self._buffer:
            logger.info("stream ended inside a command: %d bytes dropped", len(self._buffer))
            self._raw += self._buffer
            self._buffer.clear()
        if self._spans:
            self._feed_line()
        if not (self._images or any(line.text.strip() for line in self._lines)):
            self._new_job()
            return []
        return [self._finish(cut=False, now=now)]

    def _step(self, pos: int, events: list[Event], now: float) -> int:
        """Handle the command or text at ``pos``; the bytes used, 0 if it is not complete yet."""
        buf = self._buffer
        byte = buf[pos]
        if byte >= 0x20 and byte != DEL:
            end = pos + 1
            while end < len(buf) and buf[end] >= 0x20 and buf[end] != DEL:
                end += 1
            self._raw += buf[pos:end]
            self._text(bytes(buf[pos:end]).decode(self._codec, errors="replace"))
            return end - pos
        if byte == ESC:
            return self._esc(pos, events, now)
        if byte == GS:
            return self._gs(pos, events, now)
        if byte == DLE:
            return self._dle(pos, events)
        if byte == FS:
            return self._fs(pos)
        self._raw.append(byte)
        if byte == LF or (byte == FF and self._spans):
            self._feed_line()
        elif byte == HT:
            self._text(" " * (8 - len(self._pending()) % 8))
        return 1  # CR, NUL, CAN and other controls print nothing

    def _length(self, pos: int, fixed: int) -> int:
        """``fixed`` bytes from ``pos`` if they have all arrived, else 0."""
        return fixed if pos + fixed <= len(self._buffer) else 0

    def _esc(self, pos: int, events: list[Event], now: float) -> int:
        buf = self._buffer
        if not self._length(pos, 2):
            return 0
        cmd = buf[pos + 1]
        if cmd == 0x2A:  # ESC * m nL nH d...: column image, 1 or 3 bytes a column
            if not self._length(pos, 5):
                return 0
            size = 5 + (buf[pos + 3] + 256 * buf[pos + 4]) * (3 if buf[pos + 2] in (32, 33) else 1)
        elif cmd == 0x44:  # ESC D n1..nk NUL: tab stops (at most 32)
            end = buf.find(0, pos + 2, pos + 35)
            if end < 0:
                if len(buf) < pos + 35:
                    return 0
                end = pos + 34
            size = end - pos + 1
        elif cmd == 0x26:  # ESC & y c1 c2 [x d1..d(y*x)]...: user-defined characters
            if not self._length(pos, 5):
                return 0
            y, first, last = buf[pos + 2], buf[pos + 3], buf[pos + 4]
            end = pos + 5
            for _ in range(max(last - first + 1, 0)):
                if end >= len(buf):
                    return 0
                end += 1 + y * buf[end]
            size = end - pos
        elif cmd == 0x28:  # ESC ( x pL pH d...
            if not self._length(pos, 5):
                return 0
            size = 5 + buf[pos + 3] + 256 * buf[pos + 4]
        elif cmd in _ESC_FIXED:
            size = 2 + _ESC_FIXED[cmd]
        else:
            size = 2
            self._skip_unknown(f"ESC 0x{cmd:02x}")
        if not self._length(pos, size):
            return 0
        self._raw += buf[pos : pos + size]
        arg = buf[pos + 2] if size > 2 else 0
        if cmd == 0x40:
            self._reset_modes()
            self._spans.clear()
        elif cmd == 0x21:
            self._bold, self._underline = bool(arg & 0x08), bool(arg & 0x80)
            self._height, self._width = (2 if arg & 0x10 else 1), (2 if arg & 0x20 else 1)
        elif cmd == 0x45:
            self._bold = bool(arg & 1)
        elif cmd == 0x2D:
            self._underline = arg in (1, 2, 49, 50)
        elif cmd == 0x61:
            self._align = _ALIGN.get(arg, self._align)
        elif cmd == 0x74:
            self._codec = CODE_PAGES.get(arg, CODE_PAGES[0])
            if arg not in CODE_PAGES:
                logger.info("code page %d not known here: decoding as CP437", arg)
        elif cmd == 0x64:
            for _ in range(arg):
                self._feed_line()
        elif cmd == 0x4A and self._spans:
            self._feed_line()
        elif cmd in (0x69, 0x6D):
            events.append(self._finish(cut=True, now=now))
        return size

    def _gs(self, pos: int, events: list[Event], now: float) -> int:
        buf = self._buffer
        if not self._length(pos, 2):
            return 0
        cmd = buf[pos + 1]
        image: str | None = None
        if cmd == 0x56:  # GS V m [n]: cut
            if not self._length(pos, 3):
                return 0
            size = 4 if buf[pos + 2] in _FEED_CUTS else 3
        elif cmd == 0x76:  # GS v 0 m xL xH yL yH d...: raster image, x bytes by y dots
            if not self._length(pos, 8):
                return 0
            across, down = buf[pos + 4] + 256 * buf[pos + 5], buf[pos + 6] + 256 * buf[pos + 7]
            size, image = 8 + across * down, f"[image {across * 8}x{down}]"
        elif cmd == 0x51:  # GS Q 0 m xL xH yL yH d...: variable-size raster image
            if not self._length(pos, 8):
                return 0
            across, down = buf[pos + 4] + 256 * buf[pos + 5], buf[pos + 6] + 256 * buf[pos + 7]
            size, image = 8 + across * down, f"[image {across * 8}x{down}]"
        elif cmd == 0x28:  # GS ( x pL pH d...: graphics, 2D codes and settings
            if not self._length(pos, 5):
                return 0
            size = 5 + buf[pos + 3] + 256 * buf[pos + 4]
            whole = self._length(pos, size)  # parameters read only once they are all here
            if buf[pos + 2] == 0x4C and size > 6 and whole and buf[pos + 6] in (0x32, 0x02):  # GS ( L: graphics
                image = "[image]"
            elif buf[pos + 2] == 0x6B and size >= 8 and whole and buf[pos + 5] == 0x31:  # GS ( k cn=49: QR code
                if buf[pos + 6] == 0x50:  # fn 80: store the data (after m)
                    self._qr = bytes(buf[pos + 8 : pos + size])
                elif buf[pos + 6] == 0x51:  # fn 81: print what is stored
                    self._codes.append(self._qr.decode("utf-8", errors="replace"))
                    image = "[qr code]"
        elif cmd == 0x38:  # GS 8 L p1 p2 p3 p4 d...: graphics with a 4-byte length
            if not self._length(pos, 7):
                return 0
            size = 7 + int.from_bytes(buf[pos + 3 : pos + 7], "little")
        elif cmd == 0x6B:  # GS k m ...: barcode, NUL-terminated (m <= 6) or counted
            if not self._length(pos, 4):
                return 0
            if buf[pos + 2] <= 6:
                end = buf.find(0, pos + 3)
                if end < 0:
                    return 0
                size = end - pos + 1
            else:
                size = 4 + buf[pos + 3]
            image = "[barcode]"
        elif cmd == 0x2A:  # GS * x y d...: define downloaded image
            if not self._length(pos, 4):
                return 0
            size = 4 + buf[pos + 2] * buf[pos + 3] * 8
        elif cmd in _GS_FIXED:
            size = 2 + _GS_FIXED[cmd]
        else:
            size = 2
            self._skip_unknown(f"GS 0x{cmd:02x}")
        if not self._length(pos, size):
            return 0
        self._raw += buf[pos : pos + size]
        if cmd == 0x21:
            self._width, self._height = ((buf[pos + 2] >> 4) & 7) + 1, (buf[pos + 2] & 7) + 1
        elif cmd == 0x42:
            self._inverse = bool(buf[pos + 2] & 1)
        elif cmd == 0x56:
            events.append(self._finish(cut=True, now=now))
        elif image is not None:
            if image not in ("[barcode]", "[qr code]"):
                self._images += 1
            self._image_line(image)
        return size

    def _dle(self, pos: int, events: list[Event]) -> int:
        buf = self._buffer
        if not self._length(pos, 2):
            return 0
        cmd = buf[pos + 1]
        if cmd == EOT:  # DLE EOT n [a]: real-time status
            if not self._length(pos, 3):
                return 0
            size = 4 if buf[pos + 2] in (7, 8) else 3
            if self._length(pos, size) and buf[pos + 2] in (1, 2, 3, 4):
                events.append(StatusRequest(buf[pos + 2]))
        elif cmd == ENQ:  # DLE ENQ n: real-time request to recover
            size = 3
        elif cmd == DC4:  # DLE DC4 fn ...: real-time pulse, power off, buffer clear
            if not self._length(pos, 3):
                return 0
            size = 3 + {1: 2, 2: 2, 7: 1, 8: 7}.get(buf[pos + 2], 2)
        else:
            size = 1  # a lone DLE is no command: only it is skipped
        if not self._length(pos, size):
            return 0
        self._raw += buf[pos : pos + size]
        return size

    def _fs(self, pos: int) -> int:
        buf = self._buffer
        if not self._length(pos, 2):
            return 0
        cmd = buf[pos + 1]
        if cmd == 0x28:  # FS ( x pL pH d...
            if not self._length(pos, 5):
                return 0
            size = 5 + buf[pos + 3] + 256 * buf[pos + 4]
        elif cmd in _FS_FIXED:
            size = 2 + _FS_FIXED[cmd]
        else:
            size = 2
            self._skip_unknown(f"FS 0x{cmd:02x}")
        if not self._length(pos, size):
            return 0
        self._raw += buf[pos : pos + size]
        if cmd == 0x70:
            self._images += 1
            self._image_line("[image]")
        return size

    def _skip_unknown(self, name: str) -> None:
        logger.info("unknown ESC/POS command %s skipped as two bytes", name)
        self._unknown.append(name)

    # -- the paper ----------------------------------------------------------------------------------

    def _pending(self) -> str:
        return "".join(span.text for span in self._spans)

    def _text(self, text: str) -> None:
        if not self._spans:
            self._line_align = self._align  # ESC a takes effect at the start of a line
        style = (self._bold, self._underline, self._width, self._height, self._inverse)
        last = self._spans[-1] if self._spans else None
        if last is not None and (last.bold, last.underline, last.width, last.height, last.inverse) == style:
            self._spans[-1] = Span(last.text + text, *style)
        else:
            self._spans.append(Span(text, *style))

    def _feed_line(self) -> None:
        spans = tuple(self._spans)
        self._lines.append(
            Line(
                text="".join(span.text for span in spans),
                bold=any(span.bold and span.text.strip() for span in spans),
                double=any(span.width > 1 or span.height > 1 for span in spans if span.text.strip()),
                inverse=any(span.inverse for span in spans if span.text),
                align=self._line_align if spans else self._align,
                spans=spans,
            )
        )
        self._spans.clear()

    def _image_line(self, text: str) -> None:
        if self._spans:
            self._feed_line()
        self._lines.append(Line(text=text, align=self._align))

    def _finish(self, *, cut: bool, now: float) -> Printed:
        if self._spans:
            self._feed_line()
        lines = list(self._lines)
        while lines and not lines[-1].text.strip():
            lines.pop()  # the feed before the cut
        printed = Printed(
            text="\n".join(line.text for line in lines),
            lines=tuple(lines),
            cut=cut,
            images=self._images,
            raw=bytes(self._raw),
            at=now,
            unknown=tuple(self._unknown),
            codes=tuple(self._codes),
        )
        self._new_job()
        return printed


def parse(data: bytes) -> list[Printed]:
    """Every ticket in ``data``, as a printer would print it; a last one not cut if the bytes stop before a cut."""
    parser = Parser()
    tickets = [event for event in parser.feed(data) if isinstance(event, Printed)]
    return tickets + parser.close()


class PrinterEmulator:
    """A network ESC/POS printer on a loopback port: ``await PrinterEmulator.start()``, then send it jobs.

    ``printed`` holds every ticket in the order it came off the paper (one per cut, plus a ticket
    with ``cut=False`` for a job cut short); ``await wait_for(n, timeout)`` waits for the n-th.
    """

    def __init__(self, host: str, port: int, on_printed: Callable[[Printed], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.printed: list[Printed] = []
        self.discarded: list[Printed] = []  # decoded while out of paper or with the cover open
        self.connections = 0  # accepted so far
        self.paper_out = False
        self.cover_open = False
        self._delay = 0.0
        self._drop_after: int | None = None
        self._on_printed = on_printed
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._changed = asyncio.Event()

    @classmethod
    async def start(
        cls, host: str = "127.0.0.1", port: int = 0, *, on_printed: Callable[[Printed], None] | None = None
    ) -> PrinterEmulator:
        """Listen on ``host:port`` (0: a free port, then read ``.port``); ``on_printed`` sees each ticket."""
        emulator = cls(host, port, on_printed)
        await emulator._listen()
        return emulator

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> PrinterEmulator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop listening and end every connection; what they had printed uncut is reported, not lost."""
        if self._server is not None:
            await self._close_server()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    # -- faults -------------------------------------------------------------------------------------

    @property
    def offline(self) -> bool:
        return self._server is None

    async def set_offline(self, offline: bool) -> None:
        """Switch the printer off (connections refused, open ones reset) or on again, on the same port."""
        if offline == self.offline:
            return
        if not offline:
            await self._listen()
            return
        await self._close_server()
        for writer in list(self._writers):
            writer.transport.abort()

    async def _close_server(self) -> None:
        """Stop listening. asyncio (3.11) drops a connection it accepted just before ``Server.close()`` without
        closing it (its transport cannot attach to a closed server): so stop accepting first, let the
        connections already accepted start their handlers, then close."""
        server, self._server = self._server, None
        assert server is not None
        loop = asyncio.get_running_loop()
        for sock in server.sockets:
            with contextlib.suppress(RuntimeError, ValueError, OSError):  # a loop that owns the socket itself
                loop.remove_reader(sock.fileno())
        for _ in range(4):
            await asyncio.sleep(0)  # each accepted connection's transport attaches and its handler starts
        server.close()
        await server.wait_closed()

    def slow(self, seconds: float) -> None:
        """Each connection from now on waits ``seconds`` before its first byte is read (0: no wait)."""
        self._delay = seconds

    def drop_after(self, n_bytes: int | None) -> None:
        """Reset each connection from now on after ``n_bytes`` have been read (None: never)."""
        self._drop_after = n_bytes

    # -- printed tickets ----------------------------------------------------------------------------

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Printed]:
        """All tickets printed, once there are at least ``count``; TimeoutError if not within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while len(self.printed) < count:
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{len(self.printed)} of {count} tickets printed within {timeout}s") from None
        return list(self.printed)

    def _emit(self, ticket: Printed) -> None:
        if self.paper_out or self.cover_open:
            logger.info("not printed (%s): %d bytes", "paper out" if self.paper_out else "cover open", len(ticket.raw))
            self.discarded.append(ticket)
        else:
            self.printed.append(ticket)
            if self._on_printed is not None:
                self._on_printed(ticket)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- connections --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections += 1
        parser = Parser()
        try:
            await self._converse(reader, writer, parser)
        except ConnectionError as exc:
            logger.info("printer connection lost: %s", exc)
        except Exception:
            logger.exception("printer connection failed; the printer carries on")
        finally:
            for ticket in parser.close(time.time()):
                self._emit(ticket)
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: Parser) -> None:
        if self._delay:
            await asyncio.sleep(self._delay)  # a busy printer: nothing is read, nothing answered
        limit = self._drop_after
        received = 0
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                return
            dropping = limit is not None and received + len(chunk) >= limit
            if limit is not None and dropping:
                chunk = chunk[: limit - received]
            received += len(chunk)
            for event in parser.feed(chunk, time.time()):
                if isinstance(event, StatusRequest):
                    writer.write(status_byte(event.n, paper_out=self.paper_out, cover_open=self.cover_open))
                else:
                    self._emit(event)
            await writer.drain()
            if dropping:
                logger.info("dropping the connection after %d bytes, as told", received)
                writer.transport.abort()
                return


# -- command line -------------------------------------------------------------------------------------


async def _run(host: str, port: int, width: int) -> None:
    emulator = await PrinterEmulator.start(host, port, on_printed=lambda ticket: print(ticket.show(width), flush=True))
    print(f"ESC/POS printer emulator on {host}:{emulator.port}; Ctrl-C stops it", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m fireflow.clients.printers.emulator``: a printer that prints to this terminal."""
    parser = argparse.ArgumentParser(description="A loopback ESC/POS network printer that prints to the terminal.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9100, help="TCP port (default 9100, as network printers)")
    parser.add_argument("--width", type=int, default=48, help="columns shown per line (default 48)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(args.host, args.port, args.width))
    except OSError as exc:  # the port is taken, or the address not this machine's: one line, not a traceback
        sys.exit(
            f"printer emulator: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; give another --port (0: a free one)"
        )


if __name__ == "__main__":
    main()
