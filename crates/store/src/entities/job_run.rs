use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub job: String,
    pub scheduled_for: DateTimeUtc,
    pub outcome: String,
    pub instance: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub lease_expires_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text")]
    pub counts: String,
    pub triggered_by: String,
    #[sea_orm(column_type = "Text")]
    pub cursor: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
