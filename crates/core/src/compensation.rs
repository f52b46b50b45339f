use crate::text_enum::text_enum;

text_enum! {
    /// What a customer is offered.
    pub enum CompensationKind ("compensation kind") {
        BillCredit = "bill_credit",
        DataPack = "data_pack",
        Coupon = "coupon",
        Refund = "refund",
        Gift = "gift",
    }
}

text_enum! {
    /// Where an offer stands: within the agent's limit it is approved at once; above it, a
    /// supervisor decides.
    pub enum CompensationStatus ("compensation status") {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
}
