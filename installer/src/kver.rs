//! Which kernel release to install for: `--kver`, else the running kernel
//! (`uname -r`) live, else the newest (rpm version order) kernel under
//! `DIR/usr/lib/modules`.

use anyhow::{bail, Context, Result};

use crate::rpmvercmp::rpmvercmp;
use crate::target::Target;

/// The kernel releases installed in the target (directories of
/// `/usr/lib/modules`, and `/lib/modules` when it is a separate
/// directory), oldest first by rpm version order. A directory counts when
/// it holds a kernel image (`vmlinuz`) or `modules.dep`.
pub fn installed(target: &Target) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for dir in ["/usr/lib/modules", "/lib/modules"] {
        let p = target.path(dir)?;
        let rd = match std::fs::read_dir(&p) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", p.display())),
        };
        for e in rd {
            let e = e.with_context(|| format!("cannot list {}", p.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            // The directory may be a symlink: resolved inside the target.
            let has = |f: &str| -> Result<bool> {
                Ok(target.path(format!("{dir}/{name}/{f}"))?.exists())
            };
            if (has("vmlinuz")? || has("modules.dep")?) && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out.sort_by(|a, b| rpmvercmp(a, b));
    Ok(out)
}

/// The running kernel's release (`uname -r`).
pub fn running() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// Resolves the kernel release: `explicit`, else `uname -r` live, else the
/// newest installed in the offline tree.
///
/// Errors: an explicit kver with characters that cannot be a release
/// (`/`, whitespace), or an offline tree without any kernel.
pub fn resolve(target: &Target, explicit: Option<&str>) -> Result<String> {
    if let Some(k) = explicit {
        if k.is_empty() || k.contains('/') || k.contains(char::is_whitespace) || k == ".." {
            bail!("--kver {k:?} is not a kernel release");
        }
        return Ok(k.to_string());
    }
    if target.live {
        return Ok(running());
    }
    installed(target)?.pop().with_context(|| {
        format!(
            "no kernel found under /usr/lib/modules of {}: pass --kver",
            target.root.display()
        )
    })
}
