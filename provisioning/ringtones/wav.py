"""Checking an uploaded ringtone: a RIFF/WAVE file in one of the formats desk phones play.

Pure: bytes in, `WavInfo` or `WavError` (with the description the API answers) out.

What phones take (the catalogue's `features.customRingtones` lists it per model):
- snom: "PCM 8 kHz 16 bit/sample (linear) mono WAV" (snom wiki, `user_custom`);
- Yealink: mono, 8 kHz — 16-bit linear or G.711 µ-law ("PCMU … 8K sample rate and
  16 bit resolution", Yealink T5x administrator guide, `ringtone.url`);
- Poly: mono 8 kHz G.711 µ-law or A-law, or L16/16000 (16-bit, 16 kHz) — not 8 kHz
  linear (UC Software administrator guide, `saf.x`).
So a ringtone is a mono WAV of 16-bit linear PCM at 8 or 16 kHz, or 8-bit G.711 (µ-law,
A-law) at 8 kHz, at most `MAX_BYTES`: Poly documents a 300 KB limit on older firmware and
Yealink's smaller phones 100 KB-class limits; 1 MiB is room for 32 s of 16 kHz PCM or two
minutes of G.711 — a ringtone loops — and is the API's body limit. Anything else (stereo,
MP3 inside a WAV, 44.1 kHz, 24-bit, a truncated file) is refused naming what is wrong,
rather than stored for a phone to play as noise or silence.

The chunk walk follows the RIFF layout (Multimedia Programming Interface and Data
Specifications 1.0: `RIFF` size `WAVE`, then chunks of id, little-endian size, data and a
pad byte to an even size); `fmt ` must come before `data`. WAVE_FORMAT_EXTENSIBLE is
taken when its sub-format is one of the above.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAX_BYTES = 1024 * 1024

# (WAVE format tag, bits per sample, sample rate) → sipfleet's format name
_FORMATS = {
    (1, 16, 8000): "pcm16-8000",
    (1, 16, 16000): "pcm16-16000",
    (7, 8, 8000): "ulaw-8000",
    (6, 8, 8000): "alaw-8000",
}
#: every format a ringtone may have
FORMATS: tuple[str, ...] = tuple(_FORMATS.values())
#: how the API describes a format
LABELS = {
    "pcm16-8000": "16-bit PCM at 8000 Hz",
    "pcm16-16000": "16-bit PCM at 16000 Hz",
    "ulaw-8000": "G.711 µ-law at 8000 Hz",
    "alaw-8000": "G.711 A-law at 8000 Hz",
}
_TAGS = {1: "PCM", 6: "G.711 A-law", 7: "G.711 µ-law"}
_EXTENSIBLE = 0xFFFE
ACCEPTED = "mono WAV: 16-bit PCM at 8000 or 16000 Hz, or G.711 µ-law / A-law at 8000 Hz"


class WavError(ValueError):
    """Not a ringtone sipfleet takes; the message is the API's description."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WavInfo:
    format: str  # one of FORMATS
    sample_rate: int
    bits: int
    duration_ms: int
    size: int


@dataclass(frozen=True, slots=True)
class _Fmt:
    tag: int
    channels: int
    rate: int
    byte_rate: int
    block_align: int
    bits: int


def _chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, start, size) of each chunk after the RIFF/WAVE header."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError("Not a WAV file: no RIFF/WAVE header")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = riff_size + 8
    if end > len(data):
        raise WavError("WAV file is truncated: the RIFF header announces more than was sent")
    found = []
    offset = 12
    while offset + 8 <= end:
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        start = offset + 8
        if start + size > end:
            raise WavError(f"WAV file is truncated: chunk {chunk_id!r} runs past its end")
        found.append((chunk_id, start, size))
        offset = start + size + (size & 1)
    return found


def _fmt(data: bytes, start: int, size: int) -> _Fmt:
    if size < 16:
        raise WavError("WAV format chunk is too short")
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", data, start)
    if tag == _EXTENSIBLE and size >= 40:
        (tag,) = struct.unpack_from("<H", data, start + 24)  # the sub-format GUID's first field
    return _Fmt(tag, channels, rate, byte_rate, block_align, bits)


def parse(data: bytes) -> WavInfo:
    """The ringtone's format, or WavError saying why it is not one sipfleet takes."""
    if len(data) > MAX_BYTES:
        raise WavError(f"Ringtone is {len(data)} bytes; at most {MAX_BYTES} are taken")
    fmt: _Fmt | None = None
    audio: int | None = None
    for chunk_id, start, size in _chunks(data):
        if chunk_id == b"fmt " and fmt is None:
            fmt = _fmt(data, start, size)
        elif chunk_id == b"data" and audio is None:
            if fmt is None:
                raise WavError("WAV file has its data chunk before its format chunk")
            audio = size
    if fmt is None or audio is None:
        raise WavError("WAV file has no " + ("format" if fmt is None else "data") + " chunk")
    return _checked(fmt, audio, len(data))


def _checked(fmt: _Fmt, audio: int, size: int) -> WavInfo:
    kind = _TAGS.get(fmt.tag)
    if kind is None:
        raise WavError(f"WAV encoding {fmt.tag:#06x} is not taken; a ringtone is a {ACCEPTED}")
    if fmt.channels != 1:
        raise WavError(f"Ringtone has {fmt.channels} channels; it must be mono")
    name = _FORMATS.get((fmt.tag, fmt.bits, fmt.rate))
    if name is None:
        raise WavError(
            f"{kind} with {fmt.bits}-bit samples at {fmt.rate} Hz is not taken; "
            f"a ringtone is a {ACCEPTED}"
        )
    frame = fmt.bits // 8
    if fmt.block_align != frame or fmt.byte_rate != fmt.rate * frame:
        raise WavError("WAV format chunk is inconsistent (block align or byte rate)")
    if audio == 0 or audio % frame:
        raise WavError("WAV data chunk is empty or ends in the middle of a sample")
    return WavInfo(
        format=name,
        sample_rate=fmt.rate,
        bits=fmt.bits,
        duration_ms=audio * 1000 // fmt.byte_rate,
        size=size,
    )
