//! The workspace: the one directory the model's tools may touch, and the gate every path
//! the model names goes through.
//!
//! A path from the model is resolved against the repository root, first lexically (`..`
//! cannot climb out) and then through the file system (the deepest existing ancestor is
//! canonicalized, so a symbolic link cannot lead out either). Paths outside the root,
//! anything under a `.git` directory, names with a newline or another control character,
//! secret files (see [`crate::secrets`]) and, for writes, mmm's own `.mmm/` directory and
//! anything inside a git submodule or nested repository (its changes belong to that
//! repository, which mmm's commits and roll backs do not cover) and files that define how
//! changes are checked (the `protect` setting: CI workflows, test-runner configuration) are
//! refused with an error the model can read. Paths shown back to the model are always relative to the root. This
//! module never reads or writes a file itself (it only looks at what exists).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::secrets::SecretFiles;

/// What the caller means to do with a path; writes are refused in more places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Read,
    Write,
}

/// A tool call that failed, of one of two kinds (as codex-rs has them): a mistake or a
/// refusal the model reads and corrects (`RespondToModel`, worded `Error: …`), or a failure
/// of mmm's own that no answer of the model's can fix and that ends the conversation
/// (`Fatal`: the disk is full or read-only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    RespondToModel(String),
    #[error("{0}")]
    Fatal(String),
}

impl ToolError {
    /// An error the model reads.
    pub fn new(message: impl Into<String>) -> Self {
        Self::RespondToModel(message.into())
    }
}

/// The repository root the tools are confined to, and which files in it are secret.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical (symbolic links resolved), so containment is a prefix check.
    root: PathBuf,
    /// The root as given, so an absolute path spelled that way is still recognised.
    given_root: PathBuf,
    /// Shared, so that a clone (one per directory walk) is cheap.
    secrets: Arc<SecretFiles>,
    /// The submodules the index records (relative to the root), initialised or not.
    submodules: Arc<Vec<PathBuf>>,
    /// Files the tools may not write because they define the checks (`protect`).
    protected: Arc<Gitignore>,
    /// Files another parallel worker has the issues of (relative to the root): read, never
    /// written, so two workers never change the same file.
    reserved: Arc<std::collections::BTreeSet<PathBuf>>,
}

impl Workspace {
    /// Confines the tools to `root`, which must exist.
    pub fn new(root: &Path, secrets: SecretFiles) -> anyhow::Result<Self> {
        let canonical =
            root.canonicalize().with_context(|| format!("resolving the workspace root {}", root.display()))?;
        Ok(Self {
            root: canonical,
            given_root: root.to_path_buf(),
            secrets: Arc::new(secrets),
            submodules: Arc::new(Vec::new()),
            protected: Arc::new(Gitignore::empty()),
            reserved: Arc::default(),
        })
    }

    /// Also refuses writes to files matching `patterns` (the `protect` setting, gitignore
    /// syntax: a pattern with a `/` is anchored at the root).
    pub fn with_protected(mut self, patterns: &[String]) -> anyhow::Result<Self> {
        let mut builder = GitignoreBuilder::new(&self.root);
        for pattern in patterns {
            builder
                .add_line(None, pattern)
                .with_context(|| format!("`{pattern}` in protect is not a valid gitignore-style pattern"))?;
        }
        self.protected = Arc::new(builder.build().context("building the protect patterns")?);
        Ok(self)
    }

    /// Also refuses writes to `paths` (relative to the root): the files of other parallel
    /// workers' issues.
    pub fn with_reserved(mut self, paths: &[String]) -> Self {
        self.reserved = Arc::new(paths.iter().map(PathBuf::from).collect());
        self
    }

    /// Also refuses writes inside `submodules` (paths relative to the root, from the
    /// index): a submodule that is not checked out has no `.git` to be recognised by.
    pub fn with_submodules(mut self, submodules: impl IntoIterator<Item = String>) -> Self {
        self.submodules = Arc::new(submodules.into_iter().map(PathBuf::from).collect());
        self
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file or directory `requested` names, as a canonical path inside the root, or
    /// the reason it may not be used. `requested` is relative to the root; an absolute path
    /// is accepted only inside it. The path need not exist (for `create`), but its existing
    /// part must resolve inside the root.
    pub fn resolve(&self, requested: &str, intent: Intent) -> Result<PathBuf, ToolError> {
        if requested.trim().is_empty() {
            return Err(ToolError::new("Error: The path is empty. Give a path relative to the repository root."));
        }
        if requested.contains('\0') {
            return Err(ToolError::new("Error: The path contains a NUL character."));
        }
        if requested.chars().any(char::is_control) {
            return Err(ToolError::new(format!(
                "Error: The path {requested:?} contains a newline or another control character; file names with control characters are not allowed."
            )));
        }
        let outside = || ToolError::new(format!("Error: Permission denied. `{requested}` is outside the repository."));
        let lexical = self.lexical(Path::new(requested)).ok_or_else(outside)?;
        self.check(&lexical, requested, intent)?;

        let full = self.root.join(&lexical);
        // The deepest ancestor that exists (a dangling symbolic link counts: it must not be
        // written through), canonicalized; the rest does not exist yet.
        let existing = full
            .ancestors()
            .find(|a| a.symlink_metadata().is_ok())
            .expect("the root exists, so some ancestor of a path under it does");
        let canonical = existing.canonicalize().map_err(|_| {
            ToolError::new(format!(
                "Error: Permission denied. `{requested}` goes through a symbolic link that points nowhere or loops."
            ))
        })?;
        let rest = full.strip_prefix(existing).expect("an ancestor is a prefix");
        // Joining an empty path would add a trailing slash.
        let canonical = if rest.as_os_str().is_empty() { canonical } else { canonical.join(rest) };
        let relative = canonical.strip_prefix(&self.root).map_err(|_| {
            ToolError::new(format!(
                "Error: Permission denied. `{requested}` leads outside the repository through a symbolic link."
            ))
        })?;
        if relative != lexical {
            self.check(relative, requested, intent)?;
        }
        Ok(canonical)
    }

    /// `path` (under the root) as the model sees it: relative, `/`-separated, `.` for the
    /// root itself.
    pub fn display(&self, path: &Path) -> String {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        if relative.as_os_str().is_empty() {
            return ".".to_string();
        }
        let shown = relative.to_string_lossy();
        if std::path::MAIN_SEPARATOR == '/' {
            shown.into_owned()
        } else {
            shown.replace(std::path::MAIN_SEPARATOR, "/")
        }
    }

    /// True for what listings and searches must skip: `.git` and secret files. `path` is
    /// absolute under the root or relative to it.
    pub fn is_hidden(&self, path: &Path, is_dir: bool) -> bool {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        has_git_component(relative) || self.is_secret(relative, is_dir)
    }

    /// True for mmm's own `.mmm/` directory (or anything in it): searches skip it, since
    /// its sessions hold past conversations and check output.
    pub fn is_own_state(&self, path: &Path) -> bool {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        relative.components().next() == Some(Component::Normal(".mmm".as_ref()))
    }

    /// `requested` relative to the root with `.` and `..` resolved by name, or `None` when
    /// it climbs out or is absolute elsewhere.
    fn lexical(&self, requested: &Path) -> Option<PathBuf> {
        let relative = if requested.is_absolute() {
            requested.strip_prefix(&self.root).or_else(|_| requested.strip_prefix(&self.given_root)).ok()?
        } else {
            requested
        };
        let mut out = PathBuf::new();
        for component in relative.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return None;
                    }
                }
                Component::Normal(name) => out.push(name),
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        Some(out)
    }

    /// Refuses `.git`, secret files and (for writes) `.mmm/` by their path relative to the root.
    fn check(&self, relative: &Path, requested: &str, intent: Intent) -> Result<(), ToolError> {
        let shown = self.display(relative);
        if has_git_component(relative) {
            return Err(ToolError::new(format!(
                "Error: Permission denied. `{requested}` is inside a `.git` directory, which the tools cannot read or edit."
            )));
        }
        let is_dir = self.root.join(relative).is_dir();
        if self.is_secret(relative, is_dir) {
            return Err(ToolError::new(format!(
                "Error: Permission denied. `{shown}` is a secret file and cannot be read or edited."
            )));
        }
        if intent == Intent::Write && self.is_own_state(relative) {
            return Err(ToolError::new(format!(
                "Error: Permission denied. `{shown}` is inside `.mmm/`, mmm's own settings and state, which the tools cannot edit."
            )));
        }
        if intent == Intent::Write && self.is_protected(relative, is_dir) {
            return Err(ToolError::new(format!(
                "Error: Permission denied. `{shown}` defines how changes are checked (protected by the `protect` setting) and cannot be edited."
            )));
        }
        if intent == Intent::Write && self.reserved.contains(relative) {
            return Err(ToolError::new(format!(
                "Error: Permission denied. `{shown}` is being changed by another mmm worker running in parallel; \
                 leave it as it is and change only the files of your own issues."
            )));
        }
        if intent == Intent::Write
            && let Some(repository) = self.nested_repository(relative)
        {
            return Err(ToolError::new(format!(
                "Error: Permission denied. `{shown}` is inside `{}`, a git submodule or nested repository, which the tools cannot edit; a change there belongs to that repository.",
                self.display(&repository)
            )));
        }
        Ok(())
    }

    /// The submodule or nested repository `relative` is in (or is), if any: a directory
    /// the index records as a submodule, or one holding a `.git` of its own.
    fn nested_repository(&self, relative: &Path) -> Option<PathBuf> {
        let mut dir = PathBuf::new();
        for component in relative.components() {
            dir.push(component);
            if self.submodules.contains(&dir) || self.root.join(&dir).join(".git").symlink_metadata().is_ok() {
                return Some(dir);
            }
        }
        None
    }

    fn is_protected(&self, relative: &Path, is_dir: bool) -> bool {
        !relative.as_os_str().is_empty() && self.protected.matched_path_or_any_parents(relative, is_dir).is_ignore()
    }

    fn is_secret(&self, relative: &Path, is_dir: bool) -> bool {
        !relative.as_os_str().is_empty() && self.secrets.is_secret(relative, is_dir)
    }
}

/// True when a component of `path` is `.git` (any case: some file systems ignore it).
fn has_git_component(path: &Path) -> bool {
    path.components().any(|c| matches!(c, Component::Normal(name) if name.eq_ignore_ascii_case(".git")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A workspace over a temporary directory holding `src/main.rs`, `.env`, `.git/config`
    /// and `.mmm/config.toml`.
    pub(crate) fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join(".mmm")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
        std::fs::write(root.join(".env"), "API_KEY=hunter2-very-secret\n").unwrap();
        std::fs::write(root.join(".git/config"), "[core]\n").unwrap();
        std::fs::write(root.join(".mmm/config.toml"), "[validate]\n").unwrap();
        let secrets = SecretFiles::new(root, &["private/".to_string()]).unwrap();
        let ws = Workspace::new(root, secrets).unwrap();
        (dir, ws)
    }

    fn refused(ws: &Workspace, requested: &str, intent: Intent) -> String {
        ws.resolve(requested, intent).unwrap_err().to_string()
    }

    #[test]
    fn paths_inside_resolve_to_canonical_paths_shown_relative() {
        let (_dir, ws) = workspace();
        let main = ws.resolve("src/main.rs", Intent::Read).unwrap();
        assert_eq!(main, ws.root().join("src/main.rs"));
        assert_eq!(ws.display(&main), "src/main.rs");
        assert_eq!(ws.resolve("./src/../src/./main.rs", Intent::Read).unwrap(), main);
        assert_eq!(ws.resolve(main.to_str().unwrap(), Intent::Write).unwrap(), main);
        assert_eq!(ws.resolve("new/dir/file.rs", Intent::Write).unwrap(), ws.root().join("new/dir/file.rs"));
        let root = ws.resolve(".", Intent::Read).unwrap();
        assert_eq!((ws.display(&root), root.as_path()), (".".to_string(), ws.root()));
        // `..` that stays inside is fine.
        assert_eq!(ws.resolve("src/../Cargo.toml", Intent::Write).unwrap(), ws.root().join("Cargo.toml"));
    }

    #[test]
    fn paths_outside_the_root_are_refused() {
        let (_dir, ws) = workspace();
        for requested in ["..", "../x", "../../etc/passwd", "src/../../x", "/etc/passwd", "/"] {
            assert_eq!(
                refused(&ws, requested, Intent::Read),
                format!("Error: Permission denied. `{requested}` is outside the repository."),
            );
        }
        assert_eq!(
            refused(&ws, "", Intent::Read),
            "Error: The path is empty. Give a path relative to the repository root."
        );
    }

    #[test]
    fn git_directories_are_refused_however_they_are_spelled() {
        let (_dir, ws) = workspace();
        for requested in [
            ".git",
            ".git/config",
            "sub/../.git/HEAD",
            "./.git/hooks/pre-commit",
            "vendor/lib/.git/config",
            ".GIT/config",
        ] {
            assert_eq!(
                refused(&ws, requested, Intent::Read),
                format!(
                    "Error: Permission denied. `{requested}` is inside a `.git` directory, which the tools cannot read or edit."
                ),
            );
        }
        let absolute = ws.root().join(".git/config");
        assert!(refused(&ws, absolute.to_str().unwrap(), Intent::Write).contains("inside a `.git` directory"));
    }

    #[test]
    fn secret_files_and_mmm_state_are_refused() {
        let (_dir, ws) = workspace();
        for (requested, shown) in [
            (".env", ".env"),
            ("./config/../.env.local", ".env.local"),
            ("private/notes.md", "private/notes.md"),
            ("deploy/server.key", "deploy/server.key"),
        ] {
            assert_eq!(
                refused(&ws, requested, Intent::Read),
                format!("Error: Permission denied. `{shown}` is a secret file and cannot be read or edited."),
            );
        }
        assert_eq!(
            refused(&ws, ".mmm/config.toml", Intent::Write),
            "Error: Permission denied. `.mmm/config.toml` is inside `.mmm/`, mmm's own settings and state, which the tools cannot edit."
        );
        assert!(ws.resolve(".mmm/config.toml", Intent::Read).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_cannot_lead_out_or_to_secrets() {
        use std::os::unix::fs::symlink;
        let (_dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("passwd"), "root:x:0:0\n").unwrap();
        let root = ws.root().to_path_buf();
        symlink(outside.path().join("passwd"), root.join("link-file")).unwrap();
        symlink(outside.path(), root.join("link-dir")).unwrap();
        symlink(outside.path().join("missing"), root.join("dangling")).unwrap();
        symlink(root.join(".env"), root.join("innocent.txt")).unwrap();
        symlink(root.join(".git"), root.join("gitdir")).unwrap();
        symlink(root.join("src"), root.join("src-link")).unwrap();

        for requested in ["link-file", "link-dir", "link-dir/passwd", "link-dir/new-file.txt"] {
            assert_eq!(
                refused(&ws, requested, Intent::Write),
                format!(
                    "Error: Permission denied. `{requested}` leads outside the repository through a symbolic link."
                ),
            );
        }
        assert_eq!(
            refused(&ws, "dangling", Intent::Write),
            "Error: Permission denied. `dangling` goes through a symbolic link that points nowhere or loops."
        );
        assert_eq!(
            refused(&ws, "innocent.txt", Intent::Read),
            "Error: Permission denied. `.env` is a secret file and cannot be read or edited."
        );
        assert!(refused(&ws, "gitdir/config", Intent::Read).contains("inside a `.git` directory"));
        // A link that stays inside resolves to its target.
        assert_eq!(ws.resolve("src-link/main.rs", Intent::Read).unwrap(), root.join("src/main.rs"));
    }

    #[test]
    fn names_with_newlines_or_control_characters_are_refused() {
        let (_dir, ws) = workspace();
        for (requested, shown) in [
            ("src/new\nfile.rs", r#""src/new\nfile.rs""#),
            ("a\rb.txt", r#""a\rb.txt""#),
            ("tab\there.txt", r#""tab\there.txt""#),
            ("bell\u{7}.txt", r#""bell\u{7}.txt""#),
            ("escape\u{1b}[31m.txt", r#""escape\u{1b}[31m.txt""#),
            ("c1\u{85}.txt", r#""c1\u{85}.txt""#),
        ] {
            for intent in [Intent::Read, Intent::Write] {
                assert_eq!(
                    refused(&ws, requested, intent),
                    format!(
                        "Error: The path {shown} contains a newline or another control character; file names with control characters are not allowed."
                    ),
                );
            }
        }
        assert_eq!(refused(&ws, "a\0b", Intent::Write), "Error: The path contains a NUL character.");
        assert_eq!(ws.resolve("src/ünï cödé.rs", Intent::Write).unwrap(), ws.root().join("src/ünï cödé.rs"));
    }

    #[test]
    fn writes_inside_submodules_and_nested_repositories_are_refused() {
        let (_dir, ws) = workspace();
        let ws = ws.with_submodules(["vendor/lib".to_string()]);
        let root = ws.root().to_path_buf();
        // A checked-out submodule has a `.git` file; a nested repository a `.git` directory.
        std::fs::create_dir_all(root.join("vendor/lib")).unwrap();
        std::fs::write(root.join("vendor/lib/.git"), "gitdir: ../../.git/modules/lib\n").unwrap();
        std::fs::create_dir_all(root.join("tools/other/.git")).unwrap();
        std::fs::create_dir_all(root.join("deps/checked-out")).unwrap();
        std::fs::write(root.join("deps/checked-out/.git"), "gitdir: elsewhere\n").unwrap();
        for (requested, repository) in [
            ("vendor/lib/src/a.c", "vendor/lib"),
            ("vendor/lib", "vendor/lib"),
            ("./vendor/x/../lib/new.c", "vendor/lib"),
            ("tools/other/main.rs", "tools/other"),
            ("deps/checked-out/deep/er.txt", "deps/checked-out"),
        ] {
            let shown = ws.display(&ws.root().join(ws.lexical(Path::new(requested)).unwrap()));
            assert_eq!(
                refused(&ws, requested, Intent::Write),
                format!(
                    "Error: Permission denied. `{shown}` is inside `{repository}`, a git submodule or nested repository, which the tools cannot edit; a change there belongs to that repository."
                ),
            );
        }
        // Reading is fine, and so is a sibling whose name merely starts the same.
        assert!(ws.resolve("vendor/lib/src/a.c", Intent::Read).is_ok());
        assert!(ws.resolve("vendor/library.c", Intent::Write).is_ok());
        assert!(ws.resolve("tools/other-notes.md", Intent::Write).is_ok());
        // A submodule the index records but that is not checked out (no `.git` at all).
        let ws = ws.with_submodules(["third_party/absent".to_string()]);
        assert!(refused(&ws, "third_party/absent/x.h", Intent::Write).contains("inside `third_party/absent`"));
    }

    #[test]
    fn another_workers_files_can_be_read_but_not_written() {
        let (_dir, ws) = workspace();
        let ws = ws.with_reserved(&["src/b.txt".to_string()]);
        assert_eq!(
            refused(&ws, "./src/../src/b.txt", Intent::Write),
            "Error: Permission denied. `src/b.txt` is being changed by another mmm worker running in parallel; \
             leave it as it is and change only the files of your own issues."
        );
        assert!(ws.resolve("src/b.txt", Intent::Read).is_ok());
        assert!(ws.resolve("src/a.txt", Intent::Write).is_ok());
    }

    #[test]
    fn protected_files_can_be_read_but_not_written() {
        let (_dir, ws) = workspace();
        let defaults: Vec<String> = crate::settings::keys::DEFAULT_PROTECT.iter().map(|p| p.to_string()).collect();
        let ws = ws.with_protected(&defaults).unwrap();
        for (requested, shown) in [
            (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
            ("./.github/workflows/../workflows/release.yaml", ".github/workflows/release.yaml"),
            ("pytest.ini", "pytest.ini"),
            ("web/jest.config.ts", "web/jest.config.ts"),
            (".circleci/config.yml", ".circleci/config.yml"),
        ] {
            assert_eq!(
                refused(&ws, requested, Intent::Write),
                format!(
                    "Error: Permission denied. `{shown}` defines how changes are checked (protected by the `protect` setting) and cannot be edited."
                ),
            );
            assert!(ws.resolve(requested, Intent::Read).is_ok(), "{requested} can be read");
        }
        // Anchored patterns match only at the root; mixed files are not refused by default.
        for allowed in
            ["docs/.github/workflows/ci.yml", "Makefile", "package.json", "tests/test_app.py", ".github/CODEOWNERS"]
        {
            assert!(ws.resolve(allowed, Intent::Write).is_ok(), "{allowed} can be written");
        }
        let ws = ws.with_protected(&[]).unwrap();
        assert!(ws.resolve(".github/workflows/ci.yml", Intent::Write).is_ok());
        assert!(ws.with_protected(&["ci/{a,b".to_string()]).is_err());
    }

    #[test]
    fn hidden_entries_are_git_and_secret_files() {
        let (_dir, ws) = workspace();
        assert!(ws.is_hidden(&ws.root().join(".git"), true));
        assert!(ws.is_hidden(Path::new("a/.env.production"), false));
        assert!(ws.is_hidden(Path::new("private"), true));
        assert!(!ws.is_hidden(Path::new("src/main.rs"), false));
        assert!(!ws.is_hidden(ws.root(), true));
    }
}
