//! `tracker export`: one run to a file.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::cli::{ExportArgs, ExportFormat};
use crate::commands::{Context, load_run, print_warnings, show};
use crate::exit::Outcome;

pub(crate) fn run(
    ctx: &Context,
    args: &ExportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let view = load_run(ctx, &args.run)?;
    print_warnings(err, view.warnings())?;
    let mut bytes = match args.format {
        ExportFormat::Json => serde_json::to_vec_pretty(&view.document(ctx.now))?,
        ExportFormat::Markdown => show::markdown(&view, ctx.now).into_bytes(),
    };
    if args.format == ExportFormat::Json {
        bytes.push(b'\n');
    }
    match args.output.as_deref() {
        None => out.write_all(&bytes)?,
        Some(path) if path == Path::new("-") => out.write_all(&bytes)?,
        Some(path) => {
            if path.is_dir() {
                anyhow::bail!(
                    "cannot write --output {}: it is a directory; give a file name",
                    path.display()
                );
            }
            // Replaced atomically: an existing file is kept or fully replaced.
            manifest::write_atomic(path, &bytes, true)
                .with_context(|| format!("cannot write --output {}", path.display()))?;
            writeln!(err, "wrote {}", path.display())?;
        }
    }
    Ok(Outcome::Success)
}
