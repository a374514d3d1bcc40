"""A classic BPF program that spreads one UDP flow over the workers by phone.

With `workers` > 1 every UDP listener is a group of SO_REUSEPORT sockets, socket i being
worker i's. Left alone, the kernel picks a socket by the datagram's 4-tuple, so one flow
(a load generator, an SBC or edge proxy in front of every phone) reaches one worker only.
Attached to the group with SO_ATTACH_REUSEPORT_CBPF, this program picks the socket by
what the datagram says instead, so that each phone's state stays in one worker:

- a request goes to hash(user part of its From URI) mod N: every request a phone sends
  (REGISTER and its retransmissions, SUBSCRIBE, PUBLISH, re-registrations) reaches the
  same worker, whatever flow it arrives on. Only the user part is hashed, never the tag.
- a response goes to the worker whose mark is in its top Via branch: every request a
  worker sends on UDP (OPTIONS keep-alive, NOTIFY, check-sync) carries
  `z9hG4bK` + `branch_mark(index)` + …, so the answer reaches the worker that waits for it.
- anything else (no From URI, no mark, a short or odd datagram) returns an index ≥ N,
  which makes the kernel fall back to its 4-tuple hash (today's behaviour).

The program sees the UDP payload at offset 0. cBPF has no loops, so the searches are
unrolled over a window of offsets; a load beyond the datagram's end would end the program
returning 0 (= worker 0, not the fall-back), so every block of loads is guarded by the
length first. This module is sans-IO: `build_program` gives the instructions, `run`
interprets them (for tests); `sipcore.server.transport.listeners.partition_by_phone`
attaches them to a socket group.
"""

from __future__ import annotations

from dataclasses import dataclass

# classic BPF opcodes (linux/filter.h) — only the subset this program uses
LD, LDX, ST, ALU, JMP, RET, MISC = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07
W, B = 0x00, 0x10
IMM, ABS, IND, MEM, LEN = 0x00, 0x20, 0x40, 0x60, 0x80
ADD, SUB, MUL, LSH, RSH, MOD, XOR = 0x00, 0x10, 0x20, 0x60, 0x70, 0x90, 0xA0
JA, JEQ, JGT, JGE = 0x00, 0x10, 0x20, 0x30
K, X = 0x00, 0x08
RET_A = 0x10
TAX, TXA = 0x00, 0x80

MAX_INSNS = 4096  # BPF_MAXINSNS: the kernel refuses longer classic programs
FALL_BACK = 0xFFFFFFFF  # an index no group has: the kernel uses its 4-tuple hash
MARK = "w"  # branch = z9hG4bK + "w" + two hex digits (the worker index) + …
MAX_WORKERS = 256

REQUEST_WINDOW = 400  # From header searched at offsets [REQUEST_START, REQUEST_WINDOW)
REQUEST_START = 14  # the shortest Request-Line ("X sip:a SIP/2.0") ends after this
VALUE_WINDOW = 48  # "sip:" searched this far into the From value (display names)
USER_BYTES = 32  # hashed at most; a longer user is told apart by its first 32 bytes
RESPONSE_WINDOW = 200  # ";branch=" of the top Via searched at [8, RESPONSE_WINDOW)
BLOCK = 16  # offsets searched per length guard
TERMINATORS = b"@>;: \r"  # end of a URI's user part (the host, the tag … never hashed)

FNV_BASIS = 2166136261
FNV_PRIME = 16777619
MIX = 0x045D9F3B

Insn = tuple[int, int, int, int]  # code, jt, jf, k — struct sock_filter


def branch_mark(index: int) -> str:
    """What worker `index` puts after `z9hG4bK` in the branch of every request it sends."""
    if not 0 <= index < MAX_WORKERS:
        raise ValueError(f"worker index {index} is not in [0, {MAX_WORKERS})")
    return f"{MARK}{index:02x}"


def _word(text: bytes) -> int:
    return int.from_bytes(text, "big")


@dataclass(slots=True)
class _Op:
    code: int
    k: int = 0
    jt: str | None = None  # label, None: the next instruction
    jf: str | None = None
    label: str | None = None  # for ja: the target


class _Asm:
    """Instructions with symbolic jump targets, resolved by `assemble`."""

    def __init__(self) -> None:
        self.ops: list[_Op] = []
        self.labels: dict[str, int] = {}
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def mark(self, label: str) -> None:
        assert label not in self.labels, label
        self.labels[label] = len(self.ops)

    def op(self, code: int, k: int = 0, jt: str | None = None, jf: str | None = None) -> None:
        self.ops.append(_Op(code, k & 0xFFFFFFFF, jt, jf))

    def ja(self, label: str) -> None:
        self.ops.append(_Op(JMP | JA, label=label))

    def guard(self, need: int, *, relative: bool, fail: str) -> None:
        """Go on only if the datagram has `need` bytes (past X when relative)."""
        self.op(LD | W | LEN)
        if relative:
            self.op(ALU | SUB | X)
        ok = self.fresh("ok")
        self.op(JMP | JGE | K, need, jt=ok)
        self.ja(fail)
        self.mark(ok)

    def assemble(self) -> list[Insn]:
        out: list[Insn] = []
        for at, item in enumerate(self.ops):
            if item.label is not None:
                out.append((item.code, 0, 0, self._distance(at, item.label, 0xFFFFFFFF)))
            else:
                jt, jf = self._distance(at, item.jt, 255), self._distance(at, item.jf, 255)
                out.append((item.code, jt, jf, item.k))
        return out

    def _distance(self, at: int, label: str | None, limit: int) -> int:
        """Jumps are relative to the next instruction and only go forward."""
        if label is None:
            return 0
        distance = self.labels[label] - at - 1
        if not 0 <= distance <= limit:
            raise ValueError(f"jump to {label} from {at} out of range ({distance})")
        return distance


def build_program(workers: int) -> list[Insn]:
    """The program for a group of `workers` sockets (socket i = worker i)."""
    if not 2 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers: {workers} is not in [2, {MAX_WORKERS}]")
    a = _Asm()
    a.guard(12, relative=False, fail="fall_back")
    a.op(LD | W | ABS, 0)
    a.op(JMP | JEQ | K, _word(b"SIP/"), jf="request")
    a.op(LD | W | ABS, 4)
    a.op(JMP | JEQ | K, _word(b"2.0 "), jf="not_sip")
    a.ja("response")
    a.mark("not_sip")
    a.ja("fall_back")
    a.mark("request")
    _request(a, workers)
    a.mark("response")
    _response(a)
    a.mark("fall_back")
    a.op(RET | K, FALL_BACK)
    program = a.assemble()
    if len(program) > MAX_INSNS:
        raise ValueError(f"program of {len(program)} instructions (at most {MAX_INSNS})")
    return program


def _search(
    a: _Asm, start: int, stop: int, words: tuple[bytes, ...], found: str, fail: str
) -> None:
    """X = the first absolute offset in [start, stop) holding one of `words`, then on to
    `found`; none (or the datagram ends before `stop`): `fail`."""
    for block in range(start, stop, BLOCK):
        offsets = range(block, min(block + BLOCK, stop))
        a.guard(offsets[-1] + 4, relative=False, fail=fail)
        hits = [a.fresh("hit") for _ in offsets]
        for offset, hit in zip(offsets, hits, strict=True):
            a.op(LD | W | ABS, offset)
            for word in words:
                a.op(JMP | JEQ | K, _word(word), jt=hit)
        following = a.fresh("block")
        a.ja(following)
        for offset, hit in zip(offsets, hits, strict=True):
            a.mark(hit)
            a.op(LDX | W | IMM, offset)
            a.ja(found)
        a.mark(following)
    a.ja(fail)


def _request(a: _Asm, workers: int) -> None:
    # 1. "\r\nFrom:" or "\r\nf:" (X = the offset of its "\r\n")
    _search(a, REQUEST_START, REQUEST_WINDOW, (b"\r\nFr", b"\r\nf:"), "from", "fall_back")
    a.mark("from")
    a.guard(8, relative=True, fail="fall_back")
    a.op(LD | B | IND, 2)
    a.op(JMP | JEQ | K, ord("f"), jt="compact")
    # "\r\nFr" that is not "\r\nFrom:" (no header starts so): fall back, as jumps only
    # go forward and the search cannot resume
    a.op(LD | W | IND, 3)
    a.op(JMP | JEQ | K, _word(b"rom:"), jf="fall_back_near")
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 7)
    a.ja("value")
    a.mark("fall_back_near")
    a.ja("fall_back")
    a.mark("compact")
    a.op(MISC | TXA)
    a.op(ALU | ADD | K, 4)
    a.mark("value")
    a.op(MISC | TAX)
    # 2. "sip:" in the value (after a display name, "<", spaces); X stays the value start
    for block in range(0, VALUE_WINDOW, 8):
        a.guard(block + 8 + 3, relative=True, fail="fall_back")
        hits = [a.fresh("sip") for _ in range(8)]
        for k, hit in enumerate(hits):
            a.op(LD | W | IND, block + k)
            a.op(JMP | JEQ | K, _word(b"sip:"), jt=hit)
        following = a.fresh("block")
        a.ja(following)
        for k, hit in enumerate(hits):
            a.mark(hit)
            a.op(MISC | TXA)
            a.op(ALU | ADD | K, block + k + 4)
            a.ja("user")
        a.mark(following)
    a.ja("fall_back")
    # 3. FNV-1a of the user part, byte by byte up to a terminator (M[2] = its offset)
    a.mark("user")
    a.op(ST, 2)
    a.op(LD | W | IMM, FNV_BASIS)
    a.op(ST, 0)
    for block in range(0, USER_BYTES, 4):
        a.op(LDX | W | MEM, 2)
        a.guard(block + 4, relative=True, fail="fall_back")
        end = a.fresh("end")
        for k in range(block, block + 4):
            a.op(LDX | W | MEM, 2)
            a.op(LD | B | IND, k)
            for char in TERMINATORS:
                a.op(JMP | JEQ | K, char, jt=end)
            a.op(MISC | TAX)
            a.op(LD | W | MEM, 0)
            a.op(ALU | XOR | X)
            a.op(ALU | MUL | K, FNV_PRIME)
            a.op(ST, 0)
        following = a.fresh("block")
        a.ja(following)
        a.mark(end)
        a.ja("hashed")
        a.mark(following)
    # 4. mix the high bits into the low ones (mod N keeps the low ones), then mod N
    a.mark("hashed")
    for shift, factor in ((16, MIX), (16, 1)):
        a.op(LD | W | MEM, 0)
        a.op(ALU | RSH | K, shift)
        a.op(MISC | TAX)
        a.op(LD | W | MEM, 0)
        a.op(ALU | XOR | X)
        a.op(ALU | MUL | K, factor)
        a.op(ST, 0)
    a.op(ALU | MOD | K, workers)
    a.op(RET | RET_A)


def _hex_digit(a: _Asm, offset: int) -> None:
    """A = the value of the lowercase hex digit at X + offset (else fall back)."""
    letter, done = a.fresh("letter"), a.fresh("digit")
    a.op(LD | B | IND, offset)
    a.op(JMP | JGE | K, ord("a"), jt=letter)
    a.op(ALU | SUB | K, ord("0"))
    a.op(JMP | JGT | K, 9, jt="fall_back_mark", jf=done)
    a.mark(letter)
    a.op(ALU | SUB | K, ord("a") - 10)
    a.op(JMP | JGT | K, 15, jt="fall_back_mark")
    a.mark(done)


def _response(a: _Asm) -> None:
    _search(a, 8, RESPONSE_WINDOW, (b";bra",), "branch", "fall_back")
    a.mark("branch")  # X = the offset of ";branch=z9hG4bKw" + 2 hex digits
    a.guard(18, relative=True, fail="fall_back")
    for offset, word in ((4, b"nch="), (8, b"z9hG"), (12, b"4bK" + MARK.encode())):
        a.op(LD | W | IND, offset)
        a.op(JMP | JEQ | K, _word(word), jf="fall_back_mark")
    _hex_digit(a, 16)
    a.op(ALU | LSH | K, 4)
    a.op(ST, 3)
    _hex_digit(a, 17)
    a.op(MISC | TAX)
    a.op(LD | W | MEM, 3)
    a.op(ALU | ADD | X)
    a.op(RET | RET_A)  # an index ≥ N (a mark of a bigger group): the kernel falls back
    a.mark("fall_back_mark")
    a.ja("fall_back")


# --- an interpreter of the same subset, for tests --------------------------------------


def run(program: list[Insn], packet: bytes, *, strict: bool = False) -> int:
    """What the kernel's classic BPF would return for `packet`: a load beyond the end
    returns 0, as there — or, `strict`, raises IndexError (tests: no guard was missed)."""
    acc = index = 0
    memory = [0] * 16
    size = len(packet)
    pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        kind = code & 0x07
        if kind in (LD, LDX):
            mode, width = code & 0xE0, 4 if code & 0x18 == W else 1
            if mode == IMM:
                value = k
            elif mode == LEN:
                value = size
            elif mode == MEM:
                value = memory[k]
            else:
                at = k + (index if mode == IND else 0)
                if at + width > size:
                    if strict:
                        raise IndexError(f"load of {width} at {at} beyond {size} (pc {pc - 1})")
                    return 0
                value = int.from_bytes(packet[at : at + width], "big")
            if kind == LD:
                acc = value
            else:
                index = value
        elif kind == ST:
            memory[k] = acc
        elif kind == ALU:
            operand = index if code & X else k
            op = code & 0xF0
            if op == ADD:
                acc = (acc + operand) & 0xFFFFFFFF
            elif op == SUB:
                acc = (acc - operand) & 0xFFFFFFFF
            elif op == MUL:
                acc = (acc * operand) & 0xFFFFFFFF
            elif op == LSH:
                acc = (acc << operand) & 0xFFFFFFFF
            elif op == RSH:
                acc >>= operand
            elif op == MOD:
                acc %= operand
            elif op == XOR:
                acc ^= operand
            else:
                raise ValueError(f"ALU op {code:#x}")
        elif kind == JMP:
            op = code & 0xF0
            if op == JA:
                pc += k
                continue
            operand = index if code & X else k
            if op == JEQ:
                taken = acc == operand
            elif op == JGT:
                taken = acc > operand
            elif op == JGE:
                taken = acc >= operand
            else:
                raise ValueError(f"jump op {code:#x}")
            pc += jt if taken else jf
        elif kind == RET:
            return acc if code & RET_A else k
        elif kind == MISC:
            if code & 0xF8 == TXA:
                acc = index
            else:
                index = acc
        else:
            raise ValueError(f"opcode {code:#x}")
