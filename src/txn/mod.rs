//! Transactions across partitions: the transaction coordinator (to come)
//! and the state it keeps per transactional id in `__transaction_state`.

pub(crate) mod state;
