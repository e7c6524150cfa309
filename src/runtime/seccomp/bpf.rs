//! The classic-BPF compiler and installation.

use super::*;

// ---------------------------------------------------------------------------
// BPF.

/// One classic-BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SockFilter {
    pub(super) code: u16,
    pub(super) jt: u8,
    pub(super) jf: u8,
    pub(super) k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
pub(super) struct SockFprog {
    len: libc::c_ushort,
    filter: *const SockFilter,
}

pub(super) const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub(super) const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(super) const JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub(super) const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(super) const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
pub(super) const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
pub(super) const RET_K: u16 = 0x06; // BPF_RET | BPF_K
pub(super) const MAX_INSNS: usize = 4096;

/// Offsets in `struct seccomp_data` (little-endian: low word first).
pub(super) const OFF_NR: u32 = 0;
pub(super) const OFF_ARCH: u32 = 4;
pub(super) fn off_arg_lo(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}
pub(super) fn off_arg_hi(i: u8) -> u32 {
    off_arg_lo(i) + 4
}

/// x32 syscalls on x86_64 have this bit set in their number.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// A compiled filter, ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub(super) insns: Vec<SockFilter>,
}

/// Builds a program back to front. Every jump is forward, so emitting in
/// reverse means a jump's targets already exist when it is emitted and its
/// offsets are known; a target farther than 255 instructions is reached
/// through a nearby copy of it (a `ret` is duplicated, anything else gets a
/// `ja` trampoline). Nothing falls through into a copy: conditional jumps
/// name both targets, and `ret`/`ja` never fall through.
pub(super) struct Emitter {
    /// Instructions in reverse order; a label is an index here.
    rev: Vec<SockFilter>,
    /// The nearest copy made so far of each far target.
    copies: HashMap<usize, usize>,
    /// The `ret` emitted for each action.
    rets: HashMap<u32, usize>,
}

impl Emitter {
    fn push(&mut self, code: u16, k: u32) -> usize {
        self.rev.push(SockFilter {
            code,
            jt: 0,
            jf: 0,
            k,
        });
        self.rev.len() - 1
    }

    fn ret(&mut self, action: Action) -> usize {
        let v = action.ret_value();
        if let Some(&l) = self.rets.get(&v) {
            return l;
        }
        let l = self.push(RET_K, v);
        self.rets.insert(v, l);
        l
    }

    /// A label equivalent to `target`, within 255 instructions of an
    /// instruction emitted at `len + slack`.
    fn near(&mut self, target: usize, slack: usize) -> usize {
        let reach = |from: usize, to: usize| from - to - 1 <= 255;
        let from = self.rev.len() + slack;
        if reach(from, target) {
            return target;
        }
        if let Some(&c) = self.copies.get(&target) {
            if reach(from, c) {
                return c;
            }
        }
        let t = self.rev[target];
        let c = if t.code == RET_K {
            self.push(RET_K, t.k)
        } else {
            let p = self.rev.len();
            self.push(JA, (p - target - 1) as u32)
        };
        self.copies.insert(target, c);
        c
    }

    /// `if A <op> k goto t else goto f`.
    fn jump(&mut self, code: u16, k: u32, t: usize, f: usize) -> usize {
        let t = self.near(t, 1);
        let f = self.near(f, 0);
        let p = self.rev.len();
        let jt = u8::try_from(p - t - 1).expect("near() bounds the offset");
        let jf = u8::try_from(p - f - 1).expect("near() bounds the offset");
        self.rev.push(SockFilter { code, jt, jf, k });
        p
    }

    /// Code that goes to `t` when the 64-bit comparison holds, else `f`.
    fn cond(&mut self, c: &ArgCmp, t: usize, f: usize) -> usize {
        let (hi, lo) = ((c.value >> 32) as u32, c.value as u32);
        let (lo_off, hi_off) = (off_arg_lo(c.index), off_arg_hi(c.index));
        match c.op {
            CmpOp::Eq | CmpOp::Ne => {
                let (t, f) = if c.op == CmpOp::Eq { (t, f) } else { (f, t) };
                self.jump(JEQ_K, lo, t, f);
                let ld_lo = self.push(LD_W_ABS, lo_off);
                self.jump(JEQ_K, hi, ld_lo, f);
                self.push(LD_W_ABS, hi_off)
            }
            CmpOp::MaskedEq { mask } => {
                self.jump(JEQ_K, lo, t, f);
                self.push(AND_K, mask as u32);
                let ld_lo = self.push(LD_W_ABS, lo_off);
                self.jump(JEQ_K, hi, ld_lo, f);
                self.push(AND_K, (mask >> 32) as u32);
                self.push(LD_W_ABS, hi_off)
            }
            CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le => {
                // Lt is !Ge and Le is !Gt.
                let (strict, t, f) = match c.op {
                    CmpOp::Gt => (true, t, f),
                    CmpOp::Ge => (false, t, f),
                    CmpOp::Lt => (false, f, t),
                    _ => (true, f, t),
                };
                self.jump(if strict { JGT_K } else { JGE_K }, lo, t, f);
                let ld_lo = self.push(LD_W_ABS, lo_off);
                let eq = self.jump(JEQ_K, hi, ld_lo, f);
                self.jump(JGT_K, hi, t, eq);
                self.push(LD_W_ABS, hi_off)
            }
        }
    }

    /// A binary search on the syscall number (in A) over sorted entries.
    fn dispatch(&mut self, entries: &[(u32, usize)], miss: usize) -> usize {
        if entries.len() <= 4 {
            let mut next = miss;
            for &(nr, body) in entries.iter().rev() {
                next = self.jump(JEQ_K, nr, body, next);
            }
            return next;
        }
        let mid = entries.len() / 2;
        let right = self.dispatch(&entries[mid..], miss);
        let left = self.dispatch(&entries[..mid], miss);
        self.jump(JGE_K, entries[mid].0, right, left)
    }
}

/// Compiles `profile` for the running architecture.
pub fn compile(profile: &Profile) -> Result<Program, SeccompError> {
    let arch = Arch::native().ok_or(SeccompError::UnsupportedArch(std::env::consts::ARCH))?;
    compile_for(profile, arch)
}

/// Compiles `profile` for `arch`.
pub fn compile_for(profile: &Profile, arch: Arch) -> Result<Program, SeccompError> {
    // Per syscall number: conditional rules in order, then the last
    // unconditional action.
    #[derive(Default)]
    struct PerSyscall<'a> {
        cond: Vec<&'a Rule>,
        uncond: Option<Action>,
    }
    let mut by_nr: BTreeMap<u32, PerSyscall> = BTreeMap::new();
    for rule in profile.rules.iter().filter(|r| r.applies_to(arch)) {
        for name in &rule.names {
            let Some(nr) = arch.syscall_number(name) else {
                continue;
            };
            let e = by_nr.entry(nr).or_default();
            if rule.args.is_empty() {
                e.uncond = Some(rule.action);
            } else {
                e.cond.push(rule);
            }
        }
    }

    let mut em = Emitter {
        rev: Vec::with_capacity(1024),
        copies: HashMap::new(),
        rets: HashMap::new(),
    };
    let bad_arch = em.ret(Action::KillProcess);
    let default = em.ret(profile.default_action);
    let mut entries = Vec::with_capacity(by_nr.len());
    for (nr, e) in &by_nr {
        let fallback = em.ret(e.uncond.unwrap_or(profile.default_action));
        let mut body = fallback;
        for rule in e.cond.iter().rev() {
            let matched = em.ret(rule.action);
            let mut next = matched;
            for c in rule.args.iter().rev() {
                next = em.cond(c, next, body);
            }
            body = next;
        }
        if body != default {
            entries.push((*nr, body));
        }
    }
    let mut start = em.dispatch(&entries, default);
    if arch == Arch::X86_64 {
        // x32 numbers are another ABI: treated as a foreign architecture.
        // -1 (a syscall skipped by a tracer) is let through to the default.
        let skip = em.jump(JEQ_K, u32::MAX, start, bad_arch);
        start = em.jump(JGE_K, X32_SYSCALL_BIT, skip, start);
    }
    if start != em.rev.len() - 1 {
        // `ld nr` falls through to the next instruction: make it `start`.
        let p = em.rev.len();
        em.push(JA, (p - start - 1) as u32);
    }
    let ld_nr = em.push(LD_W_ABS, OFF_NR);
    em.jump(JEQ_K, arch.audit_arch(), ld_nr, bad_arch);
    em.push(LD_W_ABS, OFF_ARCH);

    em.rev.reverse();
    let program = Program { insns: em.rev };
    program.validate()?;
    Ok(program)
}

impl Program {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Always false: a program ends in a return.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Serialises the program (for a cache): a 4-byte magic, then 8
    /// little-endian bytes per instruction.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 8 * self.insns.len());
        out.extend_from_slice(PROGRAM_MAGIC);
        for i in &self.insns {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
        out
    }

    /// Reads what [`Program::to_bytes`] wrote, checking it is well formed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, SeccompError> {
        let body = bytes
            .strip_prefix(PROGRAM_MAGIC)
            .ok_or(SeccompError::BadProgram("bad magic"))?;
        if body.len() % 8 != 0 {
            return Err(SeccompError::BadProgram("truncated instruction"));
        }
        let insns = body
            .chunks_exact(8)
            .map(|c| SockFilter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let p = Program { insns };
        p.validate()?;
        Ok(p)
    }

    /// The invariants: 1..=4096 instructions of the kinds this compiler
    /// emits, jumps in range, last instruction a return.
    fn validate(&self) -> Result<(), SeccompError> {
        let n = self.insns.len();
        if n > MAX_INSNS {
            return Err(SeccompError::TooLarge(n));
        }
        if self.insns.last().is_none_or(|i| i.code != RET_K) {
            return Err(SeccompError::BadProgram("does not end in a return"));
        }
        for (pc, i) in self.insns.iter().enumerate() {
            let ok = match i.code {
                LD_W_ABS => i.k < 64 && i.k % 4 == 0,
                AND_K | RET_K => true,
                JA => pc + 1 + (i.k as usize) < n,
                JEQ_K | JGT_K | JGE_K => pc + 1 + usize::from(i.jt.max(i.jf)) < n,
                _ => false,
            };
            if !ok {
                return Err(SeccompError::BadProgram("bad instruction"));
            }
        }
        Ok(())
    }
}

pub(super) const PROGRAM_MAGIC: &[u8; 4] = b"rsc1";

pub(super) const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;

/// Installs `program` on the calling thread. Needs no_new_privs or
/// CAP_SYS_ADMIN in the caller's user namespace. Does not allocate.
pub fn install(program: &Program) -> Result<(), SeccompError> {
    let prog = SockFprog {
        // validate() keeps len <= 4096.
        len: program.insns.len() as libc::c_ushort,
        filter: program.insns.as_ptr(),
    };
    // SAFETY: seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog) only reads `prog`
    // and the `len` instructions it points to, which `program` owns and
    // keeps alive for the duration of the call; the kernel copies them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &prog as *const SockFprog,
        )
    };
    if rc != 0 {
        return Err(SeccompError::Install(Errno::last()));
    }
    Ok(())
}
