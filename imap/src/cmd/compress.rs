//! COMPRESS (RFC 4978). The deflate stream itself is `mailyard_common::deflate`
//! (a `Stream::Deflate` inside the session's `Conn`).

use crate::proto::response::{ResponseCode, Status, status_response};
use crate::session::{Done, End, Session};

impl Session {
    /// COMPRESS DEFLATE: answers OK uncompressed, then both directions are raw
    /// deflate. A second COMPRESS is NO [COMPRESSIONACTIVE]; another mechanism is
    /// BAD. Authenticated and selected states, with or without TLS. RFC 4978 §3.
    pub(crate) async fn handle_compress(
        &mut self,
        tag: &str,
        mechanism: String,
    ) -> Result<Done, End> {
        if mechanism != "DEFLATE" {
            return Ok(Done::bad("Unknown compression mechanism"));
        }
        if self.conn.is_compressed() {
            return Ok(Done::no(
                Some(ResponseCode::CompressionActive),
                "DEFLATE is already active",
            ));
        }
        self.conn.wbuf.extend_from_slice(&status_response(
            Some(tag),
            Status::Ok,
            None,
            "DEFLATE active",
        ));
        // Anything the client sent after the command is already compressed.
        self.conn.compress().await?;
        Ok(Done::sent())
    }
}
