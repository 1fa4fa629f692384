//! What arrives from the phones: bundles over tus (`tus`), opened, checked
//! and filed as cases (`take`); the one-SMS summary from a gateway (`sms`).

pub mod sms;
pub mod take;
pub mod tus;
