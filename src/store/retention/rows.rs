//! The SQL of each retention rule, built from its table, reference time and action.

use super::RetentionTarget;
use crate::domain::policy::{RetainedData, RetentionAction};
use crate::domain::retention::cleared_fields;

/// The SQL of one rule: its table, reference column, and how a row is tied to a person
/// and a booking (for holds and restrictions). The statements name their parameters
/// (`:tenant`, `:cutoff`, …, see [`Param`]); [`Statement::new`] numbers them for the
/// database, and the store binds each by its name, so a statement and its bindings cannot
/// drift apart.
pub(super) struct Rows {
    pub data: RetainedData,
    pub action: RetentionAction,
    table: &'static str,
    since: &'static str,
    subject: &'static str,
    booking: Option<&'static str>,
}

impl Rows {
    pub fn of(t: &RetentionTarget) -> Result<Rows, crate::store::StoreError> {
        let since = t
            .data
            .reference_times()
            .iter()
            .copied()
            .find(|s| *s == t.since)
            .ok_or_else(|| {
                crate::store::StoreError::Invalid(format!(
                    "{} has no reference time {:?}",
                    t.data.as_str(),
                    t.since
                ))
            })?;
        if !t.data.actions().contains(&t.action) {
            return Err(crate::store::StoreError::Invalid(format!(
                "{} cannot be {}d",
                t.data.as_str(),
                t.action.as_str()
            )));
        }
        let (table, subject, booking) = match t.data {
            RetainedData::Bookings => ("bookings", "bookings.subject_ref", Some("bookings.id")),
            RetainedData::Consents | RetainedData::ConsentProofs => (
                "consents",
                "consents.subject_ref",
                Some("consents.booking_id"),
            ),
            RetainedData::Notifications => (
                "notifications",
                "(select pb.subject_ref from bookings pb where pb.id = notifications.booking_id)",
                Some("notifications.booking_id"),
            ),
            RetainedData::AccessLog => (
                "access_log",
                "(select pb.subject_ref from bookings pb where pb.id = access_log.booking_id)",
                Some("access_log.booking_id"),
            ),
            RetainedData::Inbox => ("inbox_messages", "inbox_messages.subject_ref", None),
            RetainedData::AuditSubjects => ("audit_log", "audit_log.subject_ref", None),
            // A file, not a table: the store prunes it itself (`SqlStore::prune_ledger`).
            RetainedData::ErasureLedger => {
                return Err(crate::store::StoreError::Invalid(
                    "the erasure ledger is a file; it has no SQL".into(),
                ));
            }
            RetainedData::Requests => ("requests", "requests.subject_ref", None),
        };
        Ok(Rows {
            data: t.data,
            action: t.action,
            table,
            since,
            subject,
            booking,
        })
    }

    /// Whether anonymizing rewrites values (the access log) rather than clearing them.
    pub fn rewrites_access(&self) -> bool {
        self.data == RetainedData::AccessLog && self.action == RetentionAction::Anonymize
    }

    /// The row's tenant id: a column, except in the audit trail, which names the tenant.
    fn tenant_id(&self) -> String {
        match self.data {
            RetainedData::AuditSubjects => {
                "(select ta.id from tenants ta where ta.slug = audit_log.tenant)".into()
            }
            _ => format!("{}.tenant_id", self.table),
        }
    }

    /// The rows of the run's owner: a tenant, or (null) the rows without a tenant; for
    /// consent proofs only consents already reduced to their proof, for the audit trail
    /// only entries that commit to their pseudonym (older ones hash it and must keep it).
    fn owner(&self) -> String {
        let t = self.table;
        let only = match self.data {
            RetainedData::ConsentProofs => format!(" and {t}.anonymized_at is not null"),
            RetainedData::AuditSubjects => format!(" and {t}.subject_commit is not null"),
            _ => String::new(),
        };
        let tid = self.tenant_id();
        format!("({tid} = :tenant or (:tenant is null and {tid} is null)){only}")
    }

    /// Rows not treated yet: anonymized rows are done; a booking that a hold row refers
    /// to can only be anonymized, so under a delete rule it is done once anonymized.
    fn pending(&self) -> String {
        let t = self.table;
        match (self.data, self.action) {
            (_, RetentionAction::Anonymize) => format!("{t}.anonymized_at is null"),
            (RetainedData::Bookings, RetentionAction::Delete) => format!(
                "({t}.anonymized_at is null or not exists (select 1 from holds hb where hb.booking_id = {t}.id))"
            ),
            (_, RetentionAction::Delete) => "1 = 1".into(),
        }
    }

    /// Whether the row is kept for an active hold on the person at the row's tenant, an
    /// active hold on its booking, or a restriction of the person (at its tenant or at
    /// all) on the run's day. When no hold or restriction could apply (`guarded` false)
    /// the test is left out.
    fn held(&self, guarded: bool) -> String {
        if !guarded {
            return "(1 = 0)".into();
        }
        let today = ":today";
        let tid = self.tenant_id();
        let s = self.subject;
        let mut sql = format!(
            "(exists (select 1 from holds h where h.tenant_id = {tid} and h.subject_ref = {s}
                 and h.removed_at is null and (h.until_on is null or h.until_on >= {today}))
              or exists (select 1 from restrictions r where r.subject_ref = {s}
                 and (r.tenant_id is null or r.tenant_id = {tid}) and r.lifted_at is null)"
        );
        if let Some(b) = self.booking {
            sql.push_str(&format!(
                "
              or exists (select 1 from holds hk where hk.booking_id = {b}
                 and hk.removed_at is null and (hk.until_on is null or hk.until_on >= {today}))"
            ));
        }
        sql.push(')');
        sql
    }

    /// Whether a row still holds personal data after anonymizing should have removed it.
    fn personal(&self) -> String {
        let t = self.table;
        let mut terms: Vec<String> = cleared_fields(self.data)
            .iter()
            .map(|c| format!("{t}.{c} is not null"))
            .collect();
        if self.data == RetainedData::AccessLog {
            // What `domain::retention::anonymize_access` leaves: a /24 ends in ".0", a /48
            // in "::"; no query in the path; a referrer is an origin without user.
            terms.push(format!(
                "not ({t}.ip like '%.0' or {t}.ip like '%::' or {t}.ip = '')"
            ));
            terms.push(format!("{t}.path like '%?%'"));
            terms.push(format!("{t}.referrer like '%://%/%'"));
            terms.push(format!("{t}.referrer like '%@%'"));
            terms.push(format!(
                "({t}.referrer is not null and {t}.referrer not like '%://%')"
            ));
        }
        format!("({})", terms.join(" or "))
    }

    fn cleared_set(&self) -> String {
        cleared_set(self.data)
    }

    /// (due, held, oldest not held).
    pub fn due_sql(&self, guarded: bool) -> String {
        let t = self.table;
        let held = self.held(guarded);
        format!(
            "select count(*), coalesce(sum(case when {held} then 1 else 0 end), 0),
                    min(case when {held} then null else {t}.{since} end)
             from {t} where {owner} and {t}.{since} <= :cutoff and {pending}",
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
        )
    }

    /// rows due, not held, still personal.
    pub fn resisting_sql(&self, guarded: bool) -> String {
        let t = self.table;
        let resists = match self.action {
            RetentionAction::Delete => self.pending(),
            RetentionAction::Anonymize => self.personal(),
        };
        format!(
            "select count(*) from {t} where {owner} and {t}.{since} <= :cutoff and not {held} and {resists}",
            since = self.since,
            owner = self.owner(),
            held = self.held(guarded),
        )
    }

    fn window_where(&self) -> String {
        format!(
            "{owner} and {t}.{since} <= :cutoff and {pending} and {t}.id > :after",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
        )
    }

    /// The next window of at most `:limit` due rows after `:after` → (rows, highest id).
    pub fn window_sql(&self) -> String {
        format!(
            "select count(*), max(w.id) from (select {t}.id as id from {t} where {cond}
                 order by {t}.id limit :limit) w",
            t = self.table,
            cond = self.window_where(),
        )
    }

    /// As `window_sql`, but the rows themselves: (id, ip, path, referrer).
    pub fn access_window_sql(&self) -> String {
        format!(
            "select {t}.id, {t}.ip, {t}.path, {t}.referrer from {t} where {cond}
             order by {t}.id limit :limit",
            t = self.table,
            cond = self.window_where(),
        )
    }

    /// The batch's rows that are treated, inside its write transaction, repeating every
    /// condition of the window (`:after` < id <= `:upper`).
    fn treated(&self, guarded: bool) -> String {
        format!(
            "{owner} and {t}.{since} <= :cutoff and {pending} and {t}.id > :after and {t}.id <= :upper and not {held}",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
            held = self.held(guarded),
        )
    }

    ///     /// rows of the batch that are held.
    pub fn held_in_batch_sql(&self) -> String {
        format!(
            "select count(*) from {t} where {owner} and {t}.{since} <= :cutoff and {pending}
               and {t}.id > :after and {t}.id <= :upper and {held}",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
            held = self.held(true),
        )
    }

    /// The batch's rows, anonymized.
    pub fn anonymize_sql(&self, guarded: bool) -> String {
        format!(
            "update {t} set {set}, anonymized_at = :now where {cond}",
            t = self.table,
            set = self.cleared_set(),
            cond = self.treated(guarded),
        )
    }

    /// The batch's rows, deleted.
    pub fn delete_sql(&self, guarded: bool) -> String {
        format!(
            "delete from {t} where {cond}",
            t = self.table,
            cond = self.treated(guarded),
        )
    }

    /// Bookings of the batch whose appointment lies ahead, cancelled before they are
    /// deleted (or anonymized) → their slots' ids, one per place to free.
    pub fn cancel_ahead_sql(&self, guarded: bool) -> String {
        format!(
            "update bookings set status = 'cancelled', cancelled_at = :now, cancelled_by = 'erasure'
             where {cond} and bookings.status = 'booked' and bookings.appointment_start > :now
             returning slot_id",
            cond = self.treated(guarded),
        )
    }

    /// Statements that detach what refers to the batch's rows before they are deleted,
    /// each with what its count means.
    pub fn before_delete_sql(&self, guarded: bool) -> Vec<(String, Effect)> {
        let t = self.table;
        let ids = format!("select {t}.id from {t} where {}", self.treated(guarded));
        match self.data {
            // As an erasure does it: the booking's messages and the log rows of its
            // requests go with it, consents lose the link, a place ahead is freed.
            RetainedData::Bookings => vec![
                (
                    format!("delete from notifications where booking_id in ({ids})"),
                    Effect::Dependents,
                ),
                (
                    format!("delete from access_log where booking_id in ({ids})"),
                    Effect::Dependents,
                ),
                (self.consents_of_treated_sql(guarded), Effect::Detached),
            ],
            // The register entry goes; what pointed to it keeps its own content.
            RetainedData::Requests => [
                ("consents", "withdrawal_request_id"),
                ("restrictions", "request_id"),
                ("inbox_messages", "request_id"),
            ]
            .iter()
            .map(|(table, column)| {
                (
                    format!("update {table} set {column} = null where {column} in ({ids})"),
                    Effect::Detached,
                )
            })
            .collect(),
            // A message's reply row (written: no personal data left; pending: not sent any more).
            RetainedData::Inbox => vec![(
                format!("delete from replies where inbox_message_id in ({ids})"),
                Effect::Dependents,
            )],
            _ => Vec::new(),
        }
    }

    /// The consents of the batch's bookings, reduced to their proof: without the person
    /// and the booking, an anonymized booking's consent would still name who booked it.
    pub fn consents_of_treated_sql(&self, guarded: bool) -> String {
        format!(
            "update consents set {set}, anonymized_at = :now
             where booking_id in (select {t}.id from {t} where {cond})",
            set = crate::domain::retention::CONSENT_PROOF_CLEARED
                .iter()
                .map(|c| format!("{c} = null"))
                .collect::<Vec<_>>()
                .join(", "),
            t = self.table,
            cond = self.treated(guarded),
        )
    }

    /// The notifications of the bookings a batch anonymizes, deleted first.
    pub fn notifications_of_treated_sql(&self, guarded: bool) -> String {
        format!(
            "delete from notifications where booking_id in (select {t}.id from {t} where {cond})",
            t = self.table,
            cond = self.treated(guarded),
        )
    }

    /// Bookings under a delete rule that a hold row refers to: anonymized instead
    /// instead.
    pub fn anonymize_referenced_bookings_sql(&self, guarded: bool) -> String {
        format!(
            "update bookings set {set}, anonymized_at = :now where {cond} and bookings.anonymized_at is null
               and exists (select 1 from holds hr where hr.booking_id = bookings.id)",
            set = self.cleared_set(),
            cond = self.treated(guarded),
        )
    }

    /// Bookings under a delete rule that no hold row refers to.
    pub fn delete_unreferenced_bookings_sql(&self, guarded: bool) -> String {
        format!(
            "delete from bookings where {cond}
               and not exists (select 1 from holds hr where hr.booking_id = bookings.id)",
            cond = self.treated(guarded),
        )
    }

    /// `rows_from` unpacks the rows (`:rows`, JSON) as `j`.
    pub fn rewrite_access_sql(&self, guarded: bool, rows_from: &str) -> String {
        format!(
            "update access_log set ip = j.ip, path = j.path, referrer = j.referrer, {set}, anonymized_at = :now
             from {rows_from}
             where access_log.id = j.id and access_log.anonymized_at is null and not {held}",
            set = self.cleared_set(),
            held = self.held(guarded),
        )
    }
}

/// The `set` list that anonymizes a row of `data` (`first_name = null, …`): the one list
/// of `domain::retention::cleared_fields`, for retention and erasure alike.
pub(crate) fn cleared_set(data: RetainedData) -> String {
    cleared_fields(data)
        .iter()
        .map(|c| format!("{c} = null"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a statement run before a delete does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Effect {
    /// Deletes rows that belong to the deleted ones (counted).
    Dependents,
    /// Removes references to the deleted rows.
    Detached,
}

/// Whether any hold or restriction could keep rows
/// of this owner. When none can, the statements leave the (per-row) test out.
pub(super) const GUARDS_SQL: &str = "select (exists (select 1 from holds where removed_at is null
        and (until_on is null or until_on >= :today) and (:tenant is null or tenant_id = :tenant))
     or exists (select 1 from restrictions where lifted_at is null
        and (:tenant is null or tenant_id is null or tenant_id = :tenant)))";

/// A value a retention statement takes, by the name it has in the SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Param {
    /// `:tenant`: the owner's tenant id, or null for rows without a tenant.
    Tenant,
    /// `:cutoff`: rows whose reference time is at or before this are due.
    Cutoff,
    /// `:today`: the run's day, for holds that end.
    Today,
    /// `:now`: the run's clock.
    Now,
    /// `:after` and `:upper`: the window of ids a batch treats (`after < id <= upper`).
    After,
    Upper,
    /// `:limit`: rows per window.
    Limit,
    /// `:rows`: the rewritten access-log rows, as JSON.
    Rows,
}

impl Param {
    fn named(name: &str) -> Option<Param> {
        Some(match name {
            "tenant" => Param::Tenant,
            "cutoff" => Param::Cutoff,
            "today" => Param::Today,
            "now" => Param::Now,
            "after" => Param::After,
            "upper" => Param::Upper,
            "limit" => Param::Limit,
            "rows" => Param::Rows,
            _ => return None,
        })
    }
}

/// A statement with its parameters numbered (`$1`, `$2`, …) in the order of their first
/// use, and the parameter each number stands for.
#[derive(Debug)]
pub(super) struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Statement {
    /// Numbers the `:name` parameters of `named` (outside quotes; `::type` casts are left
    /// alone). An unknown name is a bug in the builder and panics in every test.
    pub fn new(named: &str) -> Statement {
        let mut sql = String::with_capacity(named.len());
        let mut params: Vec<Param> = Vec::new();
        let chars: Vec<char> = named.chars().collect();
        let (mut i, mut quoted) = (0, false);
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                quoted = !quoted;
            }
            let starts_name = !quoted
                && c == ':'
                && (i == 0 || chars[i - 1] != ':')
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if !starts_name {
                sql.push(c);
                i += 1;
                continue;
            }
            let end = (i + 1..chars.len())
                .find(|&j| !(chars[j].is_ascii_lowercase() || chars[j] == '_'))
                .unwrap_or(chars.len());
            let name: String = chars[i + 1..end].iter().collect();
            let param = Param::named(&name)
                .unwrap_or_else(|| panic!("unknown parameter :{name} in {named}"));
            let number = match params.iter().position(|p| *p == param) {
                Some(k) => k + 1,
                None => {
                    params.push(param);
                    params.len()
                }
            };
            sql.push_str(&format!("${number}"));
            i = end;
        }
        Statement { sql, params }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parameters_are_numbered_in_order_of_first_use() {
        let s = Statement::new(
            "select 1 from t where (a = :tenant or (:tenant is null and b = ':x'))
             and c::text <= :cutoff and d like '%::' and e > :after",
        );
        assert_eq!(
            s.sql,
            "select 1 from t where (a = $1 or ($1 is null and b = ':x'))
             and c::text <= $2 and d like '%::' and e > $3"
        );
        assert_eq!(s.params, [Param::Tenant, Param::Cutoff, Param::After]);
    }

    #[test]
    fn every_statement_of_every_rule_names_only_known_parameters() {
        use chrono::TimeZone;
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        for data in RetainedData::ALL
            .iter()
            .filter(|d| **d != RetainedData::ErasureLedger)
        {
            for &action in data.actions() {
                for &since in data.reference_times() {
                    let target = RetentionTarget {
                        tenant: Some("t".into()),
                        data: *data,
                        action,
                        since: since.into(),
                        cutoff: now,
                        now,
                    };
                    let rows = Rows::of(&target).unwrap();
                    for guarded in [false, true] {
                        let mut all = vec![
                            rows.due_sql(guarded),
                            rows.resisting_sql(guarded),
                            rows.window_sql(),
                            rows.access_window_sql(),
                            rows.held_in_batch_sql(),
                            rows.anonymize_sql(guarded),
                            rows.delete_sql(guarded),
                            rows.cancel_ahead_sql(guarded),
                            rows.notifications_of_treated_sql(guarded),
                            rows.consents_of_treated_sql(guarded),
                            rows.anonymize_referenced_bookings_sql(guarded),
                            rows.delete_unreferenced_bookings_sql(guarded),
                            rows.rewrite_access_sql(guarded, "(select :rows as id) j"),
                            GUARDS_SQL.to_owned(),
                        ];
                        all.extend(rows.before_delete_sql(guarded).into_iter().map(|(s, _)| s));
                        for sql in all {
                            // Numbering again finds no name left over.
                            let s = Statement::new(&sql);
                            assert!(Statement::new(&s.sql).params.is_empty(), "{}", s.sql);
                        }
                    }
                }
            }
        }
    }
}
