//! Reading and verifying the audit trail.

use crate::domain::audit::ChainVerifier;
use crate::store::Store;
use anyhow::Result;
use serde::Serialize;

const PAGE: i64 = 1000;

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub entries: i64,
    pub ok: bool,
    /// The first problem found, naming the entry.
    pub problem: Option<String>,
}

/// Walks the whole chain page by page and compares its end with the stored head.
pub async fn verify(store: &dyn Store) -> Result<Verification> {
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page = store.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for entry in &page {
            if let Err(e) = verifier.check(entry) {
                return Ok(Verification {
                    entries: verifier.last_id(),
                    ok: false,
                    problem: Some(e.to_string()),
                });
            }
        }
    }
    Ok(match verifier.finish(store.audit_head().await?) {
        Ok(n) => Verification {
            entries: n,
            ok: true,
            problem: None,
        },
        Err(e) => Verification {
            entries: verifier.last_id(),
            ok: false,
            problem: Some(e.to_string()),
        },
    })
}
