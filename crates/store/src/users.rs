//! People who sign in, and the hashes that let them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use mend_core::{Role, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::Serialize;

use crate::StoreError;
use crate::bulk;
use crate::entities::user;
use crate::error::During;
use crate::records::word;

const TABLE: &str = "users";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
    /// Where alerts and reports reach a supervisor; not a sign-in name.
    pub email: Option<String>,
    pub active: bool,
}

impl TryFrom<user::Model> for UserRecord {
    type Error = StoreError;

    fn try_from(m: user::Model) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: UserId::from_uuid(m.id),
            name: m.name,
            role: word(TABLE, m.id, &m.role)?,
            team: m.team,
            email: m.email,
            active: m.active,
        })
    }
}

/// A user to create; the caller hashed the secrets (the store never sees them in clear).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
    pub email: Option<String>,
    pub password_hash: String,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
}

/// Creates the user; a taken name is [`StoreError::is_conflict`].
pub async fn insert<C: ConnectionTrait>(conn: &C, new: NewUser) -> Result<UserRecord, StoreError> {
    let model = user::ActiveModel {
        id: Set(new.id.as_uuid()),
        name: Set(new.name),
        role: Set(new.role.as_str().to_owned()),
        team: Set(new.team),
        email: Set(new.email),
        password_hash: Set(new.password_hash),
        token_hash: Set(new.token_hash),
        active: Set(true),
        created_at: Set(new.created_at),
    }
    .insert(conn)
    .await
    .during(TABLE, "insert")?;
    UserRecord::try_from(model)
}

/// How a request showed who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The user's API token (`mend user add`, `mend user token`).
    ApiToken,
    /// A browser session's token (`POST /api/v1/session`).
    Session,
}

/// The active users whose API token or live session (not run out or revoked at `now`) hashes to
/// one of `token_hashes`, by hash: a round of sign-in checks in at most three statements.
pub async fn holders_of<C: ConnectionTrait>(
    conn: &C,
    token_hashes: &[&str],
    now: DateTime<Utc>,
) -> Result<HashMap<String, (UserRecord, Credential)>, StoreError> {
    let mut holders = HashMap::with_capacity(token_hashes.len());
    if token_hashes.is_empty() {
        return Ok(holders);
    }
    let backend = conn.get_database_backend();
    let by_token = user::Entity::find()
        .filter(bulk::text_filter(backend, "token_hash", token_hashes)?)
        .filter(user::Column::Active.eq(true))
        .all(conn)
        .await
        .during(TABLE, "holders_of")?;
    for model in by_token {
        holders.insert(model.token_hash.clone(), (UserRecord::try_from(model)?, Credential::ApiToken));
    }
    let rest: Vec<&str> = token_hashes.iter().copied().filter(|h| !holders.contains_key(*h)).collect();
    let sessions = crate::sessions::live_sessions(conn, &rest, now).await?;
    if sessions.is_empty() {
        return Ok(holders);
    }
    let users: HashMap<UserId, UserRecord> = user::Entity::find()
        .filter(bulk::id_filter(backend, "id", sessions.iter().map(|(_, u)| u.as_uuid()))?)
        .filter(user::Column::Active.eq(true))
        .all(conn)
        .await
        .during(TABLE, "holders_of")?
        .into_iter()
        .map(|m| UserRecord::try_from(m).map(|u| (u.user_id, u)))
        .collect::<Result<_, _>>()?;
    for (hash, user) in sessions {
        if let Some(record) = users.get(&user) {
            holders.insert(hash, (record.clone(), Credential::Session));
        }
    }
    Ok(holders)
}

/// An active user by name, with their password hash (for a sign-in to check): the name as
/// typed, or else the one active user whose name it is in other letter case (`Wang` for `wang`).
pub async fn by_name<C: ConnectionTrait>(conn: &C, name: &str) -> Result<Option<(UserRecord, String)>, StoreError> {
    if let Some(exact) = active_user_where(conn, user::Column::Name, name, "by_name").await? {
        return with_hash(exact).map(Some);
    }
    let mut alike = user::Entity::find()
        .filter(named_but_for_case(name))
        .filter(user::Column::Active.eq(true))
        .limit(2)
        .all(conn)
        .await
        .during(TABLE, "by_name")?;
    // Two names alike but for case (made before they were refused) need the name as it is.
    match alike.len() {
        1 => alike.pop().map(with_hash).transpose(),
        _ => Ok(None),
    }
}

/// Users whose name is `name` in any letter case (each database folds case as its `lower` does).
fn named_but_for_case(name: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::expr(Func::lower(Expr::col(user::Column::Name))).eq(Func::lower(Expr::val(name)))
}

/// The user whose name is `name` but for letter case, if any (active or not): a new user may
/// not take it, or `Wang` and `wang` would sign in as each other's mistake. The unique index
/// cannot see case, so on PostgreSQL this first keeps other writers of users out until the
/// transaction ends: two administrators adding `Wang` and `wang` at once cannot both find the
/// name free (a SQLite write transaction keeps them out already).
pub async fn name_alike(conn: &sea_orm::DatabaseTransaction, name: &str) -> Result<Option<String>, StoreError> {
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        // SHARE ROW EXCLUSIVE conflicts with itself and with row writes, not with reads:
        // sign-ins go on; only another user's creation (rare) waits for this one.
        conn.execute_unprepared("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").await.during(TABLE, "name_alike")?;
    }
    let found = user::Entity::find().filter(named_but_for_case(name)).one(conn).await.during(TABLE, "name_alike")?;
    Ok(found.map(|m| m.name))
}

/// A user row as its record and its password hash.
fn with_hash(m: user::Model) -> Result<(UserRecord, String), StoreError> {
    let hash = m.password_hash.clone();
    Ok((UserRecord::try_from(m)?, hash))
}

/// Every user, by name (the admin page's list).
pub async fn list_users<C: ConnectionTrait>(conn: &C) -> Result<Vec<UserRecord>, StoreError> {
    let rows = user::Entity::find().order_by_asc(user::Column::Name).all(conn).await.during(TABLE, "list_users")?;
    rows.into_iter().map(UserRecord::try_from).collect()
}

/// Replaces a user's API token: the old one stops working at once. False when there is no such
/// user.
pub async fn replace_token<C: ConnectionTrait>(conn: &C, id: UserId, token_hash: &str) -> Result<bool, StoreError> {
    let done = user::Entity::update_many()
        .col_expr(user::Column::TokenHash, sea_orm::sea_query::Expr::value(token_hash))
        .filter(user::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await
        .during(TABLE, "replace_token")?;
    Ok(done.rows_affected > 0)
}

/// The active user whose `column` (a unique one) holds `value`.
async fn active_user_where<C: ConnectionTrait>(
    conn: &C,
    column: user::Column,
    value: &str,
    operation: &'static str,
) -> Result<Option<user::Model>, StoreError> {
    user::Entity::find()
        .filter(column.eq(value))
        .filter(user::Column::Active.eq(true))
        .one(conn)
        .await
        .during(TABLE, operation)
}

/// Which user an administrator means: the CLI names them, the API and the pages give their id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserKey {
    Id(UserId),
    Name(String),
}

impl std::fmt::Display for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(name) => write!(f, "`{name}`"),
        }
    }
}

/// A user, active or deactivated, with their password hash.
pub async fn find_user<C: ConnectionTrait>(
    conn: &C,
    key: &UserKey,
) -> Result<Option<(UserRecord, String)>, StoreError> {
    let query = match key {
        UserKey::Id(id) => user::Entity::find_by_id(id.as_uuid()),
        UserKey::Name(name) => user::Entity::find().filter(user::Column::Name.eq(name.as_str())),
    };
    query.one(conn).await.during(TABLE, "find_user")?.map(with_hash).transpose()
}

/// The active administrators, locked with user `also` until the transaction ends on PostgreSQL
/// (a SQLite write transaction keeps other writers out already), so that two administrators
/// deactivating each other at once cannot leave the desk with none. One statement in id order,
/// as [`lock_users`] locks: a claim round locking `also` and an administrator cannot deadlock
/// with it.
pub async fn lock_active_admins<C: ConnectionTrait>(conn: &C, also: UserId) -> Result<Vec<UserId>, StoreError> {
    let backend = conn.get_database_backend();
    let lock = match backend {
        sea_orm::DbBackend::Postgres => " ORDER BY id FOR UPDATE",
        _ => "",
    };
    let (p1, p2) = (bulk::param(backend, 1), bulk::param(backend, 2));
    let sql = format!("SELECT id, role, active FROM users WHERE (role = {p1} AND active) OR id = {p2}{lock}");
    let values = [Role::Admin.as_str().into(), also.as_uuid().into()];
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, values))
        .await
        .during(TABLE, "lock_active_admins")?;
    let mut admins = Vec::new();
    for row in &rows {
        let id: uuid::Uuid = row.try_get("", "id").during(TABLE, "lock_active_admins")?;
        let role: String = row.try_get("", "role").during(TABLE, "lock_active_admins")?;
        let active: bool = row.try_get("", "active").during(TABLE, "lock_active_admins")?;
        if active && word::<Role>(TABLE, id, &role)? == Role::Admin {
            admins.push(UserId::from_uuid(id));
        }
    }
    Ok(admins)
}

/// Locks these users' rows until the transaction ends on PostgreSQL, in one order so that two
/// transactions locking overlapping sets cannot deadlock (a SQLite write transaction keeps other
/// writers out already): what is then counted per user, such as the tasks they hold, stays as
/// counted until the transaction commits.
pub async fn lock_users<C: ConnectionTrait>(conn: &C, ids: &[UserId]) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    if ids.is_empty() || backend != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let sql = "SELECT id FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";
    let ids = bulk::id_param(backend, ids.iter().map(|id| id.as_uuid()))?;
    conn.query_all_raw(sea_orm::Statement::from_sql_and_values(backend, sql, [ids]))
        .await
        .during(TABLE, "lock_users")?;
    Ok(())
}

/// Lets a user sign in again, or stops them (their token and sessions stop working at once:
/// every sign-in check asks for an active user). The user as it now stands, if there is one.
pub async fn set_active<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    active: bool,
) -> Result<Option<UserRecord>, StoreError> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::Active, sea_orm::sea_query::Expr::value(active))
        .filter(user::Column::Id.eq(id.as_uuid()))
        .exec_with_returning(conn)
        .await
        .during(TABLE, "set_active")?;
    updated.into_iter().next().map(UserRecord::try_from).transpose()
}

/// Replaces a user's password (its Argon2 hash), if it is still `only_if` when that is given
/// (the one its owner just proved: another change or a reset may have got there first). False
/// when nothing was replaced.
pub async fn replace_password<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    password_hash: &str,
    only_if: Option<&str>,
) -> Result<bool, StoreError> {
    let mut update = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, sea_orm::sea_query::Expr::value(password_hash))
        .filter(user::Column::Id.eq(id.as_uuid()));
    if let Some(expected) = only_if {
        update = update.filter(user::Column::PasswordHash.eq(expected));
    }
    let done = update.exec(conn).await.during(TABLE, "replace_password")?;
    Ok(done.rows_affected == 1)
}

/// Where alerts for a team go: the addresses of its active supervisors, of supervisors of no
/// team and of administrators (who oversee every team), sorted, each once.
pub async fn alert_addresses<C: ConnectionTrait>(conn: &C, team: &str) -> Result<Vec<String>, StoreError> {
    let rows = user::Entity::find()
        .filter(user::Column::Active.eq(true))
        .filter(user::Column::Email.is_not_null())
        .filter(
            sea_orm::Condition::any().add(user::Column::Role.eq(Role::Admin.as_str())).add(
                user::Column::Role
                    .eq(Role::Supervisor.as_str())
                    .and(user::Column::Team.eq(team).or(user::Column::Team.is_null())),
            ),
        )
        .all(conn)
        .await
        .during(TABLE, "alert_addresses")?;
    let mut addresses: Vec<String> = rows.into_iter().filter_map(|m| m.email).filter(|e| !e.is_empty()).collect();
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

/// The names of the users with these ids (those that exist).
pub async fn names_by_ids<C: ConnectionTrait>(
    conn: &C,
    ids: &[UserId],
) -> Result<std::collections::HashMap<UserId, String>, StoreError> {
    let rows = user::Entity::find()
        .filter(user::Column::Id.is_in(ids.iter().map(|id| id.as_uuid())))
        .all(conn)
        .await
        .during(TABLE, "names_by_ids")?;
    Ok(rows.into_iter().map(|m| (UserId::from_uuid(m.id), m.name)).collect())
}
