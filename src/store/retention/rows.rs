//! The SQL of each retention rule, built from its table, reference time and action.

use super::RetentionTarget;
use crate::domain::policy::{RetainedData, RetentionAction};
use crate::domain::retention::cleared_fields;

/// The SQL of one rule: its table, reference column, and how a row is tied to a person
/// and a booking (for holds and restrictions). Parameters are positional and fixed per
/// statement; see each builder.
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
            RetainedData::Consents => (
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

    /// `$1` the tenant id, or null for rows without a tenant.
    fn owner(&self) -> String {
        let t = self.table;
        format!("({t}.tenant_id = $1 or ($1 is null and {t}.tenant_id is null))")
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
    /// all). `today` is the placeholder of the run's date. When no hold or restriction
    /// could apply (`guarded` false) the test is left out; the placeholder stays
    /// referenced so that every statement binds the same parameters.
    fn held(&self, guarded: bool, today: &str) -> String {
        if !guarded {
            return format!("({today} is null and 1 = 0)");
        }
        let t = self.table;
        let s = self.subject;
        let mut sql = format!(
            "(exists (select 1 from holds h where h.tenant_id = {t}.tenant_id and h.subject_ref = {s}
                 and h.removed_at is null and (h.until_on is null or h.until_on >= {today}))
              or exists (select 1 from restrictions r where r.subject_ref = {s}
                 and (r.tenant_id is null or r.tenant_id = {t}.tenant_id) and r.lifted_at is null)"
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

    /// `$1` tenant, `$2` cutoff, `$3` today → (due, held, oldest not held).
    pub fn due_sql(&self, guarded: bool) -> String {
        let t = self.table;
        let held = self.held(guarded, "$3");
        format!(
            "select count(*), coalesce(sum(case when {held} then 1 else 0 end), 0),
                    min(case when {held} then null else {t}.{since} end)
             from {t} where {owner} and {t}.{since} <= $2 and {pending}",
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
        )
    }

    /// `$1` tenant, `$2` cutoff, `$3` today → rows due, not held, still personal.
    pub fn resisting_sql(&self, guarded: bool) -> String {
        let t = self.table;
        let resists = match self.action {
            RetentionAction::Delete => self.pending(),
            RetentionAction::Anonymize => self.personal(),
        };
        format!(
            "select count(*) from {t} where {owner} and {t}.{since} <= $2 and not {held} and {resists}",
            since = self.since,
            owner = self.owner(),
            held = self.held(guarded, "$3"),
        )
    }

    fn window_where(&self) -> String {
        format!(
            "{owner} and {t}.{since} <= $2 and {pending} and {t}.id > $3",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
        )
    }

    /// `$1` tenant, `$2` cutoff, `$3` after id, `$4` limit → (rows, highest id).
    pub fn window_sql(&self) -> String {
        format!(
            "select count(*), max(w.id) from (select {t}.id as id from {t} where {cond}
                 order by {t}.id limit $4) w",
            t = self.table,
            cond = self.window_where(),
        )
    }

    /// As `window_sql`, but the rows themselves: (id, ip, path, referrer).
    pub fn access_window_sql(&self) -> String {
        format!(
            "select {t}.id, {t}.ip, {t}.path, {t}.referrer from {t} where {cond}
             order by {t}.id limit $4",
            t = self.table,
            cond = self.window_where(),
        )
    }

    /// The batch's rows that are treated, inside its write transaction, repeating every
    /// condition of the window: `$1` tenant, `$2` cutoff, `$3` after id, `$4` last id of
    /// the window, `$5` today.
    fn treated(&self, guarded: bool) -> String {
        format!(
            "{owner} and {t}.{since} <= $2 and {pending} and {t}.id > $3 and {t}.id <= $4 and not {held}",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
            held = self.held(guarded, "$5"),
        )
    }

    /// `$1` tenant, `$2` cutoff, `$3` after id, `$4` last id of the window, `$5` today →
    /// rows of the batch that are held.
    pub fn held_in_batch_sql(&self) -> String {
        format!(
            "select count(*) from {t} where {owner} and {t}.{since} <= $2 and {pending}
               and {t}.id > $3 and {t}.id <= $4 and {held}",
            t = self.table,
            since = self.since,
            owner = self.owner(),
            pending = self.pending(),
            held = self.held(true, "$5"),
        )
    }

    /// `$1`–`$5`, `$6` now.
    pub fn anonymize_sql(&self, guarded: bool) -> String {
        format!(
            "update {t} set {set}, anonymized_at = $6 where {cond}",
            t = self.table,
            set = self.cleared_set(),
            cond = self.treated(guarded),
        )
    }

    /// `$1`–`$5`.
    pub fn delete_sql(&self, guarded: bool) -> String {
        format!(
            "delete from {t} where {cond}",
            t = self.table,
            cond = self.treated(guarded),
        )
    }

    /// Bookings of the batch whose appointment lies ahead, cancelled before they are
    /// deleted (or anonymized) → their slots' ids, one per place to free. `$1`–`$5` as
    /// `treated`, `$6` now.
    pub fn cancel_ahead_sql(&self, guarded: bool) -> String {
        format!(
            "update bookings set status = 'cancelled', cancelled_at = $6, cancelled_by = 'erasure'
             where {cond} and bookings.status = 'booked' and bookings.appointment_start > $6
             returning slot_id",
            cond = self.treated(guarded),
        )
    }

    /// Statements that detach what refers to the batch's rows before they are deleted,
    /// each with what its count means. `$1`–`$5` as `treated`.
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
                (
                    format!("update consents set booking_id = null where booking_id in ({ids})"),
                    Effect::Detached,
                ),
            ],
            // The register entry goes; what pointed to it keeps its own content.
            RetainedData::Requests => [
                ("consents", "withdrawal_request_id"),
                ("restrictions", "request_id"),
                ("erasure_ledger", "request_id"),
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

    /// The notifications of the bookings a batch anonymizes (`$1`–`$5`), deleted first.
    pub fn notifications_of_treated_sql(&self, guarded: bool) -> String {
        format!(
            "delete from notifications where booking_id in (select {t}.id from {t} where {cond})",
            t = self.table,
            cond = self.treated(guarded),
        )
    }

    /// Bookings under a delete rule that a hold row refers to: anonymized instead
    /// (`$1`–`$6`).
    pub fn anonymize_referenced_bookings_sql(&self, guarded: bool) -> String {
        format!(
            "update bookings set {set}, anonymized_at = $6 where {cond} and bookings.anonymized_at is null
               and exists (select 1 from holds hr where hr.booking_id = bookings.id)",
            set = self.cleared_set(),
            cond = self.treated(guarded),
        )
    }

    /// Bookings under a delete rule that no hold row refers to (`$1`–`$5`).
    pub fn delete_unreferenced_bookings_sql(&self, guarded: bool) -> String {
        format!(
            "delete from bookings where {cond}
               and not exists (select 1 from holds hr where hr.booking_id = bookings.id)",
            cond = self.treated(guarded),
        )
    }

    /// `$1` the rows as JSON, `$2` now, `$3` today; `rows_from` unpacks `$1` as `j`.
    pub fn rewrite_access_sql(&self, guarded: bool, rows_from: &str) -> String {
        format!(
            "update access_log set ip = j.ip, path = j.path, referrer = j.referrer, {set}, anonymized_at = $2
             from {rows_from}
             where access_log.id = j.id and access_log.anonymized_at is null and not {held}",
            set = self.cleared_set(),
            held = self.held(guarded, "$3"),
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

/// `$1` tenant id or null, `$2` today → whether any hold or restriction could keep rows
/// of this owner. When none can, the statements leave the (per-row) test out.
pub(super) const GUARDS_SQL: &str = "select (exists (select 1 from holds where removed_at is null
        and (until_on is null or until_on >= $2) and ($1 is null or tenant_id = $1))
     or exists (select 1 from restrictions where lifted_at is null
        and ($1 is null or tenant_id is null or tenant_id = $1)))";
