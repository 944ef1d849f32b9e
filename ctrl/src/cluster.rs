//! The keepalived.conf `cluster` block at run time: rvsd's membership is set by its own
//! `[cluster]` section, so rvs-ctrl only tells the operator where the running rvsd
//! differs from the block (once per configuration, when rvsd first answers). The BIRD
//! gate on the member's state is in [`crate::bird`].

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::keepalived::model::{cluster_mismatch, ClusterBlock};
use rvs_proto::{read_msg, write_msg, ClusterInfo, Command, Reply, Request, Response, ResponseResult};

/// rvsd's `--cluster` state.
pub fn status(socket: &str, timeout: Duration) -> Result<ClusterInfo, String> {
    let s = UnixStream::connect(socket).map_err(|e| format!("{socket}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    write_msg(&mut w, &Request::new(Command::ClusterStatus)).map_err(|e| e.to_string())?;
    let resp: Response = read_msg(&mut BufReader::new(s)).map_err(|e| e.to_string())?;
    match resp.result {
        ResponseResult::Ok(Reply::Cluster { cluster }) => Ok(cluster),
        ResponseResult::Ok(_) => Err("unexpected reply".into()),
        ResponseResult::Error(e) => Err(e),
    }
}

/// Compares the block with rvsd in the background (rvsd may not be up yet: tried for a
/// minute) and logs each difference with the block's FILE:LINE.
pub fn check_later(block: ClusterBlock, socket: String) {
    let _ = std::thread::Builder::new().name("rvs-cluster-check".into()).spawn(move || {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok(c) = status(&socket, Duration::from_secs(2)) {
                let diffs = cluster_mismatch(&block, &c);
                for m in &diffs {
                    tracing::warn!("{}: cluster: {m}", block.loc);
                }
                if diffs.is_empty() {
                    tracing::info!(member = c.member, state = %c.state, "rvsd's cluster membership matches the cluster block");
                }
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}
