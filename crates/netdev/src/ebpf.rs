//! A small eBPF assembler: the instructions ferrovs's traffic-control programs need, encoded
//! as the kernel's instruction set defines them, with labels for forward (and backward)
//! jumps resolved when the program is finished.
//!
//! # Encoding
//!
//! An instruction is 8 bytes: the opcode (class in the low 3 bits, then source bit and
//! operation or size and mode), the destination register in the low nibble of the second
//! byte and the source register in its high nibble (little-endian bit-fields, the only
//! layout of the hosts ferrovs runs on), a signed 16-bit offset and a signed 32-bit
//! immediate. `ld_imm64` takes two slots: the low half of the constant in the first slot's
//! immediate, the high half in the second's. A jump's offset counts instructions from the
//! one after the jump.
//!
//! The assembler checks only what it must to encode (register numbers, offsets that fit
//! 16 bits, every label bound); whether a program is safe is the kernel verifier's job.

/// A register: `r0` (return value, helper results), `r1`–`r5` (helper arguments, clobbered
/// by calls), `r6`–`r9` (kept across calls), `r10` (the read-only frame pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reg(u8);

impl Reg {
    pub(crate) const R0: Self = Self(0);
    pub(crate) const R1: Self = Self(1);
    pub(crate) const R2: Self = Self(2);
    pub(crate) const R3: Self = Self(3);
    pub(crate) const R4: Self = Self(4);
    pub(crate) const R5: Self = Self(5);
    pub(crate) const R6: Self = Self(6);
    pub(crate) const R7: Self = Self(7);
    pub(crate) const R8: Self = Self(8);
    pub(crate) const R9: Self = Self(9);
    /// The frame pointer: the stack is the 512 bytes below it.
    pub(crate) const FP: Self = Self(10);
}

/// Instruction classes.
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;
/// Source operand: the immediate (`K`) or the source register (`X`).
const SRC_X: u8 = 0x08;
/// Load/store modes.
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const MODE_ATOMIC: u8 = 0xc0;
/// The byte-swap operation and its "to big-endian" source bit.
const ALU_END: u8 = 0xd0;
const END_TO_BE: u8 = 0x08;
/// Jump operations without a comparison.
const JMP_CALL: u8 = 0x80;
const JMP_EXIT: u8 = 0x90;
/// The atomic operation "add", in an atomic instruction's immediate.
const ATOMIC_ADD: i32 = 0x00;
/// `ld_imm64`'s source register saying "the immediate is a map's descriptor".
const PSEUDO_MAP_FD: u8 = 1;

/// A memory access's width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    Dw,
}

impl Size {
    const fn bits(self) -> u8 {
        match self {
            Self::W => 0x00,
            Self::H => 0x08,
            Self::B => 0x10,
            Self::Dw => 0x18,
        }
    }
}

/// Arithmetic operations (the opcode's high nibble).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alu {
    Add = 0x00,
    Sub = 0x10,
    And = 0x50,
    Rsh = 0x70,
    Mod = 0x90,
    Xor = 0xa0,
    Mov = 0xb0,
}

/// Conditional jumps (the opcode's high nibble).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq = 0x10,
    Ne = 0x50,
}

/// Kernel helper functions, by their number in the kernel's `bpf_func_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Helper {
    MapLookupElem = 1,
    SkbStoreBytes = 9,
    Redirect = 23,
    SkbLoadBytes = 26,
    GetHashRecalc = 34,
    SkbAdjustRoom = 50,
}

/// One encoded instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    /// The 8 bytes the kernel reads.
    pub(crate) fn encode(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// A jump target, bound to a position with [`Asm::bind`] before or after the jumps to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Why a program could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AsmError {
    /// A jump to a label that was never bound.
    #[error("a jump to label {0} that is never bound")]
    Unbound(usize),
    /// A jump farther than a 16-bit offset reaches.
    #[error("a jump of {0} instructions does not fit an offset")]
    TooFar(isize),
}

/// Builds one program.
#[derive(Default)]
pub(crate) struct Asm {
    insns: Vec<Insn>,
    /// Where each label is bound (an instruction index).
    labels: Vec<Option<usize>>,
    /// Jumps waiting for their label: (the jump's index, the label).
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> &mut Self {
        self.insns.push(Insn {
            code,
            dst: dst.0,
            src: src.0,
            off,
            imm,
        });
        self
    }

    /// A new, unbound label.
    pub(crate) fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` to the next instruction.
    pub(crate) fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    /// `dst = op(dst, imm)` on 64 bits (the immediate sign-extended).
    pub(crate) fn alu64_imm(&mut self, op: Alu, dst: Reg, imm: i32) -> &mut Self {
        self.push(CLASS_ALU64 | op as u8, dst, Reg::R0, 0, imm)
    }

    /// `dst = op(dst, src)` on 64 bits.
    pub(crate) fn alu64_reg(&mut self, op: Alu, dst: Reg, src: Reg) -> &mut Self {
        self.push(CLASS_ALU64 | SRC_X | op as u8, dst, src, 0, 0)
    }

    /// `dst = op(dst, imm)` on the low 32 bits; the high 32 bits become zero.
    pub(crate) fn alu32_imm(&mut self, op: Alu, dst: Reg, imm: u32) -> &mut Self {
        self.push(CLASS_ALU | op as u8, dst, Reg::R0, 0, imm as i32)
    }

    /// `dst = op(dst, src)` on the low 32 bits; the high 32 bits become zero.
    pub(crate) fn alu32_reg(&mut self, op: Alu, dst: Reg, src: Reg) -> &mut Self {
        self.push(CLASS_ALU | SRC_X | op as u8, dst, src, 0, 0)
    }

    /// `dst` = its low `bits` (16 or 32) in network byte order, zero-extended.
    pub(crate) fn swap_to_be(&mut self, dst: Reg, bits: i32) -> &mut Self {
        self.push(CLASS_ALU | ALU_END | END_TO_BE, dst, Reg::R0, 0, bits)
    }

    /// `dst = imm` on 64 bits, in two slots.
    pub(crate) fn ld_imm64(&mut self, dst: Reg, imm: u64) -> &mut Self {
        self.push(
            CLASS_LD | MODE_IMM | Size::Dw.bits(),
            dst,
            Reg::R0,
            0,
            imm as u32 as i32,
        );
        self.push(0, Reg::R0, Reg::R0, 0, (imm >> 32) as u32 as i32)
    }

    /// `dst` = the map whose descriptor is `fd` (the kernel swaps in the map at load time).
    pub(crate) fn ld_map_fd(&mut self, dst: Reg, fd: i32) -> &mut Self {
        self.push(
            CLASS_LD | MODE_IMM | Size::Dw.bits(),
            dst,
            Reg(PSEUDO_MAP_FD),
            0,
            fd,
        );
        self.push(0, Reg::R0, Reg::R0, 0, 0)
    }

    /// `dst = *(size *)(src + off)`, zero-extended.
    pub(crate) fn ldx(&mut self, size: Size, dst: Reg, src: Reg, off: i16) -> &mut Self {
        self.push(CLASS_LDX | MODE_MEM | size.bits(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = src`.
    pub(crate) fn stx(&mut self, size: Size, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.push(CLASS_STX | MODE_MEM | size.bits(), dst, src, off, 0)
    }

    /// `*(size *)(dst + off) = imm`.
    pub(crate) fn st(&mut self, size: Size, dst: Reg, off: i16, imm: i32) -> &mut Self {
        self.push(CLASS_ST | MODE_MEM | size.bits(), dst, Reg::R0, off, imm)
    }

    /// `*(u64 *)(dst + off) += src`, atomically.
    pub(crate) fn atomic_add64(&mut self, dst: Reg, off: i16, src: Reg) -> &mut Self {
        self.push(
            CLASS_STX | MODE_ATOMIC | Size::Dw.bits(),
            dst,
            src,
            off,
            ATOMIC_ADD,
        )
    }

    /// Calls a kernel helper: arguments in `r1`–`r5`, result in `r0`.
    pub(crate) fn call(&mut self, helper: Helper) -> &mut Self {
        self.push(CLASS_JMP | JMP_CALL, Reg::R0, Reg::R0, 0, helper as i32)
    }

    /// Returns `r0`.
    pub(crate) fn exit(&mut self) -> &mut Self {
        self.push(CLASS_JMP | JMP_EXIT, Reg::R0, Reg::R0, 0, 0)
    }

    fn jump(&mut self, code: u8, dst: Reg, imm: i32, to: Label) -> &mut Self {
        self.fixups.push((self.insns.len(), to));
        self.push(code, dst, Reg::R0, 0, imm)
    }

    /// Goes to `to` when `cond(dst, imm)` holds, comparing all 64 bits (the immediate
    /// sign-extended).
    pub(crate) fn jmp_imm(&mut self, cond: Cond, dst: Reg, imm: i32, to: Label) -> &mut Self {
        self.jump(CLASS_JMP | cond as u8, dst, imm, to)
    }

    /// Goes to `to` when `cond(dst, imm)` holds on the low 32 bits.
    pub(crate) fn jmp32_imm(&mut self, cond: Cond, dst: Reg, imm: u32, to: Label) -> &mut Self {
        self.jump(CLASS_JMP32 | cond as u8, dst, imm as i32, to)
    }

    /// The finished program: every jump's offset filled in.
    pub(crate) fn finish(mut self) -> Result<Vec<Insn>, AsmError> {
        for &(at, label) in &self.fixups {
            let target = self.labels[label.0].ok_or(AsmError::Unbound(label.0))?;
            let delta = target as isize - (at as isize + 1);
            self.insns[at].off = i16::try_from(delta).map_err(|_| AsmError::TooFar(delta))?;
        }
        Ok(self.insns)
    }
}

/// A finished program's bytes, as `BPF_PROG_LOAD` takes them.
pub(crate) fn bytes(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.encode()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(f: impl FnOnce(&mut Asm)) -> Vec<[u8; 8]> {
        let mut a = Asm::new();
        f(&mut a);
        a.finish().unwrap().into_iter().map(Insn::encode).collect()
    }

    #[test]
    fn encodings_match_the_instruction_set() {
        // mov r0, 1 (BPF_ALU64 | BPF_MOV | BPF_K = 0xb7); exit (BPF_JMP | BPF_EXIT = 0x95).
        assert_eq!(
            one(|a| {
                a.alu64_imm(Alu::Mov, Reg::R0, 1);
            }),
            [[0xb7, 0x00, 0, 0, 1, 0, 0, 0]]
        );
        assert_eq!(
            one(|a| {
                a.exit();
            }),
            [[0x95, 0, 0, 0, 0, 0, 0, 0]]
        );
        // lddw r1, 0x1122334455667788: opcode 0x18, the low word first.
        assert_eq!(
            one(|a| {
                a.ld_imm64(Reg::R1, 0x1122_3344_5566_7788);
            }),
            [
                [0x18, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55],
                [0x00, 0x00, 0, 0, 0x44, 0x33, 0x22, 0x11]
            ]
        );
        // A map reference: src_reg 1 (BPF_PSEUDO_MAP_FD).
        assert_eq!(
            one(|a| {
                a.ld_map_fd(Reg::R1, 7);
            })[0],
            [0x18, 0x11, 0, 0, 7, 0, 0, 0]
        );
        // ldxw r0, [r6 + 20] (0x61); stxh [r10 - 2], r1 (0x6b); stw [r10 - 8], 0 (0x62).
        assert_eq!(
            one(|a| {
                a.ldx(Size::W, Reg::R0, Reg::R6, 20)
                    .stx(Size::H, Reg::FP, -2, Reg::R1)
                    .st(Size::W, Reg::FP, -8, 0);
            }),
            [
                [0x61, 0x60, 20, 0, 0, 0, 0, 0],
                [0x6b, 0x1a, 0xfe, 0xff, 0, 0, 0, 0],
                [0x62, 0x0a, 0xf8, 0xff, 0, 0, 0, 0]
            ]
        );
        // lock *(u64 *)(r7 + 8) += r1 (0xdb, imm BPF_ADD); be16 r1 (0xdc, imm 16);
        // call 26 (0x85).
        assert_eq!(
            one(|a| {
                a.atomic_add64(Reg::R7, 8, Reg::R1)
                    .swap_to_be(Reg::R1, 16)
                    .call(Helper::SkbLoadBytes);
            }),
            [
                [0xdb, 0x17, 8, 0, 0, 0, 0, 0],
                [0xdc, 0x01, 0, 0, 16, 0, 0, 0],
                [0x85, 0x00, 0, 0, 26, 0, 0, 0]
            ]
        );
        // w0 &= 0xffff0000 (0x54); r3 += r10 (0x0f); mov32 w1, w8 (0xbc).
        assert_eq!(
            one(|a| {
                a.alu32_imm(Alu::And, Reg::R0, 0xffff_0000)
                    .alu64_reg(Alu::Add, Reg::R3, Reg::FP)
                    .alu32_reg(Alu::Mov, Reg::R1, Reg::R8);
            }),
            [
                [0x54, 0x00, 0, 0, 0x00, 0x00, 0xff, 0xff],
                [0x0f, 0xa3, 0, 0, 0, 0, 0, 0],
                [0xbc, 0x81, 0, 0, 0, 0, 0, 0]
            ]
        );
    }

    #[test]
    fn jumps_resolve_forward_and_backward() {
        let mut a = Asm::new();
        let out = a.label();
        let back = a.label();
        a.bind(back);
        a.jmp_imm(Cond::Ne, Reg::R0, 0, out); // 0 → 3: offset 2
        a.jmp32_imm(Cond::Eq, Reg::R1, 0xffff_ffff, back); // 1 → 0: offset -2
        a.jmp_imm(Cond::Eq, Reg::R2, -1, out); // 2 → 3: offset 0
        a.bind(out);
        a.exit();
        let p: Vec<[u8; 8]> = a.finish().unwrap().into_iter().map(Insn::encode).collect();
        assert_eq!(p[0], [0x55, 0x00, 2, 0, 0, 0, 0, 0]);
        assert_eq!(p[1], [0x16, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(p[2], [0x15, 0x02, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(bytes(&Asm::new().finish().unwrap()), Vec::<u8>::new());
    }

    #[test]
    fn an_unbound_label_or_a_far_jump_is_an_error() {
        let mut a = Asm::new();
        let nowhere = a.label();
        a.jmp_imm(Cond::Eq, Reg::R0, 0, nowhere);
        assert_eq!(a.finish(), Err(AsmError::Unbound(0)));
        let mut a = Asm::new();
        let far = a.label();
        a.jmp_imm(Cond::Eq, Reg::R0, 0, far);
        for _ in 0..40_000 {
            a.exit();
        }
        a.bind(far);
        a.exit();
        assert_eq!(a.finish(), Err(AsmError::TooFar(40_000)));
    }
}
