//! Domain types stored as text: the store binds and reads [`SubjectRef`] and the register's
//! vocabulary ([`RequestKind`], [`Channel`], [`Outcome`], [`RequestStatus`],
//! [`InboxOutcome`]) directly, so a typo in a kind or outcome is a compile error, and a
//! stored value the program does not know is a decode error naming it.

use crate::domain::requests::{
    Channel, IdentityCheck, InboxOutcome, Outcome, RequestKind, RequestStatus,
};
use crate::domain::subject::SubjectRef;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

/// A value with one text spelling in the database.
trait TextColumn: Sized {
    fn to_text(&self) -> String;
    fn from_text(text: String) -> Result<Self, String>;
}

impl TextColumn for SubjectRef {
    fn to_text(&self) -> String {
        self.as_str().to_owned()
    }

    fn from_text(text: String) -> Result<Self, String> {
        Ok(SubjectRef::from_stored(text))
    }
}

/// Implements the vocabulary's `TextColumn` from its `as_str` and `FromStr`, and sqlx's
/// `Type`, `Encode` and `Decode` from `TextColumn`, for each type named.
macro_rules! text_columns {
    (vocabulary: $($vocabulary:ty),*; all: $($ty:ty),*) => {
        $(
            impl TextColumn for $vocabulary {
                fn to_text(&self) -> String {
                    self.as_str().to_owned()
                }

                fn from_text(text: String) -> Result<Self, String> {
                    text.parse()
                }
            }
        )*
        $(
            impl<DB: Database> Type<DB> for $ty
            where
                String: Type<DB>,
            {
                fn type_info() -> DB::TypeInfo {
                    <String as Type<DB>>::type_info()
                }

                fn compatible(ty: &DB::TypeInfo) -> bool {
                    <String as Type<DB>>::compatible(ty)
                }
            }

            impl<'q, DB: Database> Encode<'q, DB> for $ty
            where
                String: Encode<'q, DB>,
            {
                fn encode_by_ref(
                    &self,
                    buf: &mut <DB as Database>::ArgumentBuffer,
                ) -> Result<IsNull, BoxDynError> {
                    self.to_text().encode(buf)
                }
            }

            impl<'r, DB: Database> Decode<'r, DB> for $ty
            where
                String: Decode<'r, DB>,
            {
                fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                    Ok(<$ty>::from_text(String::decode(value)?)?)
                }
            }
        )*
    };
}

text_columns!(
    vocabulary: RequestKind, Channel, Outcome, RequestStatus, InboxOutcome, IdentityCheck;
    all: SubjectRef, RequestKind, Channel, Outcome, RequestStatus, InboxOutcome, IdentityCheck
);
