use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "complaints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub channel: String,
    pub source_id: String,
    pub customer_id: Uuid,
    pub case_id: Uuid,
    pub received_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub text: String,
    pub category: String,
    pub category_source: String,
    pub satisfaction: Option<i16>,
    pub formal_complaint: bool,
    #[sea_orm(column_type = "Text")]
    pub raw_payload: String,
    #[sea_orm(column_type = "Text")]
    pub grouping_reason: String,
    pub ingested_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub customer_keys: String,
    pub label: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
