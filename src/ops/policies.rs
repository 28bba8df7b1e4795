//! Reading the policy folder: every `*.toml` file, each validated on its own and then as a set.

use crate::domain::policy::{Policy, PolicyError, check_set, parse_policy};
use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The valid policies of every tenant, in file-name order.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub dir: PathBuf,
    pub entries: Vec<LoadedPolicy>,
}

#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
    /// SHA-256 of the file, so `tenants sync` can tell a changed policy.
    pub sha256: String,
}

/// Either the folder could not be read, or policies in it are invalid.
#[derive(Debug, thiserror::Error)]
pub enum PolicyLoadError {
    #[error("{0}")]
    Unreadable(String),
    #[error("{} problem(s) in the policies", .0.len())]
    Invalid(Vec<PolicyError>),
}

impl PolicySet {
    pub fn get(&self, slug: &str) -> Option<&Policy> {
        self.entries
            .iter()
            .map(|e| &e.policy)
            .find(|p| p.tenant.slug == slug)
    }

    /// Every tenant's policy, in the order of the files.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.entries.iter().map(|e| &e.policy)
    }

    /// What a legal review would flag in any of the policies (see `domain::policy::review`).
    pub fn warnings(&self) -> Vec<PolicyError> {
        self.iter().flat_map(Policy::warnings).collect()
    }

    pub fn slugs(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|e| e.policy.tenant.slug.as_str())
            .collect()
    }

    /// The policy of a tenant named on the command line, or a message listing the known ones.
    pub fn require(&self, slug: &str) -> Result<&Policy, super::Refusal> {
        self.get(slug).ok_or_else(|| {
            super::Refusal::InvalidInput(format!(
                "--tenant {slug}: no policy for this tenant in {}; known tenants: {}",
                self.dir.display(),
                self.slugs().join(", ")
            ))
        })
    }
}

pub fn load(dir: &Path) -> Result<PolicySet, PolicyLoadError> {
    let unreadable = |e: anyhow::Error| PolicyLoadError::Unreadable(format!("{e:#}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| {
            format!(
                "cannot read the policy folder {} (use --policies DIR)",
                dir.display()
            )
        })
        .map_err(unreadable)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(PolicyLoadError::Unreadable(format!(
            "no policy files (*.toml) in {} (use --policies DIR)",
            dir.display()
        )));
    }
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read {}", path.display()))
            .map_err(unreadable)?;
        let name = path.display().to_string();
        let source = match String::from_utf8(bytes.clone()) {
            Ok(s) => s,
            Err(_) => {
                errors.push(PolicyError {
                    file: name,
                    line: 1,
                    field: "file".into(),
                    problem: "is not UTF-8 text".into(),
                });
                continue;
            }
        };
        match parse_policy(&name, &source) {
            Ok(policy) => entries.push(LoadedPolicy {
                policy,
                sha256: hex::encode(Sha256::digest(&bytes)),
            }),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let policies: Vec<Policy> = entries.iter().map(|e| e.policy.clone()).collect();
    errors.extend(check_set(&policies));
    if errors.is_empty() {
        Ok(PolicySet {
            dir: dir.to_owned(),
            entries,
        })
    } else {
        Err(PolicyLoadError::Invalid(errors))
    }
}
