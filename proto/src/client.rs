//! A blocking client of rvsd's control socket.

use crate::{
    read_msg, write_msg, Command, ProtoError, Reply, Request, Response, ResponseResult, PROTO_VERSION,
};

/// A blocking client: connect, send one request, read its response.
pub struct Client {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
    path: String,
}

impl Client {
    pub fn connect(path: &str) -> Result<Self, ProtoError> {
        let s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        let writer = s.try_clone()?;
        Ok(Client { reader: std::io::BufReader::new(s), writer, path: path.to_string() })
    }

    /// A new connection to the same socket (rvsd closes one after a request it cannot
    /// read, such as a command newer than itself).
    pub fn reconnect(&mut self) -> Result<(), ProtoError> {
        *self = Client::connect(&self.path)?;
        Ok(())
    }

    /// Sends `command`; a daemon-side error comes back as `Ok(Err(message))`.
    pub fn call(&mut self, command: Command) -> Result<Result<Reply, String>, ProtoError> {
        write_msg(&mut self.writer, &Request::new(command))?;
        let resp: Response = read_msg(&mut self.reader)?;
        if resp.version != PROTO_VERSION {
            return Err(ProtoError::Version { got: resp.version });
        }
        Ok(match resp.result {
            ResponseResult::Ok(r) => Ok(r),
            ResponseResult::Error(e) => Err(e),
        })
    }
}
