//! Record batches (message format v2): the file is being split into
//! encode, decode and varint; until then it all lives in decode.

mod decode;

pub use decode::*;
