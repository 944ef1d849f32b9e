//! Writes rvsd's man page (section 8) and shell completions (bash, zsh, fish) under OUTDIR,
//! from its command-line definition (clap_mangen, clap_complete), as `rvs-gen-docs` does
//! for rvsadm and rvs-ctrl. `scripts/package.sh` runs both.
//!
//! Usage: rvsd-gen-docs OUTDIR   (writes OUTDIR/man8/NAME.8, OUTDIR/completions/{bash,zsh,fish}/...)

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

fn write(cmd: clap::Command, out: &Path) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let man = out.join("man8");
    std::fs::create_dir_all(&man)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).section("8").manual("RVS").source("RVS").render(&mut page)?;
    std::fs::write(man.join(format!("{name}.8")), page)?;
    for (shell, dir, file) in [
        (Shell::Bash, "bash", name.clone()),
        (Shell::Zsh, "zsh", format!("_{name}")),
        (Shell::Fish, "fish", format!("{name}.fish")),
    ] {
        let d = out.join("completions").join(dir);
        std::fs::create_dir_all(&d)?;
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf);
        std::fs::write(d.join(file), buf)?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out] = args.as_slice() else {
        eprintln!("usage: rvsd-gen-docs OUTDIR");
        return std::process::ExitCode::from(2);
    };
    let out = Path::new(out);
    for cmd in [rvs_dataplane::cli::Args::command()] {
        if let Err(e) = write(cmd, out) {
            eprintln!("rvsd-gen-docs: {}: {e}", out.display());
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
