//! Build script: puts the commit and its date into `mmm --version` when mmm is built from
//! its own git checkout. It never fails the build: without git, or outside a checkout (a
//! crates.io tarball, a copy inside another repository), the version is the package's alone.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").current_dir(&manifest_dir).args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    // Only mmm's own checkout: a tarball unpacked inside another repository is not one.
    let own_checkout = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| Path::new(&top).canonicalize().ok() == Path::new(&manifest_dir).canonicalize().ok());
    let commit = own_checkout.then(|| git(&["rev-parse", "--short=9", "HEAD"])).flatten();
    let date = own_checkout.then(|| git(&["log", "-1", "--format=%cs"])).flatten();
    let described = match (&commit, &date) {
        (Some(commit), Some(date)) => format!("{version} ({commit} {date})"),
        _ => version,
    };
    println!("cargo:rustc-env=VERSION_WITH_COMMIT={described}");
    // The man page's date; empty when unknown.
    println!("cargo:rustc-env=COMMIT_DATE={}", date.unwrap_or_default());
    if own_checkout {
        // Rebuilt when HEAD moves: a checkout (HEAD) or a commit (the branch it points to).
        let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(git(&["rev-parse", "--git-path", &branch]));
        }
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
        for path in watched.into_iter().flatten() {
            let path = Path::new(&manifest_dir).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
