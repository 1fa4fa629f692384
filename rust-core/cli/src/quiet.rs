//! LiteRT 2.1.4 prints INFO lines and accelerator warnings to stderr when a model
//! is compiled, and its logger controls are missing from the wheel's library. We
//! silence file descriptor 2 around compilation unless HEMALENS_VERBOSE is set.
use std::io::Write;

pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    if std::env::var_os("HEMALENS_VERBOSE").is_some() {
        return f();
    }
    let _ = std::io::stderr().flush();
    // SAFETY: plain POSIX fd calls; every fd we open is closed, and fd 2 is restored.
    let saved = unsafe { libc::dup(2) };
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY) };
    if saved < 0 || null < 0 {
        // SAFETY: closing fds we opened (if any).
        unsafe {
            if saved >= 0 {
                libc::close(saved);
            }
            if null >= 0 {
                libc::close(null);
            }
        }
        return f();
    }
    // SAFETY: both fds are valid.
    unsafe {
        libc::dup2(null, 2);
        libc::close(null);
    }
    let out = f();
    // SAFETY: saved is a valid duplicate of the original stderr.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    out
}
