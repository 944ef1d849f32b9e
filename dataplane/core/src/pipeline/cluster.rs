//! A worker as part of an ECMP cluster member (#11): new sessions take local ports from
//! the member's slice only, so no two members ever choose the same LIP:lport, while
//! sessions synced from any member (any slice) are installed and served here.

use super::*;

impl<P: Frame> Pipeline<P> {
    /// Restricts new sessions to port slice `index` (0-based: member id - 1) of `slices`
    /// of the local port range (`laddr::member_slice`).
    pub fn set_member_slice(&mut self, index: u16, slices: u16) {
        self.laddrs.set_member_slice(index, slices);
    }
}
