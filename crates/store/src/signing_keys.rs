//! The `signing_keys` table: secrets mend makes for itself on first use (the key that signs
//! survey links), shared by every instance through the database.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::StoreError;
use crate::entities::signing_key;
use crate::error::During;

const TABLE: &str = "signing_keys";

/// The key named `name`; when there is none, `fresh()` is stored first. Two instances starting
/// at once both read the one that went in first. A key that exists is only read: every
/// `mend schedule run` asks, and a write would queue behind an import on SQLite.
pub async fn signing_key<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    fresh: impl FnOnce() -> String,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let found = signing_key::Entity::find_by_id(name.to_owned()).one(conn).await.during(TABLE, "signing_key")?;
    if let Some(key) = found {
        return Ok(key.secret);
    }
    signing_key::Entity::insert(signing_key::ActiveModel {
        name: Set(name.to_owned()),
        secret: Set(fresh()),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([signing_key::Column::Name])
    .exec_without_returning(conn)
    .await
    .during(TABLE, "signing_key")?;
    let found = signing_key::Entity::find_by_id(name.to_owned()).one(conn).await.during(TABLE, "signing_key")?;
    found.map(|k| k.secret).ok_or_else(|| StoreError::corrupt(TABLE, name, "the key just stored is not there"))
}
