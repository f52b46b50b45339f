use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub kind: String,
    pub status: String,
    pub due_at: DateTimeUtc,
    pub priority: i32,
    #[sea_orm(column_type = "Text")]
    pub priority_reasons: String,
    pub compensation_limit_fen: i64,
    #[sea_orm(column_type = "Text")]
    pub limit_explanation: String,
    #[sea_orm(column_type = "Text")]
    pub script: String,
    pub attempt: i32,
    pub claimed_by: Option<Uuid>,
    pub lease_expires_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub outcome: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub customer_id: Option<Uuid>,
    pub not_before: Option<DateTimeUtc>,
    pub category: String,
    pub temperament: String,
    #[sea_orm(column_type = "Text")]
    pub temperament_reason: String,
    pub follows_task_id: Option<Uuid>,
    pub escalated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
