//! `demo`: build the init demo, boot it on every architecture, and show a table.

use anyhow::Result;

use crate::setup;

/// Runs the demo.
pub fn run() -> Result<()> {
    setup::run()?;
    if !crate::initbuild::init_demo_exists()? {
        println!(
            "demo: init-demo is not built yet (issue 4): there is no `init-demo` package in the workspace, so there is nothing to boot"
        );
        return Ok(());
    }
    anyhow::bail!("demo: booting init-demo is not implemented yet")
}
