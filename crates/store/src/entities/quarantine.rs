use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quarantine")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub channel: String,
    #[sea_orm(column_type = "Blob")]
    pub raw: Vec<u8>,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub received_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub fingerprint: Option<String>,
    pub seen_count: i32,
    pub last_seen_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
