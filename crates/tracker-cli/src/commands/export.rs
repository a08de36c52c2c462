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
            write_atomic(path, &bytes)
                .with_context(|| format!("cannot write --output {}", path.display()))?;
            writeln!(err, "wrote {}", path.display())?;
        }
    }
    Ok(Outcome::Success)
}

/// Writes via a temporary file beside `path` and a rename, so an existing
/// file is either kept or fully replaced, never left half-written.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "it is a directory; give a file name",
        ));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_data()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
