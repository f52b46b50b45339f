use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub category: String,
    pub status: String,
    pub escalation_risk: bool,
    pub repeat_failure: bool,
    pub complaint_count: i32,
    pub first_complaint_at: DateTimeUtc,
    pub last_complaint_at: DateTimeUtc,
    pub opened_at: DateTimeUtc,
    pub closed_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub signature: String,
    #[sea_orm(column_type = "Text")]
    pub extra_categories: String,
    pub merged_into: Option<Uuid>,
    pub merged_by: Option<Uuid>,
    pub split_from: Option<Uuid>,
    pub reopened_at: Option<DateTimeUtc>,
    /// When a customer who had asked for no calls may be called again; calls planned before
    /// answer none of the case's need for a callback.
    pub calls_resumed_at: Option<DateTimeUtc>,
    pub label: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub fingerprint: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
