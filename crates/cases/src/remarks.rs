//! Words from a channel where customers go on writing (WeChat) that name no dissatisfaction of
//! their own: "师傅到底什么时候上门" from a customer whose broadband case is open is that case
//! followed up, and whatever a customer writes just after choosing the complaint menu is the
//! complaint; from anyone else the same words are a question, not a problem.

use chrono::{DateTime, Utc};
use mend_core::{Case, Complaint, Delivery};
use mend_ingest::MenuChoice;
use mend_store::{Store, cases, complaint_intents, customers};

use crate::classify::OTHER;
use crate::lookup::as_they_are_now;
use crate::{CasesError, Intake, IntakeReport};

/// Fewer letters and digits than this (after a case is open) are a greeting or thanks — "好的",
/// "谢谢你们" — unless they say they follow something up ("还是不行").
const LEAST_REMARK_CHARACTERS: usize = 6;

/// Words of thanks, assent or a plain question: a remark holding one is not the problem followed
/// up ("谢谢师傅已经修好了", "请问营业厅周末几点开门") unless it also says the problem goes on
/// ("还是不行"), when it is.
const COURTESIES: [&str; 10] =
    ["请问", "谢谢", "感谢", "多谢", "好的", "收到", "辛苦", "已经修好", "已经解决", "已解决"];

/// What customers write before saying anything ("你好", "在吗"), or after ("谢谢", "好的").
const GREETINGS: [&str; 9] = ["你好", "您好", "在吗", "在不在", "有人吗", "谢谢", "好的", "收到", "hello"];

/// A message that is only a greeting or thanks: nothing in it to record, even as a complaint
/// after the complaint menu (a file import asks too).
pub fn is_greeting(text: &str) -> bool {
    let said = text.chars().filter(|c| c.is_alphanumeric()).collect::<String>().to_lowercase();
    said.is_empty() || (said.chars().count() <= 4 && GREETINGS.iter().any(|g| said.contains(g)))
}

impl Intake {
    /// Remembers a customer's choice of the complaint menu, until it lapses.
    pub async fn note_intent(&self, store: &Store, choice: &MenuChoice, now: DateTime<Utc>) -> Result<(), CasesError> {
        complaint_intents::remember(store.connection(), choice.channel, &choice.key, choice.at, choice.until, now)
            .await?;
        Ok(())
    }

    /// Records a message of a channel where customers converse (WeChat). One sent shortly
    /// after its customer chose the complaint menu is a formal complaint (the menu is the
    /// account's complaint channel) unless it is only a greeting; one that
    /// `names_dissatisfaction` is a complaint; any other is one only if it follows up one of
    /// its customer's open cases: it says the problem goes on ("还是不行"), or it is about what
    /// such a case is about ("师傅到底什么时候上门" on a broadband repair) and is no thanks or
    /// plain question. `None` when it is none of these, and nothing is stored.
    pub async fn record_message(
        &self,
        store: &Store,
        mut message: Complaint,
        names_dissatisfaction: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<IntakeReport>, CasesError> {
        let conn = store.connection();
        let complaint =
            if complaint_intents::chosen_before(conn, message.channel, &message.keys, message.received_at).await? {
                message.formal_complaint = true;
                names_dissatisfaction || !is_greeting(&message.text)
            } else {
                names_dissatisfaction || self.follows_up_an_open_case(store, &message).await?
            };
        if !complaint {
            return Ok(None);
        }
        let report = self.record(store, &[Delivery::Complaint(Box::new(message))], now).await?;
        Ok(Some(report))
    }

    async fn follows_up_an_open_case(&self, store: &Store, message: &Complaint) -> Result<bool, CasesError> {
        let text = &message.text;
        let says_it_goes_on = self.follow_up_words.in_text(text);
        let says_enough = text.chars().filter(|c| c.is_alphanumeric()).count() >= LEAST_REMARK_CHARACTERS
            && !COURTESIES.iter().any(|c| text.contains(c));
        if !says_it_goes_on && !says_enough {
            return Ok(false);
        }
        let open = self.open_cases(store, message).await?;
        if says_it_goes_on {
            return Ok(!open.is_empty());
        }
        // About what an open case is about: its category, one of its others, one of the family
        // (an installer who never came, on a broadband outage), or nothing the keywords know.
        // "我想了解一下优惠活动" from a customer with a broadband case is a question.
        let read = self.classifier().classify(None, text);
        let kin = self.classifier().kin(&read.category);
        Ok(open.iter().any(|case| {
            read.category == OTHER
                || case.category == read.category
                || case.extra_categories.contains(&read.category)
                || kin.contains(&case.category)
        }))
    }

    /// The open cases of the customer the message's keys name that it could join.
    async fn open_cases(&self, store: &Store, message: &Complaint) -> Result<Vec<Case>, CasesError> {
        let known = customers::find_identities(store.connection(), &message.keys).await?;
        let customers = as_they_are_now(store, known.into_iter().map(|k| k.customer_id)).await?;
        let at = message.received_at;
        let open_since = self.policy().earliest_candidate(at);
        let mut open = cases::find_open_cases(store.connection(), &customers, open_since).await?;
        open.retain(|case| case.first_complaint_at <= at);
        Ok(open)
    }
}
