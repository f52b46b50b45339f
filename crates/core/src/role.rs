use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a person may do at the desk. Each role includes what the ones before it may do, except
/// that nobody approves their own compensation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works the callback queue.
    Agent,
    /// Approves compensation above agents' limits; watches queue health.
    Supervisor,
    /// Configures channels, taxonomy, policies and users; sees quarantine.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Whether someone in this role may do what `required` may.
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}` (agent, supervisor, admin)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_and_round_trip() {
        assert!(Role::Admin.includes(Role::Agent));
        assert!(Role::Supervisor.includes(Role::Supervisor));
        assert!(!Role::Agent.includes(Role::Supervisor));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
