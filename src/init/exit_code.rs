//! The exit code an init passes on for its main program: the program's own code, 128 + N
//! when signal N killed it (as shells report it), and codes the user declared a success
//! mapped to 0 (tini's `-e`).

use crate::process::ExitStatus;

/// An exit status as a process exit code, as shells and inits pass it on: the code for an
/// exit, 128 + the signal number for a child killed by a signal.
pub const fn exit_code(status: ExitStatus) -> i32 {
    match status {
        ExitStatus::Exited(code) => code,
        ExitStatus::Signaled(sig) => 128 + sig.raw(),
    }
}

/// Exit codes that count as success: the init exits 0 when the main program's code
/// ([`exit_code`]) is one of them (tini's `-e CODE`, repeatable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SuccessCodes {
    /// Bit `n` of the 256: code `n` maps to 0.
    bits: [u64; 4],
}

impl SuccessCodes {
    /// None: every code passes as it is.
    pub const fn new() -> SuccessCodes {
        SuccessCodes { bits: [0; 4] }
    }

    /// Adds `code` (one byte, as an exit code is).
    pub fn add(&mut self, code: u8) {
        self.bits[usize::from(code / 64)] |= 1 << (code % 64);
    }

    /// Whether `code` maps to 0.
    pub const fn contains(&self, code: u8) -> bool {
        self.bits[(code / 64) as usize] & (1 << (code % 64)) != 0
    }

    /// The init's exit code for the main program's `status`: [`exit_code`] as one byte
    /// (what `exit` keeps of it), or 0 when that is one of these codes.
    pub const fn apply(&self, status: ExitStatus) -> u8 {
        let code = (exit_code(status) & 0xff) as u8;
        if self.contains(code) { 0 } else { code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::signal::Signal;

    #[test]
    fn exit_code_is_the_code_or_128_plus_the_signal() {
        assert_eq!(exit_code(ExitStatus::Exited(0)), 0);
        assert_eq!(exit_code(ExitStatus::Exited(42)), 42);
        assert_eq!(exit_code(ExitStatus::Signaled(Signal::SIGKILL)), 137);
        assert_eq!(exit_code(ExitStatus::Signaled(Signal::SIGSEGV)), 139);
        assert_eq!(exit_code(ExitStatus::Signaled(Signal::SIGTERM)), 143);
    }

    #[test]
    fn success_codes_map_only_their_codes_to_zero() {
        let mut codes = SuccessCodes::new();
        assert_eq!(codes.apply(ExitStatus::Exited(3)), 3);
        codes.add(3);
        codes.add(143);
        codes.add(255);
        codes.add(0);
        assert!(codes.contains(3) && codes.contains(143) && codes.contains(255));
        assert!(!codes.contains(4) && !codes.contains(64) && !codes.contains(191));
        assert_eq!(codes.apply(ExitStatus::Exited(3)), 0);
        assert_eq!(codes.apply(ExitStatus::Exited(4)), 4);
        assert_eq!(codes.apply(ExitStatus::Exited(255)), 0);
        assert_eq!(codes.apply(ExitStatus::Signaled(Signal::SIGTERM)), 0);
        assert_eq!(codes.apply(ExitStatus::Signaled(Signal::SIGKILL)), 137);
        // Each of the 256 codes lands in its own bit.
        for code in 0..=255u8 {
            let mut one = SuccessCodes::new();
            one.add(code);
            assert_eq!((0..=255u8).filter(|c| one.contains(*c)).count(), 1);
            assert!(one.contains(code));
        }
    }
}
