//! Retention from cron: `plan` shows what is due, `run` treats it batch by batch under the
//! one-run-at-a-time lock and then checks itself, `runs` lists the record of runs.

use super::{Context, Refusal, holder};
use crate::domain::audit::AuditEvent;
use crate::domain::policy::{RetainedData, RetentionAction};
use crate::domain::retention::{self, RetentionTask};
use crate::store::{
    RetentionBatch, RetentionFinish, RetentionRunRecord, RetentionStart, RetentionTarget,
};
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The most rows a batch grows to unless `--batch-size` says otherwise. Batches start at
/// 1,000 rows and only grow while their write transaction stays under 250 ms
/// ([`retention::BATCH_WRITE_TARGET`]), so this cap matters for the cheap deletes (access
/// log, notifications), where bigger batches save a third of the time; anonymizing bookings
/// settles at a few thousand rows a batch by the time target.
pub const DEFAULT_BATCH_SIZE: i64 = 20_000;
pub const MAX_BATCH_SIZE: i64 = 100_000;

/// One rule for one owner of rows, as reports name it.
#[derive(Clone, Debug, Serialize)]
pub struct RuleRef {
    /// `None`: rows that belong to no tenant (they follow the strictest rule of all).
    pub tenant: Option<String>,
    pub data: RetainedData,
    pub action: RetentionAction,
    pub after: String,
    pub since: String,
    /// Rows whose reference time is at or before this are due.
    pub cutoff: DateTime<Utc>,
}

impl RuleRef {
    fn of(task: &RetentionTask, now: DateTime<Utc>) -> RuleRef {
        RuleRef {
            tenant: task.tenant.clone(),
            data: task.rule.data,
            action: task.rule.action,
            after: task.rule.after.to_string(),
            since: task.rule.since.clone(),
            cutoff: retention::cutoff(now, &task.rule.after),
        }
    }

    fn target(&self, now: DateTime<Utc>) -> RetentionTarget {
        RetentionTarget {
            tenant: self.tenant.clone(),
            data: self.data,
            action: self.action,
            since: self.since.clone(),
            cutoff: self.cutoff,
            now,
        }
    }

    pub fn tenant_label(&self) -> &str {
        self.tenant.as_deref().unwrap_or("(no tenant)")
    }

    /// e.g. "recklinghausen bookings: anonymize 48h after appointment_end"
    pub fn label(&self) -> String {
        format!(
            "{} {}: {} {} after {}",
            self.tenant_label(),
            self.data.as_str(),
            self.action.as_str(),
            self.after,
            self.since
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RulePlan {
    #[serde(flatten)]
    pub rule: RuleRef,
    /// Rows a run would anonymize or delete now.
    pub due: i64,
    /// Due rows kept because of a legal hold or an Art. 18 restriction.
    pub held: i64,
    /// Reference time of the oldest row a run would treat.
    pub oldest_due: Option<DateTime<Utc>>,
    /// How old that row is (now minus its reference time), in seconds.
    pub oldest_due_age_seconds: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub clock: DateTime<Utc>,
    pub rules: Vec<RulePlan>,
    pub warnings: Vec<String>,
}

/// What a run would do at `now`; changes nothing.
pub async fn plan(ctx: &Context, tenant: Option<&str>, now: DateTime<Utc>) -> Result<Plan> {
    let tasks = tasks(ctx, tenant)?;
    let mut rules = Vec::new();
    for task in &tasks {
        let rule = RuleRef::of(task, now);
        let due = ctx.store.retention_due(&rule.target(now)).await?;
        rules.push(RulePlan {
            due: due.due,
            held: due.held,
            oldest_due: due.oldest,
            oldest_due_age_seconds: due.oldest.map(|o| (now - o).num_seconds()),
            rule,
        });
    }
    Ok(Plan {
        clock: now,
        rules,
        warnings: warnings(ctx, tenant).await?,
    })
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RuleCounts {
    /// Due rows met, held ones included.
    pub seen: i64,
    pub anonymized: i64,
    pub deleted: i64,
    /// Due rows kept because of a hold or restriction.
    pub held: i64,
    /// Notifications and access-log rows deleted with deleted bookings.
    pub dependents_deleted: i64,
    /// Places given back to slots by deleting bookings that lay ahead.
    pub places_freed: i64,
}

impl RuleCounts {
    fn add(&mut self, b: &RetentionBatch) {
        self.seen += b.seen;
        self.anonymized += b.anonymized;
        self.deleted += b.deleted;
        self.held += b.held;
        self.dependents_deleted += b.dependents_deleted;
        self.places_freed += b.places_freed;
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RuleResult {
    #[serde(flatten)]
    pub rule: RuleRef,
    #[serde(flatten)]
    pub counts: RuleCounts,
    /// Self-check: rows due, not held, that still hold personal data after the run.
    pub resisting: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub run: i64,
    pub clock: DateTime<Utc>,
    pub tenant: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `completed`, or `failed` when the self-check found rows or the run stopped.
    pub outcome: &'static str,
    pub rules: Vec<RuleResult>,
    /// Why the run failed, each naming its rule.
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl RunReport {
    pub fn failed(&self) -> bool {
        self.outcome != "completed"
    }
}

/// Progress of a run, for bars on a terminal.
pub trait RunProgress: Sync {
    /// Whether anyone sees progress; only then are the rows counted before each rule.
    fn visible(&self) -> bool;
    fn rule(&self, label: &str, total: Option<u64>);
    fn advance(&self, rows: u64);
    fn done(&self);
}

/// No progress shown (cron, tests).
pub struct Quiet;

impl RunProgress for Quiet {
    fn visible(&self) -> bool {
        false
    }
    fn rule(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn done(&self) {}
}

#[derive(Clone, Debug)]
pub struct RunRequest<'a> {
    pub tenant: Option<&'a str>,
    /// The run's clock (`--now`, else the real time).
    pub now: DateTime<Utc>,
    pub batch_size: i64,
}

/// Applies every rule (of one tenant, or of all and the rows without a tenant), then
/// checks that no due row that is not held still holds personal data. A second run at
/// the same time is refused (exit 1). A failed self-check gives a report with outcome
/// `failed` naming the rules; the caller decides the exit code.
pub async fn run(
    ctx: &Context,
    req: &RunRequest<'_>,
    progress: &dyn RunProgress,
) -> Result<RunReport> {
    if !(1..=MAX_BATCH_SIZE).contains(&req.batch_size) {
        return Err(Refusal::InvalidInput(format!(
            "--batch-size {}: give 1 to {MAX_BATCH_SIZE} rows",
            req.batch_size
        ))
        .into());
    }
    let real_now = crate::domain::time::now();
    if req.now > real_now {
        return Err(Refusal::InvalidInput(format!(
            "--now {}: lies in the future, and a run would treat data before it is due; \
             use `retention plan --now` to look ahead",
            crate::domain::time::format_instant(&req.now)
        ))
        .into());
    }
    let tasks = tasks(ctx, req.tenant)?;
    let warnings = warnings(ctx, req.tenant).await?;
    // On SQLite the batches go through a connection of their own, whose page cache lasts
    // from one batch to the next (the pool's connections take turns, and each drops its
    // cache when another one wrote); on PostgreSQL through the store itself.
    let bulk = ctx.store.bulk_writer().await?;
    let batches: &dyn crate::store::Store = bulk.as_deref().unwrap_or(ctx.store.as_ref());
    let audit = ctx.audit();
    let host = holder::host();
    let mut start = RetentionStart {
        tenant: req.tenant.map(str::to_owned),
        clock: req.now,
        holder: holder::describe(&ctx.actor),
        take_over: None,
    };
    let run = loop {
        match ctx.store.start_retention_run(&start, &audit).await? {
            Ok(run) => break run,
            // A run on this host that was killed: no need to wait for its lease to end.
            Err(held)
                if start.take_over.is_none()
                    && held
                        .holder
                        .as_deref()
                        .is_some_and(|h| holder::is_gone(h, &host)) =>
            {
                start.take_over = held.holder;
            }
            Err(held) => {
                return Err(Refusal::CheckFailed(format!(
                    "another retention run is in progress: the lock is {held}; nothing was done"
                ))
                .into());
            }
        }
    };
    let mut report = RunReport {
        run: run.id,
        clock: req.now,
        tenant: start.tenant.clone(),
        started_at: audit.at,
        finished_at: audit.at,
        outcome: "failed",
        rules: Vec::new(),
        problems: Vec::new(),
        warnings,
    };
    let worked = match treat(ctx, batches, &run, &tasks, req, progress, &mut report).await {
        Ok(()) => self_check(ctx, req.now, progress, &mut report).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &worked {
        report.problems.push(format!("the run stopped: {e:#}"));
    }
    report.outcome = if report.problems.is_empty() {
        "completed"
    } else {
        "failed"
    };
    let end = ctx.audit();
    report.finished_at = end.at;
    let finish = RetentionFinish {
        status: report.outcome,
        counts: counts_json(&report.rules, &report.problems),
        events: audit_events(&report),
    };
    let finished = ctx.store.finish_retention_run(run, &finish, &end).await;
    worked?;
    finished?;
    Ok(report)
}

async fn treat(
    ctx: &Context,
    batches: &dyn crate::store::Store,
    run: &crate::store::RetentionRun,
    tasks: &[RetentionTask],
    req: &RunRequest<'_>,
    progress: &dyn RunProgress,
    report: &mut RunReport,
) -> Result<()> {
    for task in tasks {
        let rule = RuleRef::of(task, req.now);
        let target = rule.target(req.now);
        let total = if progress.visible() {
            let due = ctx.store.retention_due(&target).await?;
            Some(u64::try_from(due.due + due.held).unwrap_or(0))
        } else {
            None
        };
        progress.rule(&rule.label(), total);
        let mut counts = RuleCounts::default();
        let mut after = 0;
        let mut size = req.batch_size.min(retention::FIRST_BATCH);
        loop {
            let done = &report.rules;
            let record = |b: &RetentionBatch| {
                let mut now = counts.clone();
                now.add(b);
                let mut rules = done.clone();
                rules.push(RuleResult {
                    rule: rule.clone(),
                    counts: now,
                    resisting: None,
                });
                counts_json(&rules, &[])
            };
            let batch = batches
                .apply_retention_batch(run, &target, after, size, &record)
                .await?;
            size = retention::next_batch_size(size, req.batch_size, batch.write_time);
            counts.add(&batch);
            progress.advance(u64::try_from(batch.seen).unwrap_or(0));
            match batch.next_after {
                Some(id) => after = id,
                None => break,
            }
        }
        progress.done();
        report.rules.push(RuleResult {
            rule,
            counts,
            resisting: None,
        });
    }
    Ok(())
}

/// After every rule ran: rows that are due, not held, and still hold personal data make
/// the run fail, naming their rule.
async fn self_check(
    ctx: &Context,
    now: DateTime<Utc>,
    progress: &dyn RunProgress,
    report: &mut RunReport,
) -> Result<()> {
    progress.rule(
        "self-check",
        Some(u64::try_from(report.rules.len()).unwrap_or(0)),
    );
    for result in &mut report.rules {
        let n = ctx
            .store
            .retention_resisting(&result.rule.target(now))
            .await?;
        result.resisting = Some(n);
        if n > 0 {
            let what = match result.rule.action {
                RetentionAction::Anonymize => "still hold personal data",
                RetentionAction::Delete => "are still there",
            };
            report.problems.push(format!(
                "{}: {n} row(s) due and not on hold {what} after the run",
                result.rule.label()
            ));
        }
        progress.advance(1);
    }
    progress.done();
    Ok(())
}

/// The run's counts as stored with its record.
fn counts_json(rules: &[RuleResult], problems: &[String]) -> String {
    serde_json::json!({ "rules": rules, "problems": problems }).to_string()
}

/// One audit entry per tenant (and one for rows without a tenant): counts only.
fn audit_events(report: &RunReport) -> Vec<AuditEvent> {
    let mut owners: Vec<Option<String>> = Vec::new();
    for r in &report.rules {
        if !owners.contains(&r.rule.tenant) {
            owners.push(r.rule.tenant.clone());
        }
    }
    if owners.is_empty() {
        owners.push(report.tenant.clone());
    }
    owners
        .into_iter()
        .map(|owner| {
            let rules: Vec<serde_json::Value> = report
                .rules
                .iter()
                .filter(|r| r.rule.tenant == owner)
                .map(|r| {
                    serde_json::json!({
                        "data": r.rule.data,
                        "action": r.rule.action,
                        "anonymized": r.counts.anonymized,
                        "deleted": r.counts.deleted,
                        "held": r.counts.held,
                        "dependents_deleted": r.counts.dependents_deleted,
                        "resisting": r.resisting,
                    })
                })
                .collect();
            let mut event = AuditEvent::new(
                "retention.run",
                serde_json::json!({
                    "run": report.run,
                    "clock": crate::domain::time::format_instant(&report.clock),
                    "outcome": report.outcome,
                    "rules": rules,
                }),
            );
            event.tenant = owner;
            event
        })
        .collect()
}

fn tasks(ctx: &Context, tenant: Option<&str>) -> Result<Vec<RetentionTask>> {
    if let Some(t) = tenant {
        ctx.policies.require(t)?;
    }
    let policies: Vec<_> = ctx.policies.entries.iter().map(|e| &e.policy).collect();
    Ok(retention::tasks(&policies, tenant))
}

/// Tenants in the database without a policy: no rule treats their rows, which must not
/// go unnoticed.
async fn warnings(ctx: &Context, tenant: Option<&str>) -> Result<Vec<String>> {
    if tenant.is_some() {
        return Ok(Vec::new());
    }
    Ok(ctx
        .store
        .list_tenants()
        .await?
        .into_iter()
        .filter(|t| ctx.policies.get(&t.slug).is_none())
        .map(|t| {
            format!(
                "tenant {} is in the database but has no policy in {}: retention does not treat its rows",
                t.slug,
                ctx.policies.dir.display()
            )
        })
        .collect())
}

/// A recorded run as `retention runs` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub actor: String,
    pub tenant: Option<String>,
    pub clock: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `completed`, `failed`, or `interrupted` (killed; found by a later run).
    pub outcome: String,
    pub anonymized: i64,
    pub deleted: i64,
    pub held: i64,
    pub counts: serde_json::Value,
}

impl From<RetentionRunRecord> for RunRecord {
    fn from(r: RetentionRunRecord) -> Self {
        let counts: serde_json::Value =
            serde_json::from_str(&r.counts).unwrap_or(serde_json::Value::Null);
        let sum = |key: &str| -> i64 {
            counts["rules"]
                .as_array()
                .map(|rules| rules.iter().filter_map(|x| x[key].as_i64()).sum())
                .unwrap_or(0)
        };
        let outcome = match (r.status.as_str(), r.finished_at) {
            ("failed", None) => "interrupted".to_owned(),
            (s, _) => s.to_owned(),
        };
        RunRecord {
            id: r.id,
            anonymized: sum("anonymized"),
            deleted: sum("deleted"),
            held: sum("held"),
            actor: r.actor,
            tenant: r.tenant,
            clock: r.clock_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome,
            counts,
        }
    }
}

pub async fn runs(ctx: &Context, limit: i64) -> Result<Vec<RunRecord>> {
    if limit < 1 {
        return Err(Refusal::InvalidInput(format!("--limit {limit}: must be at least 1")).into());
    }
    Ok(ctx
        .store
        .retention_runs(limit)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}
