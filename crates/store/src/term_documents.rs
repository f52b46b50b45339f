//! The `term_documents` table: in how many complaints each term occurs, kept as grouping
//! counts them, so a term every order carries (a template field) weighs nothing in any
//! deployment. Keys are term hashes; the row under key 0 counts the complaints.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::StoreError;
use crate::entities::term_document;
use crate::error::During;

const TABLE: &str = "term_documents";

/// Rows per statement: two parameters each, well under both backends' limits.
const CHUNK: usize = 5_000;

/// Every (term key, complaints holding it), the count of complaints under key 0.
pub async fn term_documents<C: ConnectionTrait>(conn: &C) -> Result<Vec<(i64, i64)>, StoreError> {
    let rows = term_document::Entity::find().all(conn).await.during(TABLE, "term_documents")?;
    Ok(rows.into_iter().map(|r| (r.term_key, r.documents)).collect())
}

/// Adds `counts` to what is stored. Concurrent writers add up rather than overwrite, and take
/// the rows' locks in key order (the caller's `counts` are sorted here), so two of them never
/// deadlock on each other's rows.
pub async fn add_term_documents<C: ConnectionTrait>(conn: &C, counts: &mut [(i64, i64)]) -> Result<(), StoreError> {
    counts.sort_unstable();
    for chunk in counts.chunks(CHUNK) {
        let rows = chunk
            .iter()
            .map(|&(key, documents)| term_document::ActiveModel { term_key: Set(key), documents: Set(documents) });
        let add = Expr::col((term_document::Entity, term_document::Column::Documents))
            .add(Expr::col((sea_orm::sea_query::Alias::new("excluded"), term_document::Column::Documents)));
        term_document::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(term_document::Column::TermKey)
                    .value(term_document::Column::Documents, add)
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await
            .during(TABLE, "add_term_documents")?;
    }
    Ok(())
}
