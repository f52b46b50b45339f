use crate::text_enum::text_enum;

text_enum! {
    /// What a person may do at the desk. Each role includes what the ones before it may do, except
    /// that nobody approves their own compensation request.
    pub enum Role ("role") {
        /// Works the callback queue.
        Agent = "agent",
        /// Approves compensation above agents' limits; watches queue health.
        Supervisor = "supervisor",
        /// Configures channels, taxonomy, policies and users; sees quarantine.
        Admin = "admin",
    }
}

impl Role {
    /// Whether someone in this role may do what `required` may.
    pub fn includes(self, required: Role) -> bool {
        self >= required
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
        for &role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
