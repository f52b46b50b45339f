//! The `label_models` table: the classifier trained on a call center's labelled orders. One is
//! in use at a time; a new training replaces it, and the audit log says who trained which.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder, QuerySelect};

use crate::entities::label_model;
use crate::error::During;
use crate::{AuditEntry, StoreError};

const TABLE: &str = "label_models";

/// A trained model as stored: its weights stay JSON text here, the cases crate reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLabelModel {
    pub id: uuid::Uuid,
    pub trained_at: DateTime<Utc>,
    pub trained_by: String,
    pub examples: i32,
    pub cross_validated_accuracy: f64,
    /// The model's JSON (`mend_cases::labels::StoredWeights`), in the `counts` column (named
    /// when the model was naive Bayes counts).
    pub weights: String,
}

/// Puts `model` in use in place of any earlier one, and audits it. Run it in a transaction: a
/// reader sees the old model or the new one, never none.
pub async fn replace_label_model<C: ConnectionTrait>(
    conn: &C,
    model: StoredLabelModel,
) -> Result<Option<uuid::Uuid>, StoreError> {
    let replaced = current_label_model(conn).await?.map(|m| m.id);
    label_model::Entity::delete_many().exec(conn).await.during(TABLE, "replace_label_model")?;
    let detail = serde_json::json!({
        "examples": model.examples,
        "cross_validated_accuracy": model.cross_validated_accuracy,
        "replaced": replaced,
    });
    let audit = AuditEntry {
        at: model.trained_at,
        actor: model.trained_by.clone(),
        action: "labels.trained".into(),
        subject_kind: "label_model".into(),
        subject_id: Some(model.id),
        detail,
    };
    label_model::Entity::insert(label_model::ActiveModel {
        id: Set(model.id),
        trained_at: Set(model.trained_at),
        trained_by: Set(model.trained_by),
        examples: Set(model.examples),
        cross_validated_accuracy: Set(model.cross_validated_accuracy),
        counts: Set(model.weights),
    })
    .exec_without_returning(conn)
    .await
    .during(TABLE, "replace_label_model")?;
    crate::audit::record_audit(conn, audit).await?;
    Ok(replaced)
}

/// The id of the model in use (cheap: for noticing a new training).
pub async fn current_label_model_id<C: ConnectionTrait>(conn: &C) -> Result<Option<uuid::Uuid>, StoreError> {
    let found: Option<uuid::Uuid> = label_model::Entity::find()
        .select_only()
        .column(label_model::Column::Id)
        .order_by_desc(label_model::Column::TrainedAt)
        .order_by_desc(label_model::Column::Id)
        .into_tuple()
        .one(conn)
        .await
        .during(TABLE, "current_label_model_id")?;
    Ok(found)
}

/// The model in use, if one was ever trained.
pub async fn current_label_model<C: ConnectionTrait>(conn: &C) -> Result<Option<StoredLabelModel>, StoreError> {
    let found = label_model::Entity::find()
        .order_by_desc(label_model::Column::TrainedAt)
        .order_by_desc(label_model::Column::Id)
        .one(conn)
        .await
        .during(TABLE, "current_label_model")?;
    Ok(found.map(|m| StoredLabelModel {
        id: m.id,
        trained_at: m.trained_at,
        trained_by: m.trained_by,
        examples: m.examples,
        cross_validated_accuracy: m.cross_validated_accuracy,
        weights: m.counts,
    }))
}
