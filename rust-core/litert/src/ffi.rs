//! The only place that touches raw status codes.
use crate::error::{Error, Status};

pub(crate) fn check(call: &'static str, status: litert_sys::LiteRtStatus) -> Result<(), Error> {
    if status == litert_sys::kLiteRtStatusOk {
        Ok(())
    } else {
        Err(Error::Call { call, status: Status(status) })
    }
}
