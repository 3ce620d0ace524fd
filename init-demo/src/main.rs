//! Placeholder: the PID 1 demo is being written.
#![no_std]
#![no_main]

clonekit::entry!(main);

fn main(_args: &clonekit::rt::Args) -> i32 {
    clonekit::println!("init-demo: not written yet");
    0
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    clonekit::sys::process::exit_group(101)
}

/// Never called: the panic handler never unwinds. Dev builds of `core` reference it.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
