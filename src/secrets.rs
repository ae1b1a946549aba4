//! Secret files: which files the model must never see.
//!
//! A file matching the built-in list (`.env*`, keys, credential files, ...) or a pattern the
//! user adds with the `secret_files` setting is never viewed, searched, edited, listed in a
//! prompt or summarised. Patterns use gitignore syntax: a pattern without a slash matches a
//! name at any depth, one with a slash is anchored at the repository root (`**/` frees it).
//! Matching ignores case: `.ENV`, `ID_RSA` and `server.PEM` are as secret as their lower-case
//! names. This module only decides; the tools and the analyzer ask it.

use std::path::Path;

use anyhow::Context;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::settings::keys::BUILTIN_SECRET_FILES;

/// Decides whether a path inside the repository is a secret file.
#[derive(Debug, Clone)]
pub struct SecretFiles {
    matcher: Gitignore,
}

impl SecretFiles {
    /// The built-in patterns plus `extra` (the `secret_files` setting), rooted at `root`.
    pub fn new(root: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let mut builder = GitignoreBuilder::new(root);
        builder.case_insensitive(true).context("building the secret-file patterns")?;
        for pattern in BUILTIN_SECRET_FILES.iter().copied().chain(extra.iter().map(String::as_str)) {
            builder
                .add_line(None, pattern)
                .with_context(|| format!("`{pattern}` in secret_files is not a valid gitignore-style pattern"))?;
        }
        Ok(Self { matcher: builder.build().context("building the secret-file patterns")? })
    }

    /// True when `path` (absolute under the root, or relative to it) or any directory
    /// above it matches a secret pattern.
    pub fn is_secret(&self, path: &Path, is_dir: bool) -> bool {
        let relative = path.strip_prefix(self.matcher.path()).unwrap_or(path);
        self.matcher.matched_path_or_any_parents(relative, is_dir).is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_patterns_catch_common_secrets_at_any_depth() {
        let root = Path::new("/repo");
        let s = SecretFiles::new(root, &[]).unwrap();
        for secret in [
            ".env",
            "app/.env.production",
            "certs/server.pem",
            "id_rsa",
            "home/.ssh/id_ed25519.pub",
            ".npmrc",
            "config/credentials.json",
            ".aws/credentials",
            // Below the root, and in any case.
            "ops/.aws/credentials",
            "deploy/.docker/config.json",
            "home/.kube/config",
            "kubeconfig",
            "clusters/prod.kubeconfig",
            ".envrc",
            "db/.pgpass",
            "infra/terraform.tfstate",
            "infra/terraform.tfstate.backup",
            "gcp/my-service-account-1234.json",
            "home/.ssh/known_hosts",
            "home/.ssh/config",
            "ci/github_deploy_key",
            "config/database.yml",
            "apps/web/config/database.yml",
            ".ENV",
            "ID_RSA",
            "certs/server.PEM",
            "Credentials.json",
            ".Env.Local",
        ] {
            assert!(s.is_secret(Path::new(secret), false), "{secret} should be secret");
        }
        assert!(s.is_secret(&root.join("deploy/prod.key"), false));
        for normal in [
            "src/main.rs",
            "environment.md",
            "keys.rs",
            "docs/env.md",
            "Cargo.toml",
            "src/secrets.rs",
            "secrets.md",
            "config/database.yml.example",
            "docs/kubeconfig.md",
            "src/ssh.rs",
        ] {
            assert!(!s.is_secret(Path::new(normal), false), "{normal} should not be secret");
        }
    }

    #[test]
    fn user_patterns_add_to_the_built_in_list() {
        let s = SecretFiles::new(Path::new("/repo"), &["*.vault".into(), "private/".into()]).unwrap();
        assert!(s.is_secret(Path::new("a/b.vault"), false));
        assert!(s.is_secret(Path::new("private/notes.txt"), false));
        assert!(s.is_secret(Path::new(".env"), false));
        assert!(!s.is_secret(Path::new("public/notes.txt"), false));
    }
}
