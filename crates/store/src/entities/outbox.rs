use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub case_id: Option<Uuid>,
    pub to_address: String,
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    pub status: String,
    pub attempts: i32,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub message_id: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub html_body: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub inline_parts: String,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTimeUtc>,
    pub unconfirmed_sends: i32,
    /// The survey a survey email links to.
    pub survey_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
