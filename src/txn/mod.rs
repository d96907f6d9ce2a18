//! Transactions across partitions: the transaction coordinator and the
//! state it keeps per transactional id in `__transaction_state`.

pub(crate) mod coordinator;
pub(crate) mod state;

#[cfg(test)]
mod fault_tests;
