use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (UUID v7) identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// One person or household, whatever channels they reach us on.
    CustomerId
);
id_type!(
    /// One customer problem: the unit that gets one callback.
    CaseId
);
id_type!(
    /// One dissatisfied record from one channel.
    ComplaintId
);
id_type!(
    /// A payload that could not be accepted, kept with its raw bytes.
    QuarantineId
);
id_type!(
    /// A person who signs in: an agent, a supervisor or an administrator.
    UserId
);
id_type!(
    /// One merge of two customers found to be one person; undoable.
    MergeId
);
id_type!(
    /// One call to make: a callback, a verification, a retry or a second repair.
    TaskId
);
id_type!(
    /// One execution of a scheduler job.
    JobRunId
);
id_type!(
    /// One offer of compensation to a customer, approved at once or by a supervisor.
    CompensationId
);
id_type!(
    /// One email in the outbox.
    EmailId
);
id_type!(
    /// One satisfaction survey sent about a case: its link works once.
    SurveyId
);
id_type!(
    /// One task that passed its SLA and was escalated; a supervisor acknowledges it.
    EscalationId
);
