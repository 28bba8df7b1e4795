//! The booking endpoint (`datenwart serve`): a thin axum adapter over [`crate::ops`].
//!
//! Empty in this release: the endpoint arrives with the booking issue. The schema it writes
//! to (bookings, consents, notifications, access log) is already in place.
